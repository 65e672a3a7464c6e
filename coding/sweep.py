"""The audit sweep (issue 19): the self-audit a hospital runs before a RAC does.

A coding lead picks a date range and a coding policy (a payer's current profile, or the rules'
defaults); every signed encounter arriving in that range is re-coded under today's engine and that
policy, and compared with what was billed: the current charge run's lines as the coders left
them (corrections applied, drug lines aside: the engine codes the administration services).
Nothing billed changes: the sweep reads charge runs and writes only its own rows.

How it runs: `sweep_start` lists the encounters and cuts them in chunks (`CHUNK` encounters);
after commit, one Celery task per chunk (`coding.sweep_chunk`), so the chunks spread over every
worker that is running. A chunk reads its records in bulk (five queries), its billed lines (three),
codes each record, and stores its differences and totals in one transaction, once: a chunk that
is done is skipped, so a task delivered twice or the sweep re-sent (`sweep_resend`) changes
nothing. Progress is the share of chunks done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
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
)
from coding.review import effective_lines
from mar.csv_safe import csv_rows_write
from mar.models import Encounter, Payer, policy_defaults
from mar.record import record_dicts_from_encounters

CHUNK = 500
SWEEP_CHUNK_TASK = "coding.sweep_chunk"


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


def _billed(encounter_ids: list[int]) -> dict[int, dict[str, int] | None]:
    """What was billed for each encounter: its current run's lines as corrected, drug lines
    aside; None when it has no charges (not generated, or the record could not be read).
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
    billed = _billed(encounter_ids)
    billed_total: Counter[str] = Counter()
    recoded_total: Counter[str] = Counter()
    differences = []
    errors = 0
    for encounter in encounters:
        document = documents[encounter.pk]
        document["policy"] = sweep.policy
        was = billed.get(encounter.pk) or {}
        billed_total.update(was)
        try:
            now = units_by_code(code_record(parse_record(document)).charges)
        except RecordError as exc:
            errors += 1
            differences.append(
                AuditSweepDifference(
                    sweep=sweep,
                    chunk=chunk,
                    encounter=encounter,
                    billed=was,
                    recoded={},
                    error=f"{exc.field}: {exc.message}",
                )  # fmt: skip
            )
            continue
        recoded_total.update(now)
        if now != was:
            differences.append(
                AuditSweepDifference(
                    sweep=sweep, chunk=chunk, encounter=encounter, billed=was, recoded=now
                )
            )
    totals = {
        "encounters": len(encounters),
        "differing": len(differences),
        "errors": errors,
        "billed": dict(sorted(billed_total.items())),
        "recoded": dict(sorted(recoded_total.items())),
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


@dataclass
class Totals:
    encounters: int
    differing: int
    errors: int
    rows: list[tuple[str, int, int, int]]  # code, billed, re-coded, difference


def sweep_totals(sweep: AuditSweep) -> Totals:
    billed: Counter[str] = Counter()
    recoded: Counter[str] = Counter()
    encounters = differing = errors = 0
    for totals in sweep.chunks.filter(done_at__isnull=False).values_list("totals", flat=True):
        encounters += totals.get("encounters", 0)
        differing += totals.get("differing", 0)
        errors += totals.get("errors", 0)
        billed.update(totals.get("billed", {}))
        recoded.update(totals.get("recoded", {}))
    codes = sorted(set(billed) | set(recoded))
    rows = [(c, billed[c], recoded[c], recoded[c] - billed[c]) for c in codes]
    return Totals(encounters, differing, errors, rows)


def sweep_csv(sweep: AuditSweep) -> str:
    """Every differing encounter, one row per code whose units differ: encounter, MRN, date,
    code, billed, re-coded, difference (and the error when the record could not be re-coded).
    Through the one CSV writer (mar/csv_safe.py: formula cells neutralised)."""
    header = ["encounter", "mrn", "arrived", "code", "billed units", "re-coded units",
              "difference", "error"]  # fmt: skip
    return csv_rows_write(header, _csv_rows(sweep))


def _csv_rows(sweep: AuditSweep) -> Iterator[list[object]]:
    differences = sweep.differences.select_related("encounter__patient").order_by("encounter_id")
    for diff in differences.iterator(chunk_size=2000):
        encounter = diff.encounter
        arrived = encounter.arrived_at.date().isoformat() if encounter.arrived_at else ""
        head: list[object] = [f"E{encounter.pk}", encounter.patient.mrn, arrived]
        if diff.error:
            yield [*head, "", "", "", "", diff.error]
            continue
        for code in sorted(set(diff.billed) | set(diff.recoded)):
            was, now = diff.billed.get(code, 0), diff.recoded.get(code, 0)
            if was != now:
                yield [*head, code, was, now, now - was, ""]
