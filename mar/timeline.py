"""The visit timeline: what ran when, on which line, and what overlapped (screens.md).

Built from the engine's Record, the same input the charges come from, so the picture a nurse and a
coder look at is the record the engine coded. Geometry is computed here; `_timeline.html` only
draws it as a server-rendered SVG (no JavaScript needed to read it).

One lane per access site (plus one for administrations with no site), a bar per infusion from
start to stop with its pauses cut out and a mark (▼ over a thin line) at each rate change, pushes
and injections as points (●), flushes as ticks in the lane's top strip, coloured by class. Each
kind of mark has its own shape, and the legend draws each with the very shape of the plot
(mar/templatetags/timeline_svg.py).
Overlapping bars in a lane are stacked in rows so overlap is visible at a glance.

Readable at arm's length at any width (screens.md: 16 px text, 768 px wide): the SVG has no
viewBox, so nothing is scaled. Across, positions are percentages of the plot, which stretches
with the screen; down, and for text, they are CSS pixels. The lane names sit in a fixed column
left of the plot (the SVG's left padding, static/css/timeline.css). Each bar or point carries its
drug's name in 16 px dark text just above it, never inside, so a name is readable whatever the
bar's width and colour. Which row a bar takes is decided for the narrowest plot the CSS allows
(MIN_PLOT_PX): a wider screen only spreads names further apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from coding.engine import Administration, Record, Result
from mar.clock import date_hhmm, hhmm
from mar.models import (
    AccessSite,
    Encounter,
    RateChange,
    rate_amended_times,
    rate_amended_times_said,
)
from mar.record import administration_record_id

# Keep in step with .timeline-svg in static/css/timeline.css (its padding and min-width).
LABEL_COLUMN_PX = 150  # the lane names, left of the plot
MIN_PLOT_PX = 540  # the plot's narrowest width
TOP = 32  # room for the hour labels
LANE_PAD = 10  # the strip at the top of a lane where its flushes are ticked
ROW = 46  # a name (16 px) above a bar (18 px), and a gap
BAR_HEIGHT = 18
LABEL_BASELINE = 17  # from the top of a row
BAR_TOP = 22  # from the top of a row
POINT_RADIUS_PX = 9
LANE_GAP = 8
CHAR_PX = 10  # a generous width for one character of a 16 px name (DejaVu Sans: 8-10 px)
NAME_GAP_PX = 12  # between a name and whatever comes next in its row
MIN_MARK_PX = 12  # a two-minute push is still a mark a finger can find
MAX_NAME_CHARS = 28  # longer names are cut with an ellipsis (the whole is in the tooltip)
TICK_MIN_PX = 64  # between hour labels on the narrowest plot
TICK_STEPS = (60, 120, 180, 240, 360, 720)
RUNNING_WORDS = "still running"
NO_STOP_WORDS = "no stop charted"
RUNNING_HINT_MINUTES = 5  # a running infusion with no stop is drawn up to `now`, or this long

CLASS_COLOURS = {
    "chemo": "#8e24aa",
    "chemo_hormonal": "#6a1b9a",
    "therapeutic": "#1e63b5",
    "hydration": "#00897b",
    None: "#9e9e9e",  # untagged (DOC-4)
}
CARRIER_COLOUR = "#c9ced6"  # vehicle and KVO: never charged

LEGEND = [
    ("chemotherapy / complex", CLASS_COLOURS["chemo"]),
    ("therapeutic", CLASS_COLOURS["therapeutic"]),
    ("hydration", CLASS_COLOURS["hydration"]),
    ("vehicle / KVO", CARRIER_COLOUR),
    ("not yet classified", CLASS_COLOURS[None]),
]


def pct(px: float) -> float:
    """A width in pixels on the narrowest plot, as a percentage of the plot."""
    return px / MIN_PLOT_PX * 100


@dataclass(frozen=True, slots=True)
class Segment:
    x: float  # % of the plot
    width: float  # % of the plot


@dataclass(frozen=True, slots=True)
class RateMark:
    """A rate change on a bar (issue 17): where across (% of the plot), and what it says."""

    x: float
    label: str  # "125 mL/h"
    title: str  # "rate 125 mL/h from 10:05"
    amended: str = ""  # "corrected by addendum 14:32 by nurse2": corrected after the signature


@dataclass(frozen=True, slots=True)
class Bar:
    administration: str
    label: str
    title: str
    colour: str
    y: float  # px, the bar's top
    segments: tuple[Segment, ...]  # running time; gaps between segments are pauses
    pauses: tuple[Segment, ...]
    running: bool  # no stop yet
    charged: bool
    label_x: float = 0.0  # % of the plot, where the name starts
    label_y: float = 0.0  # px, the name's baseline
    rate_marks: tuple[RateMark, ...] = ()  # each rate change after the start


@dataclass(frozen=True, slots=True)
class Point:
    administration: str
    title: str
    colour: str
    x: float  # % of the plot
    y: float  # px, the centre
    charged: bool
    label: str = ""
    label_x: float = 0.0
    label_y: float = 0.0


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class FlushMark:
    x: float
    y: float  # the lane's top
    label: str


@dataclass(frozen=True, slots=True)
class Lane:
    label: str  # "S1 port"
    y: float
    height: float
    site: str = ""  # "S1", or "no site"
    kind: str = ""  # "port"


@dataclass(slots=True)
class Timeline:
    height: int
    label_column: int = LABEL_COLUMN_PX
    lanes: list[Lane] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    flushes: list[FlushMark] = field(default_factory=list)
    now_x: float | None = None
    # What a bar with no stop means: at the bedside (`now`) it is still running; on the record
    # as signed or coded (no `now`) its stop was never charted.
    open_end: str = RUNNING_WORDS
    legend: list[tuple[str, str]] = field(default_factory=lambda: list(LEGEND))

    @property
    def empty(self) -> bool:
        return not (self.bars or self.points or self.flushes)

    @property
    def lane_label_x(self) -> int:
        """Where the lane names start: in the column left of the plot (negative: before 0)."""
        return 8 - self.label_column


class _Clock:
    """Where a moment falls on the plot (%), and how long something with no stop is drawn."""

    def __init__(self, first: datetime, span_minutes: float, zone: ZoneInfo, now: datetime | None):
        self.first = first
        self.span = span_minutes
        self.zone = zone
        self.now = now

    def x(self, moment: datetime) -> float:
        minutes = (moment - self.first).total_seconds() / 60
        return round(max(0.0, min(self.span, minutes)) * 100 / self.span, 2)

    def hhmm(self, moment: datetime) -> str:
        return hhmm(moment, self.zone)

    def end(self, adm: Administration) -> datetime:
        if adm.stop is not None:
            return adm.stop
        if adm.is_prolonged_pump and adm.planned_hours:
            return adm.start + timedelta(hours=adm.planned_hours)
        if self.now is not None and self.now > adm.start:
            return self.now
        return adm.start + timedelta(minutes=RUNNING_HINT_MINUTES)


def is_point(adm: Administration) -> bool:
    """A push or injection: a point (●) at its start, as the legend says, also when its stop is
    charted (QA: a push with its stop was a short bar, like an infusion of a few minutes)."""
    return adm.method != "infusion"


def name(drug: str) -> str:
    return drug if len(drug) <= MAX_NAME_CHARS else drug[: MAX_NAME_CHARS - 1] + "…"


def _name_x(mark_x: float, label: str) -> tuple[float, float]:
    """Where a name above a mark at `mark_x` starts, and how wide it is (% of the plot):
    at the mark, or pulled left as far as needed to end inside the plot."""
    width = pct(len(label) * CHAR_PX)
    return round(max(0.0, min(mark_x, 100 - width)), 2), width


class _Rows:
    """The rows of one lane: what each holds, as spans of the plot (%)."""

    def __init__(self) -> None:
        self.taken: list[list[tuple[float, float]]] = []

    def place(self, low: float, high: float) -> int:
        """The first row where [low, high) is free, taking it."""
        for index, spans in enumerate(self.taken):
            if all(high <= a or low >= b for a, b in spans):
                spans.append((low, high))
                return index
        self.taken.append([(low, high)])
        return len(self.taken) - 1


_SITE_KINDS = dict(AccessSite.Kind.choices)


def _lane_order(site_id: str) -> tuple[tuple[int, int | str], ...]:
    """A site id's place among the lanes: its runs of digits as numbers ("S9" before "S10")."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", site_id)
    )


def _site_kind_words(kind: str) -> str:
    """A site's kind as the chart names it ("Peripheral IV", "PICC", "Port"); a kind the app
    does not list (an imported record's) as written, its underscores as spaces."""
    return str(_SITE_KINDS.get(kind, kind.replace("_", " ")))


# A rate change as the record has it: its administration's id, its time (to the second) and rate.
RateKey = tuple[str, datetime, float]


def rate_amended_words(rate_change: RateChange, zone: ZoneInfo) -> str:
    """What the mark of a rate change corrected by addendum after the signature says, as its
    row on the card does (mar/_rate_row_amended.jinja): the time, with its date when not the
    row's own day, and who; corrected more than once, how many times and the last one's
    ("corrected by addendum twice, last 09:10 by nurse": `amended_times`, read with the row,
    `rate_amended_times`); "" for a row never so corrected."""
    if rate_change.amended_at is None:
        return ""
    when = rate_change.amended_at.astimezone(zone)
    same_day = when.date() == rate_change.at.astimezone(zone).date()
    said = hhmm(when, zone) if same_day else date_hhmm(when, zone)
    by = rate_change.amended_by.get_username() if rate_change.amended_by else "?"
    times = rate_amended_times_said(getattr(rate_change, "amended_times", 1))
    return f"corrected by addendum {f'{times}, last ' if times else ''}{said} by {by}"


def rate_corrections(encounter_pk: int, zone: ZoneInfo) -> dict[RateKey, str]:
    """The encounter's rate changes corrected by addendum after its signature (one read), by the
    record's key, each with its mark's words: `build_timeline`'s `amended`. A record coded before
    the correction has the row as it was then: its key differs, and its mark says nothing."""
    rows = (
        RateChange.objects.filter(
            administration__encounter_id=encounter_pk, amended_at__isnull=False
        )
        .select_related("amended_by")
        .annotate(amended_times=rate_amended_times())
    )
    return {
        (
            administration_record_id(rc.administration_id),
            rc.at.replace(microsecond=0),
            float(rc.rate_ml_h),
        ): rate_amended_words(rc, zone)
        for rc in rows
    }


def chart_timeline(
    encounter: Encounter, record: Record, result: Result | None, *, now: datetime | None
) -> Timeline:
    """The bedside chart's timeline (`now`: `bedside_now`): on a signed record its rate marks
    say each correction by addendum, as the cards' rows do (one read more, on a signed record
    only: a row is marked only after the signature)."""
    amended = (
        rate_corrections(encounter.pk, encounter.zone)
        if encounter.is_signed and has_rates(record)
        else None
    )
    return build_timeline(record, result, now=now, amended=amended)


def has_rates(record: Record) -> bool:
    """Whether any administration of the record has a rate: without one no rate row can have
    been corrected, and `rate_corrections` is not read (issue 19: a fixed number of reads)."""
    return any(adm.rates for adm in record.administrations)


def build_timeline(
    record: Record,
    result: Result | None = None,
    *,
    now: datetime | None = None,
    amended: Mapping[RateKey, str] | None = None,
) -> Timeline:
    """The record's timeline. `now`: at the bedside, an infusion with no stop is drawn running up
    to now; without it (a signed record, the coder's view) its stop was never charted, and it is
    drawn a few minutes long, labelled so. `amended`: the rate changes corrected by addendum
    after the signature (`rate_corrections`), their marks saying so."""
    zone = ZoneInfo(record.encounter.timezone)
    adms = record.administrations
    charged = {i for c in result.charges for i in c.administrations} if result else set()
    moments: list[datetime] = [f.at for f in record.flushes]
    for adm in adms:
        moments.append(adm.start)
        if adm.stop is not None:
            moments.append(adm.stop)
        elif adm.method == "infusion" and now is not None and now > adm.start:
            moments.append(now)
    if record.encounter.arrived_at is not None:
        moments.append(record.encounter.arrived_at)
    if not moments:
        return Timeline(height=TOP + ROW)
    first = min(moments).astimezone(zone).replace(minute=0, second=0, microsecond=0)
    span_minutes = max(60.0, (max(moments) - first).total_seconds() / 60 + 15)
    clock = _Clock(first, span_minutes, zone, now)

    timeline = Timeline(height=0, open_end=RUNNING_WORDS if now is not None else NO_STOP_WORDS)
    most_ticks = MIN_PLOT_PX // TICK_MIN_PX
    step = next((s for s in TICK_STEPS if span_minutes / s < most_ticks), TICK_STEPS[-1])
    tick = first
    while (tick - first).total_seconds() / 60 <= span_minutes:
        timeline.ticks.append(Tick(clock.x(tick), clock.hhmm(tick)))
        tick += timedelta(minutes=step)
    if now is not None and first <= now <= first + timedelta(minutes=span_minutes):
        timeline.now_x = clock.x(now)

    # The record keeps its sites sorted by id as text (the engine's canonical order: S10
    # before S9); the lanes read as the nurse numbered them: S9 above S10.
    lane_ids: list[str | None] = sorted((s.id for s in record.sites), key=_lane_order)
    if any(a.site is None for a in adms):
        lane_ids.append(None)
    y = float(TOP)
    for site_id in lane_ids:
        rows = _Rows()
        placed: list[tuple[int, Bar | Point]] = []
        for adm in (a for a in adms if a.site == site_id):
            mark = _mark(adm, clock, adm.id in charged, amended or {})
            if isinstance(mark, Point):
                low, high = mark.x - pct(POINT_RADIUS_PX), mark.x + pct(POINT_RADIUS_PX)
            else:
                low = min(s.x for s in (*mark.segments, *mark.pauses))
                high = max(s.x + s.width for s in (*mark.segments, *mark.pauses))
            label_x, label_width = _name_x(low, name(adm.drug))
            high = max(high, label_x + label_width) + pct(NAME_GAP_PX)
            placed.append((rows.place(min(low, label_x), high), mark))
        height = LANE_PAD + max(1, len(rows.taken)) * ROW
        site = record.site(site_id)
        kind = _site_kind_words(site.kind) if site else ""
        label = f"{site.id} {kind}" if site else "no site"
        timeline.lanes.append(Lane(label, y, height, site.id if site else "no site", kind))
        for row, mark in placed:
            top = y + LANE_PAD + row * ROW
            if isinstance(mark, Point):
                label_x, _ = _name_x(mark.x - pct(POINT_RADIUS_PX), mark.label)
                timeline.points.append(
                    _point(mark, y=top + BAR_TOP + BAR_HEIGHT / 2, label_x=label_x, top=top)
                )
            else:
                start = min(s.x for s in (*mark.segments, *mark.pauses))
                label_x, _ = _name_x(start, mark.label)
                timeline.bars.append(_bar(mark, y=top + BAR_TOP, label_x=label_x, top=top))
        for flush in record.flushes:
            if site_id is not None and flush.site == site_id:
                timeline.flushes.append(FlushMark(clock.x(flush.at), y, clock.hhmm(flush.at)))
        y += height + LANE_GAP
    timeline.height = int(y + 4)
    return timeline


def _point(point: Point, *, y: float, label_x: float, top: float) -> Point:
    return Point(
        point.administration, point.title, point.colour, point.x, y, point.charged,
        point.label, label_x, top + LABEL_BASELINE,
    )  # fmt: skip


def _bar(bar: Bar, *, y: float, label_x: float, top: float) -> Bar:
    return Bar(
        bar.administration, bar.label, bar.title, bar.colour, y, bar.segments, bar.pauses,
        bar.running, bar.charged, label_x, top + LABEL_BASELINE, bar.rate_marks,
    )  # fmt: skip


def _mark(
    adm: Administration, clock: _Clock, charged: bool, amended: Mapping[RateKey, str]
) -> Bar | Point:
    """The administration's bar or point, placed across; its row (down) comes later."""
    carrier = adm.purpose in ("vehicle", "kvo")
    colour = CARRIER_COLOUR if carrier else CLASS_COLOURS[adm.drug_class]
    if is_point(adm):
        title = f"{adm.id} {adm.drug}: {adm.method} at {clock.hhmm(adm.start)}"
        if adm.stop is not None and adm.stop > adm.start:
            title = (
                f"{adm.id} {adm.drug}: {adm.method} {clock.hhmm(adm.start)}–{clock.hhmm(adm.stop)}"
            )
        return Point(adm.id, title, colour, clock.x(adm.start), 0.0, charged, name(adm.drug))
    end = clock.end(adm)
    if adm.stop is not None:
        stop_label = clock.hhmm(adm.stop)
    else:
        stop_label = "running" if clock.now is not None else NO_STOP_WORDS
    title = f"{adm.id} {adm.drug}: {clock.hhmm(adm.start)}–{stop_label}"
    if adm.purpose:
        title += f" ({adm.purpose})"
    if adm.rates and adm.rates[0].at <= adm.start:
        title += f", {_ml_h(adm.rates[0].ml_h)}"
    rate_marks = tuple(
        _rate_mark(
            clock.x(event.at),
            _ml_h(event.ml_h),
            f"rate {_ml_h(event.ml_h)} from {clock.hhmm(event.at)}",
            amended.get((adm.id, event.at, event.ml_h), ""),
        )
        # Every rate after the one it started at, also one charted in the start's minute
        # (the record's times are to the minute): a titration is a mark on its bar.
        for i, event in enumerate(adm.rates)
        if not (i == 0 and event.at <= adm.start) and event.at <= end
    )
    pauses = tuple(
        Segment(clock.x(p.start), max(0.2, round(clock.x(p.end or end) - clock.x(p.start), 2)))
        for p in adm.pauses
    )
    segments: list[Segment] = []  # running time: the bar less its pauses
    cursor = adm.start
    for p_start, p_end in sorted((p.start, p.end or end) for p in adm.pauses):
        if p_start > cursor:
            width = round(clock.x(p_start) - clock.x(cursor), 2)
            segments.append(Segment(clock.x(cursor), max(0.2, width)))
        cursor = max(cursor, p_end)
    if end > cursor or not (segments or pauses):
        # A short bar (an infusion of a few minutes) is drawn at least MIN_MARK_PX wide.
        shortest = pct(MIN_MARK_PX) - sum(s.width for s in segments)
        width = round(max(clock.x(end) - clock.x(cursor), shortest, 0.2), 2)
        segments.append(Segment(clock.x(cursor), width))
    return Bar(
        administration=adm.id,
        label=name(adm.drug),
        title=title,
        colour=colour,
        y=0.0,
        segments=tuple(segments),
        pauses=pauses,
        running=adm.stop is None and not adm.pump,
        charged=charged,
        rate_marks=rate_marks,
    )


def _rate_mark(x: float, label: str, title: str, amended: str) -> RateMark:
    """A rate change's mark, its tooltip saying a correction by addendum after the signature."""
    return RateMark(x, label, f"{title} ({amended})" if amended else title, amended)


def _ml_h(value: float) -> str:
    return f"{value:g} mL/h"
