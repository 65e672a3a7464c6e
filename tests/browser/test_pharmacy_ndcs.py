"""In real Chromium: a pharmacist retires a drug's preferred NDC from the drug's page (the
reason asked for, said beside the field when missing), makes another preferred; at the bedside
a nurse's scan of the retired package stops as retired, with the pharmacist's reason.
Screenshots go to test-artifacts/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import DrugNdc
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_out(page) -> None:
    page.click("nav form button[type=submit]")
    page.wait_for_selector("input[name=username]")


def test_a_pharmacist_retires_an_ndc_and_the_bedside_scan_says_it_is_retired(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="pharm-n", role="pharmacist")
    factories.user_create(username="nurse-n", role="nurse")
    ondansetron = factories.drug_get("ondansetron")
    vial = DrugNdc.objects.create(
        drug=ondansetron, ndc="01234567890", package_description="20 mL vial", preferred=True
    )
    DrugNdc.objects.create(drug=ondansetron, ndc="01234567891", package_description="2 mL vial")
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    factories.order_create(encounter, ondansetron, dose="8 mg")
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 900})

    sign_in(page, live_server, "pharm-n")
    page.goto(f"{live_server.url}/pharmacy/drugs/{ondansetron.pk}/")
    row = page.locator('tr[data-ndc="01234-5678-90"]')
    expect(row.locator("[data-testid=ndc-status]")).to_contain_text("preferred")
    row.locator("[data-testid=ndc-retire-open]").click()
    # Nothing typed: the browser asks for the reason first (the field is required).
    row.locator("[data-testid=ndc-retire]").click()
    assert row.locator("input[type=text]").evaluate("e => !e.validity.valid")
    row.locator("input[type=text]").fill("Recalled by the maker")
    row.locator("[data-testid=ndc-retire]").click()
    expect(page.locator(".alert-success")).to_contain_text("NDC 01234-5678-90 retired")
    expect(page.locator(".alert-success")).to_contain_text("now carry 01234-5678-91")
    row = page.locator('tr[data-ndc="01234-5678-90"]')
    expect(row.locator("[data-testid=ndc-retired]")).to_contain_text("Recalled by the maker")
    expect(row.locator("[data-testid=ndc-reactivate]")).to_be_visible()

    other = page.locator('tr[data-ndc="01234-5678-91"]')
    other.locator("[data-testid=ndc-prefer]").click()
    expect(page.locator(".alert-success")).to_contain_text("is now preferred")
    expect(page.locator('tr[data-ndc="01234-5678-91"] [data-testid=ndc-status]')).to_contain_text(
        "preferred"
    )
    page.screenshot(path=str(ARTIFACTS / "pharmacy-ndc-retired.png"), full_page=True)
    vial.refresh_from_db()
    assert (vial.active, vial.preferred, vial.retired_by.username) == (False, False, "pharm-n")
    sign_out(page)

    sign_in(page, live_server, "nurse-n")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    page.locator("[data-scan-field]").fill("01234-5678-90")
    page.keyboard.press("Enter")
    result = page.locator("[data-testid=scan-result]")
    expect(result).to_have_attribute("data-result", "retired")
    expect(result).to_contain_text("Retired: ondansetron NDC 01234-5678-90")
    expect(result).to_contain_text("Recalled by the maker")
    expect(result).to_contain_text("check with pharmacy before giving it")
    expect(page.locator("[data-testid=scan-override-form]")).to_be_visible()
    page.locator("#scan").screenshot(path=str(ARTIFACTS / "bcma-retired-ndc.png"))
