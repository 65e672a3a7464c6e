"""QA walkthrough, in real Chromium: the coder corrects the only drug line to its waste alone (JW)
with a ~1,700-character reason. The edit EDIT-JW-NO-DOSE is listed under "Edits before export"
(it said "None: nothing blocks export"); the line's row keeps a sensible height, the reason's
head shown twice at most and the whole behind "Show all"; the banner repeats only its head."""

import pytest
from django.urls import reverse

from coding.review import review_claim
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = "Vial opened for the 300 mg dose; the pharmacist confirmed the amount discarded. "
LONG = (WORDS * 22)[:1700].strip()


@pytest.mark.parametrize("width", [1440, 768])
def test_a_jw_line_alone_is_held_and_a_long_reason_stays_folded(
    browser_page, live_server, width
) -> None:
    from playwright.sync_api import expect

    coder = factories.user_create(username=f"coder-jw{width}", role="coder")
    encounter, run, item = reviewed(billable=True)  # paclitaxel J9267 ×300, waste not charted
    review_claim(user=coder, item_id=item.pk)
    line = run.lines.get(code="J9267")
    prefix = f"l{line.pk}"
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}{reverse('coding:encounter_charges', args=[encounter.pk])}")
    expect(page.locator("[data-testid=edits]")).to_contain_text("None: nothing blocks export.")

    page.click("text=Correct J9267")
    page.fill(f"input[name='{prefix}-units']", "20")
    page.fill(f"input[name='{prefix}-modifiers']", "jw")
    page.fill(f"textarea[name='{prefix}-reason']", LONG)
    form = page.locator("[data-testid=correct-form]", has=page.locator(f"#id_{prefix}-units"))
    form.locator("button[type=submit]").click()

    banner = page.locator("#messages .alert-success")
    expect(banner).to_contain_text("Line J9267 ×300 corrected to J9267 ×20 JW: Vial opened")
    expect(banner).to_contain_text("… The original is kept beside it.")
    assert len(banner.inner_text()) < 300
    edits = page.locator("[data-testid=edits]")
    expect(edits).to_contain_text("EDIT-JW-NO-DOSE")
    expect(edits).to_contain_text("J9267-JW ×20 on 2026-03-02 bills the amount discarded")
    expect(edits).not_to_contain_text("nothing blocks export")

    row = page.locator("[data-testid=charge-line][data-code=J9267]")
    expect(row.locator("[data-testid=correction-reason]")).to_contain_text(
        f"Show all ({len(LONG)} characters)"
    )
    page.screenshot(path=str(ARTIFACTS / f"coder-jw-long-reason-{width}.png"), full_page=True)
    # The heads, not 2 × 1,700 characters (QA: thousands of pixels tall).
    assert row.bounding_box()["height"] < 700

    row.locator("[data-testid=correction-reason] summary").click()
    expect(row.locator("[data-testid=correction-reason-all]")).to_be_visible()
    expect(row.locator("[data-testid=correction-reason-all]")).to_have_text(LONG)
    expect(row.locator("[data-testid=correction-reason] .text-clamp-close")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"coder-jw-long-reason-open-{width}.png"), full_page=True)
