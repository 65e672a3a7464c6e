"""NCCI procedure-to-procedure (PTP) edits, hospital outpatient: the pair logic.

CMS publishes pairs of codes (column 1, column 2) with an effective date, a deletion date and a
modifier indicator. On one date of service, a column 2 code billed with its column 1 code is
not paid, unless the indicator is 1 and a distinct-procedure modifier (59, XE, XS, XP, XU) says
the two services were separate; with 0 no modifier allows it; 9 means the edit does not apply.
A pair applies to dates from its effective date to the day before its deletion date. The
modifier is looked for on either line of the pair (the outpatient code editor takes it on
either). The pairs are data the hospital loads (the app's PtpEdit table); this module only
applies them, to the lines as they will be sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from .result import Finding

DISTINCT_MODIFIERS = frozenset({"59", "XE", "XS", "XP", "XU"})


@dataclass(frozen=True)
class PtpPair:
    column1: str
    column2: str
    effective: date
    deletion: date | None
    indicator: str  # "0", "1" or "9"

    def applies_on(self, day: date) -> bool:
        return self.effective <= day and (self.deletion is None or day < self.deletion)


class PtpLine(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def modifiers(self) -> tuple[str, ...]: ...
    @property
    def date(self) -> date: ...
    @property
    def administrations(self) -> tuple[str, ...]: ...


def ptp_pair_on(
    pairs: Mapping[tuple[str, str], Sequence[PtpPair]], column1: str, column2: str, day: date
) -> PtpPair | None:
    """The pair in effect on `day` (the latest effective one when the file lists it twice)."""
    live = [p for p in pairs.get((column1, column2), ()) if p.applies_on(day)]
    return max(live, key=lambda p: p.effective) if live else None


def ptp_edits(
    lines: Iterable[PtpLine], pairs: Mapping[tuple[str, str], Sequence[PtpPair]]
) -> list[Finding]:
    """EDIT-PTP for each pair billed together on one day that no modifier allows."""
    by_day: dict[date, list[PtpLine]] = defaultdict(list)
    for line in lines:
        by_day[line.date].append(line)
    found: list[Finding] = []
    for day in sorted(by_day):
        day_lines = by_day[day]
        seen: set[tuple[str, str]] = set()
        for first in day_lines:
            for second in day_lines:
                if first is second or first.code == second.code:
                    continue
                key = (first.code, second.code)
                if key in seen:
                    continue
                pair = ptp_pair_on(pairs, first.code, second.code, day)
                if pair is None or pair.indicator == "9":
                    continue
                seen.add(key)
                firsts = [ln for ln in day_lines if ln.code == first.code]
                seconds = [ln for ln in day_lines if ln.code == second.code]
                administrations = tuple(a for ln in firsts + seconds for a in ln.administrations)
                if pair.indicator == "1":
                    if any(DISTINCT_MODIFIERS & set(ln.modifiers) for ln in firsts + seconds):
                        continue
                    message = (
                        f"{second.code} is bundled into {first.code} on {day.isoformat()} "
                        "(NCCI PTP, modifier indicator 1): paid only with a distinct-procedure "
                        "modifier (59, XE, XS, XP, XU) when the services were separate"
                    )
                else:
                    message = (
                        f"{second.code} is bundled into {first.code} on {day.isoformat()} "
                        "(NCCI PTP, modifier indicator 0): never paid together, no modifier "
                        "allows it"
                    )
                found.append(Finding("EDIT-PTP", "error", message, administrations))
    return found
