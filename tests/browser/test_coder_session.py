"""A coder's session ends while she types a correction: nothing she typed is lost."""

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from coding.models import ChargeCorrection
from coding.review import review_claim
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 20_000


def test_a_correction_typed_when_the_session_ended_is_saved_after_signing_in_again(
    browser_page, live_server
) -> None:
    """Before: the post went to the sign-in page, which then led to the POST-only address (a
    405) and the reason typed was gone. Now the sign-in dialog opens over the page and the
    correction goes once she has signed in again."""
    from playwright.sync_api import expect

    coder = factories.user_create(username="coder-s", role="coder")
    encounter, run, item = reviewed()
    review_claim(user=coder, item_id=item.pk)
    page = browser_page
    sign_in(page, live_server, "coder-s")
    page.goto(f"{live_server.url}{reverse('coding:encounter_charges', args=[encounter.pk])}")
    line = run.lines.get(code="96415")
    page.click("text=Correct 96415")
    prefix = f"l{line.pk}"
    page.fill(f"input[name='{prefix}-units']", "1")
    page.fill(f"textarea[name='{prefix}-reason']", "pump log: stopped at 11:40, a long reason")

    Session.objects.all().delete()  # the idle sign-off, on the server
    page.locator(
        "[data-testid=correct-form]", has=page.locator(f"input[name='{prefix}-units']")
    ).locator("button[type=submit]").click()

    dialog = page.locator("[data-testid=session-dialog]")
    expect(dialog).to_be_visible(timeout=WAIT)
    expect(dialog.locator("#session-username")).to_have_value("coder-s")
    # In the coder's words, not the nurse's (QA: "changes typed in the cards are saved then").
    why = dialog.locator("[data-testid=session-why]")
    expect(why).to_contain_text("the form you pressed (a correction, a query")
    expect(why).not_to_contain_text("cards")
    assert not ChargeCorrection.objects.exists()
    page.screenshot(path=str(ARTIFACTS / "coder-session-dialog.png"))
    dialog.locator("#session-password").fill(factories.PASSWORD)
    dialog.locator("[data-testid=session-sign-in]").click()

    page.wait_for_selector("[data-testid=correction]", timeout=WAIT)
    correction = ChargeCorrection.objects.get()
    assert correction.corrected["units"] == 1
    assert correction.reason == "pump log: stopped at 11:40, a long reason"
    assert "Line 96415 ×2 corrected to 96415 ×1: pump log" in page.inner_text("body")


def test_without_javascript_a_correction_sent_signed_out_comes_back_in_its_open_fold(
    browser_page, live_server
) -> None:
    """No JavaScript: the session flushed on the server, the correction pressed goes to the
    sign-in page; signed in again, the review page comes back with the correction's fold open
    and what she typed in it, said at the top; she saves it, once (config/form_refill.py)."""
    coder = factories.user_create(username="coder-n", role="coder")
    encounter, run, item = reviewed()
    review_claim(user=coder, item_id=item.pk)
    context = browser_page.context.browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "coder-n")
        url = f"{live_server.url}{reverse('coding:encounter_charges', args=[encounter.pk])}"
        page.goto(url)
        line = run.lines.get(code="96415")
        page.click("text=Correct 96415")
        prefix = f"l{line.pk}"
        page.fill(f"input[name='{prefix}-units']", "1")
        page.fill(f"textarea[name='{prefix}-reason']", "pump log: stopped at 11:40, no JS")
        Session.objects.all().delete()  # the idle sign-off, on the server
        form = page.locator(
            "[data-testid=correct-form]", has=page.locator(f"input[name='{prefix}-units']")
        )
        form.locator("button[type=submit]").click()
        page.wait_for_selector("input[name=username]")
        assert "What you typed is kept for 15 minutes" in page.inner_text("#messages")
        page.fill("input[name=username]", "coder-n")
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(url)
        assert not ChargeCorrection.objects.exists()
        assert "What you typed is below" in page.inner_text("#messages")
        assert page.input_value(f"input[name='{prefix}-units']") == "1"
        reason = page.locator(f"textarea[name='{prefix}-reason']")
        assert reason.is_visible()  # its fold is open
        assert reason.input_value() == "pump log: stopped at 11:40, no JS"
        page.screenshot(path=str(ARTIFACTS / "coder-session-no-js-refilled.png"), full_page=True)
        form.locator("button[type=submit]").click()
        page.wait_for_selector("[data-testid=correction]", timeout=WAIT)
        correction = ChargeCorrection.objects.get()
        assert correction.corrected["units"] == 1
        assert correction.reason == "pump log: stopped at 11:40, no JS"
    finally:
        context.close()
