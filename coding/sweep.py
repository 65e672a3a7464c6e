"""The audit sweep (issue 19): the self-audit a hospital runs before a RAC does.

A coding lead picks a date range and a coding policy (a payer's current profile, or the rules'
defaults); every signed encounter arriving in that range is re-coded under today's engine and that
policy, and compared with what was billed: what was sent to billing, the ledger's charges standing
there (coding/ledger.py: sent, not credited), whichever run sent them, drug lines aside (the
engine codes the administration services). An encounter not yet exported (no run of it sent) has
nothing billed: it is compared with its current charges instead (the current run's lines as the
coders left them, corrections applied), apart, labelled "not yet billed: current charges", never
counted as billed (QA: the totals called current charges "billed"). Nothing billed changes: the
sweep reads the ledger and the charge runs and writes only its own rows.

How it runs: `sweep_start` lists the encounters and cuts them in chunks (`CHUNK` encounters);
after commit, one Celery task per chunk (`coding.sweep_chunk`), so the chunks spread over every
worker that is running. A chunk reads its records in bulk (five queries), what was sent for its
exported encounters (four) and the current lines of the others (three), codes each record, and
stores its differences and totals in one transaction, once: a chunk that is done is skipped, so
a task delivered twice or the sweep re-sent (`sweep_resend`) changes nothing. Progress is the
share of chunks done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from coding.drug_lines import DRUG_LINE_POSITION_BASE
from coding.engine import RecordError, code_record, parse_record
from coding.models import (
    AuditSweep,
    AuditSweepChunk,
    AuditSweepDifference,
    ChargeCorrection,
    ChargeLine,
    ChargeRun,
    LedgerEntry,
)
from coding.review import effective_lines
from mar.csv_safe import csv_rows_write
from mar.models import Encounter, Payer, policy_defaults
from mar.record import record_dicts_from_encounters

CHUNK = 500
SWEEP_CHUNK_TASK = "coding.sweep_chunk"
BILLED = AuditSweepDifference.ComparedWith.BILLED.value
CURRENT = AuditSweepDifference.ComparedWith.CURRENT.value
COMPARED = (BILLED, CURRENT)


def _policy_for(payer: Payer | None) -> tuple[dict[str, Any], str]:
    if payer is None:
        return policy_defaults(), "The rules' defaults"
    current = payer.current_policy()
    if current is None:
        return policy_defaults(), f"{payer.name} (no profile yet: the rules' defaults)"
    return current.as_engine_policy(), f"{payer.name} policy v{current.version}"


def _in_range(date_from: date, date_to: date) -> Q:
    return Q(arrived_at__date__range=(date_from, date_to)) | Q(
        arrived_at__isnull=True, created_at__date__range=(date_from, date_to)
    )


@transaction.atomic
def sweep_start(
    *, date_from: date, date_to: date, payer: Payer | None, user: AbstractBaseUser
) -> AuditSweep:
    """Create the sweep and its chunks; their tasks are sent when the transaction commits."""
    policy, label = _policy_for(payer)
    ids = list(
        Encounter.objects.filter(_in_range(date_from, date_to), status=Encounter.Status.SIGNED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sweep = AuditSweep.objects.create(
        created_by=user, date_from=date_from, date_to=date_to, payer=payer,
        policy=policy, policy_label=label, total=len(ids),
        finished_at=None if ids else timezone.now(),
    )  # fmt: skip
    AuditSweepChunk.objects.bulk_create(
        AuditSweepChunk(sweep=sweep, index=i, encounter_ids=ids[start : start + CHUNK])
        for i, start in enumerate(range(0, len(ids), CHUNK))
    )
    transaction.on_commit(lambda: sweep_resend(sweep_id=sweep.pk))
    return sweep


def sweep_resend(*, sweep_id: int) -> int:
    """Send a task for every chunk not yet done (after a start, or to finish a sweep whose
    worker was lost); done chunks are left alone. Returns how many were sent."""
    pending = list(
        AuditSweepChunk.objects.filter(sweep_id=sweep_id, done_at__isnull=True)
        .order_by("index")
        .values_list("pk", flat=True)
    )
    task = current_app.tasks[SWEEP_CHUNK_TASK]  # by name: coding.tasks imports this module
    for pk in pending:
        task.apply_async(args=(pk,))
    return len(pending)


def units_by_code(lines: Any) -> dict[str, int]:
    units: Counter[str] = Counter()
    for line in lines:
        units[line.code] += line.units
    return dict(sorted(units.items()))


def _sent(encounter_ids: list[int]) -> dict[int, dict[str, int]]:
    """What was billed for each exported encounter (a run of it sent to billing): the charges
    standing at billing (the ledger's charges no credit reversed, coding/ledger.py), whichever
    run sent them, drug lines aside; keyed by the exported encounters only ({} when every charge
    sent was credited). A ledger entry is a drug line's when its code is a drug line's of the run
    that sent it (as generated, or as a coder's correction of that line made it)."""
    exported = sorted(
        set(
            ChargeRun.objects.filter(encounter_id__in=encounter_ids, exported_at__isnull=False)
            .values_list("encounter_id", flat=True)
            .distinct()
        )
    )
    sent: dict[int, dict[str, int]] = {pk: {} for pk in exported}
    if not exported:
        return sent
    entries = list(
        LedgerEntry.objects.filter(
            encounter_id__in=exported, kind=LedgerEntry.Kind.CHARGE, reversed_by__isnull=True
        ).values_list("encounter_id", "run_id", "code", "units")
    )
    runs = {run_id for _encounter, run_id, _code, _units in entries}
    drug_codes = set(
        ChargeLine.objects.filter(
            run_id__in=runs, position__gte=DRUG_LINE_POSITION_BASE
        ).values_list("run_id", "code")
    )
    for run_id, corrected in ChargeCorrection.objects.filter(
        run_id__in=runs, line__position__gte=DRUG_LINE_POSITION_BASE
    ).values_list("run_id", "corrected"):
        if isinstance(corrected, dict) and corrected.get("code"):
            drug_codes.add((run_id, corrected["code"]))
    for encounter_id, run_id, code, units in entries:
        if (run_id, code) in drug_codes:
            continue
        units_of = sent[encounter_id]
        units_of[code] = units_of.get(code, 0) + units
    return {pk: dict(sorted(units.items())) for pk, units in sent.items()}


def _current(encounter_ids: list[int]) -> dict[int, dict[str, int] | None]:
    """The current charges of encounters not yet billed: the current run's lines as corrected,
    drug lines aside; None when it has no charges (not generated, or the record could not be
    read).
    Plain rows for the runs no coder corrected (most); the corrected ones through
    `effective_lines`, as the coder's pages and the exports read them."""
    runs = ChargeRun.objects.filter(encounter_id__in=encounter_ids, is_current=True)
    corrected = set(ChargeCorrection.objects.filter(run__in=runs).values_list("run_id", flat=True))
    billed: dict[int, dict[str, int] | None] = dict.fromkeys(encounter_ids)
    plain = runs.filter(error="").exclude(pk__in=corrected)
    for encounter_id in plain.values_list("encounter_id", flat=True):
        billed[encounter_id] = {}
    rows = ChargeLine.objects.filter(
        run__in=plain, position__lt=DRUG_LINE_POSITION_BASE
    ).values_list("run__encounter_id", "code", "units")
    for encounter_id, code, units in rows:
        units_of = billed[encounter_id]
        assert units_of is not None
        units_of[code] = units_of.get(code, 0) + units
    for run in runs.filter(pk__in=corrected, error="").prefetch_related(
        "lines", Prefetch("corrections", queryset=ChargeCorrection.objects.order_by("at", "pk"))
    ):
        lines = [line for line in effective_lines(run) if line.source != "drug"]
        billed[run.encounter_id] = units_by_code(lines)
    return {pk: dict(sorted(u.items())) if u is not None else None for pk, u in billed.items()}


@dataclass
class ChunkOutcome:
    differences: list[AuditSweepDifference]
    totals: dict[str, Any]


def chunk_compare(
    sweep: AuditSweep, chunk: AuditSweepChunk, encounter_ids: list[int]
) -> ChunkOutcome:
    """Re-code the chunk's encounters and compare (nothing stored)."""
    encounters = list(Encounter.objects.filter(pk__in=encounter_ids).order_by("pk"))
    documents = record_dicts_from_encounters(encounters)
    sent = _sent(encounter_ids)
    current = _current([pk for pk in encounter_ids if pk not in sent])
    # Per side: what it was compared with, the re-coding, encounters, differing.
    was_total = {side: Counter[str]() for side in COMPARED}
    recoded_total = {side: Counter[str]() for side in COMPARED}
    counted = dict.fromkeys(COMPARED, 0)
    differing = dict.fromkeys(COMPARED, 0)
    differences = []
    errors = 0
    for encounter in encounters:
        document = documents[encounter.pk]
        document["policy"] = sweep.policy
        side = BILLED if encounter.pk in sent else CURRENT
        was = sent[encounter.pk] if side == BILLED else current.get(encounter.pk) or {}
        was_total[side].update(was)
        counted[side] += 1
        try:
            now = units_by_code(code_record(parse_record(document)).charges)
        except RecordError as exc:
            errors += 1
            differing[side] += 1
            differences.append(
                AuditSweepDifference(
                    sweep=sweep,
                    chunk=chunk,
                    encounter=encounter,
                    billed=was,
                    compared_with=side,
                    recoded={},
                    error=f"{exc.field}: {exc.message}",
                )  # fmt: skip
            )
            continue
        recoded_total[side].update(now)
        if now != was:
            differing[side] += 1
            differences.append(
                AuditSweepDifference(
                    sweep=sweep,
                    chunk=chunk,
                    encounter=encounter,
                    billed=was,
                    recoded=now,
                    compared_with=side,
                )  # fmt: skip
            )
    totals = {
        "encounters": len(encounters),
        "differing": len(differences),
        "errors": errors,
        "billed": dict(sorted(was_total[BILLED].items())),
        "recoded": dict(sorted(recoded_total[BILLED].items())),
        "billed_encounters": counted[BILLED],
        "billed_differing": differing[BILLED],
        "current": dict(sorted(was_total[CURRENT].items())),
        "recoded_current": dict(sorted(recoded_total[CURRENT].items())),
        "current_encounters": counted[CURRENT],
        "current_differing": differing[CURRENT],
    }
    return ChunkOutcome(differences, totals)


def sweep_chunk_run(*, chunk_id: int) -> bool:
    """Run one chunk, once: False when it was already done (a redelivered task)."""
    chunk = AuditSweepChunk.objects.select_related("sweep").get(pk=chunk_id)
    if chunk.done_at is not None:
        return False
    outcome = chunk_compare(chunk.sweep, chunk, list(chunk.encounter_ids))
    with transaction.atomic():
        locked = AuditSweepChunk.objects.select_for_update().get(pk=chunk_id)
        if locked.done_at is not None:
            return False  # another worker finished it meanwhile
        AuditSweepDifference.objects.filter(chunk=locked).delete()
        AuditSweepDifference.objects.bulk_create(outcome.differences)
        locked.totals = outcome.totals
        locked.done_at = timezone.now()
        locked.save(update_fields=["totals", "done_at"])
        if not AuditSweepChunk.objects.filter(
            sweep_id=locked.sweep_id, done_at__isnull=True
        ).exists():
            AuditSweep.objects.filter(pk=locked.sweep_id, finished_at__isnull=True).update(
                finished_at=locked.done_at
            )
    return True


@dataclass
class Progress:
    chunks: int
    done: int
    encounters_done: int

    @property
    def percent(self) -> int:
        return 100 if not self.chunks else (100 * self.done) // self.chunks


def sweep_progress(sweep: AuditSweep) -> Progress:
    chunks = sweep.chunks.count()
    done = sweep.chunks.filter(done_at__isnull=False)
    return Progress(
        chunks, done.count(), sum(len(c) for c in done.values_list("encounter_ids", flat=True))
    )


Row = tuple[str, int, int, int]  # code, compared with, re-coded, difference


@dataclass
class Totals:
    encounters: int
    differing: int
    errors: int
    # The encounters sent to billing: code, billed units (what billing holds), re-coded,
    # difference.
    rows: list[Row]
    billed_encounters: int = 0
    billed_differing: int = 0
    # The encounters not yet billed: code, their current charges' units, re-coded, difference.
    current_rows: list[Row] = field(default_factory=list)
    current_encounters: int = 0
    current_differing: int = 0
    # Some chunks were stored before billed and current charges were told apart: their
    # current charges, exported or not, are in `rows` (the page says so: run it again).
    before_split: bool = False


def _rows(was: Counter[str], recoded: Counter[str]) -> list[Row]:
    return [(c, was[c], recoded[c], recoded[c] - was[c]) for c in sorted(set(was) | set(recoded))]


def sweep_totals(sweep: AuditSweep) -> Totals:
    billed: Counter[str] = Counter()
    recoded: Counter[str] = Counter()
    current: Counter[str] = Counter()
    recoded_current: Counter[str] = Counter()
    encounters = differing = errors = 0
    billed_encounters = billed_differing = current_encounters = current_differing = 0
    before_split = False
    for totals in sweep.chunks.filter(done_at__isnull=False).values_list("totals", flat=True):
        encounters += totals.get("encounters", 0)
        differing += totals.get("differing", 0)
        errors += totals.get("errors", 0)
        billed.update(totals.get("billed", {}))
        recoded.update(totals.get("recoded", {}))
        if "billed_encounters" not in totals:
            before_split = True
            continue
        billed_encounters += totals["billed_encounters"]
        billed_differing += totals.get("billed_differing", 0)
        current_encounters += totals.get("current_encounters", 0)
        current_differing += totals.get("current_differing", 0)
        current.update(totals.get("current", {}))
        recoded_current.update(totals.get("recoded_current", {}))
    return Totals(
        encounters=encounters,
        differing=differing,
        errors=errors,
        rows=_rows(billed, recoded),
        billed_encounters=billed_encounters,
        billed_differing=billed_differing,
        current_rows=_rows(current, recoded_current),
        current_encounters=current_encounters,
        current_differing=current_differing,
        before_split=before_split,
    )


CSV_HEADER = [
    "encounter", "mrn", "arrived", "code", "billed units (sent to billing)",
    "not yet billed: current units", "re-coded units", "difference", "compared with", "error",
]  # fmt: skip


def sweep_csv(sweep: AuditSweep) -> str:
    """Every differing encounter, one row per code whose units differ: encounter, MRN, date
    (local), code, then the units it was compared with in their own column (billed, sent to
    billing; or, not yet billed, its current charges: the other left empty), re-coded,
    difference, what it was compared with in words (and the error when the record could not be
    re-coded). Through the one CSV writer (mar/csv_safe.py: formula cells neutralised)."""
    return csv_rows_write(CSV_HEADER, _csv_rows(sweep))


def _csv_rows(sweep: AuditSweep) -> Iterator[list[object]]:
    differences = sweep.differences.select_related("encounter__patient").order_by("encounter_id")
    for diff in differences.iterator(chunk_size=2000):
        encounter = diff.encounter
        arrived = (
            timezone.localdate(encounter.arrived_at).isoformat() if encounter.arrived_at else ""
        )
        head: list[object] = [f"E{encounter.pk}", encounter.patient.mrn, arrived or ""]
        said = diff.get_compared_with_display() or "billed or current (stored before told apart)"
        if diff.error:
            yield [*head, "", "", "", "", "", said, diff.error]
            continue
        for code in sorted(set(diff.billed) | set(diff.recoded)):
            was, now = diff.billed.get(code, 0), diff.recoded.get(code, 0)
            if was == now:
                continue
            current = diff.compared_with == CURRENT
            yield [*head, code, "" if current else was, was if current else "", now, now - was,
                   said, ""]  # fmt: skip
