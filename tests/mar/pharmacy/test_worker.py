"""A class change regenerates charges through Redis and a real Celery worker; an exported
encounter is flagged, never regenerated."""

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from coding.models import ChargeOutbox, ChargeRun, ClassChangeAfterExport
from coding.services import charge_run_generate
from mar.models import Administration, Drug, Encounter, Order
from mar.pharmacy.services import (
    drug_class_change,
    drug_classify,
    order_class_override,
    order_verify,
)
from tests import factories
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def signed_infusion(drug: Drug, nurse) -> ChargeRun:
    """A 90-minute infusion of `drug`, charted, then signed, with its first charge run."""
    encounter = factories.encounter_create()
    site = factories.site_create(encounter)
    order = factories.order_create(encounter, drug, indication="E05.00", dose="10 mg/kg")
    factories.administration_create(
        encounter,
        order,
        site=site,
        start=factories.MORNING,
        stop=factories.MORNING + timedelta(minutes=90),
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now()
    )
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    return run


def new_current_run(before: ChargeRun) -> ChargeRun | None:
    return (
        ChargeRun.objects.filter(encounter_id=before.encounter_id, is_current=True)
        .exclude(pk=before.pk)
        .first()
    )


def test_tagging_an_untagged_drug_charges_it_through_the_worker(
    worker,
    nurse_user,
    pharmacist_user,
) -> None:
    drug = factories.drug_get("teprotumumab", None)
    before = signed_infusion(drug, nurse_user)
    assert not before.lines.exists()
    assert before.findings.filter(rule="DOC-4").exists()

    drug_classify(drug=drug, drug_class="therapeutic", user=pharmacist_user, note="FDA label")

    assert wait_for(lambda: new_current_run(before) is not None)
    run = new_current_run(before)
    assert run is not None
    assert run.trigger == ChargeRun.Trigger.CLASS_CHANGE
    assert "96365" in set(run.lines.values_list("code", flat=True))
    assert not run.findings.filter(rule="DOC-4").exists()
    assert "teprotumumab" in run.reason and pharmacist_user.username in run.reason
    # The outbox row the class change wrote is marked done by the worker.
    owed = ChargeOutbox.objects.filter(encounter_id=before.encounter_id)
    assert wait_for(lambda: owed.filter(done_at__isnull=False).count() == 1)


def test_a_class_change_regenerates_through_the_worker_and_skips_the_exported(
    worker,
    nurse_user,
    pharmacist_user,
) -> None:
    drug = factories.drug_get("infliximab", "chemo")
    open_run = signed_infusion(drug, nurse_user)
    exported = signed_infusion(drug, nurse_user)
    ChargeRun.objects.filter(pk=exported.pk).update(exported_at=timezone.now())
    assert "96413" in set(open_run.lines.values_list("code", flat=True))

    change = drug_class_change(
        drug=drug, to_class="therapeutic", reason="rheumatology use", user=pharmacist_user
    )

    assert wait_for(lambda: new_current_run(open_run) is not None)
    run = new_current_run(open_run)
    assert run is not None
    codes = set(run.lines.values_list("code", flat=True))
    assert "96365" in codes and "96413" not in codes
    assert "from Chemotherapy / highly complex to Therapeutic" in run.reason
    assert "rheumatology use" in run.reason

    # The exported encounter: one run, still current, flagged for the coder. Give the worker
    # time to prove nothing was sent for it: the queue is empty once the open one is done.
    time.sleep(1.0)
    assert ChargeRun.objects.filter(encounter_id=exported.encounter_id).count() == 1
    exported.refresh_from_db()
    assert exported.is_current
    assert ClassChangeAfterExport.objects.filter(run=exported, state="open").exists()
    assert change.regenerated_encounters == [open_run.encounter_id]
    assert change.flagged_runs == [exported.pk]


def test_an_override_on_a_signed_order_passes_the_guard_and_regenerates(
    worker,
    nurse_user,
    pharmacist_user,
) -> None:
    # Committed for real: the database's signed-record guard checks at COMMIT that the order's
    # class-only update comes with its DrugClassChange.
    drug = factories.drug_get("leuprolide", "therapeutic")
    encounter = factories.encounter_create()
    order = factories.order_create(encounter, drug, indication="C61", dose="7.5 mg", route="im")
    factories.administration_create(
        encounter,
        order,
        site=None,
        start=factories.MORNING,
        stop=factories.MORNING,
        method=Administration.Method.INJECTION,
        route="im",
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse_user, signed_at=timezone.now()
    )
    before, _ = charge_run_generate(encounter_id=encounter.pk)
    assert list(before.lines.values_list("code", flat=True)) == ["96372"]

    order_class_override(
        order=order, drug_class="chemo_hormonal", reason="prostate cancer", user=pharmacist_user
    )

    assert wait_for(lambda: new_current_run(before) is not None)
    run = new_current_run(before)
    assert run is not None
    assert list(run.lines.values_list("code", flat=True)) == ["96402"]
    order.refresh_from_db()
    assert order.class_override == "chemo_hormonal"


def test_an_order_of_a_signed_record_is_verified_once_and_nothing_else_changes(
    nurse_user, pharmacist_user
) -> None:
    """An emergency order is often given before pharmacy verifies it: the verification comes
    after the signature, through the database's guard, and only once."""
    encounter = factories.encounter_create()
    order = factories.order_create(encounter, factories.drug_get("mesna"))
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse_user, signed_at=timezone.now()
    )
    before = Order.objects.values().get(pk=order.pk)
    order_verify(order=order, user=pharmacist_user)  # committed: the guard checks at COMMIT
    after = Order.objects.values().get(pk=order.pk)
    assert after["verified_by_id"] == pharmacist_user.pk and after["verified_at"] is not None
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {"verified_by_id", "verified_at"}
    with pytest.raises(ValidationError, match="already verified"):
        order_verify(order=order, user=pharmacist_user)
