"""A drug's billing data (HCPCS code, billing unit, container) changed by the pharmacist, by hand
or by import: the signed encounters whose drug lines read the old data are regenerated like a
class change, or flagged when already exported."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from coding.formulary_changes import BILLING_EXPORTED_FLAG
from coding.models import ChargeRun
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
        "container": drug.container,
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
    assert "container single_dose -> multi_dose" in run.reason
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
    assert signed.reason.startswith(BILLING_EXPORTED_FLAG)
    assert "hcpcs_code J9267 -> J9268" in signed.reason


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
        formulary_import(data=csv, user=pharmacist_user)
    run = current(encounter)
    assert run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert drug_lines(run) == [("J9267", 10, ["JZ"])]  # 300 mg in 30 mg units
    assert "imported (line 2)" in run.reason
