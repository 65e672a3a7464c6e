"""Hydration: only ordered fluids given for their own sake, and only the minutes they run alone.

coding-rules.md §2 and §4, rac-checklist.md DOC-5: minutes during which any other infusion or push
of the encounter runs, on any site, are taken out (a push charted with only a start takes out
nothing). Under the default policy `hydration_segments=total` the runs alone before, between and
after drug services are added and count when the total reaches 31 minutes (CPT Assistant, June
2007); under `continuous` each continuous run is judged on its own.

Hydration is decided here only: whether a site group's hydration may be its initial service
(`measure_hydration`, read by hierarchy.py), its lines (`code_hydration`) and DOC-5.

Scenarios: P01-P03, P08, P16-P18, P25, P31, P32, P36.
"""

from __future__ import annotations

from . import codes
from . import rules as r
from .book import Book
from .classify import Service
from .hierarchy import SiteGroup
from .record import Record
from .result import Finding
from .terms import carries_no_charge, number_of
from .timing import (
    HOUR,
    HYDRATION_MIN_MINUTES,
    Span,
    additional_hours,
    hydration_add_on_units,
    instant_after,
    intersect,
    merge,
    running_spans,
    subtract,
    whole_minutes,
)


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


def measure_hydration(record: Record, groups: list[SiteGroup]) -> None:
    """Each group's hydration minutes alone, as the payer's policy counts them, and whether they
    are enough for hydration to be charged (and so to be the group's initial service)."""
    drugs = drug_running_spans(record)
    segments = record.policy.hydration_segments
    for group in groups:
        hydration = [s for s in group.services if s.kind == "hydration"]
        group.hydration_alone = alone_spans(hydration, drugs)
        group.hydration_minutes = policy_minutes(group.hydration_alone, segments)
        group.hydration_counts = bool(countable_runs(group.hydration_alone, segments))


def code_hydration(book: Book, group: SiteGroup) -> None:
    hydration = [s for s in group.services if s.kind == "hydration"]
    if not hydration:
        return
    segments = book.policy.hydration_segments
    alone = group.hydration_alone
    runs = countable_runs(alone, segments)
    contributing = tuple(i for s in hydration if intersect(s.spans, alone) for i in s.ids)
    silent = tuple(i for s in hydration for i in s.ids if i not in contributing)
    drugs = ", ".join(dict.fromkeys(s.drugs for s in hydration))
    served = tuple(dict.fromkeys(rule for s in hydration for rule in s.rules))
    policy_rule = (r.HYDRATION_SEGMENTS,)
    if silent:
        book.skip(
            silent,
            "ran only alongside another infusion or push: hydration not charged",
            rules=(r.HYDRATION_ALONE, *served),
        )
    if not runs:
        if segments == "total":
            counted = f"{whole_minutes(alone)} min in all"
        else:
            longest = max((whole_minutes([r]) for r in alone), default=0)
            counted = (
                f"at most {longest} min at a stretch (this payer judges each continuous run on "
                "its own: policy hydration_segments=continuous)"
            )
        message = (
            f"Hydration ({drugs}) ran by itself {counted}: hydration is charged only from "
            f"{HYDRATION_MIN_MINUTES} minutes running alone"
        )
        book.findings.append(Finding("DOC-5", "error", message, contributing or silent, "stop"))
        book.skip(
            contributing,
            message,
            rules=(r.HYDRATION_ALONE, r.HYDRATION_31_MIN, "DOC-5", *policy_rule, *served),
        )
        return
    # Under `continuous` a fluid whose own runs alone were all too short earns nothing, though
    # another run of the group counts.
    counted_spans = [span for run in runs for span in run]
    short = tuple(
        i
        for s in hydration
        if intersect(s.spans, alone) and not intersect(s.spans, counted_spans)
        for i in s.ids
    )
    if short:
        short_drugs = ", ".join(dict.fromkeys(s.drugs for s in hydration if s.ids[0] in short))
        message = (
            f"Hydration ({short_drugs}) ran by itself less than {HYDRATION_MIN_MINUTES} minutes "
            "at a stretch (this payer judges each continuous run on its own: policy "
            "hydration_segments=continuous): not charged"
        )
        book.findings.append(Finding("DOC-5", "error", message, short, "stop"))
        book.skip(
            short,
            message,
            rules=(r.HYDRATION_ALONE, r.HYDRATION_31_MIN, "DOC-5", *policy_rule, *served),
        )
        contributing = tuple(i for i in contributing if i not in short)
    policy_note = (
        "runs alone before, between and after drug services added (policy hydration_segments=total)"
        if segments == "total"
        else "each continuous run judged on its own (policy hydration_segments=continuous)"
    )
    if group.initial is not None and group.initial.kind == "hydration":
        main_run = max(runs, key=whole_minutes)
        minutes = whole_minutes(main_run)
        book.add(
            codes.HYDRATION_INITIAL,
            [main_run[0][0]],
            contributing,
            f"initial service: hydration is the only IV service; {drugs} ran {minutes} min "
            f"alone ({HYDRATION_MIN_MINUTES} min or more); {policy_note}",
            rules=(
                *group.initial_rules,
                r.HYDRATION_INITIAL,
                r.HYDRATION_ALONE,
                r.HYDRATION_31_MIN,
                *policy_rule,
                *served,
            ),
            group=group.key,
            initial=True,
        )
        hours = additional_hours(minutes)
        if hours:
            book.add(
                codes.HYDRATION_ADDITIONAL,
                [instant_after(main_run, HOUR * k) for k in range(1, hours + 1)],
                contributing,
                f"hydration {minutes} min: {number_of(hours, 'additional hour')} beyond the "
                "first, each with more than 30 minutes in it",
                rules=(
                    r.ADDITIONAL_HOUR,
                    r.HYDRATION_INITIAL,
                    r.HYDRATION_ALONE,
                    *policy_rule,
                    *served,
                ),
                group=group.key,
            )
        runs = [r for r in runs if r is not main_run]
    for run in runs:
        minutes = whole_minutes(run)
        units = hydration_add_on_units(minutes)
        book.add(
            codes.HYDRATION_ADDITIONAL,
            [instant_after(run, HOUR * k) for k in range(units)],
            contributing,
            f"hydration after another initial service: {drugs} ran {minutes} min alone "
            f"(minutes alongside drugs taken out), one unit per hour started beyond 30 minutes "
            f"(ceil((minutes - 30) / 60) = {units}); {policy_note}",
            rules=(
                r.HYDRATION_AFTER_INITIAL,
                r.HYDRATION_ALONE,
                r.HYDRATION_31_MIN,
                *policy_rule,
                *served,
            ),
            group=group.key,
        )
