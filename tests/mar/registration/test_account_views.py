"""The clerk's form "Account number" on the visit page (registration `visit_account_set`): beside
a visit that has none, signed or not; the message beside the field on bad input; the clerk and
the admin only."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from coding.models import ChargeRun
from mar.models import Encounter
from tests import factories
from tests.coding.review_helpers import reviewed
from tests.mar.registration.test_views import field_error

pytestmark = pytest.mark.django_db


def post(client, encounter: Encounter, number: str):
    return client.post(
        reverse("registration:visit_account_set", args=[encounter.pk]), {"account_number": number}
    )


def test_the_clerk_sees_the_form_beside_a_signed_visit_with_no_number(client_as) -> None:
    encounter, _, _ = reviewed(account_number="")
    page = client_as("clerk").get(reverse("registration:visit", args=[encounter.pk]))
    body = page.content.decode()
    assert 'data-testid="account-form"' in body and "data-session-check" in body
    assert "csrfmiddlewaretoken" in body
    assert reverse("registration:visit_account_set", args=[encounter.pk]) in body


def test_the_clerk_enters_it_on_a_signed_visit_and_the_charges_are_made_again(
    client_as, django_capture_on_commit_callbacks
) -> None:
    encounter, run, _ = reviewed(account_number="")
    clerk = client_as("clerk")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(clerk, encounter, " V-3101 ")
    assert response.status_code == 302
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-3101"
    new = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert new.pk != run.pk and new.input_snapshot["encounter"]["account_number"] == "V-3101"
    page = clerk.get(response.headers["Location"])
    body = page.content.decode()
    assert "Account number V-3101 entered." in body
    # Set on a signed visit: no form any more, and the page says it is not changed here.
    assert 'data-testid="account-form"' not in body
    assert "an account number already set is not changed here" in body


def test_a_number_in_use_is_said_beside_the_field_and_what_was_typed_is_kept(client_as) -> None:
    other = factories.chemo_encounter_create(account_number="V-3200")
    encounter = factories.chemo_encounter_create(account_number="")
    response = post(client_as("clerk"), encounter, "v-3200")
    assert response.status_code == 200
    body = response.content.decode()
    assert html.unescape(field_error(body, "account_number")) == (
        f"Already open: account number V-3200 is already in use (visit {other.pk})."
    )
    assert 'value="v-3200"' in body
    assert Encounter.objects.get(pk=encounter.pk).account_number == ""


def test_an_empty_number_is_said_beside_the_field(client_as) -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    response = post(client_as("clerk"), encounter, "  ")
    assert field_error(response.content.decode(), "account_number") == "Enter the account number."


def test_a_number_set_on_a_signed_visit_is_refused_beside_the_field(client_as) -> None:
    encounter, _, _ = reviewed(account_number="V-3300")
    response = post(client_as("clerk"), encounter, "V-3301")
    assert response.status_code == 200
    said = html.unescape(field_error(response.content.decode(), "account_number"))
    assert "is signed" in said and "not changed" in said
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-3300"


def test_the_admin_may_enter_it(client_as) -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    assert post(client_as("admin"), encounter, "V-3400").status_code == 302
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-3400"


@pytest.mark.parametrize("role", ["nurse", "pharmacist", "coder"])
def test_other_roles_are_refused_and_not_offered_the_form(client_as, role) -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    client = client_as(role)
    assert post(client, encounter, "V-3500").status_code == 403
    assert Encounter.objects.get(pk=encounter.pk).account_number == ""
    if role == "nurse":  # the nurse sees the visit page, without the form
        body = client.get(reverse("registration:visit", args=[encounter.pk])).content.decode()
        assert 'data-testid="account-form"' not in body and "registration enters it" in body


def test_a_get_is_not_allowed(client_as) -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    url = reverse("registration:visit_account_set", args=[encounter.pk])
    assert client_as("clerk").get(url).status_code == 405


def test_the_post_needs_the_csrf_token(role_users) -> None:
    from django.test import Client

    encounter = factories.chemo_encounter_create(account_number="")
    client = Client(enforce_csrf_checks=True)
    client.force_login(role_users["clerk"])
    assert post(client, encounter, "V-3600").status_code == 403
    assert Encounter.objects.get(pk=encounter.pk).account_number == ""


def test_edit_account_on_the_coders_review_says_registration_enters_it_and_clears_once_it_has(
    client_as, django_capture_on_commit_callbacks
) -> None:
    """The coder's review page lists EDIT-ACCOUNT in the engine's words (coding/engine/edits.py
    `account_edits`: registration enters the number); the clerk enters it and, the charges made
    again, the coder's page no longer lists it."""
    encounter, _, _ = reviewed(account_number="")
    coder = client_as("coder")
    page = reverse("coding:encounter_charges", args=[encounter.pk])

    def listed() -> str:
        body = coder.get(page).content.decode()
        return body.split('data-testid="edits"', 1)[1].split("</ul>", 1)[0]

    assert "EDIT-ACCOUNT" in listed() and "registration enters it" in listed()
    with django_capture_on_commit_callbacks(execute=True):
        post(client_as("clerk"), encounter, "V-3700")
    assert "EDIT-ACCOUNT" not in listed()
