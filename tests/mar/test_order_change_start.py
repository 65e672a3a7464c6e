"""The bedside does not act on an order the ordering system changed (HL7 ORC-1 XO) since the
chart was drawn: the start form carries the order's revision; a start posted from a chart drawn
before the change is refused with what the order is now, beside the form, and the chart answers
with the order as it is (its row saying what changed), so that starting again starts the order
as changed. The pharmacist's queue and review show the change too."""

import dataclasses
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration, Order
from mar.registration.services import OrderEntry, order_change, order_enter
from tests import factories

pytestmark = pytest.mark.django_db

HX = {"headers": {"HX-Request": "true"}}


def entry(dose: str = "8") -> OrderEntry:
    return factories.ondansetron_entry(dose)


def entry_numbered(placer: str) -> OrderEntry:
    return dataclasses.replace(entry(), placer_number=placer)


@pytest.fixture
def order() -> Order:
    return factories.ondansetron_order()


def chart(client: Client, order: Order) -> str:
    return client.get(reverse("mar:encounter", args=[order.encounter_id])).content.decode()


def start_data(html: str, order: Order) -> dict[str, str]:
    """The order's start form as the chart drew it: its hidden fields, method infusion."""
    data = {f"o{order.pk}-method": "push"}
    for name in ("request_key", "order_revision"):
        found = re.search(rf'name="o{order.pk}-{name}" value="([^"]*)"', html)
        assert found is not None, f"the start form carries {name}"
        data[f"o{order.pk}-{name}"] = found[1]
    return data


def start(
    client: Client, order: Order, data: dict[str, str], *, htmx: bool, refused: bool = False
) -> str:
    """The start's answer: htmx, the chart's parts; without JavaScript, the page again with the
    refused form (200) or, started, a redirect back to the chart (302)."""
    url = reverse("mar:order_start", args=[order.encounter_id, order.pk])
    response = client.post(url, data, **HX) if htmx else client.post(url, data)
    assert response.status_code == (200 if htmx or refused else 302)
    return response.content.decode()


def change_to_4_mg(order: Order) -> str:
    """The ordering system's change; the time it says it changed, on the visit's clock."""
    done = order_change(encounter=order.encounter, entry=entry("4"))
    assert done.changed
    changed = Order.objects.get(pk=order.pk)
    assert changed.changed_at is not None
    return f"{timezone.localtime(changed.changed_at, order.encounter.zone):%H:%M}"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_start_from_a_chart_drawn_before_the_change_is_refused_saying_what_it_is_now(
    client_as, order: Order, htmx: bool
) -> None:
    nurse = client_as(roles.NURSE)
    data = start_data(chart(nurse, order), order)
    assert data[f"o{order.pk}-order_revision"] == "0"
    at = change_to_4_mg(order)
    html = start(nurse, order, data, htmx=htmx, refused=True)
    assert not Administration.objects.filter(order=order).exists()
    assert (
        f"This order was changed by the ordering system at {at}: it is now ondansetron 4 mg · IV "
        "(dose 8 mg → 4 mg). Nothing was started: check it and start again."
    ) in html
    assert 'data-testid="start-refused"' in html
    # The chart answers with the order as it is now: its row says what changed.
    assert f"by the ordering system {at}: dose 8 mg → 4 mg" in html
    # The form as answered carries the current revision and the same key: starting again
    # (after reading the change) starts the order as changed.
    again = start_data(html, order)
    assert again[f"o{order.pk}-order_revision"] == "1"
    assert again[f"o{order.pk}-request_key"] == data[f"o{order.pk}-request_key"]
    start(nurse, order, again, htmx=htmx)
    started = Administration.objects.get(order=order)
    assert started.method == Administration.Method.PUSH


def test_a_chart_drawn_after_the_change_starts_it(client_as, order: Order) -> None:
    nurse = client_as(roles.NURSE)
    change_to_4_mg(order)
    html = chart(nurse, order)
    assert 'data-testid="order-changed"' in html
    start(nurse, order, start_data(html, order), htmx=True)
    assert Administration.objects.filter(order=order).count() == 1


def test_a_start_posted_without_a_revision_counts_as_the_order_first_entered(
    client_as, order: Order
) -> None:
    """A client that sends no revision is taken as having shown the order as first entered:
    an order never changed starts; one the ordering system changed is refused, not given at
    the old dose."""
    nurse = client_as(roles.NURSE)
    data = start_data(chart(nurse, order), order)
    del data[f"o{order.pk}-order_revision"]
    change_to_4_mg(order)
    html = start(nurse, order, data, htmx=True)
    assert "Nothing was started: check it and start again." in html
    assert not Administration.objects.filter(order=order).exists()
    other = order_enter(encounter=order.encounter, entry=entry_numbered("P2"))
    fresh = start_data(chart(nurse, other), other)
    del fresh[f"o{other.pk}-order_revision"]
    start(nurse, other, fresh, htmx=True)
    assert Administration.objects.filter(order=other).count() == 1


def test_a_double_tap_still_starts_once(client_as, order: Order) -> None:
    nurse = client_as(roles.NURSE)
    data = start_data(chart(nurse, order), order)
    start(nurse, order, data, htmx=True)
    start(nurse, order, data, htmx=True)
    assert Administration.objects.filter(order=order).count() == 1


def test_an_order_never_changed_shows_no_change(client_as, order: Order) -> None:
    """No badge on an order the ordering system did not change; its form carries revision 0."""
    html = chart(client_as(roles.NURSE), order)
    assert 'data-testid="order-changed"' not in html
    assert start_data(html, order)[f"o{order.pk}-order_revision"] == "0"


def test_the_pharmacist_sees_the_change_in_the_queue_and_the_review(
    client_as, order: Order, pharmacist_user
) -> None:
    from mar.pharmacy.services import order_verify

    order_verify(order=order, user=pharmacist_user)
    change_to_4_mg(order)
    pharmacist = client_as(roles.PHARMACIST)
    queue = pharmacist.get(reverse("pharmacy:orders")).content.decode()
    row = queue[queue.index(f'<tr id="order-{order.pk}"') :].split("</tr>", 1)[0]
    assert "✓ Verify" in row  # back in the queue, to verify again
    assert "Changed</span> by the ordering system" in row and "dose 8 mg → 4 mg" in row
    review = pharmacist.get(reverse("pharmacy:order_review", args=[order.pk])).content.decode()
    assert "Changed by the ordering system" in review
    assert "dose 8 mg → 4 mg. Verify the order as it is now." in review
