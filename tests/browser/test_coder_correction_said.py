"""A coder's line correction, in real Chromium (QA walkthrough): one that goes through says which
line became what and why at the top of the review page; one refused comes back with the errors
beside the fields and what was typed, and the address bar says the review page's address, not
the post's (…/lines/<n>/, where a reload posted the correction again)."""

import re

import pytest
from django.urls import reverse

from coding.models import ChargeCorrection
from coding.review import review_claim
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_correction_says_what_it_did_and_a_refused_one_leaves_the_review_pages_address(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    coder = factories.user_create(username="coder-c", role="coder")
    encounter, run, item = reviewed()
    review_claim(user=coder, item_id=item.pk)
    review = reverse("coding:encounter_charges", args=[encounter.pk])
    page = browser_page
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}{review}")

    line = run.lines.get(code="96413")
    prefix = f"l{line.pk}"
    page.click("text=Correct 96413")
    page.fill(f"input[name='{prefix}-code']", "")
    page.fill(f"textarea[name='{prefix}-reason']", "typed before the refusal")
    form = page.locator("[data-testid=correct-form]", has=page.locator(f"#id_{prefix}-code"))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    form = page.locator("[data-testid=correct-form]", has=page.locator(f"#id_{prefix}-code"))
    expect(form).to_contain_text("A changed line needs its code.")
    expect(form.locator(f"textarea[name='{prefix}-reason']")).to_have_value(
        "typed before the refusal"
    )
    assert page.url == f"{live_server.url}{review}"
    page.screenshot(path=str(ARTIFACTS / "coder-correction-refused.png"))
    page.reload()
    expect(page.get_by_text("A changed line needs its code.")).to_have_count(0)  # read, not posted
    assert not ChargeCorrection.objects.exists()

    line = run.lines.get(code="96415")
    prefix = f"l{line.pk}"
    page.click("text=Correct 96415")
    page.fill(f"input[name='{prefix}-units']", "1")
    page.fill(f"textarea[name='{prefix}-reason']", "pump log: stopped at 11:40")
    form = page.locator("[data-testid=correct-form]", has=page.locator(f"#id_{prefix}-units"))
    form.locator("button[type=submit]").click()
    expect(page.locator("#messages .alert-success")).to_have_text(
        "Line 96415 ×2 corrected to 96415 ×1: pump log: stopped at 11:40. "
        "The original is kept beside it."
    )
    assert re.fullmatch(rf"{re.escape(live_server.url + review)}", page.url)
    page.screenshot(path=str(ARTIFACTS / "coder-correction-said.png"))
    assert ChargeCorrection.objects.get().corrected["units"] == 1
