"""Back to the engine's line, in real Chromium: the coder corrects 96415 (×2 to ×1), then takes
it back with "Back to the engine's line" and a reason; the page says so, the line is the
engine's again (×2, not marked corrected, no "Was" beside it), and her correction and her going
back stay under it with who, when and why."""

import re

import pytest
from django.urls import reverse

from coding.models import ChargeCorrection
from coding.review import review_claim
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coder_corrects_then_goes_back_and_sees_the_engines_line(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    coder = factories.user_create(username="coder-b", role="coder")
    encounter, run, item = reviewed()
    review_claim(user=coder, item_id=item.pk)
    review = reverse("coding:encounter_charges", args=[encounter.pk])
    page = browser_page
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}{review}")

    line = run.lines.get(code="96415")
    prefix = f"l{line.pk}"
    page.click("text=Correct 96415")
    page.fill(f"input[name='{prefix}-units']", "1")
    page.fill(f"textarea[name='{prefix}-reason']", "pump log: stopped at 11:40")
    form = page.locator("[data-testid=correct-form]", has=page.locator(f"#id_{prefix}-units"))
    form.locator("button[type=submit]").click()
    row = page.locator("[data-testid=charge-line][data-code='96415']")
    expect(row.locator("[data-testid=correction]")).to_contain_text("Was 96415 ×2 (engine)")

    page.click("text=Back to the engine's line (96415 ×2)")
    back = page.locator("[data-testid=back-form]")
    back.locator(f"textarea[name='b{line.pk}-reason']").fill("the pump log was misread")
    page.screenshot(path=str(ARTIFACTS / "coder-back-to-engine-form.png"), full_page=True)
    back.locator("button[type=submit]").click()
    expect(page.locator("#messages .alert-success")).to_have_text(
        "Line 96415 ×2 back to the engine's line (was corrected to 96415 ×1): the pump log "
        "was misread. It is sent as the engine's line; your correction stays in its history."
    )
    row = page.locator("[data-testid=charge-line][data-code='96415']")
    expect(row.locator("td").nth(1)).to_have_text("2")
    expect(row).not_to_have_class(re.compile(r"\bcharge-corrected\b"))
    expect(row.locator("[data-testid=correction]")).to_have_count(0)
    history = row.locator("[data-testid=line-back]")
    expect(history).to_contain_text("Corrected to 96415 ×1 — “pump log: stopped at 11:40”")
    expect(history).to_contain_text("back to the engine's line — “the pump log was misread”")
    expect(page.locator("[data-testid=back-form]")).to_have_count(0)
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "coder-back-to-engine.png"), full_page=True)
    assert ChargeCorrection.objects.get().state == ChargeCorrection.State.BACK
