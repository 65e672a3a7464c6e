"""Order entry warns as the drug is chosen and the indication typed, beside the field, in real
Chromium (QA: the allergy match and the ICD-10-CM problems were said only on submit, and H06.2's
note at the top of the next page): the allergy under the drug with the reason's field shown at
once, a category refused under the indication, a code the shipped list lacks said under it; the
order then entered on the first submit. Without JavaScript the submit says the same, beside the
same field."""

import pytest

from mar.models import Order, SafetyOverride
from tests import factories
from tests.browser.conftest import ARTIFACTS
from tests.browser.order_entry import order_entry_visit, order_form_opened

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALLERGY = "Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class)."
CATEGORY = "C50.9 is a category, not a billable code: choose one of C50.911, C50.912, C50.919."
NOT_LISTED = "H06.2 is not in the ICD-10-CM list loaded here"


@pytest.fixture
def visit():
    return order_entry_visit(
        factories.patient_create(name="Lopez, Ana", allergies="penicillin (rash)")
    )


def rest_of_the_order(page) -> None:
    page.fill("#id_dose_value", "3.375")
    page.select_option("#id_dose_unit", "g")
    page.fill("#id_duration_minutes", "30")
    page.fill("#id_ordering_provider", "Dr. Amara Okafor")
    page.fill("#id_ordering_provider_npi", "1234567893")


def test_the_warnings_show_beside_the_fields_as_they_are_typed(
    browser_page, live_server, visit
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    refused_by_csp: list[str] = []
    page.on(
        "console",
        lambda m: refused_by_csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    order_form_opened(page, live_server, visit)
    reason = page.locator("#id_allergy_reason")
    assert reason.get_attribute("type") == "hidden"

    page.fill("#id_drug", "piperacillin-tazobactam")
    page.press("#id_drug", "Tab")  # chosen: the field changed
    drug_check = page.get_by_test_id("drug-check")
    expect(drug_check).to_contain_text(ALLERGY)
    expect(drug_check).to_contain_text("Check with the prescriber")
    expect(page.locator("#id_drug")).to_have_class("textinput form-control is-invalid")
    expect(reason).to_be_visible()  # asked at once, not after a submit
    assert reason.get_attribute("type") == "text"

    indication = page.locator("#id_indication")
    indication.fill("C50.9")  # typed, no Tab: the pause is enough
    indication_check = page.get_by_test_id("indication-check")
    expect(indication_check).to_have_text(CATEGORY)
    expect(indication).to_have_class("textinput form-control is-invalid")
    page.screenshot(path=str(ARTIFACTS / "order-entry-live-category.png"), full_page=True)
    indication.fill("H06.2")
    expect(indication_check).to_contain_text(NOT_LISTED)
    expect(indication).not_to_have_class("textinput form-control is-invalid")
    assert indication.evaluate("e => document.activeElement === e")  # typing was not disturbed
    note = indication_check.get_by_test_id("indication-note")
    colour = note.evaluate("e => getComputedStyle(e).color")
    red, green, blue = (int(c) for c in colour[colour.index("(") + 1 : -1].split(",")[:3])
    assert red > green > blue, colour  # amber, a note: not the red of a refusal

    rest_of_the_order(page)
    reason.fill("prescriber confirmed: tolerated it in 2024")
    page.locator("#drug-check").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "order-entry-live-warnings.png"), full_page=True)
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=waiting for pharmacy")  # entered at once: the note was seen
    assert not page.locator("#messages .alert-warning").count()
    order = Order.objects.get(encounter=visit)
    assert order.indication_code == "H06.2"
    assert SafetyOverride.objects.get(order=order).reason.startswith("prescriber confirmed")
    assert refused_by_csp == []


def test_without_javascript_the_submit_says_the_note_beside_the_field(
    browser_page, live_server, visit
) -> None:
    from playwright.sync_api import expect

    context = browser_page.context.browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        order_form_opened(page, live_server, visit)
        page.fill("#id_drug", "ondansetron")
        page.fill("#id_indication", "H06.2")
        rest_of_the_order(page)
        page.select_option("#id_dose_unit", "mg")
        page.click("button:has-text('Enter the order')")
        note = page.get_by_test_id("indication-check")
        expect(note).to_contain_text(NOT_LISTED)
        expect(note).to_contain_text("Not entered yet")
        assert not Order.objects.filter(encounter=visit).exists()
        page.screenshot(path=str(ARTIFACTS / "order-entry-note-no-js.png"), full_page=True)
        page.click("button:has-text('Enter the order')")
        page.wait_for_selector("text=waiting for pharmacy")
        assert Order.objects.get(encounter=visit).indication_code == "H06.2"
    finally:
        context.close()
