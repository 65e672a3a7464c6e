"""Hydration: only ordered fluids given for their own sake, and only the minutes they run alone.

coding-rules.md §2 and §4, rac-checklist.md DOC-5: minutes during which any other infusion or push
of the encounter runs, on any site, are taken out (a push charted with only a start takes out
nothing). Under the default policy `hydration_segments=total` the runs alone before, between and
after drug services are added and count when the total reaches 31 minutes (CPT Assistant, June
2007); under `continuous` each continuous run is judged on its own.

Scenarios: P01-P03, P08, P16-P18, P25, P31, P32, P36.
"""

from __future__ import annotations

from .checks import carries_no_charge
from .classify import Service
from .record import Record
from .timing import HYDRATION_MIN_MINUTES, Span, merge, running_spans, subtract, whole_minutes


def drug_running_spans(record: Record) -> list[Span]:
    """When any drug (not a fluid, not a carrier) was running anywhere in the encounter."""
    return merge(
        span
        for adm in record.administrations
        if not adm.is_fluid and not carries_no_charge(adm)
        for span in running_spans(adm)
    )


def alone_spans(hydration: list[Service], drugs: list[Span]) -> list[Span]:
    return subtract(merge(s for service in hydration for s in service.spans), drugs)


def countable_runs(alone: list[Span], segments: str) -> list[list[Span]]:
    """The runs that count, each as its spans: one pooled run (total) or each qualifying run."""
    if segments == "total":
        return [alone] if whole_minutes(alone) >= HYDRATION_MIN_MINUTES else []
    return [[run] for run in alone if whole_minutes([run]) >= HYDRATION_MIN_MINUTES]


def policy_minutes(alone: list[Span], segments: str) -> int:
    """Minutes of hydration alone as the payer counts them (for ranking and DOC-5)."""
    if segments == "total":
        return whole_minutes(alone)
    return max((whole_minutes([run]) for run in alone), default=0)
