"""A drug's billing data (HCPCS code, billing unit, container) changed by the pharmacist, by hand
or by import, or its NDCs (added, retired, preferred): the signed encounters whose drug lines
read the old data are regenerated like a class change, or flagged when already exported."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from coding.models import ChargeRun, ClassChangeAfterExport
from mar.models import Drug, Encounter
from mar.pharmacy.services import drug_save, formulary_import
from tests import factories
from tests.mar.pharmacy.test_services import current, sign

pytestmark = pytest.mark.django_db


def paclitaxel_visit() -> tuple[Drug, Encounter]:
    """300 mg paclitaxel (J9267, 1 mg, single-dose), nothing wasted: J9267 x 300 with JZ."""
    drug = factories.drug_get("paclitaxel", "chemo")
    Drug.objects.filter(pk=drug.pk).update(
        hcpcs_code="J9267", billing_unit_amount=Decimal(1), billing_unit="mg",
        container=Drug.Container.SINGLE_DOSE,
    )  # fmt: skip
    drug.refresh_from_db()
    encounter = factories.encounter_create()
    site = factories.site_create(encounter)
    order = factories.order_create(encounter, drug, indication="C50.911", dose="175 mg/m2")
    factories.administration_create(
        encounter, order, site=site, start=factories.MORNING,
        stop=factories.MORNING + timedelta(minutes=180),
        dose_value=Decimal(300), dose_unit="mg", waste_value=Decimal(0), waste_unit="mg",
    )  # fmt: skip
    return drug, encounter


def drug_lines(run: ChargeRun) -> list[tuple[str, int, list[str]]]:
    return list(run.lines.filter(code__startswith="J").values_list("code", "units", "modifiers"))


def save(drug: Drug, user, **changes: str) -> Drug:
    values = {
        "name": drug.name, "synonyms": drug.synonyms, "hcpcs": drug.hcpcs_code,
        "billing_unit": drug.billing_unit_label, "note": drug.class_note,
        "container": drug.container, "reason": "the FDA label read again",
    }  # fmt: skip
    values.update(changes)
    return drug_save(drug=drug, user=user, **values)


def test_a_container_change_regenerates_the_drug_lines_of_a_signed_encounter(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    drug, encounter = paclitaxel_visit()
    signed = sign(encounter, nurse_user)
    assert drug_lines(signed) == [("J9267", 300, ["JZ"])]
    with django_capture_on_commit_callbacks(execute=True):
        save(drug, pharmacist_user, container=Drug.Container.MULTI_DOSE)
    run = current(encounter)
    assert run.pk != signed.pk and run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert drug_lines(run) == [("J9267", 300, [])]  # JZ is for single-dose containers only
    assert "container Single-dose container -> Multi-dose container" in run.reason
    assert pharmacist_user.username in run.reason


def test_a_note_edited_alone_leaves_the_charges_as_they_are(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    drug, encounter = paclitaxel_visit()
    signed = sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        save(drug, pharmacist_user, note="label checked again")
    assert callbacks == []
    assert current(encounter).pk == signed.pk


def test_an_exported_run_is_flagged_not_regenerated_when_billing_data_changes(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    drug, encounter = paclitaxel_visit()
    signed = sign(encounter, nurse_user)
    ChargeRun.objects.filter(pk=signed.pk).update(exported_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        save(drug, pharmacist_user, hcpcs="J9268")
    assert callbacks == []
    signed.refresh_from_db()
    assert signed.is_current
    # Flagged for the coder (coding/class_after_export.py), the run's own reason untouched.
    flag = ClassChangeAfterExport.objects.get(run=signed, state="open")
    assert "HCPCS code J9267 -> J9268" in flag.reason
    assert {(c["field"], c["billed"], c["now"]) for c in flag.changes} >= {
        ("hcpcs", "J9267", "J9268")
    }
    assert "J9268" not in signed.reason


def test_an_import_changing_a_billing_unit_regenerates_the_drug_lines(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    drug, encounter = paclitaxel_visit()
    sign(encounter, nurse_user)
    csv = (
        "name,synonyms,class,hcpcs,billing_unit,note,container\n"
        f"paclitaxel,{drug.synonyms},chemo,J9267,30 mg,{drug.class_note},single_dose\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        formulary_import(data=csv, user=pharmacist_user, billing_reason="CMS per 30 mg from Jan 1")
    run = current(encounter)
    assert run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert drug_lines(run) == [("J9267", 10, ["JZ"])]  # 300 mg in 30 mg units
    assert "imported (line 2)" in run.reason
    assert "Reason: CMS per 30 mg from Jan 1" in run.reason  # the coder's "Why this run was made"


# --- a drug's NDCs (DRUG-DAY-TOTAL: one claim line per code, day and NDC) ------------------


def ondansetron_lines(encounter: Encounter) -> list[tuple[int, str]]:
    """The day's J2405 lines of the encounter's current run: (units, NDC the claim carries)."""
    from coding.claim import claim_details
    from coding.review import effective_lines

    run = current(encounter)
    lines = [line for line in effective_lines(run) if line.code == "J2405"]
    return sorted(
        (line.units, detail["ndc"])
        for line, detail in zip(lines, claim_details(encounter, lines, run=run), strict=True)
    )


def charged(encounter: Encounter) -> ChargeRun:
    from coding.services import charge_run_generate

    run, _ = charge_run_generate(encounter_id=encounter.pk)
    return run


def test_making_the_scanned_package_preferred_charges_again_into_one_line(
    pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """One push scanned from the package not preferred, one not scanned (it carries the preferred
    NDC): two lines. The pharmacist makes the scanned package the preferred one: the push not
    scanned now carries it too, so the record is charged again into one line, not left as two
    lines of one code, day and NDC."""
    from mar.models import DrugNdc
    from mar.pharmacy.services import drug_ndc_prefer
    from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice

    encounter = ondansetron_twice(scanned=(ONDANSETRON_NDCS[0], ""))
    before = charged(encounter)
    assert ondansetron_lines(encounter) == [(5, ONDANSETRON_NDCS[0]), (5, ONDANSETRON_NDCS[1])]
    with django_capture_on_commit_callbacks(execute=True):
        drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=ONDANSETRON_NDCS[0]), user=pharmacist_user)
    run = current(encounter)
    assert run.pk != before.pk and run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert ondansetron_lines(encounter) == [(9, ONDANSETRON_NDCS[0])]
    assert "made preferred by" in run.reason and pharmacist_user.username in run.reason


def test_listing_a_package_scanned_before_gives_its_doses_their_own_line(
    pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """A push scanned from a package the formulary did not list was billed with the preferred
    NDC, on one line with the other push; once the pharmacist lists that package, its push is
    charged again on a line of its own, with the NDC scanned."""
    from mar.models import Drug
    from mar.pharmacy.services import drug_ndc_add
    from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice

    unlisted = "00409400199"
    encounter = ondansetron_twice(scanned=(unlisted, ONDANSETRON_NDCS[1]))
    charged(encounter)
    assert ondansetron_lines(encounter) == [(9, ONDANSETRON_NDCS[1])]
    with django_capture_on_commit_callbacks(execute=True):
        drug_ndc_add(drug=Drug.objects.get(name="ondansetron"), ndc=unlisted, unit="ML")
    assert ondansetron_lines(encounter) == [(5, unlisted), (5, ONDANSETRON_NDCS[1])]


def test_an_ndc_change_that_gives_no_dose_another_ndc_charges_nothing_again(
    pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """A package nobody scanned, added and retired: no dose is grouped or billed under another
    NDC (the record with no scan still carries the preferred one, the scanned record its
    scan), so nothing is charged again."""
    from mar.models import DrugNdc
    from mar.pharmacy.services import drug_ndc_add, drug_ndc_retire
    from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice

    plain = ondansetron_twice()
    scanned = ondansetron_twice(scanned=(ONDANSETRON_NDCS[1], ONDANSETRON_NDCS[1]))
    runs = {e.pk: charged(e).pk for e in (plain, scanned)}
    drug = DrugNdc.objects.get(ndc=ONDANSETRON_NDCS[0]).drug
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        spare = drug_ndc_add(drug=drug, ndc="00409400177", unit="ML")
        drug_ndc_retire(ndc=spare, reason="never stocked after all", user=pharmacist_user)
    assert callbacks == []
    assert {e.pk: current(e).pk for e in (plain, scanned)} == runs
    assert ondansetron_lines(plain) == [(9, ONDANSETRON_NDCS[1])]
    assert ondansetron_lines(scanned) == [(9, ONDANSETRON_NDCS[1])]


def test_another_preferred_ndc_charges_again_the_record_whose_doses_carried_the_preferred_one(
    pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """A run's drug lines carry the NDC the run was made with (coding/claim.py
    `formulary_snapshot`). The pharmacist prefers another package: the record with no scan,
    never billed, is charged again, its line now carrying the package preferred (the run's
    reason says why); the record whose doses were scanned keeps its run and its NDC. Was:
    no new run, the line's NDC read from the formulary whenever shown or exported."""
    from mar.models import DrugNdc
    from mar.pharmacy.services import drug_ndc_prefer
    from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice

    plain = ondansetron_twice()
    scanned = ondansetron_twice(scanned=(ONDANSETRON_NDCS[1], ONDANSETRON_NDCS[1]))
    before = {e.pk: charged(e).pk for e in (plain, scanned)}
    with django_capture_on_commit_callbacks(execute=True):
        drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=ONDANSETRON_NDCS[0]), user=pharmacist_user)
    run = current(plain)
    assert run.pk != before[plain.pk] and run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert "made preferred by" in run.reason
    assert ondansetron_lines(plain) == [(9, ONDANSETRON_NDCS[0])]
    assert current(scanned).pk == before[scanned.pk]
    assert ondansetron_lines(scanned) == [(9, ONDANSETRON_NDCS[1])]


def test_an_exported_run_is_flagged_not_regenerated_when_a_preference_regroups_it(
    pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    from mar.models import DrugNdc
    from mar.pharmacy.services import drug_ndc_prefer
    from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice

    encounter = ondansetron_twice(scanned=(ONDANSETRON_NDCS[0], ""))
    billed = charged(encounter)
    ChargeRun.objects.filter(pk=billed.pk).update(exported_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=ONDANSETRON_NDCS[0]), user=pharmacist_user)
    assert callbacks == []
    billed.refresh_from_db()
    flag = ClassChangeAfterExport.objects.get(run=billed, state="open")
    assert billed.is_current and "made preferred" in flag.reason
    # The dose not scanned now groups under the package preferred (and, nothing standing at
    # billing in this test, would carry it).
    assert "claim_ndc" in [c["field"] for c in flag.changes]
    assert "made preferred" not in billed.reason


# --- what the drug's edit page says after a save (QA: "Saved teprotumumab." only) -----------


def edit_posted(drug: Drug, **changes: str) -> dict[str, str]:
    values = {
        "name": drug.name, "synonyms": drug.synonyms, "hcpcs": drug.hcpcs_code,
        "billing_unit": drug.billing_unit_label, "note": drug.class_note,
        "container": drug.container, "reason": "the FDA label read again",
    }  # fmt: skip
    values.update(changes)
    return values


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_billing_data_save_says_the_charges_regenerating_as_a_class_change_does(
    client_as, nurse_user, django_capture_on_commit_callbacks
) -> None:
    """The message the class change builds (pharmacy.services.charges_said), after "Saved"."""
    drug, encounter = paclitaxel_visit()
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("pharmacist").post(
            reverse("pharmacy:drug_edit", args=[drug.pk]),
            edit_posted(drug, container=Drug.Container.MULTI_DOSE),
        )
    assert response.status_code == 302
    assert said(response) == ["Saved paclitaxel. Charges regenerating for 1 signed encounter."]


def test_a_billing_data_save_says_the_exported_runs_flagged_for_the_coder(
    client_as, nurse_user, django_capture_on_commit_callbacks
) -> None:
    drug, encounter = paclitaxel_visit()
    signed = sign(encounter, nurse_user)
    ChargeRun.objects.filter(pk=signed.pk).update(exported_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("pharmacist").post(
            reverse("pharmacy:drug_edit", args=[drug.pk]), edit_posted(drug, hcpcs="J9268")
        )
    assert said(response) == ["Saved paclitaxel. 1 exported run flagged for the coder."]


def test_a_save_that_changes_no_billing_data_says_only_saved(client_as, nurse_user) -> None:
    drug, encounter = paclitaxel_visit()
    sign(encounter, nurse_user)
    response = client_as("pharmacist").post(
        reverse("pharmacy:drug_edit", args=[drug.pk]), edit_posted(drug, note="label checked")
    )
    assert said(response) == ["Saved paclitaxel."]


def test_a_billing_unit_restated_scales_each_packages_ndc_units_and_says_it_in_words(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """QA: dexamethasone's billing unit made "4 mg" left its package at 0.1 mL per unit, so 10 mg
    went out as J1100 x3 with 0.3 mL. The packages' NDC units per billing unit follow a billing
    unit restated in the same unit (blank is 1), and the run's reason says the change in words,
    not field names."""
    from mar.models import DrugNdc

    drug, encounter = paclitaxel_visit()
    DrugNdc.objects.create(
        drug=drug, ndc="99999000901", unit="ML", units_per_billing_unit=Decimal("0.1667")
    )
    DrugNdc.objects.create(drug=drug, ndc="99999000902", unit="UN")  # blank: 1 per unit
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        save(drug, pharmacist_user, billing_unit="6 mg")
    per_unit = dict(DrugNdc.objects.filter(drug=drug).values_list("ndc", "units_per_billing_unit"))
    assert per_unit == {"99999000901": Decimal("1.0002"), "99999000902": Decimal("6")}
    reason = current(encounter).reason
    assert "billing unit 1 mg -> 6 mg" in reason and "billing_unit_amount" not in reason
    assert "NDC 99999000901 units per billing unit 0.1667 -> 1.0002 (scaled with it)" in reason


def test_a_billing_unit_in_another_unit_leaves_the_packages_and_asks_to_check_them(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    from mar.models import DrugNdc

    drug, encounter = paclitaxel_visit()
    DrugNdc.objects.create(
        drug=drug, ndc="99999000901", unit="ML", units_per_billing_unit=Decimal("0.1667")
    )
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        save(drug, pharmacist_user, billing_unit="1 mL")
    assert DrugNdc.objects.get(ndc="99999000901").units_per_billing_unit == Decimal("0.1667")
    assert "check the packages' NDC units per billing unit" in current(encounter).reason
