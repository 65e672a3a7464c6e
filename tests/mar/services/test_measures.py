"""Measures (mar/services/measures.py): height, weight, creatinine charted with when and how;
BSA and CrCl from them; the pharmacist's dose check."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.models import DrugClass
from mar.services import measures
from mar.services.charting import ChartError
from tests import factories

pytestmark = pytest.mark.django_db


def chart(encounter, user, **values):
    for kind, value in values.items():
        measures.measure_chart(
            encounter=encounter, kind=kind, value=Decimal(value), method="measured",
            measured_at=timezone.now() - timedelta(minutes=5), user=user,
        )  # fmt: skip


@pytest.fixture
def encounter():
    # 60 years old on the day of the visit, a woman.
    today = timezone.now().date()
    patient = factories.patient_create(sex="F", birth_date=date(today.year - 60, 1, 1))
    return factories.encounter_create(patient=patient, arrived_at=timezone.now())


def test_bsa_and_crcl_from_the_latest_measures(encounter, nurse_user) -> None:
    chart(encounter, nurse_user, height_cm="170", weight_kg="72", creatinine_mg_dl="1.0")
    result = measures.encounter_measures(encounter)
    assert result.bsa == Decimal("1.84")  # sqrt(170 x 72 / 3600)
    assert result.crcl == Decimal("68.0")  # (140 - 60) x 72 / 72 x 0.85
    chart(encounter, nurse_user, weight_kg="80")  # weighed again: the latest counts
    assert measures.encounter_measures(encounter).weight_kg == 80


def test_what_is_missing_is_said(nurse_user) -> None:
    encounter = factories.encounter_create()
    result = measures.encounter_measures(encounter)
    assert result.bsa is None and result.bsa_missing == "needs height and weight"
    assert "the patient's sex" in result.crcl_missing and "a creatinine" in result.crcl_missing


def test_an_implausible_value_is_refused(encounter, nurse_user) -> None:
    with pytest.raises(ChartError) as refused:
        chart(encounter, nurse_user, weight_kg="700")
    assert "value" in refused.value.errors


def test_calvert_dose_check_flags_more_than_10_percent(encounter, nurse_user) -> None:
    chart(encounter, nurse_user, weight_kg="72", creatinine_mg_dl="1.0", height_cm="170")
    order = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="AUC 5",
        dose_value=Decimal(5), dose_basis="auc", dose_unit="mg", prescribed_amount=Decimal(600),
    )  # fmt: skip
    check = measures.order_dose_check(order, measures.encounter_measures(encounter))
    assert check.calculated.dose == Decimal(465)  # 5 x (68 + 25)
    assert check.difference == Decimal("29.0") and check.flagged


def test_per_m2_dose_within_tolerance(encounter, nurse_user) -> None:
    chart(encounter, nurse_user, weight_kg="72", height_cm="170")
    order = factories.order_create(
        encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="175 mg/m2",
        dose_value=Decimal(175), dose_basis="per_m2", dose_unit="mg",
        prescribed_amount=Decimal(320),
    )  # fmt: skip
    check = measures.order_dose_check(order, measures.encounter_measures(encounter))
    assert check.calculated.dose == Decimal("322.0")  # 175 x 1.84
    assert not check.flagged


def test_a_fixed_dose_has_no_check(encounter) -> None:
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    assert measures.order_dose_check(order, measures.encounter_measures(encounter)) is None


def test_a_site_assessment_records_its_condition(encounter, nurse_user) -> None:
    site = factories.site_create(encounter)
    at = timezone.now() - timedelta(minutes=1)
    assessment = measures.site_condition_record(
        site=site, user=nurse_user, at=at, infiltration=1, phlebitis=0, blood_return="yes"
    )
    site.refresh_from_db()
    assert (assessment.infiltration, site.assessed_at) == (1, at)
