"""Order entry on a signed visit is refused before anything is typed (QA: the form was filled,
then refused): the order page says "This visit is signed; an order is added by an addendum." and
draws no form; the visit page offers no "Enter an order"; a form drawn before the signature
enters nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Encounter, Order
from tests import factories

pytestmark = pytest.mark.django_db

SAID = "This visit is signed; an order is added by an addendum."


def _signed_visit() -> Encounter:
    encounter = factories.encounter_create()
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    encounter.refresh_from_db()
    return encounter


@pytest.mark.parametrize("role", [roles.CLERK, roles.NURSE])
@pytest.mark.parametrize("query", ["", "?from=chart"])
def test_the_order_page_of_a_signed_visit_says_so_and_draws_no_form(client_as, role, query) -> None:
    encounter = _signed_visit()
    url = reverse("registration:order_new", args=[encounter.pk]) + query
    response = client_as(role).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert SAID in html
    assert 'name="drug"' not in html and "Enter the order" not in html


def test_an_order_posted_on_a_signed_visit_enters_nothing(client_as) -> None:
    encounter = _signed_visit()
    drug = factories.drug_get("ondansetron")
    response = client_as(roles.CLERK).post(
        reverse("registration:order_new", args=[encounter.pk]),
        {"drug": drug.name, "dose_value": "8", "dose_unit": "mg", "route": "iv"},
    )
    assert response.status_code == 400
    assert SAID in response.content.decode()
    assert not Order.objects.filter(encounter=encounter).exists()


def test_the_visit_page_of_a_signed_visit_offers_no_enter_an_order(client_as) -> None:
    encounter = _signed_visit()
    html = client_as(roles.CLERK).get(reverse("registration:visit", args=[encounter.pk])).content
    assert reverse("registration:order_new", args=[encounter.pk]).encode() not in html
    assert b'data-testid="enter-order"' not in html


def test_the_visit_page_of_a_visit_in_progress_offers_enter_an_order(client_as) -> None:
    encounter = factories.encounter_create()
    html = client_as(roles.CLERK).get(reverse("registration:visit", args=[encounter.pk])).content
    assert b'data-testid="enter-order"' in html
