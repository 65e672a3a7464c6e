"""Field-by-field merge for the parts of the record that carry no version number (issue 18, item 8).

An administration card has a version and its history (mar/services/charting.py merges against
the version it was typed from). The encounter's times and a site's details are small forms: the
form carries a snapshot of the values it showed (`snapshot`, a hidden `base` field), and the
save merges three ways, field by field:

- a field she left as it was shown keeps what is stored now (another nurse's change survives);
- a field only she changed takes hers;
- a field both changed, to different values, is a clash: nothing is saved, the form comes back
  with what is stored now named beside the field and a fresh base, so saving again keeps hers.

Values are compared in a canonical text form: datetimes in UTC to the minute (what the forms
can show and type), everything else as stripped text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Canonical = dict[str, str]


def canonical(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(second=0, microsecond=0).isoformat()
    return str(value).strip()


def snapshot(values: Mapping[str, Any]) -> str:
    """The hidden `base` a form carries: the values it showed, canonical."""
    return json.dumps({name: canonical(value) for name, value in values.items()}, sort_keys=True)


def snapshot_read(text: str | None) -> Canonical | None:
    """The base posted back; None when absent or unreadable (then the save is last-write-wins,
    as for a caller with no form, e.g. an interface)."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        return None
    return data


class ChangedMeanwhile(Exception):
    """Someone saved a field to one value while she typed another: `clashes` maps each field to
    what is stored now; `current` is the fresh base for saving again."""

    def __init__(self, clashes: Mapping[str, Any], current: str) -> None:
        super().__init__(", ".join(clashes))
        self.clashes = dict(clashes)
        self.current = current


def merged(
    *, base: Canonical | None, current: Mapping[str, Any], mine: Mapping[str, Any]
) -> dict[str, Any]:
    """The values to store: hers where she changed them, what is stored now elsewhere.

    Raises ChangedMeanwhile when a field was changed both ways (by her and meanwhile)."""
    if base is None:
        return dict(mine)
    result: dict[str, Any] = {}
    clashes: dict[str, Any] = {}
    for name, value in mine.items():
        now, shown, typed = canonical(current[name]), base.get(name), canonical(value)
        if shown is None or typed == shown:
            result[name] = current[name] if shown is not None else value
        elif now == shown or now == typed:
            result[name] = value
        else:
            clashes[name] = current[name]
    if clashes:
        raise ChangedMeanwhile(clashes, snapshot(current))
    return result
