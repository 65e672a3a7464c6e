"""The visit timeline: what ran when, on which line, and what overlapped (screens.md).

Built from the engine's Record, the same input the charges come from, so the picture a nurse and a
coder look at is the record the engine coded. Geometry is computed here; `_timeline.html` only
draws it as a server-rendered SVG (no JavaScript needed to read it).

One lane per access site (plus one for administrations with no site), a bar per administration from
start to stop with its pauses cut out, pushes as points, flushes as ticks, coloured by class.
Overlapping bars in a lane are stacked in rows so overlap is visible at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from coding.engine import Administration, Record, Result

WIDTH = 960
LEFT = 120  # room for the lane labels
RIGHT = 16
TOP = 28  # room for the hour labels
ROW = 26
LANE_GAP = 10
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


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class Bar:
    administration: str
    label: str
    title: str
    colour: str
    y: float
    segments: tuple[Segment, ...]  # running time; gaps between segments are pauses
    pauses: tuple[Segment, ...]
    running: bool  # no stop yet
    charged: bool


@dataclass(frozen=True, slots=True)
class Point:
    administration: str
    title: str
    colour: str
    x: float
    y: float
    charged: bool


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class FlushMark:
    x: float
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Lane:
    label: str
    y: float
    height: float


@dataclass(slots=True)
class Timeline:
    width: int
    height: int
    left: int = LEFT
    lanes: list[Lane] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    flushes: list[FlushMark] = field(default_factory=list)
    now_x: float | None = None
    legend: list[tuple[str, str]] = field(default_factory=lambda: list(LEGEND))

    @property
    def empty(self) -> bool:
        return not (self.bars or self.points or self.flushes)


class _Clock:
    """Where a moment falls on the picture, and how long something with no stop is drawn."""

    def __init__(self, first: datetime, span_minutes: float, zone: ZoneInfo, now: datetime | None):
        self.first = first
        self.span = span_minutes
        self.scale = (WIDTH - LEFT - RIGHT) / span_minutes
        self.zone = zone
        self.now = now

    def x(self, moment: datetime) -> float:
        minutes = (moment - self.first).total_seconds() / 60
        return round(LEFT + max(0.0, min(self.span, minutes)) * self.scale, 1)

    def hhmm(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M")

    def end(self, adm: Administration) -> datetime:
        if adm.stop is not None:
            return adm.stop
        if adm.is_prolonged_pump and adm.planned_hours:
            return adm.start + timedelta(hours=adm.planned_hours)
        if self.now is not None and self.now > adm.start:
            return self.now
        return adm.start + timedelta(minutes=RUNNING_HINT_MINUTES)


def is_point(adm: Administration) -> bool:
    """A push or injection charted at one moment."""
    return adm.method != "infusion" and adm.stop is None


def build_timeline(
    record: Record, result: Result | None = None, *, now: datetime | None = None
) -> Timeline:
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
        return Timeline(width=WIDTH, height=TOP + ROW)
    first = min(moments).astimezone(zone).replace(minute=0, second=0, microsecond=0)
    span_minutes = max(60.0, (max(moments) - first).total_seconds() / 60 + 15)
    clock = _Clock(first, span_minutes, zone, now)

    timeline = Timeline(width=WIDTH, height=0)
    step = 60 if span_minutes <= 12 * 60 else 180
    tick = first
    while (tick - first).total_seconds() / 60 <= span_minutes:
        timeline.ticks.append(Tick(clock.x(tick), clock.hhmm(tick)))
        tick += timedelta(minutes=step)
    if now is not None and first <= now <= first + timedelta(minutes=span_minutes):
        timeline.now_x = clock.x(now)

    lane_ids: list[str | None] = [s.id for s in record.sites]
    if any(a.site is None for a in adms):
        lane_ids.append(None)
    y = float(TOP)
    for site_id in lane_ids:
        rows: list[datetime] = []  # the moment each row of the lane is free again
        placed: list[tuple[int, Administration]] = []
        for adm in (a for a in adms if a.site == site_id):
            ends = adm.start + timedelta(minutes=2) if is_point(adm) else clock.end(adm)
            row = next((i for i, free in enumerate(rows) if adm.start >= free), len(rows))
            if row == len(rows):
                rows.append(ends)
            else:
                rows[row] = ends
            placed.append((row, adm))
        height = max(1, len(rows)) * ROW
        site = record.site(site_id)
        label = f"{site.id} {site.kind.replace('_', ' ')}" if site else "no site"
        timeline.lanes.append(Lane(label, y, height))
        for row, adm in placed:
            _place(timeline, adm, y + row * ROW, clock, adm.id in charged)
        for flush in record.flushes:
            if site_id is not None and flush.site == site_id:
                timeline.flushes.append(FlushMark(clock.x(flush.at), y, clock.hhmm(flush.at)))
        y += height + LANE_GAP
    timeline.height = int(y + 4)
    return timeline


def _place(
    timeline: Timeline, adm: Administration, top: float, clock: _Clock, charged: bool
) -> None:
    carrier = adm.purpose in ("vehicle", "kvo")
    colour = CARRIER_COLOUR if carrier else CLASS_COLOURS[adm.drug_class]
    if is_point(adm):
        title = f"{adm.id} {adm.drug}: {adm.method} at {clock.hhmm(adm.start)}"
        timeline.points.append(
            Point(adm.id, title, colour, clock.x(adm.start), top + ROW / 2, charged)
        )
        return
    end = clock.end(adm)
    stop_label = clock.hhmm(adm.stop) if adm.stop else "running"
    title = f"{adm.id} {adm.drug}: {clock.hhmm(adm.start)}–{stop_label}"
    if adm.purpose:
        title += f" ({adm.purpose})"
    pauses = tuple(
        Segment(clock.x(p.start), max(1.0, clock.x(p.end or end) - clock.x(p.start)))
        for p in adm.pauses
    )
    segments: list[Segment] = []  # running time: the bar less its pauses
    cursor = adm.start
    for p_start, p_end in sorted((p.start, p.end or end) for p in adm.pauses):
        if p_start > cursor:
            segments.append(Segment(clock.x(cursor), max(1.0, clock.x(p_start) - clock.x(cursor))))
        cursor = max(cursor, p_end)
    if end > cursor:
        segments.append(Segment(clock.x(cursor), max(2.0, clock.x(end) - clock.x(cursor))))
    timeline.bars.append(
        Bar(
            administration=adm.id,
            label=adm.drug,
            title=title,
            colour=colour,
            y=top + 4,
            segments=tuple(segments),
            pauses=pauses,
            running=adm.stop is None and not adm.pump,
            charged=charged,
        )
    )
