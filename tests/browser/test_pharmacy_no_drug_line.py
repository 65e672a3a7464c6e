"""The pharmacist says a drug has no drug line on purpose, in real Chromium: the worklist's
"Not billable" row leads to the drug's page, where a blank reason is refused beside the field
(the choice kept: the form is `novalidate`, so the server says it, not the browser's bubble);
saved, the drug is listed under "No drug line, by decision" with its reason and an Undo, which
puts it back under "Not billable"."""

import pytest

from mar.models import Drug, DrugClass
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = "Packaged under OPPS (status indicator N): premedication"


def test_the_pharmacist_decides_no_drug_line_and_undoes_it(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    pharmacist = factories.user_create(username="pharmacist-n", role="pharmacist")
    drug = factories.drug_get("diphenhydramine", DrugClass.THERAPEUTIC)
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/")
    expect(page.get_by_test_id("not-billable-drug")).to_have_count(1)
    page.get_by_test_id("no-drug-line-link").click()
    page.get_by_test_id("no-drug-line-open").click()
    page.check("input[name=reason][value=packaged]")
    page.get_by_test_id("no-drug-line-save").click()
    expect(page.locator("#no-drug-line .invalid-feedback")).to_contain_text("Say why in words")
    expect(page.locator("input[name=reason][value=packaged]")).to_be_checked()
    page.locator("input[name=note]").fill(WORDS)
    page.get_by_test_id("no-drug-line-save").click()
    expect(page.get_by_test_id("no-drug-line-decided")).to_contain_text(WORDS)
    assert Drug.objects.get(pk=drug.pk).no_drug_line == "packaged"
    page.goto(f"{live_server.url}/pharmacy/")
    expect(page.get_by_test_id("not-billable-drug")).to_have_count(0)
    expect(page.get_by_test_id("no-line-decided-drug")).to_contain_text("Packaged: no separate")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-no-drug-line.png"), full_page=True)
    page.get_by_test_id("no-line-undo").click()
    expect(page.get_by_test_id("not-billable-drug")).to_have_count(1)
    expect(page.get_by_test_id("no-line-decided")).to_have_count(0)
    assert Drug.objects.get(pk=drug.pk).no_drug_line == ""


def test_undo_the_decision_looks_like_an_active_button_on_the_grey_notice(
    browser_page, live_server
) -> None:
    """QA: "Undo the decision" was outline grey on the grey notice and looked disabled: it is
    filled, its background not the notice's, and enabled."""
    from playwright.sync_api import expect

    from mar.pharmacy.services import drug_no_line_decide

    pharmacist = factories.user_create(username="pharmacist-u", role="pharmacist")
    drug = factories.drug_get("diphenhydramine", DrugClass.THERAPEUTIC)
    drug_no_line_decide(drug=drug, reason="packaged", note=WORDS, user=pharmacist)
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/drugs/{drug.pk}/")
    undo = page.get_by_test_id("no-drug-line-undo")
    expect(undo).to_be_enabled()
    colour = "el => getComputedStyle(el).backgroundColor"
    notice = page.get_by_test_id("no-drug-line-decided").evaluate(colour)
    # Filled (an outline button's background is transparent: the notice's grey showed through).
    assert undo.evaluate(colour) not in (notice, "rgba(0, 0, 0, 0)", "transparent")
    assert undo.evaluate("el => getComputedStyle(el).color") != notice
    undo.click()
    expect(page.get_by_test_id("no-drug-line-decided")).to_have_count(0)
