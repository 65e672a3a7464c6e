"""What an engine makes of a document, to compare two engines output for output (issue 19).

Used by `benchmarks/engine_identity.py` (the working tree against an earlier commit) and
tests/engine/test_compiled.py (the compiled build against the pure-Python sources): each valid
document is read (the record's repr) and coded without `now`, at the bedside (45 minutes after
its last start), signing then, and before its first start (the future-time checks), each
coding's `to_json()` as JSON text; an error is its type, field and message.
"""

from __future__ import annotations

import copy
import json
import random
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

WRONG_VALUES: list[Any] = [
    None, "", " ", 0, -1, 1.5, True, [], {}, "x", "2026-03-02T25:00", "2026-13-02T08:00",
    "2026-03-08T02:30", "2026-11-01T01:30", "1850-01-01T00:00", "2026-03-02T08:00+05:00",
    "S9", "O-none", "iv", "push", "chemo", 10**12, float("inf"), [1, 2], {"a": 1},
]  # fmt: skip


def _spots(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield value, k
            yield from _spots(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield value, i
            yield from _spots(v)


def mutated(docs: list[Any], n: int, seed: int) -> list[Any]:
    """`n` documents broken by 1-3 seeded changes each: a field deleted or given another value."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        doc = copy.deepcopy(rnd.choice(docs))
        for _ in range(rnd.randint(1, 3)):
            spots = list(_spots(doc))
            if not spots:
                break
            container, key = rnd.choice(spots)
            if isinstance(container, dict) and rnd.random() < 0.4:
                del container[key]
            else:
                container[key] = copy.deepcopy(rnd.choice(WRONG_VALUES))
        out.append(doc)
    return out


# --- running an engine --------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    field = getattr(exc, "field", None)
    message = getattr(exc, "message", None)
    return f"!{type(exc).__name__}|{field}|{message}|{exc}"


def outputs(engine: types.ModuleType, doc: Any, nows: list[datetime | None]) -> list[str]:
    """What `engine` makes of `doc`: the record's repr, then each coding's JSON text or error."""
    try:
        record = engine.parse_record(doc)
    except Exception as exc:  # noqa: BLE001 - any exception is an output to compare
        return [_error(exc)]
    out = [repr(record)]
    for now, signing in [(None, False), *((n, s) for n in nows[1:] for s in (False, True))]:
        try:
            result = engine.code_record(record, now=now, signing=signing)
            out.append(json.dumps(result.to_json()))
        except Exception as exc:  # noqa: BLE001
            out.append(_error(exc))
    return out


def moments(engine: types.ModuleType, doc: Any) -> list[datetime | None]:
    """None, the bedside (45 min after the last start) and a moment before the first start."""
    try:
        record = engine.parse_record(doc)
    except Exception:  # noqa: BLE001
        return [None]
    starts = [a.start for a in record.administrations]
    if not starts:
        return [None, datetime(2026, 3, 2, 12, 0, tzinfo=UTC)]
    return [None, max(starts) + timedelta(minutes=45), min(starts) - timedelta(minutes=10)]
