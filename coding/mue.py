"""Medically Unlikely Edits: per-day unit limits the hospital loads from CMS's CSV.

CMS publishes the outpatient hospital MUE table as a CSV that opens with a few lines of notice
before the header row; the columns that matter are the HCPCS/CPT code, the MUE value, the
adjudication indicator and the rationale. The limits are data (the MueLimit table), never code:
the engine's `charge_edits(lines, mue=...)` applies them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from coding.models import MueLimit
from mar.prepared import prepared


class MueFileError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class MueRow:
    code: str
    limit: int
    adjudication_indicator: str
    rationale: str


def _column(header: list[str], *words: str) -> int | None:
    for index, name in enumerate(header):
        lowered = name.lower()
        if all(word in lowered for word in words):
            return index
    return None


def mue_parse(text: str) -> list[MueRow]:
    """Rows of a CMS-format MUE CSV; a bad row raises MueFileError naming its line."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    code_col = value_col = mai_col = rationale_col = None
    rows: dict[str, MueRow] = {}
    for line_no, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            code_col = _column(row, "hcpcs") if row else None
            value_col = _column(row, "mue", "value")
            if code_col is not None and value_col is not None:
                header = row
                mai_col = _column(row, "adjudication")
                rationale_col = _column(row, "rationale")
            continue  # the notice lines before the header
        assert code_col is not None and value_col is not None
        if len(row) <= max(code_col, value_col):
            raise MueFileError(line_no, "too few columns")
        code = row[code_col].strip().upper()
        value = row[value_col].strip()
        if not code:
            raise MueFileError(line_no, "no code")
        try:
            limit = int(value)
        except ValueError:
            raise MueFileError(line_no, f"MUE value {value!r} is not a whole number") from None
        if limit < 0:
            raise MueFileError(line_no, "MUE value is negative")
        rows[code] = MueRow(
            code=code,
            limit=limit,
            adjudication_indicator=row[mai_col].strip() if mai_col is not None else "",
            rationale=row[rationale_col].strip() if rationale_col is not None else "",
        )
    if header is None:
        raise MueFileError(1, "no header row with an 'HCPCS' column and an 'MUE Values' column")
    return list(rows.values())


@transaction.atomic
def mue_load(*, rows: Iterable[MueRow], replace: bool = True) -> int:
    """Store the limits, all or nothing; `replace` drops codes absent from the file."""
    rows = list(rows)
    if replace:
        MueLimit.objects.exclude(code__in=[r.code for r in rows]).delete()
    for row in rows:
        MueLimit.objects.update_or_create(
            code=row.code,
            defaults={
                "limit": row.limit,
                "adjudication_indicator": row.adjudication_indicator,
                "rationale": row.rationale,
            },
        )
    return len(rows)


@prepared
def mue_rows(codes: list[str]) -> QuerySet[MueLimit]:
    """The limits of these codes (a prepared read: its SQL compiled once, issue 19)."""
    return MueLimit.objects.filter(code__in=codes).only("code", "limit").order_by("code")


def mue_limits(codes: Iterable[str]) -> dict[str, int]:
    """{code: per-day limit} for these codes (one query)."""
    wanted = set(codes)
    if not wanted:
        return {}
    return {row.code: row.limit for row in mue_rows(sorted(wanted))}
