"""The one CSV writer of the app: every field quoted, formula cells neutralised.

Spreadsheet programs run a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return) as a formula: an MRN of `=HYPERLINK(...)` or a reason of `+cmd|...` in an export
would run on the billing clerk's machine (OWASP "CSV Injection"). Text cells starting with one of
those characters are written with a leading apostrophe, which spreadsheets show as text and this
module's `cell_restore` takes off again on import. Every field is quoted, so a comma, a quote or a
bare carriage return inside a value stays inside its cell.

Numbers the app itself writes (int, Decimal: units, amounts, a credit's negative amount) are not
text from a user and are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
NEUTRALISER = "'"


def cell_safe(value: Any) -> Any:
    """A value as it may go into a CSV cell: text that a spreadsheet would run is prefixed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) or (
        text.startswith(NEUTRALISER) and text[1:].startswith(FORMULA_STARTS)
    ):
        # A text already starting with "'=" gets one more, so cell_restore gives it back whole.
        return NEUTRALISER + text
    return text


def cell_restore(text: str) -> str:
    """The text as it was before `cell_safe` (for importing a file this app wrote)."""
    if text.startswith(NEUTRALISER) and text[1:].startswith(FORMULA_STARTS + (NEUTRALISER,)):
        return text[1:]
    return text


def _writer(out: io.StringIO) -> Any:
    return csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")


def csv_rows_write(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (RFC 4180: CRLF, every field quoted) of a header and rows of values."""
    out = io.StringIO(newline="")
    writer = _writer(out)
    writer.writerow([cell_safe(h) for h in header])
    for row in rows:
        writer.writerow([cell_safe(v) for v in row])
    return out.getvalue()


def csv_dicts_write(header: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """As csv_rows_write, for rows given as mappings keyed by the header's names."""
    return csv_rows_write(header, ([row.get(name, "") for name in header] for row in rows))
