"""Charges brought up to date after a pharmacist's decision (mar/ports.py: `charges_refresh`).

A drug's class decides its code family, and its billing data (HCPCS code, billing unit,
container) and its NDCs (which package a scanned dose's line carries, which one a dose not
scanned carries) its drug lines. After a class decision or a change of billing data or NDCs,
the signed encounters whose current charge run was coded or billed with something else are
regenerated through the charge outbox (coding/outbox.py: the task is sent on commit, so the
worker finds the new data, and re-sent by beat if Redis was down), or, when that run was already
exported to billing, only flagged for the coder: an exported run is never replaced behind the
coder's back. Any of these changes flags it with a `ClassChangeAfterExport` kept to the
difference between what the run was made with (the classes its record was coded with, the
billing data and NDC facts its snapshots keep) and what the formulary gives now
(coding/class_after_export.py: changed back, the flag ends; the coder re-runs the charges or
says the billed claim stands). A run's drug lines carry the NDC the run was made with
(coding/claim.py `formulary_snapshot`), so an NDC change that gives a line of the run another
NDC (the preferred package retired, another preferred for a dose never billed, a billed package
no longer listed) makes a new run too, or flags an exported one: its lines keep the NDC billed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from coding import review_reads
from coding.claim import NDC_KEYS, billed_by_administration, ndc_choice, ndc_entry, preferred_ndc
from coding.class_after_export import formulary_after_export_refresh
from coding.drug_lines import claim_ndc, drug_billing
from coding.ledger import standing_charges_of
from coding.models import ChargeRun
from coding.outbox import outbox_enqueue
from mar.models import Administration, Drug, Encounter
from mar.ports import FormularyChange
from mar.record import administration_record_id

Stale = Callable[[ChargeRun, set[str]], bool]


def _coded_with_another_class(new_class: str | None) -> Stale:
    """The run's snapshot says which class each administration was coded with ("A<pk>" ids)."""

    def stale(run: ChargeRun, ids: set[str]) -> bool:
        return any(
            item.get("id") in ids and item.get("drug_class") != new_class
            for item in (run.input_snapshot or {}).get("administrations", [])
        )

    return stale


def _billed_with_other_data(drug: Drug) -> Stale:
    """The run's billing snapshot says what the drug lines read for each administration."""
    now = drug_billing(drug)

    def stale(run: ChargeRun, ids: set[str]) -> bool:
        billing = run.billing_snapshot or {}
        return any(billing.get(i, {}).get(key) != value for i in ids for key, value in now.items())

    return stale


def _grouped_or_carried_otherwise(drug: Drug, runs: Sequence[ChargeRun]) -> Stale:
    """Stale when the drug's NDCs as they are now would group a dose of a record with a scan
    under another NDC (the run's billing snapshot says which NDC each dose grouped under,
    `claim_ndc`, coding/drug_lines.py: a scanned package now listed, another NDC preferred), or
    give a drug line of the run another NDC, N4 unit or NDC units per billing unit than it was
    made with (the run's formulary snapshot, coding/claim.py `ndc_choice`: the NDC scanned, else
    the one the administration was billed with while listed, else the preferred one). A run
    stored before runs kept their formulary facts is asked only the first."""
    ndcs = review_reads.ndcs([drug.pk])
    stocked = {(drug.pk, n.ndc) for n in ndcs}
    default = preferred_ndc(ndcs)
    preferred = {drug.pk: default.ndc} if default is not None else {}
    # The NDC each administration's standing charges carry, for the runs that kept theirs.
    kept_by = [run.encounter_id for run in runs if run.formulary_snapshot is not None]
    billed = {
        encounter_id: billed_by_administration(entries)
        for encounter_id, entries in standing_charges_of(kept_by).items()
    }

    def stale(run: ChargeRun, ids: set[str]) -> bool:
        billing = run.billing_snapshot or {}
        kept = run.formulary_snapshot
        for record_id in ids:
            entry = billing.get(record_id)
            if entry is None:
                continue  # no dose charted: no drug line
            if "claim_ndc" in entry:  # a record with a scan: its doses group by the NDC
                dose = Administration(drug_id=drug.pk, ndc=entry.get("ndc", ""))
                if claim_ndc(dose, stocked=stocked, preferred=preferred) != entry["claim_ndc"]:
                    return True
            made = (kept or {}).get(record_id, {})
            if not made.get("hcpcs"):
                continue  # no snapshot, or no HCPCS code when made: no NDC carried
            now = ndc_choice(
                entry.get("ndc", ""), ndcs, billed.get(run.encounter_id, {}).get(record_id)
            )
            if ndc_entry(now) != {key: made[key] for key in NDC_KEYS if key in made}:
                return True
        return False

    return stale


def charges_refresh(*, change: FormularyChange) -> tuple[list[int], list[int]]:
    """Regenerate (or flag) the signed encounters whose current run is stale for the
    administrations the change governs. Returns (regenerated encounter ids, flagged run ids).
    """
    by_encounter: dict[int, set[str]] = defaultdict(set)
    signed = change.administrations.filter(encounter__status=Encounter.Status.SIGNED)
    for pk, encounter_id in signed.values_list("pk", "encounter_id"):
        by_encounter[encounter_id].add(administration_record_id(pk))
    if not by_encounter:
        return [], []
    runs = list(
        ChargeRun.objects.filter(is_current=True, encounter_id__in=by_encounter).order_by(
            "encounter_id"
        )
    )
    if change.ndcs_of is not None:
        stale = _grouped_or_carried_otherwise(change.ndcs_of, runs)
        kind = ChargeRun.Trigger.BILLING_CHANGE
    elif change.billing_of is not None:
        stale = _billed_with_other_data(change.billing_of)
        kind = ChargeRun.Trigger.BILLING_CHANGE
    else:
        stale = _coded_with_another_class(change.drug_class)
        kind = ChargeRun.Trigger.CLASS_CHANGE

    regenerated: list[int] = []
    # Every exported run the change governs, stale or not: its flag follows the difference of
    # the whole run (the class or billing data changed back to what it used ends it).
    exported = [run for run in runs if run.exported_at is not None]
    flagged = formulary_after_export_refresh(runs=exported, reason=change.reason)
    for run in runs:
        if run.exported_at is not None or not stale(run, by_encounter[run.encounter_id]):
            continue
        # An outbox row in this transaction, the task sent on commit (the worker must find the
        # new class already in the database); if Redis is down, beat re-sends it later.
        outbox_enqueue(encounter_id=run.encounter_id, kind=kind, reason=change.reason)
        regenerated.append(run.encounter_id)
    return regenerated, flagged
