"""In real Chromium: a pharmacist imports a formulary CSV that changes a drug's HCPCS code and
billing unit. Nothing is imported at once: the page lists the change (before → after) and asks
"Why are these billing data changing?"; confirmed without a reason, it is refused beside the
field, the file still kept; with the reason, it is imported and the formulary says so.
Screenshots go to test-artifacts/."""

import re
from decimal import Decimal

import pytest

from mar.models import Drug
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "name,synonyms,class,hcpcs,billing_unit,note,container\n"
    "paclitaxel,Taxol,chemo,J9268,2 mg,antineoplastic,single_dose\n"
)


def test_an_import_changing_billing_data_asks_one_reason_and_keeps_the_file(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="pharm-i", role="pharmacist")
    drug = factories.drug_get("paclitaxel", "chemo")
    Drug.objects.filter(pk=drug.pk).update(
        synonyms="Taxol",
        hcpcs_code="J9267",
        billing_unit_amount=Decimal(1),
        billing_unit="mg",
        container="single_dose",
        class_note="antineoplastic",
    )
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 900})
    sign_in(page, live_server, "pharm-i")
    page.goto(f"{live_server.url}/pharmacy/formulary/import/")
    expect(page.locator("textarea[name=reason]")).to_have_count(0)  # asked only when needed
    page.set_input_files(
        "input[name=file]",
        {"name": "formulary-2027q1.csv", "mimeType": "text/csv", "buffer": CSV.encode()},
    )
    page.click("[data-testid=import-form] button[type=submit]")

    changes = page.locator("[data-testid=import-billing-changes]")
    expect(changes).to_contain_text("Nothing was imported yet")
    expect(changes).to_contain_text("formulary-2027q1.csv")
    row = page.locator("[data-testid=import-billing-change]")
    expect(row).to_contain_text("paclitaxel")
    expect(row).to_contain_text("HCPCS code J9267 → J9268")
    expect(row).to_contain_text("billing unit 1 mg → 2 mg")
    expect(page.locator("#div_id_reason")).to_contain_text("Why are these billing data changing?")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-import-reason-asked.png"), full_page=True)

    page.click("[data-testid=import-form] button[type=submit]")  # no reason
    reason = page.locator("textarea[name=reason]")
    expect(reason).to_have_class(re.compile(r"is-invalid"))
    expect(page.locator("#div_id_reason")).to_contain_text("Say why these billing data change")
    expect(page.locator("[data-testid=import-kept]")).to_contain_text("formulary-2027q1.csv")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-import-reason-refused.png"), full_page=True)
    drug.refresh_from_db()
    assert drug.hcpcs_code == "J9267"

    reason.fill("CMS quarterly HCPCS update, effective Jan 1")
    page.click("[data-testid=import-form] button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text(
        "Billing data changed, with your reason: paclitaxel."
    )
    page.screenshot(path=str(ARTIFACTS / "pharmacy-import-reason-imported.png"), full_page=True)
    drug.refresh_from_db()
    assert (drug.hcpcs_code, drug.billing_unit_label) == ("J9268", "2 mg")
