"""The same order open on the visit is said as the order is typed, before the submit (QA: the
warning came only after "Enter the order"): the order form posts itself (htmx) to
`registration:order_duplicate_check` when drug, dose or route change; the answer says the words
the submit would (`order_duplicate_words`) under the drug, with the confirm box shown out of band
(a tick kept while the order typed is the same, hidden and unticked once it is not: a tick given
for one order never enters another). Clerks and nurses (and admins) only; CSRF checked. Without
JavaScript nothing asks it: the submit says the same (test_order_duplicate.py)."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.registration.services import order_duplicate_words
from tests import factories
from tests.mar.registration.test_views import ORDER

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def visit_with_order(clerk_user):
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    client = Client()
    client.force_login(clerk_user)
    client.post(reverse("registration:order_new", args=[encounter.pk]), ORDER)
    return encounter, encounter.orders.get()


def live(client: Client, encounter, typed: dict[str, str]):
    return client.post(
        reverse("registration:order_duplicate_check", args=[encounter.pk]), typed, **HX
    )


def warning(html: str) -> list[str]:
    return [
        unescape(m) for m in re.findall(r'data-testid="duplicate-warning">(.*?)</div>', html, re.S)
    ]


def test_the_same_order_is_said_as_it_is_typed_with_the_submits_words(
    client_as, visit_with_order
) -> None:
    encounter, first = visit_with_order
    response = live(client_as(roles.CLERK), encounter, ORDER)
    assert response.status_code == 200
    html = response.content.decode()
    assert warning(html) == [order_duplicate_words(first)]
    # The confirm box, out of band, shown unticked.
    assert 'id="duplicate-confirm-slot" hx-swap-oob="true"' in html
    assert re.search(r'<input type="checkbox" name="duplicate_confirm"[^>]*>', html)
    assert "checked" not in html


def test_a_tick_is_kept_while_the_order_is_the_same(client_as, visit_with_order) -> None:
    encounter, _ = visit_with_order
    html = live(client_as(roles.CLERK), encounter, {**ORDER, "duplicate_confirm": "on"})
    box = re.search(r'<input type="checkbox" name="duplicate_confirm"[^>]*>', html.content.decode())
    assert box and "checked" in box.group(0)


@pytest.mark.parametrize(
    "changed", [{"dose_value": "80"}, {"route": "sq"}, {"drug": "ondansetron"}, {"drug": ""}]
)
def test_another_order_typed_says_nothing_and_hides_the_box_unticked(
    client_as, visit_with_order, changed
) -> None:
    encounter, _ = visit_with_order
    factories.drug_get("ondansetron")
    typed = {**ORDER, **changed, "duplicate_confirm": "on"}
    html = live(client_as(roles.CLERK), encounter, typed).content.decode()
    assert warning(html) == []
    assert 'type="checkbox" name="duplicate_confirm"' not in html
    hidden = re.search(r'<input type="hidden" name="duplicate_confirm"[^>]*>', html)
    assert hidden and "value=" not in hidden.group(0)  # a tick for one order enters no other


def test_half_typed_says_nothing(client_as, visit_with_order) -> None:
    encounter, _ = visit_with_order
    html = live(client_as(roles.CLERK), encounter, {"drug": "oxaliplatin"}).content.decode()
    assert warning(html) == []


def test_the_order_form_asks_the_check_when_drug_dose_or_route_change(
    client_as, visit_with_order
) -> None:
    encounter, _ = visit_with_order
    html = (
        client_as(roles.CLERK)
        .get(reverse("registration:order_new", args=[encounter.pk]))
        .content.decode()
    )
    url = reverse("registration:order_duplicate_check", args=[encounter.pk])
    slot = re.search(r'<div id="duplicate-check"[^>]*>', html)
    assert slot and f'hx-post="{url}"' in slot.group(0)
    for field in ("drug", "dose_value", "dose_unit", "dose_basis", "route"):
        assert f"change from:#id_{field}" in slot.group(0)
    # Under the drug, before the dose.
    assert html.index('id="duplicate-check"') < html.index('name="dose_value"')


@pytest.mark.parametrize("role", [roles.CLERK, roles.NURSE, roles.ADMIN])
def test_those_who_enter_orders_may_ask(client_as, visit_with_order, role) -> None:
    encounter, _ = visit_with_order
    assert live(client_as(role), encounter, ORDER).status_code == 200


@pytest.mark.parametrize("role", [roles.PHARMACIST, roles.CODER])
def test_others_are_refused(client_as, visit_with_order, role) -> None:
    encounter, _ = visit_with_order
    assert live(client_as(role), encounter, ORDER).status_code == 403


def test_signed_out_is_sent_to_sign_in_and_get_is_refused(client_as, visit_with_order) -> None:
    encounter, _ = visit_with_order
    url = reverse("registration:order_duplicate_check", args=[encounter.pk])
    assert Client().post(url, ORDER).status_code == 302
    assert client_as(roles.CLERK).get(url).status_code == 405
    missing = reverse("registration:order_duplicate_check", args=[encounter.pk + 999])
    assert client_as(roles.CLERK).post(missing, ORDER).status_code == 404


def test_the_check_needs_the_csrf_token(clerk_user, visit_with_order) -> None:
    encounter, _ = visit_with_order
    client = Client(enforce_csrf_checks=True)
    client.force_login(clerk_user)
    assert live(client, encounter, ORDER).status_code == 403
