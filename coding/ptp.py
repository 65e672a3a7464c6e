"""NCCI procedure-to-procedure edits, hospital outpatient: CMS's PTP file loaded into PtpEdit.

CMS publishes the outpatient hospital PTP edits quarterly as tab-delimited text (also in
spreadsheets saved as CSV): a few lines of notice, a header row whose cells name "Column 1",
"Column 2", "Effective Date", "Deletion Date" ("*" = none), "Modifier" (0 not allowed, 1
allowed, 9 not applicable) and the rationale, then one pair per row; dates are YYYYMMDD. Every
row is checked first; a file with any bad row is refused whole, each error with its line
number. The pair logic is the engine's (coding/engine/ptp.py), applied by
coding/review.py: charge_edits_for_run to the lines as corrected.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from coding.engine.ptp import PtpPair
from coding.models import PtpEdit
from mar.prepared import prepared

CODE_RE = re.compile(r"^[0-9A-Z][0-9]{3}[0-9A-Z]$")


class PtpFileError(ValueError):
    """The file is refused whole; `errors` holds (line number, what is wrong)."""

    def __init__(self, errors: Sequence[tuple[int, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"line {line}: {message}" for line, message in self.errors))


@dataclass(frozen=True)
class PtpRow:
    column1: str
    column2: str
    effective_date: date
    deletion_date: date | None
    modifier_indicator: str
    rationale: str


def _norm(cell: str) -> str:
    return re.sub(r"\s+", " ", cell.strip().lower())


def _find(header: list[str], *words: str) -> int | None:
    for index, name in enumerate(header):
        if all(word in _norm(name) for word in words):
            return index
    return None


def _date(text: str) -> date:
    text = text.strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def ptp_parse(text: str) -> list[PtpRow]:
    """The pairs of a CMS-format PTP file; PtpFileError naming each bad line."""
    lines = text.splitlines()
    delimiter = "\t" if any("\t" in line for line in lines[:20]) else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    errors: list[tuple[int, str]] = []
    rows: list[PtpRow] = []
    seen: dict[tuple[str, str, date], int] = {}
    cols: dict[str, int | None] | None = None
    for line_no, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if cols is None:
            c1, c2 = _find(row, "column 1"), _find(row, "column 2")
            if c1 is None or c2 is None:
                continue  # the notice lines before the header
            cols = {
                "column1": c1,
                "column2": c2,
                "effective": _find(row, "effective"),
                "deletion": _find(row, "deletion"),
                "modifier": _find(row, "modifier"),
                "rationale": _find(row, "rationale"),
            }
            missing = [k for k in ("effective", "deletion", "modifier") if cols[k] is None]
            if missing:
                raise PtpFileError([(line_no, f"the header names no {', '.join(missing)} column")])
            continue
        needed = [i for i in cols.values() if i is not None]
        if len(row) <= max(needed):
            errors.append((line_no, f"{len(row)} columns, fewer than the header's"))
            continue

        cell = {
            key: (row[index].strip() if index is not None else "") for key, index in cols.items()
        }.__getitem__

        problems = []
        column1, column2 = cell("column1").upper(), cell("column2").upper()
        for name, code in (("column 1", column1), ("column 2", column2)):
            if not CODE_RE.match(code):
                problems.append(f"{name} {code or 'empty'!s} is not a CPT/HCPCS code")
        if column1 and column1 == column2:
            problems.append("column 1 and column 2 are the same code")
        effective = deletion = None
        try:
            effective = _date(cell("effective"))
        except ValueError:
            problems.append(f"effective date {cell('effective')!r} is not YYYYMMDD")
        deletion_text = cell("deletion")
        if deletion_text and deletion_text != "*":
            try:
                deletion = _date(deletion_text)
            except ValueError:
                problems.append(f"deletion date {deletion_text!r} is not YYYYMMDD or *")
        if effective and deletion and deletion < effective:
            problems.append("deletion date before the effective date")
        indicator = cell("modifier")
        if indicator not in ("0", "1", "9"):
            problems.append(f"modifier indicator {indicator!r} is not 0, 1 or 9")
        if not problems and effective is not None:
            key = (column1, column2, effective)
            if key in seen:
                problems.append(f"the same pair and effective date is on line {seen[key]}")
            else:
                seen[key] = line_no
        if problems:
            errors.append((line_no, "; ".join(problems)))
            continue
        assert effective is not None
        rows.append(
            PtpRow(column1, column2, effective, deletion, indicator, cell("rationale")[:200])
        )
    if cols is None:
        raise PtpFileError([(1, "no header row naming 'Column 1' and 'Column 2'")])
    if errors:
        raise PtpFileError(errors)
    if not rows:
        raise PtpFileError([(1, "no pairs after the header")])
    return rows


@transaction.atomic
def ptp_load(*, rows: Iterable[PtpRow]) -> int:
    """Replace the loaded pairs with the file's, all or nothing."""
    rows = list(rows)
    at = timezone.now()
    PtpEdit.objects.all().delete()
    PtpEdit.objects.bulk_create(
        PtpEdit(
            column1=r.column1,
            column2=r.column2,
            effective_date=r.effective_date,
            deletion_date=r.deletion_date,
            modifier_indicator=r.modifier_indicator,
            rationale=r.rationale,
            loaded_at=at,
        )
        for r in rows
    )
    return len(rows)


@prepared
def ptp_rows(codes: list[str]) -> QuerySet[PtpEdit]:
    """The loaded pairs both of whose codes are among these (a prepared read: its SQL compiled
    once, issue 19)."""
    return PtpEdit.objects.filter(column1__in=codes, column2__in=codes)


def ptp_pairs(codes: Iterable[str]) -> dict[tuple[str, str], list[PtpPair]]:
    """The loaded pairs among these codes, for the engine's `ptp_edits` (one query)."""
    wanted = set(codes)
    if len(wanted) < 2:
        return {}
    out: dict[tuple[str, str], list[PtpPair]] = {}
    for edit in ptp_rows(sorted(wanted)):
        out.setdefault((edit.column1, edit.column2), []).append(
            PtpPair(
                edit.column1,
                edit.column2,
                edit.effective_date,
                edit.deletion_date,
                edit.modifier_indicator,
            )
        )
    return out
