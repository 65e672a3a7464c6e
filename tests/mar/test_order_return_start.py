"""At the bedside, an order a pharmacist returned to the prescriber (pharmacy.services.
order_return): its card says "Returned by pharmacy: <reason> (<pharmacist>, <time>)" and its start
is refused beside the start form (mar/services/safety.py `returned_stop`, no emergency override:
the nurse calls pharmacy), also when the return came after the chart was drawn; it starts once the
ordering system changes it or a pharmacist verifies it. The nurse can still document it not
given. A return withdrawn (`order_return_withdraw`) no longer stops the start: the order follows
the verification rule as any order not verified yet."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration, DrugClass, Order, SafetyOverride
from mar.pharmacy.services import order_return, order_return_withdraw, order_verify
from mar.registration.services import OrderEntry, order_change
from mar.services import charting, safety
from mar.services.charting import ChartError
from tests import factories

pytestmark = pytest.mark.django_db

HX = {"headers": {"HX-Request": "true"}}
REASON = "Route: ondansetron 8 mg ordered IM for a port patient; please confirm IV"
REFUSED = "Returned by pharmacy: call pharmacy; it can start once the order is changed or verified."


def entry(dose: str = "8") -> OrderEntry:
    return factories.ondansetron_entry(dose)


@pytest.fixture
def order() -> Order:
    return factories.ondansetron_order()


def chart(client: Client, order: Order) -> str:
    return client.get(reverse("mar:encounter", args=[order.encounter_id])).content.decode()


def order_card(html: str, order: Order) -> str:
    start = html.index(f'<div class="order-row" id="order-{order.pk}"')
    end = html.find('<div class="order-row"', start + 1)
    return html[start : end if end != -1 else None]


def start_data(html: str, order: Order) -> dict[str, str]:
    """The order's start form as the chart drew it (tests/mar/test_order_change_start.py)."""
    data = {f"o{order.pk}-method": "push"}
    for name in ("request_key", "order_revision"):
        found = re.search(rf'name="o{order.pk}-{name}" value="([^"]*)"', html)
        assert found is not None, f"the start form carries {name}"
        data[f"o{order.pk}-{name}"] = found[1]
    return data


def start_button(card: str) -> str:
    """The order's Start now button as drawn."""
    found = re.search(r'<button[^>]*data-testid="start"[^>]*>', card)
    assert found is not None, "the order has a Start now button"
    return found[0]


def start(client: Client, order: Order, data: dict[str, str], *, htmx: bool) -> str:
    url = reverse("mar:order_start", args=[order.encounter_id, order.pk])
    response = client.post(url, data, **HX) if htmx else client.post(url, data)
    assert response.status_code in (200, 302)
    return response.content.decode()


def test_the_card_of_a_returned_order_says_returned_by_pharmacy_with_reason_who_and_when(
    client_as, order, pharmacist_user
) -> None:
    nurse = client_as(roles.NURSE)
    assert 'data-testid="order-returned"' not in chart(nurse, order)
    order_return(order=order, reason=REASON, user=pharmacist_user)
    order.refresh_from_db()
    card = order_card(chart(nurse, order), order)
    assert 'data-testid="order-returned"' in card
    stamp = timezone.localtime(order.returned_at)
    assert (
        f"<strong>Returned by pharmacy:</strong> {REASON} (pharm1, "
        f'<span class="text-nowrap">{stamp:%Y-%m-%d}</span> {stamp:%H:%M})'
    ) in card
    # Beside the start: why it does not start, in words.
    assert 'data-testid="return-gate"' in card and REFUSED in card


def test_a_returned_orders_start_now_is_disabled_until_the_return_is_withdrawn(
    client_as, order, pharmacist_user
) -> None:
    """RETURNED_STOP: a tap that can only be refused is not offered. While the order is returned
    its Start now is disabled, the gate above it saying why; the pharmacist withdraws the return
    (order_return_withdraw) and the chart offers the start again."""
    nurse = client_as(roles.NURSE)
    assert " disabled" not in start_button(order_card(chart(nurse, order), order))
    order_return(order=order, reason=REASON, user=pharmacist_user)
    card = order_card(chart(nurse, order), order)
    button = start_button(card)
    assert " disabled" in button
    gate = re.search(r'<div[^>]*data-testid="return-gate"[^>]*>', card)
    assert gate is not None and f'id="order-{order.pk}-return-gate"' in gate[0]
    assert f'aria-describedby="order-{order.pk}-return-gate"' in button
    assert REFUSED in card
    order_return_withdraw(order=order, reason="returned by mistake", user=pharmacist_user)
    card = order_card(chart(nurse, order), order)
    assert " disabled" not in start_button(card) and "aria-describedby" not in start_button(card)
    assert 'data-testid="return-gate"' not in card


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_starting_a_returned_order_is_refused_beside_the_start(
    client_as, order, pharmacist_user, htmx
) -> None:
    """Returned after the nurse drew the chart: the start is refused all the same (read again
    under the start's lock), said at the top of the start form, and nothing is started."""
    nurse = client_as(roles.NURSE)
    data = start_data(chart(nurse, order), order)
    order_return(order=order, reason=REASON, user=pharmacist_user)
    html = start(nurse, order, data, htmx=htmx)
    assert not Administration.objects.filter(order=order).exists()
    card = order_card(html, order)
    refusal = card.split('data-testid="start-refused"', 1)[1].split("</div>", 1)[0]
    assert REFUSED in refusal
    # The tap is answered where she looks, with its time: a refusal the same as the gate's words
    # above it looked as if nothing had happened (QA walkthrough).
    assert 'data-testid="start-refused-at">(Start now tapped ' in refusal
    assert card.count(REFUSED) == 1  # said once, beside the start
    assert 'data-testid="order-returned"' in card and REASON in card
    button = start_button(card)  # not tapped again for the same refusal, which says why
    assert " disabled" in button
    assert f'aria-describedby="order-{order.pk}-start-refused"' in button


def test_a_start_refused_for_its_time_still_says_the_order_is_returned(
    client_as, order, pharmacist_user
) -> None:
    """Returned after the chart was drawn, and tapped with a time that cannot be read: the
    answer names the time beside its field and, its Start now disabled, still says why."""
    nurse = client_as(roles.NURSE)
    data = start_data(chart(nurse, order), order) | {f"o{order.pk}-at": "noon-ish"}
    order_return(order=order, reason=REASON, user=pharmacist_user)
    card = order_card(start(nurse, order, data, htmx=True), order)
    assert f'id="error_1_id_o{order.pk}-at"' in card
    assert 'data-testid="return-gate"' in card and card.count(REFUSED) == 1
    button = start_button(card)
    assert " disabled" in button
    assert f'aria-describedby="order-{order.pk}-return-gate"' in button
    assert not Administration.objects.filter(order=order).exists()


def test_the_start_gate_refuses_a_returned_order_whatever_the_nurse_gives(
    order, pharmacist_user, nurse_user
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(
            order=order, site=None, start=timezone.now(), method="push", user=nurse_user,
            checks=safety.StartChecks(emergency_reason="the oncologist is here"),
        )  # fmt: skip
    assert refused.value.errors == {None: [REFUSED]}
    assert not Administration.objects.filter(order=order).exists()


def test_a_returned_high_alert_order_offers_no_emergency_start(client_as, pharmacist_user) -> None:
    """A high-alert order returned is not "not verified yet": no emergency reason starts it."""
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    chemo = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="900 mg"
    )
    nurse = client_as(roles.NURSE)
    assert 'data-testid="verification-gate"' in order_card(chart(nurse, chemo), chemo)
    order_return(order=chemo, reason="Dose over the Calvert maximum", user=pharmacist_user)
    card = order_card(chart(nurse, chemo), chemo)
    assert 'data-testid="verification-gate"' not in card
    assert 'data-testid="return-gate"' in card
    data = start_data(card, chemo) | {f"o{chemo.pk}-emergency_reason": "septic, start now"}
    html = start(nurse, chemo, data, htmx=True)
    assert REFUSED in html
    assert not Administration.objects.filter(order=chemo).exists()
    assert not SafetyOverride.objects.exists()


@pytest.mark.parametrize("decision", ["verified", "changed"])
def test_a_returned_order_starts_once_verified_or_changed(
    client_as, order, pharmacist_user, decision
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    if decision == "verified":
        order_verify(order=order, user=pharmacist_user)
    else:
        assert order_change(encounter=order.encounter, entry=entry("4")).changed
    nurse = client_as(roles.NURSE)
    html = chart(nurse, order)
    card = order_card(html, order)
    assert 'data-testid="order-returned"' not in card and 'data-testid="return-gate"' not in card
    assert " disabled" not in start_button(card)
    start(nurse, order, start_data(html, order), htmx=True)
    assert Administration.objects.filter(order=order).count() == 1


def test_a_return_withdrawn_no_longer_stops_the_start(client_as, order, pharmacist_user) -> None:
    """Withdrawn after the nurse drew the chart: the card no longer says "Returned", says "Not
    verified by pharmacy", and the start (not high-alert) goes through unverified."""
    nurse = client_as(roles.NURSE)
    order_return(order=order, reason=REASON, user=pharmacist_user)
    data = start_data(chart(nurse, order), order)
    order_return_withdraw(order=order, reason="returned by mistake", user=pharmacist_user)
    card = order_card(chart(nurse, order), order)
    assert 'data-testid="order-returned"' not in card and 'data-testid="return-gate"' not in card
    assert 'data-testid="order-unverified"' in card
    html = start(nurse, order, data, htmx=True)
    assert REFUSED not in html
    order.refresh_from_db()
    assert order.verified_at is None
    assert Administration.objects.filter(order=order).count() == 1


def test_a_high_alert_order_withdrawn_follows_the_verification_rule_not_the_return(
    client_as, pharmacist_user, nurse_user
) -> None:
    """A chemotherapy returned, then its return withdrawn: it is "not verified yet" again, so the
    start asks for the emergency reason (or the pharmacist's verification), no longer refused as
    returned."""
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    chemo = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="900 mg"
    )
    order_return(order=chemo, reason="Dose over the Calvert maximum", user=pharmacist_user)
    order_return_withdraw(
        order=chemo, reason="The oncologist confirmed the AUC", user=pharmacist_user
    )
    card = order_card(chart(client_as(roles.NURSE), chemo), chemo)
    assert 'data-testid="return-gate"' not in card
    assert 'data-testid="verification-gate"' in card
    problems = safety.start_problems(chemo, safety.StartChecks(), user=nurse_user)
    assert None not in problems  # not refused as returned
    assert "no pharmacist has verified the order" in " ".join(problems["emergency_reason"])
    emergency = safety.StartChecks(emergency_reason="septic, start now")
    assert "emergency_reason" not in safety.start_problems(chemo, emergency, user=nurse_user)


def test_a_returned_order_can_still_be_documented_not_given(
    client_as, order, pharmacist_user, nurse_user
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    nurse = client_as(roles.NURSE)
    assert 'data-testid="disposition-form"' in order_card(chart(nurse, order), order)
    url = reverse("mar:order_disposition", args=[order.encounter_id, order.pk])
    nurse.post(
        url,
        {f"d{order.pk}-disposition": "not_given", f"d{order.pk}-reason": "returned by pharmacy"},
    )
    order.refresh_from_db()
    assert (order.disposition, order.disposition_reason) == ("not_given", "returned by pharmacy")
    assert order.disposition_by == nurse_user
    # The service itself, as any other caller uses it: undone and documented again.
    charting.order_disposition_set(order=order, disposition="", reason="", user=nurse_user)
    charting.order_disposition_set(
        order=order, disposition="held", reason="waiting for pharmacy", user=nurse_user
    )
    order.refresh_from_db()
    assert order.disposition == "held" and order.is_returned
