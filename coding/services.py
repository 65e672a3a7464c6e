"""Generating and storing charge runs. Safe to call twice or concurrently for one encounter."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from coding.claim import formulary_snapshot
from coding.corrections import corrections_carry
from coding.drug_lines import DrugLineRows, drug_line_inputs, drug_line_rows, drug_lines_store
from coding.models import ChargeFinding, ChargeLine, ChargeRun
from coding.review import queries_answer_by_run, review_item_answered, review_item_sync
from mar.models import Encounter
from mar.record import payer_policies, record_dict_from_encounter


def _json_native(value: dict[str, Any]) -> dict[str, Any]:
    # What a JSONField gives back, so "same input" compares like with like.
    result: dict[str, Any] = json.loads(json.dumps(value, sort_keys=True))
    return result


@transaction.atomic
def charge_run_store(
    *,
    encounter: Encounter,
    snapshot: dict[str, Any],
    result: Any,  # the engine's result (charges, findings, to_json), or None
    trigger: str = ChargeRun.Trigger.SIGN,
    reason: str = "",
    error: str = "",
    billing: dict[str, Any] | None = None,
    drug_rows: DrugLineRows | None = None,
    formulary: dict[str, Any] | None = None,
) -> tuple[ChargeRun, bool]:
    """Store the engine's result as the encounter's current run; returns (run, created).

    `drug_rows`: the drug lines' rows `billing` was made from (coding/drug_lines.py
    `drug_line_rows`, read under the encounter's lock), so its drug lines are stored from the
    same read; read again when not given. `formulary`: what the run's claim reads of the
    formulary (coding/claim.py `formulary_snapshot`: the drugs' HCPCS codes and the NDC each
    drug line carries), made from the same rows when not given.

    Idempotent: the encounter row is locked, and when the current run was made from the same
    input (the record, the drug lines' `billing` inputs and the `formulary` its claim reads;
    the last not compared with a run stored before runs kept it) nothing is written. The
    previous current run is kept with is_current=False. The conditional unique constraint makes
    a second current run impossible even if a caller forgot the lock.
    """
    Encounter.objects.select_for_update().only("pk").get(pk=encounter.pk)
    if formulary is None:
        if drug_rows is None:
            drug_rows = drug_line_rows(encounter.pk)
        formulary = formulary_snapshot(
            encounter_id=encounter.pk,
            administrations=drug_rows.administrations,
            ndcs=drug_rows.ndcs,
        )
    snapshot = _json_native(snapshot)
    billing = _json_native(billing or {})
    formulary = _json_native(formulary)
    current = ChargeRun.objects.filter(encounter=encounter, is_current=True).first()
    if (
        current is not None
        and current.input_snapshot == snapshot
        and current.billing_snapshot == billing
        and current.formulary_snapshot in (None, formulary)
    ):
        return current, False
    if current is not None:
        ChargeRun.objects.filter(pk=current.pk).update(is_current=False)

    policy = payer_policies([encounter.payer_id]).get(encounter.payer_id or 0)
    run = ChargeRun.objects.create(
        encounter=encounter,
        payer_policy=policy if "policy" in snapshot else None,
        is_current=True,
        trigger=trigger,
        reason=reason,
        input_snapshot=snapshot,
        billing_snapshot=billing,
        formulary_snapshot=formulary,
        result=result.to_json() if result is not None else {},
        error=error,
    )
    if result is not None:
        ChargeLine.objects.bulk_create(
            ChargeLine(
                run=run,
                position=position,
                code=charge.code,
                units=charge.units,
                modifiers=list(charge.modifiers),
                date=charge.date,
                administrations=list(charge.administrations),
                why=charge.why,
                rules=list(charge.rules),
            )
            for position, charge in enumerate(result.charges)
        )
        ChargeFinding.objects.bulk_create(
            ChargeFinding(
                run=run,
                position=position,
                rule=finding.rule,
                severity=finding.severity,
                administrations=list(finding.administrations),
                message=finding.message,
                field=finding.field or "",
            )
            for position, finding in enumerate(result.findings)
        )
    # The rest of storing a run, in this transaction, in plain calls: its drug lines (from the
    # record's rows: HCPCS, units, JW/JZ) after the engine's lines, the coder's corrections of
    # the previous run (carried, or back for re-review: coding/corrections.py), the coders'
    # worklist item, which follows the current run back to NEW, saying so when the addendum's
    # change answered the coder's open queries (coding/review.py).
    # The queries this addendum's change answers come first: a correction the coder made
    # while waiting on one comes back for re-review with it (coding/corrections.py).
    if not run.error:
        drug_lines_store(run=run, rows=drug_rows)
    answered = queries_answer_by_run(previous=current, run=run) if current is not None else []
    if current is not None:
        corrections_carry(previous=current, run=run)
    review_item_sync(run=run)
    if answered:
        review_item_answered(run=run)
    return run, True


@transaction.atomic
def charge_run_generate(
    *, encounter_id: int, trigger: str = ChargeRun.Trigger.SIGN, reason: str = ""
) -> tuple[ChargeRun, bool]:
    """Read the encounter, run the engine, store the run; returns (run, created).

    The record is read under the encounter's row lock, so of two concurrent generations the
    later one always sees the newer record: an older input can never become current last.
    """
    from coding.engine import RecordError, code_record, parse_record

    encounter = Encounter.objects.select_for_update().get(pk=encounter_id)
    snapshot = record_dict_from_encounter(encounter)
    # The drug lines' rows, read once: the billing snapshot, the drug lines and what the run's
    # claim reads of the formulary (the NDC each drug line carries) are made of them.
    drug_rows = drug_line_rows(encounter.pk)
    billing = drug_line_inputs(drug_rows)
    formulary = formulary_snapshot(
        encounter_id=encounter.pk, administrations=drug_rows.administrations, ndcs=drug_rows.ndcs
    )
    try:
        record = parse_record(snapshot)
    except RecordError as exc:
        # An unreadable record is stored too: the coder sees why there are no charges,
        # and a redelivered task does not fail forever.
        message = f"{exc.field}: {exc.message}" if exc.field else str(exc.message)
        return charge_run_store(
            encounter=encounter,
            snapshot=snapshot,
            result=None,
            trigger=trigger,
            reason=reason,
            error=message,
            billing=billing,
            drug_rows=drug_rows,
            formulary=formulary,
        )
    return charge_run_store(
        encounter=encounter,
        snapshot=snapshot,
        result=code_record(record),
        trigger=trigger,
        reason=reason,
        billing=billing,
        drug_rows=drug_rows,
        formulary=formulary,
    )
