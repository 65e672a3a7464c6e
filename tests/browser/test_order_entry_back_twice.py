"""The back button does not enter the same order twice silently, in real Chromium (QA: after
"Order entered", Back brought the order form again with a new key, dose, provider and NPI
restored by the browser; the two blanks filled, a second identical order was entered with no
word). The form is drawn afresh (no-store), though Chromium still restores what was typed in
the fields that allow it; the service is what stops it: the same order again is refused beside
the drug, naming the first, everything typed kept, and entered only with the box ticked. And words
in the indication are not taken for a code: "thyroid" is refused beside the field, as typed and
on submit, naming the code to choose."""

import pytest

from mar.models import Order
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.browser.order_entry import order_entry_visit, order_form_opened

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

THYROID = "“thyroid” matches C73 Malignant neoplasm of thyroid gland: choose it or type the code."


@pytest.fixture
def visit():
    return order_entry_visit()


def ondansetron(page, indication: str = "R11.2") -> None:
    page.fill("#id_drug", "ondansetron")
    page.fill("#id_dose_value", "4")
    page.select_option("#id_dose_unit", "mg")
    page.select_option("#id_route", "iv")
    page.fill("#id_indication", indication)
    page.fill("#id_ordering_provider", "Dr Who")
    page.fill("#id_ordering_provider_npi", "1234567893")


def test_back_after_entering_an_order_does_not_enter_it_again_unless_confirmed(
    browser_page, live_server, visit
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    form_url = order_form_opened(page, live_server, visit)
    ondansetron(page)
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=Order entered")
    assert Order.objects.filter(encounter=visit).count() == 1

    first_key = Order.objects.get(encounter=visit).entry_key
    page.go_back()
    page.wait_for_url(form_url)
    page.wait_for_load_state("load")
    # Drawn afresh (no-store: a new key), yet Chromium restores what was typed in the fields
    # that allow it (dose, provider, NPI); the drug and indication (autocomplete off) are blank.
    assert page.input_value("#id_entry_key") != first_key
    assert (page.input_value("#id_drug"), page.input_value("#id_indication")) == ("", "")
    page.fill("#id_drug", "ondansetron")  # the two blanks filled, as QA did
    page.fill("#id_indication", "R11.2")
    ondansetron(page)  # whatever the browser restored, the same order
    page.click("button:has-text('Enter the order')")
    drug_error = page.locator("#id_drug ~ .invalid-feedback, [id^=error_][id$=_id_drug]").first
    expect(drug_error).to_contain_text("The same order was entered at ")
    expect(drug_error).to_contain_text("by clerk (O")
    expect(drug_error).to_contain_text("ondansetron 4 mg IV. Enter it again anyway?")
    page.screenshot(path=str(ARTIFACTS / "order-entry-same-order-asked.png"), full_page=True)
    assert Order.objects.filter(encounter=visit).count() == 1
    # Everything typed kept.
    assert page.input_value("#id_drug") == "ondansetron"
    assert page.input_value("#id_ordering_provider_npi") == "1234567893"
    # Another dose typed: what the submit said beside the drug goes (no longer true), and the
    # same dose again says it as typed.
    page.fill("#id_dose_value", "8")
    expect(drug_error).to_have_count(0)
    expect(page.get_by_test_id("duplicate-warning")).to_have_count(0)
    page.fill("#id_dose_value", "4")
    expect(page.get_by_test_id("duplicate-warning")).to_contain_text("The same order was entered")

    confirm = page.locator("#id_duplicate_confirm")
    expect(confirm).to_be_visible()
    confirm.check()
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=Order entered")
    assert Order.objects.filter(encounter=visit).count() == 2
    # Recorded: the second order names the first, with who confirmed it.
    first, second = Order.objects.filter(encounter=visit).order_by("pk")
    assert second.duplicate_of == first
    assert second.overrides.get().by.get_username() == "clerk"


def test_the_same_order_is_said_as_it_is_typed_before_the_submit(
    browser_page, live_server, visit
) -> None:
    """Drug, dose and route filled: the warning under the drug and the confirm box appear before
    any submit; another dose takes both away (untick); the same again asks again; nothing typed
    is lost."""
    from playwright.sync_api import expect

    factories.user_create(username="pharmacist", role="pharmacist")
    page = browser_page
    form_url = order_form_opened(page, live_server, visit)
    ondansetron(page)
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=Order entered")
    first = Order.objects.get(encounter=visit)

    page.goto(form_url)
    page.wait_for_load_state("load")  # htmx listens once the page's scripts ran
    warning = page.get_by_test_id("duplicate-warning")
    confirm = page.locator("#id_duplicate_confirm")
    ondansetron(page)
    expect(warning).to_contain_text(f"by clerk (O{first.pk}): ondansetron 4 mg IV.")
    expect(warning).to_contain_text("Enter it again anyway?")
    expect(confirm).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "order-entry-same-order-as-typed.png"), full_page=True)
    confirm.check()
    page.fill("#id_dose_value", "8")  # another dose: another order, the tick goes
    expect(warning).to_have_count(0)
    expect(confirm).to_be_hidden()
    page.fill("#id_dose_value", "4")
    expect(warning).to_have_count(1)
    expect(confirm).to_be_visible()
    expect(confirm).not_to_be_checked()  # asked again, not carried over
    assert page.input_value("#id_ordering_provider_npi") == "1234567893"
    assert page.input_value("#id_indication") == "R11.2"
    assert Order.objects.filter(encounter=visit).count() == 1
    confirm.check()
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=Order entered")
    second = Order.objects.filter(encounter=visit).latest("pk")
    assert second.duplicate_of == first

    # The pharmacist verifying it is told the desk confirmed a duplicate.
    page.context.clear_cookies()
    sign_in(page, live_server, "pharmacist")
    page.goto(f"{live_server.url}/pharmacy/orders/")
    said = page.locator(f"#order-{second.pk} [data-testid=order-duplicate]")
    expect(said).to_contain_text(f"Entered as a second order beside O{first.pk}")
    expect(said).to_contain_text("confirmed by clerk")
    expect(page.locator(f"#order-{first.pk} [data-testid=order-duplicate]")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-queue-duplicate-confirmed.png"), full_page=True)


def test_words_in_the_indication_are_refused_as_typed_and_on_submit(
    browser_page, live_server, visit
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    order_form_opened(page, live_server, visit)
    ondansetron(page, indication="thyroid")
    indication_check = page.get_by_test_id("indication-check")
    expect(indication_check).to_have_text(THYROID)  # as typed, before any submit
    page.click("button:has-text('Enter the order')")
    expect(page.locator("[id^=error_][id$=_id_indication]").first).to_have_text(THYROID)
    assert page.input_value("#id_indication") == "thyroid"
    assert not Order.objects.filter(encounter=visit).exists()

    page.wait_for_load_state("load")  # htmx listens once the page's scripts ran
    page.fill("#id_indication", "")
    page.fill("#id_indication", "thyroid")
    page.wait_for_selector("#icd10-options option", state="attached")
    suggestion = page.eval_on_selector("#icd10-options option", "o => o.value")
    assert suggestion == "C73 Malignant neoplasm of thyroid gland"
    page.fill("#id_indication", suggestion)
    expect(indication_check).to_have_text("")
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=Order entered")
    assert Order.objects.get(encounter=visit).indication_code == "C73"
