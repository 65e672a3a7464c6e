"""Reports for HIM: which documentation findings recur, and charge reconciliation.

Encounters are placed in the range by their arrival date (the date of service), in the
server's time zone. Findings are those of each encounter's current charge run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from coding.models import ChargeCorrection, ChargeFinding, ChargeRun, CorrectionDecision, ReviewItem
from coding.run_changes import run_numbers
from mar.models import Encounter


def _in_range(prefix: str, date_from: date, date_to: date) -> Q:
    return Q(**{f"{prefix}arrived_at__date__gte": date_from}) & Q(
        **{f"{prefix}arrived_at__date__lte": date_to}
    )


def _signed_findings(date_from: date, date_to: date, include_info: bool) -> QuerySet[ChargeFinding]:
    findings = ChargeFinding.objects.filter(
        _in_range("run__encounter__", date_from, date_to),
        run__is_current=True,
        run__encounter__status=Encounter.Status.SIGNED,
    )
    return findings if include_info else findings.exclude(severity="info")


def findings_by_nurse_and_unit(
    *, date_from: date, date_to: date, include_info: bool = False
) -> list[dict[str, Any]]:
    """Rows (nurse, unit, rule, severity, findings, encounters), most frequent first.

    The nurse is the encounter's nurse, else whoever signed it. Info-level findings (they
    change no charge: DRUG-WASTE "container not stated") only with `include_info`.
    """
    rows = (
        _signed_findings(date_from, date_to, include_info)
        .annotate(
            nurse=Coalesce(
                F("run__encounter__nurse__username"),
                F("run__encounter__signed_by__username"),
                Value("(unknown)"),
            ),
            unit=F("run__encounter__unit"),
        )
        .values("nurse", "unit", "rule", "severity")
        .annotate(findings=Count("pk"), encounters=Count("run__encounter", distinct=True))
        .order_by("-findings", "rule", "nurse", "unit")
    )
    return list(rows)


def findings_by_rule(
    *, date_from: date, date_to: date, include_info: bool = False
) -> list[dict[str, Any]]:
    """Which items recur: per rule, how many findings, encounters, nurses and units (info-level
    findings only with `include_info`)."""
    rows = (
        _signed_findings(date_from, date_to, include_info)
        .values("rule")
        .annotate(
            findings=Count("pk"),
            encounters=Count("run__encounter", distinct=True),
            nurses=Count(
                Coalesce("run__encounter__nurse_id", "run__encounter__signed_by_id"),
                distinct=True,
            ),
            units=Count("run__encounter__unit", distinct=True),
        )
        .order_by("-findings", "rule")
    )
    return list(rows)


@dataclass(frozen=True)
class DecisionStep:
    """One re-review decision on a correction, or its undoing, as the report lists it; or the
    correction coming back for re-review on a new run (`decision` "back", `reason` what
    changed under it, `by` empty)."""

    decision: str  # "keep", "adapt", "drop" or "undo" (CorrectionDecision.Decision), "back"
    label: str  # "Kept", "Adapted", "Dropped", "Undone", "Back for re-review"
    reason: str
    by: str
    at: datetime
    run_number: int  # the run it was decided on, by its number within the encounter
    sends: dict[str, Any]  # the line the correction sends after it ({}: none)
    added: bool  # it sends that line as an added one (its line gone from the run)


@dataclass(frozen=True)
class CorrectionHistory:
    """A coder's correction from the run she made it on to the current run: as she made it
    (`first`: action, the engine's line, hers, her reason), every decision since in order, and
    how it stands now (`current`, on the current run)."""

    current: ChargeCorrection
    first: ChargeCorrection
    first_run_number: int
    decisions: list[DecisionStep] = field(default_factory=list)
    # The decisions and, before them, each time it came back for re-review (what changed).
    steps: list[DecisionStep] = field(default_factory=list)
    # A later correction of the same line on the same run (of the same added line): the line's
    # latest decides it (`review.effective_lines`), so this one no longer applies, whatever its
    # state says (QA: "Change 96417" and a later "Remove 96417" both read "Applied").
    replaced_by: ChargeCorrection | None = None


@dataclass
class Reconciliation:
    not_accepted: QuerySet[Encounter]
    corrections: QuerySet[ChargeCorrection]
    histories: list[CorrectionHistory] = field(default_factory=list)


def reconciliation(*, date_from: date, date_to: date) -> Reconciliation:
    """Signed encounters whose charges are not accepted yet; every coder's correction and why,
    as it stands on the encounter's current charges: applied, carried forward, waiting for
    re-review, kept, adapted or dropped (coding/corrections.py); with its history
    (`histories`): the correction as the coder made it, then each re-review decision and undo
    with its reason, in order, on whichever run it was made (nothing overwritten)."""
    done = [ReviewItem.State.ACCEPTED, ReviewItem.State.EXPORTED]
    not_accepted = (
        Encounter.objects.filter(_in_range("", date_from, date_to), status=Encounter.Status.SIGNED)
        .exclude(review_item__state__in=done)
        .select_related("patient", "review_item", "review_item__claimed_by")
        .order_by("arrived_at", "pk")
    )
    corrections = (
        ChargeCorrection.objects.filter(
            _in_range("run__encounter__", date_from, date_to), run__is_current=True
        )
        .select_related("run__encounter__patient", "by", "line", "decided_by")
        .order_by("at", "pk")
    )
    return Reconciliation(
        not_accepted=not_accepted, corrections=corrections, histories=_histories(corrections)
    )


def _histories(corrections: QuerySet[ChargeCorrection]) -> list[CorrectionHistory]:
    """Each current correction with the rows it was carried from (one per run) and their
    decisions: three reads, whatever the number of encounters."""
    current = list(corrections)
    encounters = {c.run.encounter_id for c in current}
    rows = {
        c.pk: c
        for c in ChargeCorrection.objects.filter(run__encounter_id__in=encounters)
        .select_related("by")
        .prefetch_related("decisions__by")
    }
    runs: dict[int, list[ChargeRun]] = {}
    made_at: dict[int, datetime] = {}
    for run in ChargeRun.objects.filter(encounter_id__in=encounters).only(
        "pk", "encounter_id", "created_at"
    ):
        runs.setdefault(run.encounter_id, []).append(run)
        made_at[run.pk] = run.created_at
    numbers = {pk: n for same in runs.values() for pk, n in run_numbers(same).items()}
    replaced_by = _replaced(current)
    out = []
    for correction in current:
        chain = [rows.get(correction.pk, correction)]
        while chain[-1].carried_from_id is not None and chain[-1].carried_from_id in rows:
            chain.append(rows[chain[-1].carried_from_id])
        chain.reverse()  # as made first
        decisions = sorted(
            ((d, numbers.get(row.run_id, 0)) for row in chain for d in row.decisions.all()),
            key=lambda pair: (pair[0].at, pair[0].pk),
        )
        steps = [_step(d, number) for d, number in decisions]
        back = [
            _back(row, numbers.get(row.run_id, 0), made_at.get(row.run_id, row.at))
            for before, row in zip(chain, chain[1:], strict=False)
            if _came_back(before, row)
        ]
        out.append(
            CorrectionHistory(
                current=correction,
                first=chain[0],
                first_run_number=numbers.get(chain[0].run_id, 0),
                decisions=steps,
                steps=sorted(back + steps, key=lambda step: step.at),
                replaced_by=replaced_by.get(correction.pk),
            )
        )
    return out


def _replaced(current: list[ChargeCorrection]) -> dict[int, ChargeCorrection]:
    """Each correction (by id) a later one replaced on its run: the next correction of the same
    engine line, or the next change or removal of the same added line (`amends`); the line's
    latest decides what is sent (`review.effective_lines`)."""
    same: dict[tuple[int, str, int], list[ChargeCorrection]] = {}
    for correction in current:
        if correction.amends_id is not None:
            same.setdefault((correction.run_id, "added", correction.amends_id), []).append(
                correction
            )
        elif correction.action != ChargeCorrection.Action.ADD and correction.line_id is not None:
            same.setdefault((correction.run_id, "line", correction.line_id), []).append(correction)
    out: dict[int, ChargeCorrection] = {}
    for group in same.values():
        group.sort(key=lambda c: (c.at, c.pk))
        for before, after in zip(group, group[1:], strict=False):
            out[before.pk] = after
    return out


def _came_back(before: ChargeCorrection, row: ChargeCorrection) -> bool:
    """Whether `row` (carried from `before`) came back for re-review on its run: it waited
    there as carried (its state then: before its first decision, if any) while `before` did
    not wait. (One the nurse's answer put back later has that return as a decision of its own,
    `answered`.)"""
    waiting = ChargeCorrection.State.NEEDS_REVIEW
    first = next(iter(row.decisions.all()), None)
    carried = row.state if first is None else (first.before or {}).get("state")
    return carried == waiting and before.state != waiting


def _back(row: ChargeCorrection, run_number: int, at: datetime) -> DecisionStep:
    """The step of `row` coming back for re-review on its run, with what changed under it
    (kept with it, or, decided since, with its first decision's `before`)."""
    first = next(iter(row.decisions.all()), None)
    basis = row.basis if first is None else (first.before or {}).get("basis")
    changed = list((basis or {}).get("changed") or [])
    return DecisionStep(
        decision="back",
        label="Back for re-review",
        reason="; ".join(changed) or "the line it corrected changed",
        by="",
        at=at,
        run_number=run_number,
        sends={},
        added=False,
    )


NOT_SENT = (
    ChargeCorrection.State.DROPPED,
    ChargeCorrection.State.NEEDS_REVIEW,
    ChargeCorrection.State.BACK,
)


def _step(decision: CorrectionDecision, run_number: int) -> DecisionStep:
    after = decision.after or {}
    sends = {} if after.get("state") in NOT_SENT else after.get("corrected") or {}
    return DecisionStep(
        decision=decision.decision,
        label=decision.get_decision_display(),
        reason=decision.reason,
        by=decision.by.get_username(),
        at=decision.at,
        run_number=run_number,
        sends=sends,
        added=bool(sends) and after.get("action") == ChargeCorrection.Action.ADD,
    )
