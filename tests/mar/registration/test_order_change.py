"""`order_change`: the ordering system's change to an order not given yet (HL7 ORC-1 XO). The
order takes the changed fields after the checks every order passes, says what changed, goes back
to the pharmacist (verification cleared) and its revision goes up; nothing else changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mar.models import DoseBasis, EncounterSummary, EntryMethod, Order, Route
from mar.pharmacy.services import order_verify
from mar.registration.services import OrderEntry, order_change, order_enter
from mar.services.safety import needs_verification
from mar.summary import EXPIRED
from tests import factories

pytestmark = pytest.mark.django_db


def entry(**fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": factories.drug_get("oxaliplatin", "chemo"),
        "dose_value": Decimal("85"),
        "dose_unit": "mg",
        "dose_basis": DoseBasis.PER_M2,
        "duration_minutes": 120,
        "indication": "C18.9",
        "ordering_provider": "Dr. Amara Okafor",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.ELECTRONIC,
        "placer_number": "P1",
    }
    values.update(fields)
    return OrderEntry(**values)


@pytest.fixture
def order(pharmacist_user) -> Order:
    """Entered by interface, its prescriber's amount noted, verified by the pharmacist."""
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    entered = order_enter(encounter=encounter, entry=entry())
    Order.objects.filter(pk=entered.pk).update(prescribed_amount=Decimal("150"))
    entered.refresh_from_db()
    return order_verify(order=entered, user=pharmacist_user)


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"dose_value": Decimal("65")}, "dose 85 mg/m² → 65 mg/m²"),
        ({"dose_value": Decimal(4), "dose_basis": ""}, "dose 85 mg/m² → 4 mg"),
        ({"route": Route.IA}, "route IV → Intra-arterial"),
        ({"rate_value": Decimal(250), "rate_unit": "mL/h"}, "rate (none) → 250 mL/h"),
        ({"duration_minutes": 90}, "duration 120 min → 90 min"),
        ({"duration_minutes": None}, "duration 120 min → (none)"),
        (
            {"indication": "C20"},
            "indication C18.9 Malignant neoplasm of colon, unspecified → "
            "C20 Malignant neoplasm of rectum",
        ),
        (
            {"ordering_provider": "Dr. Lee Park", "ordering_provider_npi": ""},
            "ordering provider Dr. Amara Okafor (NPI 1234567893) → Dr. Lee Park",
        ),
    ],
)
def test_a_change_takes_the_changed_fields_and_says_what_changed(
    order: Order, change: dict[str, object], note: str
) -> None:
    at = timezone.now()
    done = order_change(encounter=order.encounter, entry=entry(**change), now=at)
    assert done.changed and done.note == note
    stored = Order.objects.get(pk=order.pk)
    for field, value in change.items():
        if field != "indication":
            assert getattr(stored, field) == value
    assert (stored.change_note, stored.changed_at, stored.revision) == (note, at, 1)
    assert (stored.verified_at, stored.verified_by) == (None, None)
    assert Order.objects.count() == 1  # changed in place, never a second order


def test_a_changed_high_alert_order_needs_verification_again_before_it_starts(
    order: Order, pharmacist_user
) -> None:
    assert not needs_verification(order)
    order_change(encounter=order.encounter, entry=entry(dose_value=Decimal("65")))
    changed = Order.objects.get(pk=order.pk)
    assert needs_verification(changed)
    order_verify(order=changed, user=pharmacist_user)
    assert not needs_verification(Order.objects.get(pk=order.pk))


def test_the_prescribers_amount_goes_with_a_changed_dose_only(order: Order) -> None:
    order_change(encounter=order.encounter, entry=entry(duration_minutes=60))
    assert Order.objects.get(pk=order.pk).prescribed_amount == Decimal("150")
    order_change(
        encounter=order.encounter, entry=entry(dose_value=Decimal(65), duration_minutes=60)
    )
    stored = Order.objects.get(pk=order.pk)
    assert stored.prescribed_amount is None  # worked out from the old dose
    assert stored.revision == 2 and stored.change_note == "dose 85 mg/m² → 65 mg/m²"


def test_the_order_as_it_stands_is_a_resend_nothing_changes(order: Order) -> None:
    before = Order.objects.filter(pk=order.pk).values().get()
    done = order_change(encounter=order.encounter, entry=entry())
    assert not done.changed
    assert Order.objects.filter(pk=order.pk).values().get() == before


def test_a_change_invalidates_the_visits_summary(order: Order) -> None:
    EncounterSummary.objects.filter(encounter=order.encounter).delete()
    order_change(encounter=order.encounter, entry=entry(dose_value=Decimal(65)))
    assert EncounterSummary.objects.get(encounter=order.encounter).valid_until == EXPIRED


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dose_value": Decimal(0)}, "dose_value"),
        ({"dose_unit": "", "dose_basis": ""}, "dose_unit"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"rate_value": Decimal(5), "rate_unit": ""}, "rate_unit"),
        ({"indication": "xyzzy"}, "indication"),
        ({"ordering_provider": ""}, "ordering_provider"),
        ({"ordering_provider_npi": "1234567890"}, "ordering_provider_npi"),
        ({"drug": None}, "drug"),
        ({"placer_number": "P9"}, "placer_number"),
    ],
)
def test_a_bad_change_is_refused_beside_its_field_and_changes_nothing(
    order: Order, change: dict[str, object], field: str
) -> None:
    before = Order.objects.filter(pk=order.pk).values().get()
    with pytest.raises(ValidationError) as exc:
        order_change(encounter=order.encounter, entry=entry(**change))
    assert field in exc.value.message_dict
    assert Order.objects.filter(pk=order.pk).values().get() == before


def test_another_drug_is_refused_on_the_drug_field(order: Order) -> None:
    with pytest.raises(ValidationError) as exc:
        order_change(
            encounter=order.encounter,
            entry=entry(drug=factories.drug_get("carboplatin", "chemo")),
        )
    assert exc.value.message_dict["drug"] == [
        "Order P1 is oxaliplatin; a change order cannot make it carboplatin: discontinue it and "
        "send the new drug as a new order."
    ]


def test_an_order_given_is_not_changed(order: Order) -> None:
    at = timezone.now() - timedelta(minutes=5)
    factories.administration_create(order.encounter, order, site=None, start=at, stop=None)
    before = Order.objects.filter(pk=order.pk).values().get()
    with pytest.raises(ValidationError) as exc:
        order_change(encounter=order.encounter, entry=entry(dose_value=Decimal(65)))
    assert "was already given" in exc.value.message_dict["placer_number"][0]
    assert Order.objects.filter(pk=order.pk).values().get() == before
