"""In real Chromium: the plain forms keep what was typed when the session ended (QA, high: a
verbal order typed on the order entry form, pressed after the session ended, went to a bare
"Sign in" page and came back empty, and no order was entered). Now the press asks first
(`data-session-check`, static/js/session.js): the sign-in box opens over the page, in the
page's own words, what was typed stays, and once signed in the form goes, once. Screenshots go
to test-artifacts/."""

import pytest
from django.urls import reverse

from mar.models import DrugNdc, Order
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 20_000


def signed_out_here(page) -> None:
    """The session cookie gone (as QA did: the idle sign-off's effect on this browser)."""
    page.context.clear_cookies(name="sessionid")


def sign_in_in_the_box(page, username: str) -> None:
    from playwright.sync_api import expect

    dialog = page.locator("[data-testid=session-dialog]")
    expect(dialog.locator("#session-username")).to_have_value(username)
    dialog.locator("#session-password").fill(factories.PASSWORD)
    dialog.locator("[data-testid=session-sign-in]").click()


def fill_order(page) -> None:
    page.fill("#id_drug", "oxaliplatin")
    page.fill("#id_dose_value", "85")
    page.select_option("#id_dose_basis", "per_m2")
    page.fill("#id_duration_minutes", "120")
    page.fill("#id_indication", "C18.9 Malignant neoplasm of colon, unspecified")
    page.fill("#id_ordering_provider", "Dr. Amara Okafor")
    page.fill("#id_ordering_provider_npi", "1234567893")
    page.select_option("#id_entry_method", "verbal")
    page.locator("#id_entry_method").blur()
    page.wait_for_load_state("networkidle")  # the fields' own checks answered


def test_a_verbal_order_pressed_after_the_session_ended_is_entered_once_after_signing_in(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="clerk-s", role="clerk")
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, "clerk-s")
    page.goto(f"{live_server.url}{reverse('registration:order_new', args=[encounter.pk])}")
    fill_order(page)

    signed_out_here(page)
    page.click("button:has-text('Enter the order')")
    dialog = page.locator("[data-testid=session-dialog]")
    expect(dialog).to_be_visible(timeout=WAIT)
    # The order form's own words, not the nurse's cards.
    why = dialog.locator("[data-testid=session-why]")
    expect(why).to_contain_text("the order as you typed it is kept on this page")
    expect(why).to_contain_text("it is entered then, once")
    expect(why).not_to_contain_text("cards")
    assert not Order.objects.exists()
    # What was typed is still in the page, under the box.
    expect(page.locator("#id_ordering_provider_npi")).to_have_value("1234567893")
    page.screenshot(path=str(ARTIFACTS / "forms-session-order-dialog.png"), full_page=True)

    sign_in_in_the_box(page, "clerk-s")
    page.wait_for_selector("text=waiting for pharmacy", timeout=WAIT)
    page.screenshot(path=str(ARTIFACTS / "forms-session-order-entered.png"), full_page=True)
    order = Order.objects.get(encounter=encounter)
    assert (order.drug.name, order.dose, order.duration_minutes) == ("oxaliplatin", "85 mg/m²", 120)
    assert (order.indication_code, order.entry_method) == ("C18.9", "verbal")
    assert order.ordering_provider == "Dr. Amara Okafor"
    assert order.ordering_provider_npi == "1234567893"
    assert order.entered_by.username == "clerk-s"
    assert page.url.endswith(reverse("registration:visit", args=[encounter.pk]))


def test_an_order_pressed_twice_is_entered_once(browser_page, live_server) -> None:
    """Two presses in a row (a double tap, or a second press while the page is slow): one post,
    one order; the form's key would refuse a second post anyway (test_order_once)."""
    factories.user_create(username="nurse-d", role="nurse")
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, "nurse-d")
    page.goto(
        f"{live_server.url}{reverse('registration:order_new', args=[encounter.pk])}?from=chart"
    )
    fill_order(page)
    posts = []
    page.on(
        "request",
        lambda r: posts.append(r.url) if r.method == "POST" and "/orders/new/" in r.url else None,
    )
    page.dblclick("button:has-text('Enter the order')")
    page.wait_for_url(lambda url: "/mar/encounters/" in url, timeout=WAIT)
    page.wait_for_load_state("networkidle")
    assert len(posts) == 1
    assert Order.objects.filter(encounter=encounter).count() == 1


def test_an_ndc_correction_pressed_after_the_session_ended_is_saved_once_after_signing_in(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="pharm-s", role="pharmacist")
    mesna = factories.drug_get("mesna", "therapeutic")
    vial = DrugNdc.objects.create(
        drug=mesna, ndc="01234567892", package_description="10 mL vial", unit="ML"
    )
    page = browser_page
    sign_in(page, live_server, "pharm-s")
    page.goto(f"{live_server.url}/pharmacy/drugs/{mesna.pk}/")
    row = page.locator('tr[data-ndc="01234-5678-92"]')
    row.locator("[data-testid=ndc-edit-open]").click()
    form = row.locator("[data-testid=ndc-edit-form]")
    form.locator(f"[name=e{vial.pk}-unit]").select_option("UN")
    form.locator(f"[name=e{vial.pk}-units_per_billing_unit]").fill("2")
    form.locator(f"[name=e{vial.pk}-reason]").fill("Label read again: 2 units a vial")

    action = live_server.url + form.get_attribute("action")
    posts = []
    page.on(
        "request", lambda r: posts.append(r.url) if r.method == "POST" and r.url == action else None
    )
    signed_out_here(page)
    form.locator("[data-testid=ndc-edit]").click()
    dialog = page.locator("[data-testid=session-dialog]")
    expect(dialog).to_be_visible(timeout=WAIT)
    why = dialog.locator("[data-testid=session-why]")
    expect(why).to_contain_text("the form you pressed (an NDC and its reason")
    expect(why).not_to_contain_text("cards")
    vial.refresh_from_db()
    assert (vial.unit, vial.units_per_billing_unit) == ("ML", None)  # not saved yet
    page.screenshot(path=str(ARTIFACTS / "forms-session-ndc-dialog.png"), full_page=True)

    sign_in_in_the_box(page, "pharm-s")
    expect(page.locator(".alert-success")).to_contain_text(
        "NDC 01234-5678-92 corrected", timeout=WAIT
    )
    page.screenshot(path=str(ARTIFACTS / "forms-session-ndc-saved.png"), full_page=True)
    vial.refresh_from_db()
    assert (vial.unit, vial.units_per_billing_unit) == ("UN", 2)
    assert posts == [action]  # sent once: after signing in, never while signed out


def test_without_javascript_an_order_sent_signed_out_comes_back_filled_and_is_entered_once(
    browser_page, live_server
) -> None:
    """No JavaScript, no box: the post goes to the sign-in page, which says what was typed is
    kept; signed in again, the form's page comes back with it filled in and said at the top,
    never sent by itself; she presses once and the order is entered, once
    (config/form_refill.py)."""
    factories.user_create(username="clerk-n", role="clerk")
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    context = browser_page.context.browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "clerk-n")
        url = f"{live_server.url}{reverse('registration:order_new', args=[encounter.pk])}"
        page.goto(url)
        fill_order(page)
        page.screenshot(path=str(ARTIFACTS / "forms-session-no-js-typed.png"), full_page=True)
        context.clear_cookies(name="sessionid")
        page.click("button:has-text('Enter the order')")
        page.wait_for_selector("input[name=username]")
        said = page.inner_text("#messages")
        assert "before this form was sent: nothing of it was saved" in said
        assert "What you typed is kept for 15 minutes" in said
        page.screenshot(path=str(ARTIFACTS / "forms-session-no-js-sign-in.png"), full_page=True)
        page.fill("input[name=username]", "clerk-n")
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(url)
        assert not Order.objects.exists()  # back on the form: nothing sent by itself
        assert "You were signed out before this was sent. What you typed is below" in (
            page.inner_text("#messages")
        )
        assert page.input_value("#id_drug") == "oxaliplatin"
        assert page.input_value("#id_dose_value") == "85"
        assert page.input_value("#id_dose_basis") == "per_m2"
        assert page.input_value("#id_duration_minutes") == "120"
        assert page.input_value("#id_ordering_provider_npi") == "1234567893"
        assert page.input_value("#id_entry_method") == "verbal"
        page.screenshot(path=str(ARTIFACTS / "forms-session-no-js-refilled.png"), full_page=True)

        page.click("button:has-text('Enter the order')")
        page.wait_for_url(lambda u: "/orders/new/" not in u, timeout=WAIT)
        order = Order.objects.get(encounter=encounter)
        assert (order.drug.name, order.dose, order.entry_method) == (
            "oxaliplatin",
            "85 mg/m²",
            "verbal",
        )
        assert order.entered_by.username == "clerk-n"
        page.screenshot(path=str(ARTIFACTS / "forms-session-no-js-entered.png"), full_page=True)
        page.goto(url)  # the stash was used once: the form is empty again
        assert page.input_value("#id_ordering_provider_npi") == ""
        assert Order.objects.count() == 1
    finally:
        context.close()


def test_a_field_checked_while_signed_out_asks_to_sign_in_and_says_nothing_is_sent_yet(
    browser_page, live_server
) -> None:
    """The drug's check as it is typed (htmx) is refused when the session ended: the box opens
    then, saying nothing is sent until a button is pressed (not 'it is entered then': nothing
    was pressed), and nothing the clerk typed is lost; signed in, she enters it."""
    from playwright.sync_api import expect

    factories.user_create(username="clerk-f", role="clerk")
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, "clerk-f")
    page.goto(f"{live_server.url}{reverse('registration:order_new', args=[encounter.pk])}")
    # The dose's own live check (the duplicate and dose check, after a pause in typing) answered
    # while still signed in: the session then ends before the drug is typed, as the title says.
    with page.expect_response(lambda r: "/orders/check-duplicate/" in r.url):
        page.fill("#id_dose_value", "85")
    signed_out_here(page)
    page.fill("#id_drug", "oxaliplatin")
    page.locator("#id_drug").blur()
    dialog = page.locator("[data-testid=session-dialog]")
    expect(dialog).to_be_visible(timeout=WAIT)
    why = dialog.locator("[data-testid=session-why]")
    expect(why).to_contain_text("nothing is sent until you press a button")
    expect(why).not_to_contain_text("cards")
    page.screenshot(path=str(ARTIFACTS / "forms-session-field-check-dialog.png"))
    sign_in_in_the_box(page, "clerk-f")
    expect(dialog).to_be_hidden(timeout=WAIT)
    expect(page.locator("#id_dose_value")).to_have_value("85")
    assert not Order.objects.exists()
