"""The dose/unit warning is said as the order is typed, in real Chromium (QA: ondansetron 4 g
was warned only after "Enter the order"): after a pause in typing the dose, beside it, in the
submit's words, with the "Enter it as written" box shown; 4 mg typed instead, the warning goes
and the box is hidden (a tick given for 4 g does not enter 4 mg's order unasked). After a
submit, the live answer replaces the submit's words beside the dose; nothing typed is lost."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from mar.demo import demo_max_doses_ensure
from mar.models import Order, PatientMeasure
from tests.browser.conftest import ARTIFACTS
from tests.browser.order_entry import order_entry_visit, order_form_opened

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX = "4 g is above the formulary's maximum single dose of 16 mg for ondansetron."


@pytest.fixture
def visit():
    found = order_entry_visit()
    demo_max_doses_ensure()  # ondansetron: at most 16 mg at once, and 0.15 mg/kg
    # Weighed (70 kg: 10.5 mg at most), so 4 mg is within both maxima, nothing to say.
    PatientMeasure.objects.create(
        encounter=found,
        kind=PatientMeasure.Kind.WEIGHT,
        value=Decimal(70),
        measured_at=timezone.now(),
        method=PatientMeasure.Method.MEASURED,
        by=get_user_model().objects.get(username="clerk"),
    )
    return found


def test_the_dose_warning_comes_as_typed_and_goes_when_the_dose_is_right(
    browser_page, live_server, visit
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    order_form_opened(page, live_server, visit)
    confirm = page.locator("#id_dose_confirm")
    assert confirm.get_attribute("type") == "hidden"

    page.fill("#id_drug", "ondansetron")
    page.press("#id_drug", "Tab")
    page.select_option("#id_dose_unit", "g")
    page.locator("#id_dose_value").press_sequentially("4")  # typed, no Tab: the pause is enough
    beside = page.get_by_test_id("dose_value-dose-check")
    expect(beside).to_contain_text(MAX)
    expect(confirm).to_be_visible()  # asked before the submit
    assert confirm.get_attribute("type") == "checkbox"
    assert page.locator("#id_dose_value").evaluate("e => document.activeElement === e")
    page.screenshot(path=str(ARTIFACTS / "order-entry-dose-live.png"), full_page=True)
    confirm.check()

    page.select_option("#id_dose_unit", "mg")
    expect(beside).to_be_empty()
    expect(page.locator("#id_dose_confirm")).to_be_hidden()
    assert page.locator("#id_dose_confirm").get_attribute("type") == "hidden"
    assert page.locator("#id_dose_confirm").get_attribute("value") in (None, "", "False")
    assert page.input_value("#id_dose_value") == "4"  # nothing typed lost
    assert page.input_value("#id_drug") == "ondansetron"
    assert not Order.objects.filter(encounter=visit).exists()


def test_after_a_submit_the_live_answer_replaces_the_submits_words(
    browser_page, live_server, visit
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    order_form_opened(page, live_server, visit)
    page.fill("#id_drug", "ondansetron")
    page.fill("#id_dose_value", "4")
    page.select_option("#id_dose_unit", "g")
    page.fill("#id_duration_minutes", "15")
    page.fill("#id_indication", "R11.2")
    page.fill("#id_ordering_provider", "Dr Who")
    page.fill("#id_ordering_provider_npi", "1234567893")
    page.click("button:has-text('Enter the order')")
    wrapper = page.locator("#div_id_dose_value")
    expect(wrapper.locator(".invalid-feedback")).to_contain_text(MAX)  # the submit's words
    assert not Order.objects.filter(encounter=visit).exists()

    page.select_option("#id_dose_unit", "mg")
    expect(wrapper.locator(".invalid-feedback")).to_have_count(0)  # stale: about 4 g
    expect(page.locator("#id_dose_value")).not_to_have_class(re.compile("is-invalid"))
    expect(page.locator("#id_dose_confirm")).to_be_hidden()
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=waiting for pharmacy")
    assert Order.objects.get(encounter=visit).dose == "4 mg"
