"""Time and units (coding-rules.md §2).

Minutes run from the charted start to the charted stop, less every pause, and are whole minutes
(an unfinished minute does not count). Intervals are kept as sorted, non-overlapping
(start, end) pairs of POSIX seconds, so midnight and DST changes need no special case: an infusion
from 01:30 EDT to 02:40 EST is 130 minutes because the instants are 130 minutes apart (P25, P26).

Scenarios: P01-P07, P18, P25-P27, P29, P36.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from .record import Administration, seconds

Span = tuple[float, float]

PUSH_MAX_MINUTES = 15  # an infusion of 15 minutes or less is a push; 16 or more is an infusion
INFUSION_MIN_MINUTES = 16  # also the least a sequential infusion needs
INITIAL_UNIT_MAX_MINUTES = 90  # one initial unit covers 16 to 90 minutes
HYDRATION_MIN_MINUTES = 31  # hydration counts only from 31 minutes running alone
HOUR = 60
# A repeat push within 30 minutes of the last reported push of that drug earns nothing.
PUSH_SAME_DRUG_CLOCK_MINUTES = 30
MAX_HOURS_WITHOUT_PUMP = 24  # DOC-3: longer is implausible unless a pump was set up


def additional_hours(minutes: int) -> int:
    """Units of 96366 / 96415 / 96361 / 96423 / 96370 after an initial or sequential unit.

    More than 30 minutes past each hour: 91-150 min = 1, 151-210 = 2: ceil((minutes - 90) / 60).
    """
    if minutes <= INITIAL_UNIT_MAX_MINUTES:
        return 0
    return -(-(minutes - INITIAL_UNIT_MAX_MINUTES) // HOUR)


def hydration_add_on_units(minutes: int) -> int:
    """Units of 96361 for hydration after another initial service: ceil((minutes - 30) / 60)."""
    if minutes < HYDRATION_MIN_MINUTES:
        return 0
    return -(-(minutes - (HYDRATION_MIN_MINUTES - 1)) // HOUR)


def is_push_length(minutes: int) -> bool:
    return minutes <= PUSH_MAX_MINUTES


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union of spans, sorted; spans that touch are joined (a continuous run)."""
    out: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(spans: Sequence[Span], minus: Sequence[Span]) -> list[Span]:
    """The parts of `spans` not covered by `minus` (both sorted and merged)."""
    out: list[Span] = []
    j = 0
    for start, end in spans:
        cursor = start
        while j < len(minus) and minus[j][1] <= cursor:
            j += 1
        k = j
        while k < len(minus) and minus[k][0] < end:
            if minus[k][0] > cursor:
                out.append((cursor, minus[k][0]))
            cursor = max(cursor, minus[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def intersect(spans: Sequence[Span], other: Sequence[Span]) -> list[Span]:
    """The parts covered by both (both sorted and merged)."""
    out: list[Span] = []
    i = j = 0
    n, m = len(spans), len(other)
    while i < n and j < m:
        s_start, s_end = spans[i]
        o_start, o_end = other[j]
        start = s_start if s_start >= o_start else o_start  # the later start
        end = s_end if s_end <= o_end else o_end  # the earlier end
        if start < end:
            out.append((start, end))
        if s_end < o_end:
            i += 1
        else:
            j += 1
    return out


def whole_minutes(spans: Iterable[Span]) -> int:
    total = 0.0
    for start, end in spans:
        total += end - start
    return int(total // 60)


def running_spans(adm: Administration, *, not_before: datetime | None = None) -> list[Span]:
    """When the drug was running: start to stop less pauses, optionally only after `not_before`.

    A pump infusion that ends outside the encounter runs for its planned hours. An administration
    with no stop (a push given at one moment) has no running time.
    """
    if not_before is None or not adm.spans:
        return list(adm.spans)
    cut = seconds(not_before)
    return [(max(s, cut), e) for s, e in adm.spans if e > cut]


def paused_minutes(adm: Administration) -> int:
    if adm.stop_ts is None:
        return 0
    whole = (adm.stop_ts - adm.start_ts) // 60
    return int(whole) - whole_minutes(adm.spans)


def instant_after(spans: list[Span], minutes: int) -> float:
    """The moment at which `minutes` of running time have gone by (to date an hour's unit)."""
    left = minutes * 60.0
    for start, end in spans:
        if end - start > left:
            return start + left
        left -= end - start
    return spans[-1][1] if spans else 0.0


# Local dates of moments, by quarter hour: a quarter hour that does not straddle a local midnight
# has one date. Charges ask for the date of every unit, and zone arithmetic is slow. One dict per
# zone, so a lookup is by the quarter hour alone (None: it straddles midnight).
_DATES: dict[str, dict[int, date | None]] = {}
_DATE_CACHE_LIMIT = 50_000
QUARTER_HOUR = 900


def dates_in(zone: ZoneInfo) -> dict[int, date | None]:
    """`local_date`'s cache for `zone`: the date of each quarter hour (POSIX seconds // 900)
    already asked, None for one that straddles a local midnight."""
    dates = _DATES.get(zone.key)
    if dates is None:
        dates = _DATES[zone.key] = {}
    return dates


def local_date(moment: float, zone: ZoneInfo) -> date:
    """The date on the encounter's wall clock at `moment` (POSIX seconds)."""
    bucket = int(moment // QUARTER_HOUR)
    dates = dates_in(zone)
    if bucket in dates:
        found = dates[bucket]
    else:
        first = datetime.fromtimestamp(bucket * QUARTER_HOUR, zone).date()
        last = datetime.fromtimestamp((bucket + 1) * QUARTER_HOUR - 1e-3, zone).date()
        found = first if first == last else None  # straddles midnight: answered exactly below
        if len(dates) >= _DATE_CACHE_LIMIT:
            dates.clear()
        dates[bucket] = found
    return found if found is not None else datetime.fromtimestamp(moment, zone).date()


_CLOCKS: dict[tuple[str, float], str] = {}
_CLOCK_CACHE_LIMIT = 50_000


def local_clock(moment: float, zone: ZoneInfo) -> str:
    """HH:MM on the encounter's wall clock (each moment converted once: zone arithmetic is
    slow, and a moment is named in several reasons)."""
    key = (zone.key, moment)
    found = _CLOCKS.get(key)
    if found is None:
        local = datetime.fromtimestamp(moment, zone)
        found = f"{local.hour:02d}:{local.minute:02d}"
        if len(_CLOCKS) >= _CLOCK_CACHE_LIMIT:
            _CLOCKS.clear()
        _CLOCKS[key] = found
    return found
