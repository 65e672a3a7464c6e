"""The hospital's charge master (CDM): revenue code, description and unit price per CPT/HCPCS code,
each price in effect from a date.

A CSV with a header row naming the columns `code`, `revenue_code`, `description` and
`unit_price` (any order, case and spaces ignored; more columns are ignored). Every row is
checked before anything is stored, and a file with any bad row is refused whole, each error
named by its line: a code that is not CPT/HCPCS, a revenue code that is not four digits (0260,
0331, 0335, 0636, ...), no description, a price that is not an amount of dollars and cents, a
code listed twice.

Prices are the charge master's in effect on the line's date of service (hospital CDM practice;
CMS takes the charges on the date of service). `charge_master_load` stores the file as the
charge master from its effective date (`load_charge_master --effective-from YYYY-MM-DD`;
default today in the hospital's zone, the very first load the beginning) in one transaction:
each code gets a version from that date, history is kept, and a code the file no longer lists
is not priced from that date (`--keep` keeps such codes). A later-dated load stays in effect
from its own date. So a new price dated after a line's date of service changes nothing already
billed, while a correction dated on or before it re-prices the line, and the next export sends
a credit and the new charge (coding/ledger.py).

A code not priced on a line's date in a loaded charge master is an edit (EDIT-CDM,
`charge_master_edits`): the line has no revenue code and no price, so it blocks acceptance and
export like the MUE edits until the code is loaded (dated on or before the service) or a coder
overrides it with a reason (the line then goes unpriced). With no charge master loaded at all
there are no prices and no such edit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Protocol

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from coding.engine import Finding
from coding.models import ChargeMasterItem, ChargeMasterUpload
from mar.audit.context import history_context
from mar.ports import ChargeMasterStanding
from mar.prepared import prepared

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


BEGINNING = date.min  # "from the beginning": a version in effect for every date of service


def _same_values(item: ChargeMasterItem, row: ChargeMasterRow) -> bool:
    return (item.revenue_code, item.description, item.unit_price) == (
        row.revenue_code,
        row.description,
        row.unit_price,
    )


def _in_effect(versions: list[ChargeMasterItem], on: date) -> ChargeMasterItem | None:
    """The version of a code in effect on a date (versions sorted by effective_from)."""
    found = None
    for item in versions:
        if item.effective_from > on:
            break
        found = item
    return found


def charge_master_default_date() -> date:
    """A load's effective date when none is given: today in the hospital's zone, or the
    beginning for the first load of all (nothing to price the encounters already signed by)."""
    return timezone.localdate() if ChargeMasterItem.objects.exists() else BEGINNING


@dataclass(frozen=True)
class ChargeMasterLoad:
    """What a load did from its date: the codes newly priced (not priced on that date before),
    those re-priced (another price, revenue code or description), those no longer priced, and
    how many of the file's codes were already priced so (unchanged)."""

    effective_from: date
    count: int
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    delisted: tuple[str, ...] = ()
    # code -> the date of its next version after effective_from (the load prices it until then)
    until: dict[str, date] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        return self.count - len(self.added) - len(self.changed)

    @property
    def touched(self) -> tuple[str, ...]:
        """Every code whose price on some date of service this load changed."""
        return tuple(sorted({*self.added, *self.changed, *self.delisted}))

    def summary(self) -> str:
        """'42 codes: 3 new prices from 2027-01-01, 1 no longer priced, 38 unchanged'."""
        since = (
            "for every date of service"
            if self.effective_from == BEGINNING
            else f"from {self.effective_from.isoformat()}"
        )
        priced = len(self.added) + len(self.changed)
        new = f" ({len(self.added)} of them for codes not priced then)" if self.added else ""
        return (
            f"{self.count} code{'s' if self.count != 1 else ''}: {priced} new "
            f"price{'s' if priced != 1 else ''} {since}{new}, "
            f"{len(self.delisted)} no longer priced, {self.unchanged} unchanged"
        )


@transaction.atomic
def charge_master_load(
    *, rows: Iterable[ChargeMasterRow], replace: bool = True, effective_from: date | None = None
) -> ChargeMasterLoad:
    """Store the rows as the charge master from `effective_from` on, all or nothing.

    Each code gets a version from that date (a version already dated that day is corrected in
    place; a row identical to the version in effect then adds nothing); versions dated later
    stay, each in effect from its own date. `replace` ends the codes the file does not list from
    that date (a version with `listed` False). History is never overwritten: a line is priced by
    the version in effect on its date of service (`charge_master_for`). Returns what changed
    from that date (`ChargeMasterLoad`).

    `effective_from` defaults to today in the hospital's zone; the first load of all (no charge
    master yet) defaults to the beginning, so it prices the encounters already signed too."""
    rows = list(rows)
    at = timezone.now()
    versions: dict[str, list[ChargeMasterItem]] = {}
    for item in ChargeMasterItem.objects.select_for_update().order_by("code", "effective_from"):
        versions.setdefault(item.code, []).append(item)
    if effective_from is None:
        effective_from = charge_master_default_date()
    added: list[str] = []
    changed: list[str] = []
    delisted: list[str] = []
    for row in rows:
        own = versions.get(row.code, [])
        was_priced = _in_effect(own, effective_from)  # before this load
        if was_priced is None or not was_priced.listed:
            kind = added
        elif _same_values(was_priced, row):
            kind = None
        else:
            kind = changed
        if kind is not None:
            kind.append(row.code)
        same_day = next((v for v in own if v.effective_from == effective_from), None)
        if same_day is not None:
            if not same_day.listed or not _same_values(same_day, row):
                same_day.listed = True
                same_day.revenue_code = row.revenue_code
                same_day.description = row.description
                same_day.unit_price = row.unit_price
                same_day.loaded_at = at
                same_day.save()
            continue
        current = _in_effect(own, effective_from)
        if current is not None and current.listed and _same_values(current, row):
            continue  # the price in effect already: nothing changes from that date
        ChargeMasterItem.objects.create(
            code=row.code,
            effective_from=effective_from,
            revenue_code=row.revenue_code,
            description=row.description,
            unit_price=row.unit_price,
            loaded_at=at,
        )
    if replace:
        listed = {r.code for r in rows}
        for code, own in versions.items():
            if code in listed:
                continue
            current = _in_effect(own, effective_from)
            if current is None or not current.listed:
                continue  # not priced on that date already
            delisted.append(code)
            if current.effective_from == effective_from:
                current.listed = False
                current.loaded_at = at
                current.save()
            else:
                ChargeMasterItem.objects.create(
                    code=code,
                    effective_from=effective_from,
                    listed=False,
                    revenue_code=current.revenue_code,
                    description=current.description,
                    unit_price=current.unit_price,
                    loaded_at=at,
                )
    until = {}
    for code in {*added, *changed, *delisted}:
        later = [
            v.effective_from for v in versions.get(code, []) if v.effective_from > effective_from
        ]
        if later:
            until[code] = min(later)
    return ChargeMasterLoad(
        effective_from=effective_from,
        count=len(rows),
        added=tuple(sorted(added)),
        changed=tuple(sorted(changed)),
        delisted=tuple(sorted(delisted)),
        until=until,
    )


def charge_master_decode(data: bytes) -> str:
    """The file's text (UTF-8, a spreadsheet's byte-order mark dropped), or
    ChargeMasterFileError naming the line that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ChargeMasterFileError(
            [(line, "not UTF-8 text (save the spreadsheet as CSV UTF-8)")]
        ) from exc


def charge_master_import(
    *,
    data: bytes | str,
    effective_from: date | None = None,
    replace: bool = True,
    source: str = "",
    uploaded_by: AbstractBaseUser | None = None,
    via: str = ChargeMasterUpload.Via.OTHER,
    system_user: str = "",
) -> ChargeMasterLoad:
    """A charge master file (its bytes or text) checked whole, then loaded from
    `effective_from` (default: `charge_master_default_date`), all or nothing: the one path of
    `manage.py load_charge_master` and the upload screen. ChargeMasterFileError names every bad
    line, and nothing is stored. The audit trail's context names the action and the file
    (`source`, its size and SHA-256) beside the user the request gives it (mar/audit). Every
    load accepted, one that changes nothing included, is recorded in the same transaction as a
    `ChargeMasterUpload` (who, the file, the date, what changed), itself in the audit trail."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    text = charge_master_decode(data) if isinstance(data, bytes) else data
    rows = charge_master_parse(text)
    when = charge_master_default_date() if effective_from is None else effective_from
    digest = hashlib.sha256(raw).hexdigest()
    with (
        transaction.atomic(),
        history_context(
            action="charge_master_load",
            file=source,
            file_size=len(raw),
            file_sha256=digest,
            effective_from=when.isoformat(),
        ),
    ):
        load: ChargeMasterLoad = charge_master_load(rows=rows, replace=replace, effective_from=when)
        ChargeMasterUpload.objects.create(
            uploaded_by=uploaded_by,
            via=via,
            system_user=system_user[:150],
            file_name=source[:200],
            file_size=len(raw),
            file_sha256=digest,
            effective_from=when,
            replace=replace,
            codes=load.count,
            added=len(load.added),
            changed=len(load.changed),
            delisted=len(load.delisted),
        )
    return load


def charge_master_repriced(load: ChargeMasterLoad) -> dict[str, int]:
    """How many encounters have lines the load prices anew (a code it added, re-priced or
    ended, dated from its date until the code's next version), by whether their current charges
    are exported yet: {"not_exported": n, "exported": m}. One query over the current runs'
    generated lines (a coder's added line is not counted)."""
    from coding.models import ChargeLine

    codes = load.touched
    if not codes:
        return {"not_exported": 0, "exported": 0}
    match = Q(code__in=[c for c in codes if c not in load.until], date__gte=load.effective_from)
    for code, until in load.until.items():
        match |= Q(code=code, date__gte=load.effective_from, date__lt=until)
    found = (
        ChargeLine.objects.filter(match, run__is_current=True)
        .values_list("run__encounter_id", "run__exported_at")
        .distinct()
    )
    exported = {e for e, at in found if at is not None}
    waiting = {e for e, at in found if at is None} - exported
    return {"not_exported": len(waiting), "exported": len(exported)}


@dataclass(frozen=True)
class Price:
    code: str
    revenue_code: str
    description: str
    unit_price: Decimal
    effective_from: date = BEGINNING


@dataclass(frozen=True)
class ChargeMaster:
    """The versions of the codes asked for, each (effective_from, price or None when the code
    is no longer listed from then), oldest first; `loaded` says whether the hospital loaded any
    charge master at all."""

    versions: dict[str, list[tuple[date, Price | None]]]
    loaded: bool

    def get(self, code: str, on: date) -> Price | None:
        """The code's price in effect on this date of service, or None (not priced then)."""
        found: Price | None = None
        for since, price in self.versions.get(code, []):
            if since > on:
                break
            found = price
        return found


@prepared
def charge_master_items(codes: list[str]) -> QuerySet[ChargeMasterItem]:
    """Every version of these codes, each code's oldest first."""
    return ChargeMasterItem.objects.filter(code__in=codes).order_by("code", "effective_from")


@prepared
def charge_master_any() -> QuerySet[ChargeMasterItem]:
    """One row of the charge master, if any is loaded."""
    return ChargeMasterItem.objects.only("pk").order_by("pk")[:1]


def charge_master_for(codes: Iterable[str], *, loaded: bool | None = None) -> ChargeMaster:
    """Every version of these codes (a line is priced by the one in effect on its date).
    `loaded`: whether any is loaded, when the caller read it already (the worklist's stamp)."""
    wanted = set(codes)
    # The codes asked for (by the code's index); a row found says a charge master is loaded.
    # Only when none is found, whether any is loaded at all (a second query; an OR of the two in
    # one statement read the whole table: 2 ms on the demo's, issue 19). Both are prepared reads
    # (their SQL compiled once: it cost more than the read, issue 19).
    rows = charge_master_items(sorted(wanted))
    if loaded is None or (loaded is False and rows):
        loaded = bool(rows) or bool(charge_master_any())
    versions: dict[str, list[tuple[date, Price | None]]] = {}
    for item in rows:
        if item.code in wanted:
            price = (
                Price(
                    item.code,
                    item.revenue_code,
                    item.description,
                    item.unit_price,
                    item.effective_from,
                )
                if item.listed
                else None
            )
            versions.setdefault(item.code, []).append((item.effective_from, price))
    return ChargeMaster(versions, loaded=loaded)


def charge_master_standing(*, code: str, on: date) -> ChargeMasterStanding:
    """Is `code` in the charge master on `on` (the pharmacist's drug form and page ask, through
    the record's port, mar/ports.py)? Read as `charge_master_edits` reads it: priced by the
    version in effect that day; with no charge master loaded at all, `loaded` False (EDIT-CDM
    is not raised then either). Not priced that day: the first later date a version prices it,
    or the date the last listing ended."""
    master = charge_master_for([code])
    versions = master.versions.get(code, [])
    priced = master.get(code, on) is not None
    priced_from = ended_on = None
    if not priced:
        priced_from = next(
            (since for since, price in versions if since > on and price is not None), None
        )
        ended = [since for since, price in versions if since <= on and price is None]
        if ended and any(price is not None for since, price in versions if since < ended[-1]):
            ended_on = ended[-1]
    return ChargeMasterStanding(
        loaded=master.loaded, priced=priced, priced_from=priced_from, ended_on=ended_on
    )


def line_amount(price: Price, units: int) -> Decimal:
    return (price.unit_price * units).quantize(Decimal("0.01"))


class ChargeLineLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def date(self) -> date: ...
    @property
    def administrations(self) -> tuple[str, ...]: ...


def charge_master_edits(lines: Iterable[ChargeLineLike], master: ChargeMaster) -> list[Finding]:
    """EDIT-CDM: a code the loaded charge master does not price on the line's date of service
    (no revenue code, no price)."""
    lines = list(lines)
    if not master.loaded:
        return []
    found: list[Finding] = []
    unpriced = [line for line in lines if master.get(line.code, line.date) is None]
    for code in sorted({line.code for line in unpriced}):
        administrations = tuple(
            a for line in unpriced if line.code == code for a in line.administrations
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
