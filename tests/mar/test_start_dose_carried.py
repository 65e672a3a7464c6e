"""A calculated dose is carried over at the start (screens.md: "dose ... carried over"; QA: a
10 mg/kg order with a weight of 70 kg started with "Dose given" empty).

- Carried worked out from the visit's measures (`measures.order_carried_dose`): its structured
  basis, else its dose text when that is one calculated dose (`dosing.written_basis`).
- The prescriber's own amount when the order states one within the check's tolerance; nothing
  when the check flags it, when a measure it needs is not recorded (the Start box's note says
  which), or when the text is more than one calculated dose ("15 mcg/kg/min", a rate).
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar import dosing
from mar.models import Order
from mar.services import measures, safety
from tests import factories

K = measures.K


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 mg/kg", (dosing.PER_KG, Decimal(10), "mg")),
        ("0,5 g per kg", (dosing.PER_KG, Decimal("0.5"), "g")),
        ("85 mg/m2", (dosing.PER_M2, Decimal(85), "mg")),
        ("175 mg/m²", (dosing.PER_M2, Decimal(175), "mg")),
        ("AUC 5", (dosing.AUC, Decimal(5), "mg")),
        ("target AUC of 4.5", (dosing.AUC, Decimal("4.5"), "mg")),
        ("15 mcg/kg/min", None),  # a rate, not a dose
        ("10 mg/kg, max 1 g", None),  # more than one calculated dose: the nurse works it out
        ("8 mg", None),
        ("per protocol", None),
    ],
)
def test_the_calculated_dose_a_dose_text_is(text: str, expected) -> None:
    assert dosing.written_basis(text) == expected


def _visit(user, **measured: str):
    today = timezone.now().date()
    encounter = factories.encounter_create(
        patient=factories.patient_create(sex="F", birth_date=date(today.year - 60, 1, 1)),
        arrived_at=timezone.now() - timedelta(hours=1),
    )
    for kind, value in measured.items():
        measures.measure_chart(
            encounter=encounter, kind=kind, value=Decimal(value), method="measured",
            measured_at=timezone.now() - timedelta(minutes=5), user=user,
        )  # fmt: skip
    return encounter


def _start(order: Order, user) -> tuple[Decimal | None, str]:
    order = Order.objects.select_related("encounter__patient", "drug").get(pk=order.pk)
    adm = safety.administration_start_checked(
        order=order, site=None, start=timezone.now(), method="infusion", user=user,
        checks=safety.StartChecks(),
    )  # fmt: skip
    return adm.dose_value, adm.dose_unit


@pytest.mark.django_db
def test_a_dose_per_kg_starts_with_the_dose_worked_out_from_the_weight(nurse_user) -> None:
    encounter = _visit(nurse_user, **{K.WEIGHT: "70"})
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="10 mg/kg")
    assert _start(order, nurse_user) == (Decimal(700), "mg")


@pytest.mark.django_db
def test_a_dose_per_kg_without_a_weight_starts_empty_with_the_note(nurse_user) -> None:
    encounter = _visit(nurse_user)
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="10 mg/kg")
    assert safety.calculated_dose_note(order, measures.encounter_measures(encounter)) == (
        "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against."
    )
    assert _start(order, nurse_user) == (None, "")


@pytest.mark.django_db
def test_a_dose_per_m2_is_worked_out_from_the_height_and_weight(nurse_user) -> None:
    encounter = _visit(nurse_user, **{K.HEIGHT: "170", K.WEIGHT: "70"})  # BSA 1.82 m²
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="100 mg/m2")
    assert _start(order, nurse_user) == (Decimal(182), "mg")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("prescribed", "carried"),
    [
        (None, (Decimal(700), "mg")),  # nothing to compare: the calculated dose
        (Decimal(680), (Decimal(680), "mg")),  # within 10%: the prescriber's amount
        (Decimal(900), (None, "")),  # flagged by the check: left for the nurse
    ],
)
def test_a_structured_basis_carries_the_checked_dose(nurse_user, prescribed, carried) -> None:
    encounter = _visit(nurse_user, **{K.WEIGHT: "70"})
    order = factories.order_create(
        encounter, factories.drug_get("ondansetron"), dose="per protocol",
        dose_basis=dosing.PER_KG, dose_value=Decimal(10), dose_unit="mg",
        prescribed_amount=prescribed,
    )  # fmt: skip
    assert _start(order, nurse_user) == carried


@pytest.mark.django_db
def test_a_fixed_dose_is_carried_as_written(nurse_user) -> None:
    encounter = _visit(nurse_user, **{K.WEIGHT: "70"})
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="4 mg")
    assert _start(order, nurse_user) == (Decimal(4), "mg")
