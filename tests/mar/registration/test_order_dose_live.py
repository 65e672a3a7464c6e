"""The dose/unit warnings are said as the order is typed, before the submit (QA: ondansetron 4 g
was warned only after "Enter the order"): the order form's live check
(`registration:order_duplicate_check`, asked when drug, dose, unit, basis, route, rate or its
unit change, the dose after a pause) says, beside the dose, its unit and the rate's unit (out of
band), the words the submit says there (`order_dose_warnings_of`), with the "Enter it as written"
box shown (a tick kept) while a warning holds, hidden and unticked once none does. Clerks and
nurses (and admins) only; CSRF checked. Without JavaScript the submit says the same
(test_order_dose_check.py)."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from mar import roles
from mar.registration.services import order_dose_warnings_of, order_entry_typed
from tests import factories
from tests.mar.registration.test_order_dose_check import FORM, ondansetron, saline
from tests.mar.registration.test_views import field_error

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def encounter():
    ondansetron()
    saline()
    return factories.encounter_create()


def live(client: Client, encounter, typed: dict[str, str]):
    return client.post(
        reverse("registration:order_duplicate_check", args=[encounter.pk]), typed, **HX
    )


def said_beside(html: str) -> dict[str, str]:
    """The dose/unit warning swapped in beside each field ('' for an emptied slot)."""
    slots = re.findall(
        r'<div id="(\w+)-dose-check"[^>]*hx-swap-oob="true">(.*?)</div>\s*(?=<div id=)', html, re.S
    )
    return {field: unescape(re.sub(r"<[^>]+>", "", inner)).strip() for field, inner in slots}


def dose_box(html: str) -> str:
    box = re.search(r'<input type="(?:checkbox|hidden)" name="dose_confirm"[^>]*>', html)
    assert box, "no dose_confirm field in the answer"
    return box.group(0)


def test_the_dose_warning_is_said_beside_the_dose_in_the_submits_words(
    client_as, encounter
) -> None:
    client = client_as(roles.CLERK)
    html = live(client, encounter, FORM).content.decode()
    submitted = client.post(
        reverse("registration:order_new", args=[encounter.pk]), {**FORM, "entry_key": "3" * 32}
    ).content.decode()
    said = said_beside(html)
    assert said["dose_value"] == unescape(field_error(submitted, "dose_value"))
    assert "maximum single dose of 16 mg for ondansetron" in said["dose_value"]
    assert said["dose_unit"] == "" and said["rate_unit"] == ""
    # The "Enter it as written" box, out of band, shown unticked.
    assert 'id="dose-confirm-slot" hx-swap-oob="true"' in html
    box = dose_box(html)
    assert 'type="checkbox"' in box and "checked" not in box


def test_the_unit_and_the_rates_unit_are_said_beside_them(client_as, encounter) -> None:
    typed = {
        **FORM,
        "drug": "sodium chloride 0.9%",
        "dose_value": "1000",
        "dose_unit": "mg",
        "duration_minutes": "",
        "rate_value": "250",
        "rate_unit": "mcg/min",
    }
    said = said_beside(live(client_as(roles.NURSE), encounter, typed).content.decode())
    form_typed = {
        **typed,
        "dose_value": Decimal("1000"),
        "rate_value": Decimal("250"),
    }
    expected = order_dose_warnings_of(order_entry_typed(form_typed)[0])
    assert said["dose_unit"] == expected["dose_unit"]
    assert said["rate_unit"] == expected["rate_unit"]
    assert said["dose_value"] == ""


def test_a_tick_is_kept_while_a_warning_holds(client_as, encounter) -> None:
    html = live(client_as(roles.CLERK), encounter, {**FORM, "dose_confirm": "on"}).content.decode()
    box = dose_box(html)
    assert 'type="checkbox"' in box and "checked" in box


@pytest.mark.parametrize(
    "changed",
    [
        {"dose_unit": "mg"},
        {"dose_value": "4000", "dose_unit": "mcg"},
        {"drug": ""},
        {"dose_value": ""},
    ],
)
def test_an_order_that_no_longer_warns_says_nothing_and_hides_the_box_unticked(
    client_as, encounter, changed
) -> None:
    typed = {**FORM, **changed, "dose_confirm": "on"}
    html = live(client_as(roles.CLERK), encounter, typed).content.decode()
    assert said_beside(html) == {"dose_value": "", "dose_unit": "", "rate_unit": ""}
    assert 'data-testid="dose-warning"' not in html
    box = dose_box(html)
    assert 'type="hidden"' in box and "value=" not in box  # a tick for one order enters no other


def test_the_order_form_asks_again_when_the_rate_or_its_unit_change(client_as, encounter) -> None:
    html = (
        client_as(roles.CLERK)
        .get(reverse("registration:order_new", args=[encounter.pk]))
        .content.decode()
    )
    slot = re.search(r'<div id="duplicate-check"[^>]*>', html)
    assert slot
    for field in ("dose_value", "dose_unit", "rate_value", "rate_unit"):
        assert f"change from:#id_{field}" in slot.group(0)
    assert "input changed delay:500ms from:#id_dose_value" in slot.group(0)
    # Each slot beside its field: after the field, before the next one.
    for field, after in (
        ("dose_value", "dose_unit"),
        ("dose_unit", "dose_basis"),
        ("rate_unit", "dose_confirm"),
    ):
        place = html.index(f'id="{field}-dose-check"')
        assert html.index(f'name="{field}"') < place < html.index(f'name="{after}"')


@pytest.mark.parametrize("role", [roles.CLERK, roles.NURSE, roles.ADMIN])
def test_those_who_enter_orders_see_it(client_as, encounter, role) -> None:
    response = live(client_as(role), encounter, FORM)
    assert response.status_code == 200
    assert said_beside(response.content.decode())["dose_value"]


@pytest.mark.parametrize("role", [roles.PHARMACIST, roles.CODER])
def test_others_are_refused_and_told_nothing(client_as, encounter, role) -> None:
    response = live(client_as(role), encounter, FORM)
    assert response.status_code == 403
    assert "maximum single dose" not in response.content.decode()
