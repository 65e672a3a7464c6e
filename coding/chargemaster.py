"""The hospital's charge master (CDM): revenue code, description and unit price per CPT/HCPCS code.

A CSV with a header row naming the columns `code`, `revenue_code`, `description` and
`unit_price` (any order, case and spaces ignored; more columns are ignored). Every row is
checked before anything is stored, and a file with any bad row is refused whole, each error
named by its line: a code that is not CPT/HCPCS, a revenue code that is not four digits (0260,
0331, 0335, 0636, ...), no description, a price that is not an amount of dollars and cents, a
code listed twice. `charge_master_load` then replaces the table in one transaction.

A code missing from a loaded charge master is an edit (EDIT-CDM, `charge_master_edits`): the
line has no revenue code and no price, so it blocks acceptance and export like the MUE edits
until the code is loaded or a coder overrides it with a reason (the line then goes unpriced).
With no charge master loaded at all there are no prices and no such edit.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from coding.engine import Finding
from coding.models import ChargeMasterItem

CODE_RE = re.compile(r"^[0-9A-Z][0-9]{3}[0-9A-Z]$")
REVENUE_RE = re.compile(r"^0[0-9]{3}$")
PRICE_RE = re.compile(r"^[0-9]{1,8}(?:\.[0-9]{1,2})?$")
COLUMNS = ("code", "revenue_code", "description", "unit_price")


class ChargeMasterFileError(ValueError):
    """The file is refused whole; `errors` holds (line number, what is wrong) for every bad row."""

    def __init__(self, errors: Sequence[tuple[int, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"line {line}: {message}" for line, message in self.errors))


@dataclass(frozen=True)
class ChargeMasterRow:
    code: str
    revenue_code: str
    description: str
    unit_price: Decimal


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def charge_master_parse(text: str) -> list[ChargeMasterRow]:
    """Every row of the CSV, or ChargeMasterFileError naming each bad line."""
    reader = csv.reader(io.StringIO(text))
    errors: list[tuple[int, str]] = []
    rows: list[ChargeMasterRow] = []
    seen: dict[str, int] = {}
    index: dict[str, int] | None = None
    for line_no, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if index is None:
            keys = [_header_key(cell) for cell in row]
            missing = [c for c in COLUMNS if c not in keys]
            if missing:
                raise ChargeMasterFileError(
                    [(line_no, f"the header must name the columns {', '.join(COLUMNS)}; "
                      f"missing {', '.join(missing)}")]
                )  # fmt: skip
            index = {c: keys.index(c) for c in COLUMNS}
            continue
        if len(row) <= max(index.values()):
            errors.append((line_no, f"{len(row)} columns, the header has {len(index)} or more"))
            continue
        cell = {c: row[i].strip() for c, i in index.items()}
        problems = []
        code = cell["code"].upper()
        if not CODE_RE.match(code):
            problems.append(f"code {cell['code']!r} is not a CPT/HCPCS code")
        elif code in seen:
            problems.append(f"code {code} is already on line {seen[code]}")
        revenue = cell["revenue_code"]
        if re.fullmatch(r"[0-9]{3}", revenue):
            revenue = "0" + revenue  # spreadsheets drop the leading zero
        if not REVENUE_RE.match(revenue):
            problems.append(
                f"revenue code {cell['revenue_code']!r} is not a four-digit UB-04 revenue code"
            )
        if not cell["description"]:
            problems.append("no description")
        elif len(cell["description"]) > 200:
            problems.append("description longer than 200 characters")
        price_text = cell["unit_price"].replace("$", "").replace(",", "")
        price = None
        if PRICE_RE.match(price_text):
            try:
                price = Decimal(price_text).quantize(Decimal("0.01"))
            except InvalidOperation:
                price = None
        if price is None:
            problems.append(f"unit price {cell['unit_price']!r} is not an amount like 125.00")
        if problems:
            errors.append((line_no, "; ".join(problems)))
            continue
        assert price is not None
        seen[code] = line_no
        rows.append(ChargeMasterRow(code, revenue, cell["description"], price))
    if index is None:
        raise ChargeMasterFileError([(1, "empty file: no header row")])
    if errors:
        raise ChargeMasterFileError(errors)
    if not rows:
        raise ChargeMasterFileError([(1, "no codes after the header")])
    return rows


@transaction.atomic
def charge_master_load(*, rows: Iterable[ChargeMasterRow], replace: bool = True) -> int:
    """Store the rows, all or nothing; `replace` drops codes absent from the file."""
    rows = list(rows)
    at = timezone.now()
    if replace:
        ChargeMasterItem.objects.exclude(code__in=[r.code for r in rows]).delete()
    for row in rows:
        ChargeMasterItem.objects.update_or_create(
            code=row.code,
            defaults={
                "revenue_code": row.revenue_code,
                "description": row.description,
                "unit_price": row.unit_price,
                "loaded_at": at,
            },
        )
    return len(rows)


@dataclass(frozen=True)
class Price:
    code: str
    revenue_code: str
    description: str
    unit_price: Decimal


@dataclass(frozen=True)
class ChargeMaster:
    """The prices of the codes asked for; `loaded` says whether the hospital loaded any."""

    prices: dict[str, Price]
    loaded: bool

    def get(self, code: str) -> Price | None:
        return self.prices.get(code)


def charge_master_for(codes: Iterable[str]) -> ChargeMaster:
    """The charge master rows of these codes."""
    wanted = set(codes)
    # One query: the codes asked for, and any one row, which says whether a charge master is
    # loaded at all (a subquery, not a UNION: SQLite, the demo's database, refuses a LIMIT there).
    first = ChargeMasterItem.objects.order_by("pk").values("pk")[:1]
    rows = list(ChargeMasterItem.objects.filter(Q(code__in=wanted) | Q(pk__in=first)))
    prices = {
        item.code: Price(item.code, item.revenue_code, item.description, item.unit_price)
        for item in rows
        if item.code in wanted
    }
    return ChargeMaster(prices, loaded=bool(rows))


def line_amount(price: Price, units: int) -> Decimal:
    return (price.unit_price * units).quantize(Decimal("0.01"))


class ChargeLineLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def administrations(self) -> tuple[str, ...]: ...


def charge_master_edits(lines: Iterable[ChargeLineLike], master: ChargeMaster) -> list[Finding]:
    """EDIT-CDM: a code the loaded charge master does not list (no revenue code, no price)."""
    lines = list(lines)
    if not master.loaded:
        return []
    found: list[Finding] = []
    for code in sorted({line.code for line in lines if master.get(line.code) is None}):
        administrations = tuple(
            a for line in lines if line.code == code for a in line.administrations
        )
        found.append(
            Finding(
                "EDIT-CDM",
                "error",
                f"{code} is not in the charge master: no revenue code, no price. Load it, or "
                "override to send the line unpriced",
                administrations,
            )
        )
    return found
