"""A pharmacist tags an untagged drug from the worklist in real Chromium; the coder then sees
the charge that DOC-4 had blocked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from coding.models import ChargeRun
from coding.services import charge_run_generate
from mar.models import Encounter
from mar.pharmacy.formulary import formulary_load_csv
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_out(page) -> None:
    page.click("nav form button[type=submit]")
    page.wait_for_selector("input[name=username]")


def blocked_encounter(nurse) -> Encounter:
    """Signed, with a 90-minute teprotumumab infusion no pharmacist has classified (DOC-4)."""
    encounter = factories.encounter_create()
    site = factories.site_create(encounter)
    drug = factories.drug_get("teprotumumab", None)
    order = factories.order_create(encounter, drug, indication="E05.00", dose="10 mg/kg")
    factories.administration_create(
        encounter,
        order,
        site=site,
        start=factories.MORNING,
        stop=factories.MORNING + timedelta(minutes=90),
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now()
    )
    charge_run_generate(encounter_id=encounter.pk)
    return encounter


def test_tagging_from_the_worklist_unblocks_the_coders_charge(browser_page, live_server) -> None:
    formulary_load_csv()
    nurse = factories.user_create(username="nurse-p", role="nurse")
    factories.user_create(username="pharm-p", role="pharmacist")
    factories.user_create(username="coder-p", role="coder")
    encounter = blocked_encounter(nurse)
    blocked_run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert not blocked_run.lines.exists()
    page = browser_page

    # Before: the coder sees no administration charge for this encounter.
    sign_in(page, live_server, "coder-p")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    assert "96365" not in page.content()
    sign_out(page)

    # The pharmacist lands on the worklist and tags the drug (htmx, no page load).
    sign_in(page, live_server, "pharm-p")
    page.wait_for_url("**/pharmacy/")
    card = page.locator("[data-testid=untagged-drug][data-drug=teprotumumab]")
    assert card.count() == 1
    assert "1 signed encounter waiting for charges" in card.inner_text()
    card.locator("select[name=drug_class]").select_option("therapeutic")
    card.locator("input[name=reason]").fill("IGF-1R monoclonal antibody for thyroid eye disease")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-worklist-before.png"), full_page=True)
    card.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=tagged-drug]")
    assert page.url.endswith("/pharmacy/")  # swapped in place
    assert page.inner_text("[data-testid=untagged-count]") == "0"
    assert "Charges regenerating for 1 signed encounter" in page.content()
    # The recent decisions below are swapped out of band: the tag is there without a reload.
    decisions = page.locator("[data-testid=recent-class-decisions]")
    assert "None yet" not in decisions.inner_text()
    assert "teprotumumab" in decisions.locator("[data-testid=class-decision]").first.inner_text()
    assert page.locator("[data-testid=recent-class-decisions]").count() == 1
    page.screenshot(path=str(ARTIFACTS / "pharmacy-worklist.png"), full_page=True)

    # The formulary with the class editable inline.
    # At tablet width (768 px), as a pharmacist on the ward would use it.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{live_server.url}/pharmacy/formulary/?q=leuprolide")
    row = page.locator("[data-testid=drug-row][data-drug='leuprolide (oncology)']")
    row.locator("a", has_text="Change").click()
    page.wait_for_selector("[data-testid=drug-row-edit]")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-formulary.png"), full_page=True)
    sign_out(page)

    # The coder now sees the charge the class unblocked.
    sign_in(page, live_server, "coder-p")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    page.wait_for_selector("text=96365")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-coder-charges.png"), full_page=True)
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert run.trigger == ChargeRun.Trigger.CLASS_CHANGE
