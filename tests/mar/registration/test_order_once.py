"""The order entry form enters one order however often it is sent: a double press, the form
sent again after signing in, the back button. Each form drawn carries its own key
(`entry_key`); `order_enter` returns the order that key entered, under the visit's lock."""

import re
import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from mar.models import Order
from mar.registration.forms import OrderEntryForm
from mar.registration.services import order_enter, order_entry_typed
from tests import factories
from tests.mar.registration.test_views import ORDER

pytestmark = pytest.mark.django_db


def drawn_key(client, encounter) -> str:
    page = client.get(reverse("registration:order_new", args=[encounter.pk])).content.decode()
    match = re.search(r'name="entry_key" value="([0-9a-f]{32})"', page)
    assert match, "the form carries its key"
    return match.group(1)


def test_each_order_form_drawn_has_its_own_key(client_as) -> None:
    encounter = factories.encounter_create()
    client = client_as("clerk")
    assert drawn_key(client, encounter) != drawn_key(client, encounter)


def test_the_same_order_form_posted_twice_enters_one_order_and_says_so(client_as) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    client = client_as("clerk")
    key = drawn_key(client, encounter)
    url = reverse("registration:order_new", args=[encounter.pk])
    first = client.post(url, {**ORDER, "entry_key": key})
    assert first.status_code == 302
    again = client.post(url, {**ORDER, "entry_key": key})
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    order = Order.objects.get(encounter=encounter)
    assert order.entry_key == key
    said = [str(m) for m in get_messages(again.wsgi_request)]
    assert any(
        m.startswith("This order was entered already, at ") and "oxaliplatin" in m for m in said
    ), said
    # Another form (drawn again for a second order of the same drug): a second order, once the
    # clerk confirms it is one (the same order on the visit is asked: test_order_duplicate.py).
    key = drawn_key(client, encounter)
    client.post(url, {**ORDER, "entry_key": key})
    assert Order.objects.filter(encounter=encounter).count() == 1
    client.post(url, {**ORDER, "entry_key": key, "duplicate_confirm": "on"})
    assert Order.objects.filter(encounter=encounter).count() == 2


def test_a_form_without_a_key_enters_as_before(client_as) -> None:
    """An interface's order, or a page drawn before the key: no key, no such check."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    client = client_as("clerk")
    url = reverse("registration:order_new", args=[encounter.pk])
    client.post(url, ORDER)
    client.post(url, {**ORDER, "duplicate_confirm": "on"})  # the same order: confirmed
    assert list(Order.objects.filter(encounter=encounter).values_list("entry_key", flat=True)) == [
        "",
        "",
    ]


def typed(data: dict[str, str]) -> dict[str, object]:
    form = OrderEntryForm(data)
    assert form.is_valid(), form.errors
    return form.cleaned_data


def test_order_enter_returns_the_order_its_key_entered(clerk_user) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    entry, errors = order_entry_typed(typed({**ORDER, "entry_key": "k" * 32}))
    assert not errors
    first = order_enter(encounter=encounter, entry=entry, user=clerk_user)
    second = order_enter(encounter=encounter, entry=entry, user=clerk_user)
    assert first.pk == second.pk
    assert Order.objects.filter(encounter=encounter).count() == 1


@pytest.mark.postgresql("two posts at once wait on the visit's row lock: PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_two_posts_of_one_form_at_once_enter_one_order(clerk_user) -> None:
    """A double press sends both before either is answered: the visit's lock makes the second
    find the first's order."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    entry, _ = order_entry_typed(typed({**ORDER, "entry_key": "d" * 32}))
    start = threading.Barrier(2)
    entered: list[int] = []

    def post() -> None:
        try:
            start.wait()
            entered.append(order_enter(encounter=encounter, entry=entry, user=clerk_user).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(entered) == 2 and entered[0] == entered[1]
    assert Order.objects.filter(encounter=encounter).count() == 1
