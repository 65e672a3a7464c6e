"""A first class needs its evidence, in real Chromium (QA: "Chemotherapy / highly complex" tagged
from the worklist with the Evidence box empty was stored as "First classification."). The tag is
refused beside the evidence field, the class chosen kept; the form is live again (QA: after the
htmx answer a second attempt hit a dead button), and with the evidence typed the drug is tagged."""

import pytest

from mar.models import Drug, DrugClassChange
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVIDENCE = "NCCN Compendium 2A; FDA label: alkylating agent"


def test_a_tag_without_evidence_is_refused_beside_the_field_and_the_form_stays_live(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="pharm-e", role="pharmacist")
    drug = factories.drug_get("bendamustine", None)
    page = browser_page
    sign_in(page, live_server, "pharm-e")
    page.goto(f"{live_server.url}/pharmacy/")
    card = page.locator("[data-testid=untagged-drug][data-drug=bendamustine]")
    card.locator("select[name=drug_class]").select_option("chemo")
    card.get_by_role("button", name="Tag").click()

    error = card.get_by_test_id("reason-error")
    expect(error).to_contain_text("Say what the class rests on:")
    reason = card.locator("input[name=reason]")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(card.locator("select[name=drug_class]")).to_have_value("chemo")  # kept
    button = card.get_by_role("button", name="Tag")
    expect(button).to_be_enabled()
    page.screenshot(path=str(ARTIFACTS / "pharmacy-tag-evidence-refused.png"), full_page=True)
    assert Drug.objects.get(pk=drug.pk).drug_class is None

    reason.fill(EVIDENCE)
    button.click()
    expect(page.get_by_test_id("tagged-drug")).to_contain_text("bendamustine")
    expect(page.get_by_test_id("untagged-count")).to_have_text("0")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-tag-evidence-done.png"), full_page=True)
    drug.refresh_from_db()
    assert (drug.drug_class, drug.class_note) == ("chemo", EVIDENCE)
    assert DrugClassChange.objects.get(drug=drug).reason == EVIDENCE


def test_evidence_typed_while_the_refused_tag_is_on_its_way_is_kept(
    browser_page, live_server
) -> None:
    """Tag pressed with the evidence empty, the evidence typed while the answer is on its way
    (the button waits, the field does not): the refusal comes back around what she typed, and
    the button takes it."""
    from playwright.sync_api import expect

    factories.user_create(username="pharm-e2", role="pharmacist")
    drug = factories.drug_get("bendamustine", None)
    page = browser_page
    sign_in(page, live_server, "pharm-e2")
    page.goto(f"{live_server.url}/pharmacy/")
    held = []
    page.route("**/pharmacy/drugs/*/class/", lambda route: held.append(route))
    card = page.locator("[data-testid=untagged-drug][data-drug=bendamustine]")
    card.locator("select[name=drug_class]").select_option("chemo")
    button = card.get_by_role("button", name="Tag")
    button.click()
    expect(button).to_be_disabled()  # on its way
    card.locator("input[name=reason]").fill(EVIDENCE)
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/pharmacy/drugs/*/class/")

    expect(card.get_by_test_id("reason-error")).to_contain_text("Say what the class rests on:")
    expect(card.locator("input[name=reason]")).to_have_value(EVIDENCE)  # kept
    expect(button).to_be_enabled()
    page.screenshot(path=str(ARTIFACTS / "pharmacy-tag-evidence-typed-meanwhile.png"))
    button.click()
    expect(page.get_by_test_id("tagged-drug")).to_contain_text("bendamustine")
    drug.refresh_from_db()
    assert (drug.drug_class, drug.class_note) == ("chemo", EVIDENCE)
