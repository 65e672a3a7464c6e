"""In real Chromium: a pharmacist changes a drug's HCPCS code to one the charge master does not
price and its billing unit, without a reason: the save is refused beside the reason field,
what she typed kept, and the charge master's warning is said beside the HCPCS field. With the
reason, it is saved, the warning said after "Saved" and beside the code on the drug's page.
Screenshots go to test-artifacts/."""

import re
from decimal import Decimal

import pytest

from coding.chargemaster import charge_master_load, charge_master_parse
from mar.models import Drug
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_billing_data_save_asks_its_reason_and_warns_of_a_code_not_in_the_charge_master(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="pharm-b", role="pharmacist")
    drug = factories.drug_get("paclitaxel", "chemo")
    Drug.objects.filter(pk=drug.pk).update(
        hcpcs_code="J9267", billing_unit_amount=Decimal(1), billing_unit="mg"
    )
    charge_master_load(
        rows=charge_master_parse(
            "code,revenue_code,description,unit_price\nJ9267,0636,paclitaxel 1 mg,40\n"
        )
    )
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 900})
    sign_in(page, live_server, "pharm-b")
    page.goto(f"{live_server.url}/pharmacy/drugs/{drug.pk}/edit/")
    expect(page.locator("[data-testid=hcpcs-warning]")).to_have_count(0)
    page.fill("input[name=hcpcs]", "J9999")
    page.fill("input[name=billing_unit]", "2 mg")
    page.click("[data-testid=drug-form] button[type=submit]")

    reason = page.locator("input[name=reason]")
    expect(reason).to_have_class(re.compile(r"is-invalid"))
    expect(page.locator("#div_id_reason")).to_contain_text(
        "Say why the billing data changes (HCPCS code J9267 → J9999; billing unit 1 mg → 2 mg)"
    )
    expect(page.locator("input[name=hcpcs]")).to_have_value("J9999")
    expect(page.locator("input[name=billing_unit]")).to_have_value("2 mg")
    warning = page.locator("[data-testid=hcpcs-warning]")
    expect(warning).to_contain_text("J9999 is not in the charge master")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-billing-save-refused.png"), full_page=True)

    reason.fill("CMS crosswalk: J9999 per 2 mg")
    page.click("[data-testid=drug-form] button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("Saved paclitaxel.")
    expect(page.locator(".alert-warning").first).to_contain_text("Saved all the same")
    expect(page.locator("[data-testid=drug-hcpcs] [data-testid=hcpcs-warning]")).to_contain_text(
        "J9999 is not in the charge master"
    )
    page.screenshot(path=str(ARTIFACTS / "pharmacy-billing-saved-warning.png"), full_page=True)
    drug.refresh_from_db()
    assert (drug.hcpcs_code, drug.billing_unit_label) == ("J9999", "2 mg")
