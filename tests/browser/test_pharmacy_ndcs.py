"""In real Chromium: a pharmacist retires a drug's preferred NDC from the drug's page (the
reason asked for, said beside the field when missing), makes another preferred; at the bedside
a nurse's scan of the retired package stops as retired, with the pharmacist's reason. She
corrects a package's unit and units per billing unit in its row (a bad value said beside the
field, what she typed kept). Screenshots go to test-artifacts/."""

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
    reason = row.locator("[data-testid=ndc-retire-form] input[type=text]")
    assert reason.evaluate("e => !e.validity.valid")
    reason.fill("Recalled by the maker")
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


def test_a_pharmacist_corrects_a_packages_units_in_its_row(browser_page, live_server) -> None:
    """ "Correct…" opens the row's form showing the package as it is; a units per billing unit
    of 0 is refused beside that field with everything typed kept (the form open again); then
    the correction is saved and the row shows it, on a tablet's 1024 px without the page
    scrolling sideways."""
    from playwright.sync_api import expect

    factories.user_create(username="pharm-c", role="pharmacist")
    mesna = factories.drug_get("mesna", "therapeutic")
    vial = DrugNdc.objects.create(
        drug=mesna, ndc="01234567892", package_description="10 mL vial", unit="ML"
    )
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 900})
    sign_in(page, live_server, "pharm-c")
    page.goto(f"{live_server.url}/pharmacy/drugs/{mesna.pk}/")
    row = page.locator('tr[data-ndc="01234-5678-92"]')
    row.locator("[data-testid=ndc-edit-open]").click()
    form = row.locator("[data-testid=ndc-edit-form]")
    expect(form.locator(f"[name=e{vial.pk}-package_description]")).to_have_value("10 mL vial")
    form.locator(f"[name=e{vial.pk}-unit]").select_option("UN")
    form.locator(f"[name=e{vial.pk}-units_per_billing_unit]").fill("0")
    form.locator(f"[name=e{vial.pk}-reason]").fill("Label read again")
    form.locator("[data-testid=ndc-edit]").click()
    row = page.locator('tr[data-ndc="01234-5678-92"]')
    form = row.locator("[data-testid=ndc-edit-form]")
    expect(form).to_be_visible()  # open again, with the refusal beside the field
    expect(form).to_contain_text("A number above zero (blank: 1).")
    expect(form.locator(f"[name=e{vial.pk}-unit]")).to_have_value("UN")
    expect(form.locator(f"[name=e{vial.pk}-reason]")).to_have_value("Label read again")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-ndc-correct-refused.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    form.locator(f"[name=e{vial.pk}-units_per_billing_unit]").fill("2")
    form.locator("[data-testid=ndc-edit]").click()
    expect(page.locator(".alert-success")).to_contain_text(
        "NDC 01234-5678-92 corrected: NDC unit ML → UN; NDC units per billing unit 1 → 2."
    )
    vial.refresh_from_db()
    assert (vial.ndc, vial.unit, vial.units_per_billing_unit) == ("01234567892", "UN", 2)
