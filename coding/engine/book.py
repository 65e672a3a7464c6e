"""The book of one encounter's coding: the lines made so far, what earned nothing and why, and
the findings. Every rule family (infusions.py, pushes.py, hydration.py, outside.py) writes into it;
modifiers.py then marks and orders its lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from . import rules as r
from .record import Policy, Record
from .result import Finding, NotCharged
from .timing import QUARTER_HOUR, dates_in, local_clock, local_date


@dataclass(init=False, slots=True)
class Line:
    code: str
    units: int
    day: date
    administrations: tuple[str, ...]
    why: str
    at: float  # when the service began, for claim order
    group: str | None = None  # the IV site group; None for services outside the IV hierarchy
    initial: bool = False
    modifiers: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # rule ids (rules.py), in the order applied

    def __init__(
        self,
        code: str,
        units: int,
        day: date,
        administrations: tuple[str, ...],
        why: str,
        at: float,
        group: str | None = None,
        initial: bool = False,
        modifiers: list[str] | None = None,
        rules: list[str] | None = None,
    ) -> None:
        self.code = code
        self.units = units
        self.day = day
        self.administrations = administrations
        self.why = why
        self.at = at
        self.group = group
        self.initial = initial
        self.modifiers = modifiers if modifiers is not None else []
        self.rules = rules if rules is not None else []

    def apply(self, *rule_ids: str) -> None:
        self.rules.extend(i for i in rule_ids if i not in self.rules)


def rule_list(rule_ids: Iterable[str]) -> list[str]:
    """The ids once each, in the order first applied."""
    out: list[str] = []
    for rule_id in rule_ids:
        if rule_id not in out:
            out.append(rule_id)
    return out


class Book:
    """The lines of one encounter, the reasons for what earned nothing, and the findings."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.policy: Policy = record.policy
        self.zone = ZoneInfo(record.encounter.timezone)
        self.dates = dates_in(self.zone)  # local_date's cache for the zone, read first
        self.lines: list[Line] = []
        self.not_charged: list[NotCharged] = []
        self.findings: list[Finding] = []
        # Office: the administration flagged primary is the initial service (coding-rules §3).
        self.honour_primary = record.encounter.setting == "office"
        self.primary_group: str | None = None  # the site group of the encounter's initial

    def day(self, moment: float) -> date:
        found = self.dates.get(int(moment // QUARTER_HOUR))
        return found if found is not None else local_date(moment, self.zone)

    def time(self, moment: float) -> str:
        return local_clock(moment, self.zone)

    def add(
        self,
        code: str,
        unit_starts: list[float],
        ids: tuple[str, ...],
        why: str,
        *,
        rules: Iterable[str],
        group: str | None = None,
        initial: bool = False,
        modifiers: tuple[str, ...] = (),
    ) -> None:
        """One line per date on which a unit began (an additional hour after midnight).

        `rules`: the ids of the rules that made the line (rules.py)."""
        applied = rule_list(rules)
        if len(unit_starts) == 1:  # most lines: one unit
            at = unit_starts[0]
            day = self.dates.get(int(at // QUARTER_HOUR)) or local_date(at, self.zone)
            self.lines.append(
                Line(code, 1, day, ids, why, at, group, initial, list(modifiers), applied)
            )
            return
        by_day: dict[date, int] = defaultdict(int)
        for moment in unit_starts:
            by_day[self.day(moment)] += 1
        if len(by_day) > 1:
            applied = rule_list([*applied, r.DATE_OF_SERVICE])
        for day, units in sorted(by_day.items()):
            line = Line(
                code, units, day, ids, why, min(unit_starts), group, initial, list(modifiers)
            )
            line.rules = list(applied)
            self.lines.append(line)

    def skip(self, ids: tuple[str, ...], reason: str, *, rules: Iterable[str]) -> None:
        """`ids` earn nothing, for `reason`; `rules`: the ids of the rules that decided it."""
        applied = tuple(rule_list(rules))
        self.not_charged.extend(NotCharged(i, reason, applied) for i in ids)
