"""The pharmacist's Return, in real Chromium: a blank reason is said beside the field; with a
reason, the order leaves the queue for "Returned, waiting for the prescriber" (listed once, out of
band; the counts follow); the nurse's chart then says "Returned by pharmacy" on the order's card
and its Start now is disabled (a start tapped on a chart drawn before the return is refused beside
the start form). Its Withdraw return… puts it back among those to verify, and the chart no longer
says "Returned": Start now is enabled again."""

import re

import pytest

from mar.models import Administration
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Dose over the maximum for BSA 1.6 m2: please review"
REFUSED = "Returned by pharmacy: call pharmacy; it can start once the order is changed or verified."


def test_a_return_moves_the_order_to_the_returned_and_the_chart_refuses_its_start(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    pharmacist = factories.user_create(username="pharmacist-r", role="pharmacist")
    nurse = factories.user_create(username="nurse-r", role="nurse")
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    row = page.locator(f"#order-{order.pk}").first
    row.get_by_test_id("order-return-open").click()
    row.get_by_test_id("order-return").click()
    error = page.locator(f"#order-{order.pk} [data-testid=order-return-reason-error]")
    expect(error).to_contain_text("Say why the order goes back to the prescriber")
    row = page.locator(f"#order-{order.pk}").first
    row.locator("textarea[name=reason]").fill(REASON)
    row.get_by_test_id("order-return").click()
    expect(page.get_by_test_id("order-return-done")).to_have_count(1)
    returned = page.locator("#returned-orders")
    expect(returned.locator(f"#order-{order.pk} [data-testid=order-returned]")).to_contain_text(
        REASON
    )
    expect(page.locator(f"#order-{order.pk}")).to_have_count(1)  # listed once
    expect(page.locator("#to-verify-count")).to_have_text("1")  # the running carboplatin
    expect(page.locator("#returned-count")).to_have_text("1")
    expect(page.locator("#returned-count")).to_have_class(re.compile(r"\btext-bg-danger\b"))
    page.screenshot(path=str(ARTIFACTS / "pharmacy-return.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"div.order-row#order-{order.pk}")
    expect(card.get_by_test_id("order-returned")).to_contain_text(
        f"Returned by pharmacy: {REASON} (pharmacist-r, "
    )
    expect(card.get_by_test_id("return-gate")).to_contain_text(REFUSED)
    # A tap that can only be refused is not offered: Start now is disabled, the gate says why.
    expect(card.get_by_test_id("start")).to_be_disabled()
    card.locator(f"input[name='o{order.pk}-at']").press("Enter")  # nor sent by Enter
    page.screenshot(path=str(ARTIFACTS / "chart-returned-order.png"), full_page=True)
    expect(card.get_by_test_id("start-refused")).to_have_count(0)
    assert not Administration.objects.filter(order=order).exists()


def test_an_order_returned_while_the_chart_is_open_is_refused_and_its_start_then_disabled(
    browser_page, live_server
) -> None:
    """The chart was drawn before the return: the tap is refused beside the start (read again
    under the start's lock), and the answer draws Start now disabled (not enabled again when
    the request ends, as an action's buttons are)."""
    from playwright.sync_api import expect

    from mar.pharmacy.services import order_return

    pharmacist = factories.user_create(username="pharmacist-o", role="pharmacist")
    nurse = factories.user_create(username="nurse-o", role="nurse")
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"div.order-row#order-{order.pk}")
    expect(card.get_by_test_id("start")).to_be_enabled()
    order_return(order=order, reason=REASON, user=pharmacist)
    card.locator(f"select[name='o{order.pk}-method']").select_option("push")
    # The request's end, when an action's buttons are enabled again (static/js/chart.js).
    page.evaluate(
        """form => { window.startEnded = new Promise(done => document.querySelector(form)
            .addEventListener("htmx:afterRequest", () => done(true), {once: true})); }""",
        f"#order-{order.pk} form.order-start",
    )
    card.get_by_test_id("start").click()
    assert page.evaluate("window.startEnded")
    expect(card.get_by_test_id("start-refused")).to_contain_text(REFUSED)
    expect(card.get_by_test_id("start")).to_be_disabled()
    assert not Administration.objects.filter(order=order).exists()


WHY = "The prescriber confirmed the dose by phone"


def test_a_return_withdrawn_puts_the_order_back_to_verify_and_the_chart_no_longer_says_returned(
    browser_page, live_server
) -> None:
    """Withdraw return…: a blank reason is said beside the field; with one, the order leaves
    "Returned, waiting for the prescriber" for the orders to verify (out of band; the counts
    follow) and the nurse's card no longer says "Returned by pharmacy"."""
    from playwright.sync_api import expect

    from mar.pharmacy.services import order_return

    pharmacist = factories.user_create(username="pharmacist-w", role="pharmacist")
    nurse = factories.user_create(username="nurse-w", role="nurse")
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    order_return(order=order, reason=REASON, user=pharmacist)
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    expect(page.locator("#returned-count")).to_have_text("1")
    row = page.locator(f"#returned-orders #order-{order.pk}")
    row.get_by_test_id("order-return-withdraw-open").click()
    row.get_by_test_id("order-return-withdraw").click()
    error = page.locator(f"#order-{order.pk} [data-testid=order-return-withdraw-reason-error]")
    expect(error).to_contain_text("Say why the return is withdrawn")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-return-withdraw-reason.png"), full_page=True)
    row = page.locator(f"#returned-orders #order-{order.pk}")
    row.locator("textarea[name=reason]").fill(WHY)
    row.get_by_test_id("order-return-withdraw").click()
    expect(page.get_by_test_id("order-return-withdrawn")).to_contain_text(
        "is back above, among the orders to verify"
    )
    to_verify = page.locator("#to-verify-orders")
    expect(to_verify.locator(f"#order-{order.pk} [data-testid=order-verify]")).to_be_visible()
    expect(page.locator(f"#order-{order.pk}")).to_have_count(1)  # listed once
    expect(page.locator("#to-verify-count")).to_have_text("2")  # and the running carboplatin
    expect(page.locator("#returned-count")).to_have_text("0")
    expect(page.locator("#returned-count")).to_have_class(re.compile(r"\btext-bg-secondary\b"))
    page.screenshot(path=str(ARTIFACTS / "pharmacy-return-withdrawn.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"div.order-row#order-{order.pk}")
    expect(card.get_by_test_id("order-unverified")).to_be_visible()
    expect(card.get_by_test_id("order-returned")).to_have_count(0)
    expect(card.get_by_test_id("return-gate")).to_have_count(0)
    expect(card.get_by_test_id("start")).to_be_enabled()  # the start is offered again
    page.screenshot(path=str(ARTIFACTS / "chart-return-withdrawn.png"), full_page=True)


def test_what_is_typed_in_another_row_stays_when_a_return_or_its_withdrawal_redraws_the_lists(
    browser_page, live_server
) -> None:
    """Nothing typed is lost: a withdrawal redraws the orders to verify and a return redraws the
    returned ones (out of band); a reason typed and not sent in another row of those lists, in
    its open Return… or Withdraw return…, is still there, open, after each (morphed in)."""
    from playwright.sync_api import expect

    from mar.pharmacy.services import order_return

    pharmacist = factories.user_create(username="pharmacist-t", role="pharmacist")
    encounter, _adm = running_visit()
    drug = factories.drug_get("ondansetron")
    typing, to_return, returned, withdrawn = (
        factories.order_create(encounter, drug, dose=dose)
        for dose in ("4 mg", "8 mg", "12 mg", "16 mg")
    )
    for order in (returned, withdrawn):
        order_return(order=order, reason=REASON, user=pharmacist)
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")

    # A return reason typed, not sent, in a row to verify; another row's return withdrawn.
    row = page.locator(f"#to-verify-orders #order-{typing.pk}")
    row.get_by_test_id("order-return-open").click()
    row.locator("textarea[name=reason]").fill("Half typed: the dose is")
    other = page.locator(f"#returned-orders #order-{withdrawn.pk}")
    other.get_by_test_id("order-return-withdraw-open").click()
    other.locator("textarea[name=reason]").fill(WHY)
    other.get_by_test_id("order-return-withdraw").click()
    expect(page.get_by_test_id("order-return-withdrawn")).to_have_count(1)
    expect(page.locator(f"#to-verify-orders #order-{withdrawn.pk}")).to_have_count(1)
    kept = page.locator(f"#to-verify-orders #order-{typing.pk} textarea[name=reason]")
    expect(kept).to_have_value("Half typed: the dose is")
    expect(kept).to_be_visible()  # its Return… still open

    # A withdrawal reason typed, not sent, in a returned row; another order returned.
    row = page.locator(f"#returned-orders #order-{returned.pk}")
    row.get_by_test_id("order-return-withdraw-open").click()
    row.locator("textarea[name=reason]").fill("Prescriber called back, waiting")
    other = page.locator(f"#to-verify-orders #order-{to_return.pk}")
    other.get_by_test_id("order-return-open").click()
    other.locator("textarea[name=reason]").fill(REASON)
    other.get_by_test_id("order-return").click()
    expect(page.get_by_test_id("order-return-done")).to_have_count(1)
    expect(page.locator(f"#returned-orders #order-{to_return.pk}")).to_have_count(1)
    kept = page.locator(f"#returned-orders #order-{returned.pk} textarea[name=reason]")
    expect(kept).to_have_value("Prescriber called back, waiting")
    expect(kept).to_be_visible()
    expect(page.locator(f"#order-{to_return.pk}")).to_have_count(1)  # listed once
    expect(page.locator(f"#order-{withdrawn.pk}")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-typed-kept.png"), full_page=True)


def test_a_return_withdrawn_in_the_pharmacy_offers_start_on_the_open_chart_without_a_reload(
    browser_page, live_server
) -> None:
    """Bedside finding 3: the nurse's chart is open with the returned order's Start now disabled;
    the pharmacist withdraws the return on her own screen (another browser context); at the
    checklist's next refresh the chart is drawn again, morphed in (no reload: what the nurse typed
    stays): the order no longer says "Returned" and Start now is enabled. Returned again, the
    next refresh disables it."""
    from playwright.sync_api import expect

    from mar.pharmacy.services import order_return

    pharmacist = factories.user_create(username="pharmacist-live", role="pharmacist")
    nurse = factories.user_create(username="nurse-live", role="nurse")
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    order_return(order=order, reason=REASON, user=pharmacist)

    page = browser_page
    page.clock.install()
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"div.order-row#order-{order.pk}")
    expect(card.get_by_test_id("start")).to_be_disabled()
    expect(card.get_by_test_id("return-gate")).to_contain_text(REFUSED)
    page.evaluate("window.notReloaded = true")
    typed = page.locator("[data-testid=sign-form] [name^=ack_]").first
    typed.fill("typed before the withdrawal")

    other = page.context.browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        desk = other.new_page()
        sign_in(desk, live_server, pharmacist.username)
        desk.goto(f"{live_server.url}/pharmacy/orders/")
        row = desk.locator(f"#returned-orders #order-{order.pk}")
        row.get_by_test_id("order-return-withdraw-open").click()
        row.locator("textarea[name=reason]").fill(WHY)
        row.get_by_test_id("order-return-withdraw").click()
        expect(desk.get_by_test_id("order-return-withdrawn")).to_have_count(1)
        desk.screenshot(path=str(ARTIFACTS / "pharmacy-return-withdrawn-live.png"))
    finally:
        other.close()

    with page.expect_response(lambda r: "/checklist/" in r.url):
        page.clock.run_for(61_000)
    expect(card.get_by_test_id("start")).to_be_enabled()
    expect(card.get_by_test_id("return-gate")).to_have_count(0)
    expect(card.get_by_test_id("order-returned")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True  # drawn again in place, not reloaded
    expect(typed).to_have_value("typed before the withdrawal")
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "chart-return-withdrawn-live.png"))

    order_return(order=order, reason=REASON, user=pharmacist)
    with page.expect_response(lambda r: "/checklist/" in r.url):
        page.clock.run_for(61_000)
    expect(card.get_by_test_id("start")).to_be_disabled()
    expect(card.get_by_test_id("return-gate")).to_contain_text(REFUSED)
