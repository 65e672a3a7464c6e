"""The pharmacist's services: tagging, class changes and what they do to charges, order
overrides, verification, and orders naming a drug the formulary does not have."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from coding.models import ChargeRun, ClassChangeAfterExport
from coding.services import charge_run_generate
from mar.models import Administration, Drug, DrugClassChange, Encounter
from mar.pharmacy.services import (
    drug_class_change,
    drug_classify,
    drug_for_name,
    order_class_override,
    order_create,
    order_verify,
)
from tests import factories

pytestmark = pytest.mark.django_db


def infusion_visit(drug: Drug, minutes: int = 90) -> Encounter:
    """One IV infusion of `drug` on one site: 96365 when therapeutic, 96413 when chemo."""
    encounter = factories.encounter_create()
    site = factories.site_create(encounter)
    order = factories.order_create(encounter, drug, indication="E05.00", dose="10 mg/kg")
    factories.administration_create(
        encounter,
        order,
        site=site,
        start=factories.MORNING,
        stop=factories.MORNING + timedelta(minutes=minutes),
    )
    return encounter


def injection_visit(drug: Drug, indication: str) -> Encounter:
    """One IM injection of `drug` (leuprolide): 96372 when therapeutic, 96402 when hormonal."""
    encounter = factories.encounter_create()
    order = factories.order_create(
        encounter, drug, indication=indication, dose="7.5 mg", route="im"
    )
    factories.administration_create(
        encounter,
        order,
        site=None,
        start=factories.MORNING,
        stop=factories.MORNING,
        method=Administration.Method.INJECTION,
        route="im",
    )
    return encounter


def sign(encounter: Encounter, user) -> ChargeRun:
    """Signed, with its current charge run (synchronously, as the task would)."""
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=user, signed_at=timezone.now()
    )
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    return run


def current(encounter: Encounter) -> ChargeRun:
    return ChargeRun.objects.get(encounter=encounter, is_current=True)


def codes(run: ChargeRun) -> list[str]:
    return list(run.lines.values_list("code", flat=True))


# --- tagging and DOC-4 --------------------------------------------------------------------


def test_an_untagged_drugs_administration_earns_no_charge(nurse_user) -> None:
    encounter = infusion_visit(factories.drug_get("teprotumumab", None))
    run = sign(encounter, nurse_user)
    assert codes(run) == []
    assert run.findings.filter(rule="DOC-4").exists()


def test_tagging_records_who_when_from_and_to(pharmacist_user) -> None:
    drug = factories.drug_get("teprotumumab", None)
    change = drug_classify(
        drug=drug, drug_class="therapeutic", user=pharmacist_user, note="IGF-1R antibody"
    )
    drug.refresh_from_db()
    assert drug.drug_class == "therapeutic"
    assert drug.class_tagged_by == pharmacist_user
    assert drug.class_tagged_at is not None
    assert drug.class_note == "IGF-1R antibody"
    assert (change.from_class, change.to_class, change.by) == (None, "therapeutic", pharmacist_user)
    assert change.order is None
    assert timezone.now() - change.at < timedelta(minutes=1)


def test_tagging_regenerates_the_blocked_charges_of_a_signed_encounter(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("teprotumumab", None)
    encounter = infusion_visit(drug)
    before = sign(encounter, nurse_user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change = drug_classify(
            drug=drug, drug_class="therapeutic", user=pharmacist_user, note="IGF-1R antibody"
        )
    assert len(callbacks) == 1

    run = current(encounter)
    assert run.pk != before.pk
    assert "96365" in codes(run)
    assert not run.findings.filter(rule="DOC-4").exists()
    assert run.trigger == ChargeRun.Trigger.CLASS_CHANGE
    assert "teprotumumab" in run.reason
    assert "from untagged to Therapeutic" in run.reason  # the class as the pages say it
    assert pharmacist_user.username in run.reason
    # The previous run stays for comparison.
    before.refresh_from_db()
    assert not before.is_current
    assert change.regenerated_encounters == [encounter.pk]


def test_tagging_a_tagged_drug_is_refused_a_change_needs_a_reason(pharmacist_user) -> None:
    drug = factories.drug_get("mesna", "therapeutic")
    with pytest.raises(ValidationError):
        drug_classify(drug=drug, drug_class="chemo", user=pharmacist_user)
    with pytest.raises(ValidationError) as caught:
        drug_class_change(drug=drug, to_class="chemo", reason="  ", user=pharmacist_user)
    assert "reason" in caught.value.message_dict
    drug.refresh_from_db()
    assert drug.drug_class == "therapeutic"
    assert not DrugClassChange.objects.exists()


def test_a_change_to_the_same_or_an_unknown_class_is_refused(pharmacist_user) -> None:
    drug = factories.drug_get("mesna", "therapeutic")
    for to_class in ("therapeutic", "chemotherapy", ""):
        with pytest.raises(ValidationError):
            drug_class_change(drug=drug, to_class=to_class, reason="why", user=pharmacist_user)
    assert not DrugClassChange.objects.exists()


# --- class changes and the charges they affect --------------------------------------------


def test_a_class_change_is_recorded_and_regenerates_signed_unexported_encounters(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("infliximab", "chemo")
    signed = infusion_visit(drug)
    before = sign(signed, nurse_user)
    assert "96413" in codes(before)
    in_progress = infusion_visit(drug)

    with django_capture_on_commit_callbacks(execute=True):
        change = drug_class_change(
            drug=drug, to_class="therapeutic", reason="payer policy 2026", user=pharmacist_user
        )

    assert (change.from_class, change.to_class, change.reason) == (
        "chemo",
        "therapeutic",
        "payer policy 2026",
    )
    run = current(signed)
    assert "96365" in codes(run) and "96413" not in codes(run)
    assert run.trigger == ChargeRun.Trigger.CLASS_CHANGE
    assert "infliximab" in run.reason
    assert "from Chemotherapy / highly complex to Therapeutic" in run.reason
    assert "payer policy 2026" in run.reason
    # An encounter still being charted has no charges to regenerate: its checklist is live.
    assert not ChargeRun.objects.filter(encounter=in_progress).exists()
    assert change.regenerated_encounters == [signed.pk]


def test_an_exported_encounter_is_flagged_not_regenerated(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("infliximab", "chemo")
    encounter = infusion_visit(drug)
    run = sign(encounter, nurse_user)
    ChargeRun.objects.filter(pk=run.pk).update(exported_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change = drug_class_change(
            drug=drug, to_class="therapeutic", reason="payer policy", user=pharmacist_user
        )

    assert callbacks == []
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
    run.refresh_from_db()
    assert run.is_current
    assert "96413" in codes(run)
    # Flagged for the coder with what changed and who changed it (coding/class_after_export.py).
    flag = ClassChangeAfterExport.objects.get(run=run, state="open")
    assert [(c["drug"], c["billed"], c["now"]) for c in flag.changes] == [
        ("infliximab", "chemo", "therapeutic")
    ]
    assert "infliximab" in flag.reason and pharmacist_user.username in flag.reason
    assert change.flagged_runs == [run.pk]
    assert change.regenerated_encounters == []


def test_an_order_with_its_own_class_is_not_regenerated_by_a_drug_class_change(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("leuprolide", "therapeutic")
    encounter = injection_visit(drug, "C61")
    order = encounter.orders.get()
    order.class_override = "chemo_hormonal"
    order.class_override_reason = "prostate cancer"
    order.save()
    run = sign(encounter, nurse_user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        drug_class_change(drug=drug, to_class="chemo", reason="test", user=pharmacist_user)

    assert callbacks == []
    assert current(encounter).pk == run.pk


def test_only_encounters_whose_run_used_another_class_are_regenerated(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("infliximab", "chemo")
    other = factories.drug_get("vedolizumab", "chemo")
    affected = infusion_visit(drug)
    unaffected = infusion_visit(other)
    sign(affected, nurse_user)
    untouched = sign(unaffected, nurse_user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        drug_class_change(drug=drug, to_class="therapeutic", reason="x", user=pharmacist_user)

    assert len(callbacks) == 1
    assert current(unaffected).pk == untouched.pk


# --- the class of one order ---------------------------------------------------------------


def test_leuprolide_for_prostate_cancer_is_overridden_to_hormonal_96402(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("leuprolide", "therapeutic")
    ivf = injection_visit(drug, "N97.9")
    cancer = injection_visit(drug, "C61")
    sign(ivf, nurse_user)
    before = sign(cancer, nurse_user)
    assert codes(before) == ["96372"]

    order = cancer.orders.get()
    with django_capture_on_commit_callbacks(execute=True):
        change = order_class_override(
            order=order,
            drug_class="chemo_hormonal",
            reason="prostate cancer (C61): hormonal antineoplastic",
            user=pharmacist_user,
        )

    order.refresh_from_db()
    assert order.class_override == "chemo_hormonal"
    assert order.class_override_reason == "prostate cancer (C61): hormonal antineoplastic"
    assert (change.order, change.from_class, change.to_class, change.by) == (
        order,
        None,
        "chemo_hormonal",
        pharmacist_user,
    )
    assert codes(current(cancer)) == ["96402"]
    assert current(cancer).trigger == ChargeRun.Trigger.CLASS_CHANGE
    # The same drug for IVF keeps the drug's own class.
    assert codes(current(ivf)) == ["96372"]


def test_removing_an_override_returns_to_the_drugs_class(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    drug = factories.drug_get("leuprolide", "therapeutic")
    encounter = injection_visit(drug, "C61")
    order = encounter.orders.get()
    with django_capture_on_commit_callbacks(execute=True):
        order_class_override(
            order=order, drug_class="chemo_hormonal", reason="C61", user=pharmacist_user
        )
    sign(encounter, nurse_user)
    assert codes(current(encounter)) == ["96402"]
    with django_capture_on_commit_callbacks(execute=True):
        order_class_override(order=order, drug_class=None, reason="was IVF", user=pharmacist_user)
    order.refresh_from_db()
    assert order.class_override is None
    assert codes(current(encounter)) == ["96372"]
    assert DrugClassChange.objects.filter(order=order).count() == 2


def test_an_override_needs_a_reason_and_a_change(pharmacist_user) -> None:
    encounter = injection_visit(factories.drug_get("leuprolide", "therapeutic"), "C61")
    order = encounter.orders.get()
    with pytest.raises(ValidationError):
        order_class_override(
            order=order, drug_class="chemo_hormonal", reason="", user=pharmacist_user
        )
    with pytest.raises(ValidationError):
        order_class_override(order=order, drug_class=None, reason="nothing", user=pharmacist_user)
    with pytest.raises(ValidationError):
        order_class_override(order=order, drug_class="bogus", reason="x", user=pharmacist_user)
    order.refresh_from_db()
    assert order.class_override is None
    assert not DrugClassChange.objects.exists()


def test_an_override_on_an_exported_run_only_flags_it(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    encounter = injection_visit(factories.drug_get("leuprolide", "therapeutic"), "C61")
    run = sign(encounter, nurse_user)
    ChargeRun.objects.filter(pk=run.pk).update(exported_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change = order_class_override(
            order=encounter.orders.get(),
            drug_class="chemo_hormonal",
            reason="C61",
            user=pharmacist_user,
        )
    assert callbacks == []
    run.refresh_from_db()
    assert run.is_current
    flag = ClassChangeAfterExport.objects.get(run=run, state="open")
    assert [(c["billed"], c["now"]) for c in flag.changes] == [("therapeutic", "chemo_hormonal")]
    assert change.flagged_runs == [run.pk]


# --- verification -------------------------------------------------------------------------


def test_verifying_an_order_records_the_pharmacist_and_the_time(pharmacist_user) -> None:
    encounter = injection_visit(factories.drug_get("leuprolide", "therapeutic"), "C61")
    order = encounter.orders.get()
    order_verify(order=order, user=pharmacist_user)
    order.refresh_from_db()
    assert order.verified_by == pharmacist_user
    assert timezone.now() - order.verified_at < timedelta(minutes=1)


def test_an_order_is_verified_once(pharmacist_user, admin_role_user) -> None:
    order = injection_visit(factories.drug_get("leuprolide", "therapeutic"), "C61").orders.get()
    order_verify(order=order, user=pharmacist_user)
    with pytest.raises(ValidationError):
        order_verify(order=order, user=admin_role_user)
    order.refresh_from_db()
    assert order.verified_by == pharmacist_user


# --- orders naming a drug -----------------------------------------------------------------


def test_an_order_for_an_unknown_drug_adds_it_untagged() -> None:
    encounter = factories.encounter_create()
    order = order_create(encounter=encounter, drug_name="  Teprotumumab  ", dose="10 mg/kg")
    assert order.drug.name == "Teprotumumab"
    assert order.drug.drug_class is None
    assert list(Drug.objects.filter(drug_class__isnull=True)) == [order.drug]


def test_an_order_finds_a_known_drug_by_name_or_synonym_in_any_case() -> None:
    carboplatin = factories.drug_get("carboplatin", "chemo")
    Drug.objects.filter(pk=carboplatin.pk).update(synonyms="Paraplatin;carbo")
    assert drug_for_name(name="CARBOPLATIN") == carboplatin
    assert drug_for_name(name="paraplatin") == carboplatin
    assert drug_for_name(name="Carbo") == carboplatin
    # A synonym must match whole, not as a fragment.
    assert drug_for_name(name="para") != carboplatin
    assert Drug.objects.filter(name="para", drug_class__isnull=True).exists()


def test_an_order_needs_a_drug_name_and_an_unsigned_record(nurse_user) -> None:
    encounter = factories.encounter_create()
    with pytest.raises(ValidationError):
        order_create(encounter=encounter, drug_name="   ")
    encounter.status = Encounter.Status.SIGNED
    with pytest.raises(ValidationError):
        order_create(encounter=encounter, drug_name="carboplatin")
    assert not Drug.objects.exists()


def test_a_regeneration_is_owed_in_the_outbox_before_commit(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    from coding.models import ChargeOutbox

    drug = factories.drug_get("teprotumumab", None)
    encounter = infusion_visit(drug)
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        drug_classify(
            drug=drug, drug_class="therapeutic", user=pharmacist_user, note="IGF-1R antibody"
        )
    # Written in the class change's own transaction: Redis down at commit delays, never drops.
    row = ChargeOutbox.objects.get(encounter=encounter)
    assert row.kind == ChargeRun.Trigger.CLASS_CHANGE
    assert "teprotumumab" in row.reason
    assert row.done_at is None
    assert len(callbacks) == 1


def test_a_class_changed_by_csv_import_regenerates_like_a_pharmacists_change(
    nurse_user,
    pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:
    from mar.pharmacy.services import formulary_import

    drug = factories.drug_get("infliximab", "chemo")
    encounter = infusion_visit(drug)
    sign(encounter, nurse_user)
    csv_text = (
        "name,synonyms,class,hcpcs,billing_unit,note\n"
        "infliximab,Remicade,therapeutic,J1745,10 mg,rheumatology use\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        formulary_import(
            data=csv_text, user=pharmacist_user, billing_reason="payer billing update for 2027"
        )
    run = current(encounter)
    assert run.trigger == ChargeRun.Trigger.CLASS_CHANGE
    assert "96365" in codes(run)
    assert "CSV import, line 2" in run.reason
