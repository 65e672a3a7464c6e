"""The same order is not entered twice silently (QA: the back button brought the order form again,
half filled, with a new key; the two blanks filled, a second identical order was entered and the
pharmacist's queue and the nurse's chart showed both).

A person entering an order the visit has already (the same drug, dose and route; not documented
not given, held or refused; entered at any time of the visit) is told beside the drug who entered
it and when, and it is entered only with the confirm box ticked (`duplicate_confirm`), everything
typed kept. The form's key still enters one order per form (test_order_once.py). An interface's
order is not asked: a new placer number is a new order (a resend under the same number is entered
once, `order_by_placer`)."""

from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from mar.models import DoseBasis, EntryMethod, Order, Route, SafetyOverride
from mar.registration.services import (
    OrderEntry,
    order_enter,
    order_withdraw,
)
from mar.services.charting import order_disposition_set
from tests import factories
from tests.mar.registration.test_views import ORDER, field_error

pytestmark = pytest.mark.django_db


def ondansetron(**fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": factories.drug_get("ondansetron"),
        "dose_value": Decimal("4"),
        "dose_unit": "mg",
        "route": Route.IV,
        "indication": "R11.2",
        "ordering_provider": "Dr Who",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.VERBAL,
    }
    values.update(fields)
    return OrderEntry(**values)


def refusal(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_the_same_order_again_is_refused_beside_the_drug_naming_the_first(clerk_user) -> None:
    encounter = factories.encounter_create()
    first = order_enter(encounter=encounter, entry=ondansetron(entry_key="a" * 32), user=clerk_user)
    with pytest.raises(Exception) as exc:
        order_enter(encounter=encounter, entry=ondansetron(entry_key="b" * 32), user=clerk_user)
    at = f"{timezone.localtime(first.created_at):%H:%M}"
    assert refusal(exc)["drug"] == [
        f"The same order was entered at {at} by clerk1 (O{first.pk}): ondansetron 4 mg IV. "
        "Enter it again anyway?"
    ]
    assert "duplicate_confirm" in refusal(exc)
    assert Order.objects.filter(encounter=encounter).count() == 1


def test_the_same_order_confirmed_is_a_second_order(clerk_user) -> None:
    encounter = factories.encounter_create()
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    second = order_enter(
        encounter=encounter, entry=ondansetron(duplicate_confirmed=True), user=clerk_user
    )
    assert Order.objects.filter(encounter=encounter).count() == 2
    assert second.dose == "4 mg"


@pytest.mark.parametrize(
    "changed",
    [
        {"dose_value": Decimal("8")},
        {"dose_unit": "mcg"},
        {"dose_basis": DoseBasis.PER_KG},
        {"route": Route.SQ},
    ],
)
def test_another_dose_unit_basis_or_route_is_another_order(clerk_user, changed) -> None:
    encounter = factories.encounter_create()
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    order_enter(encounter=encounter, entry=ondansetron(**changed), user=clerk_user)
    assert Order.objects.filter(encounter=encounter).count() == 2


def test_the_same_order_on_another_visit_is_not_asked(clerk_user) -> None:
    order_enter(encounter=factories.encounter_create(), entry=ondansetron(), user=clerk_user)
    other = factories.encounter_create()
    assert order_enter(encounter=other, entry=ondansetron(), user=clerk_user).encounter == other


@pytest.mark.parametrize("disposition", list(Order.Disposition.values))
def test_an_order_documented_not_given_held_or_refused_is_not_repeated(
    clerk_user, nurse_user, disposition
) -> None:
    """Ordered again after the first was documented not given: a real new order."""
    encounter = factories.encounter_create()
    first = order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    order_disposition_set(order=first, disposition=disposition, reason="vomited", user=nurse_user)
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    assert Order.objects.filter(encounter=encounter).count() == 2


def test_an_order_the_ordering_system_withdrew_is_not_repeated(clerk_user) -> None:
    encounter = factories.encounter_create()
    electronic = {"entry_method": EntryMethod.ELECTRONIC, "placer_number": "P-1"}
    order_enter(encounter=encounter, entry=ondansetron(**electronic), user=None)
    order_withdraw(encounter=encounter, placer_number="P-1", control="CA")
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    assert Order.objects.filter(encounter=encounter).count() == 2


def test_a_transcribed_copy_of_an_interface_order_is_asked(clerk_user) -> None:
    """The ordering system sent it; the clerk types the paper copy too: asked, naming who."""
    encounter = factories.encounter_create()
    electronic = {"entry_method": EntryMethod.ELECTRONIC, "placer_number": "P-1"}
    order_enter(encounter=encounter, entry=ondansetron(**electronic), user=None)
    with pytest.raises(Exception) as exc:
        order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    first = Order.objects.get(encounter=encounter)
    assert (
        f"by the ordering system (O{first.pk}, order P-1): ondansetron" in refusal(exc)["drug"][0]
    )


def test_an_interface_order_under_a_new_placer_number_is_a_second_order() -> None:
    """HL7/FHIR are not asked: the ordering system numbers each order it means (ORC-2)."""
    encounter = factories.encounter_create()
    for placer in ("P-1", "P-2"):
        entry = ondansetron(entry_method=EntryMethod.ELECTRONIC, placer_number=placer)
        order_enter(encounter=encounter, entry=entry, user=None)
    assert Order.objects.filter(encounter=encounter).count() == 2


def test_the_duplicate_is_said_with_every_other_problem_at_once(clerk_user) -> None:
    encounter = factories.encounter_create()
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    with pytest.raises(Exception) as exc:
        order_enter(encounter=encounter, entry=ondansetron(ordering_provider=""), user=clerk_user)
    assert set(refusal(exc)) == {"drug", "duplicate_confirm", "ordering_provider"}


# --- the clerk's form ---------------------------------------------------------------------------


def test_the_form_refuses_the_same_order_beside_the_drug_keeping_what_was_typed(
    client_as,
) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    client = client_as("clerk")
    url = reverse("registration:order_new", args=[encounter.pk])
    assert client.post(url, {**ORDER, "entry_key": "1" * 32}).status_code == 302
    first = Order.objects.get(encounter=encounter)
    response = client.post(url, {**ORDER, "entry_key": "2" * 32})
    assert response.status_code == 200
    html = response.content.decode()
    said = unescape(field_error(html, "drug"))
    assert said.startswith("The same order was entered at ")
    assert f"by clerk1 (O{first.pk}): oxaliplatin 85 mg/m² IV. Enter it again anyway?" in said
    assert 'type="checkbox" name="duplicate_confirm"' in html
    for name, value in (("drug", "oxaliplatin"), ("dose_value", "85"), ("entry_key", "2" * 32)):
        assert f'name="{name}" value="{value}"' in html
    assert Order.objects.filter(encounter=encounter).count() == 1
    # Ticked: entered, a second order.
    again = client.post(url, {**ORDER, "entry_key": "2" * 32, "duplicate_confirm": "on"})
    assert again.status_code == 302
    assert Order.objects.filter(encounter=encounter).count() == 2


def test_the_confirm_box_is_hidden_until_the_same_order_is_asked(client_as) -> None:
    encounter = factories.encounter_create()
    html = (
        client_as("clerk")
        .get(reverse("registration:order_new", args=[encounter.pk]))
        .content.decode()
    )
    assert 'type="hidden" name="duplicate_confirm"' in html
    assert 'type="checkbox" name="duplicate_confirm"' not in html


def test_the_confirm_box_stays_ticked_while_another_field_is_refused(client_as) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    client = client_as("clerk")
    url = reverse("registration:order_new", args=[encounter.pk])
    client.post(url, ORDER)
    response = client.post(url, {**ORDER, "ordering_provider": "", "duplicate_confirm": "on"})
    html = response.content.decode()
    assert 'type="checkbox" name="duplicate_confirm"' in html and "checked" in html
    assert Order.objects.filter(encounter=encounter).count() == 1


def test_the_order_form_is_not_kept_by_the_browser(client_as) -> None:
    """The back button draws it afresh (no-store), not a half-filled copy."""
    encounter = factories.encounter_create()
    response = client_as("clerk").get(reverse("registration:order_new", args=[encounter.pk]))
    assert "no-store" in response.headers["Cache-Control"]


# --- over time --------------------------------------------------------------------------------


class OrdersEnteredAndWithdrawn(RuleBasedStateMachine):
    """Orders entered by a clerk (the same or another dose, confirmed or not) and documented not
    given: a person's order is entered iff no open order of the visit is the same, or confirmed;
    one entered confirmed beside an open one names it and carries who confirmed it."""

    def __init__(self) -> None:
        super().__init__()
        self.encounter = factories.encounter_create()
        self.open: dict[Decimal, int] = {}  # dose -> open orders of it
        self.entered = 0
        self.repeated = 0  # entered confirmed beside an open order of the same dose

    def clerk(self):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.get(username="clerk1")

    @rule(dose=st.sampled_from([Decimal("4"), Decimal("8")]), confirmed=st.booleans())
    def enter(self, dose: Decimal, confirmed: bool) -> None:
        entry = ondansetron(dose_value=dose, duplicate_confirmed=confirmed)
        expected = confirmed or not self.open.get(dose)
        try:
            order_enter(encounter=self.encounter, entry=entry, user=self.clerk())
        except Exception as exc:  # the refusal beside the drug
            assert not expected, exc
            assert "The same order was entered at " in str(exc)
        else:
            assert expected
            self.repeated += bool(self.open.get(dose))
            self.open[dose] = self.open.get(dose, 0) + 1
            self.entered += 1

    @rule(dose=st.sampled_from([Decimal("4"), Decimal("8")]))
    def not_given(self, dose: Decimal) -> None:
        for order in self.encounter.orders.filter(dose_value=dose, disposition=""):
            order_disposition_set(
                order=order, disposition=Order.Disposition.NOT_GIVEN, reason="held", user=None
            )
        self.open[dose] = 0

    @invariant()
    def entered_as_counted(self) -> None:
        assert self.encounter.orders.count() == self.entered

    @invariant()
    def each_second_order_carries_its_confirmation(self) -> None:
        """An order entered beside an open one names it, with who confirmed it (one each)."""
        seconds = self.encounter.orders.filter(duplicate_of__isnull=False)
        assert seconds.count() == self.repeated
        confirmed = self.encounter.overrides.filter(kind=SafetyOverride.Kind.DUPLICATE)
        assert sorted(confirmed.values_list("order_id", flat=True)) == sorted(
            seconds.values_list("pk", flat=True)
        )
        for order in seconds.select_related("duplicate_of"):
            assert order.duplicate_of.dose_value == order.dose_value


def test_orders_entered_over_time_repeat_only_when_confirmed(clerk_user) -> None:
    run_state_machine_as_test(
        OrdersEnteredAndWithdrawn,
        settings=settings(
            max_examples=8,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
