"""The pharmacist retires a drug, in real Chromium: the drug's page then says "Retired <date> by
<who>: <reason>" with Reactivate, the formulary shows the "retired" badge; the clerk's order
entry refuses a new order of it beside the drug field, saying when and why."""

import pytest
from django.utils import timezone

from mar.models import Drug, Order
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "No longer stocked: replaced by granisetron"


def test_a_retired_drug_is_badged_and_refused_at_order_entry(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    pharmacist = factories.user_create(username="pharmacist-d", role="pharmacist")
    clerk = factories.user_create(username="clerk-d", role="clerk")
    drug = factories.drug_get("ondansetron", "therapeutic")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/drugs/{drug.pk}/")
    page.get_by_test_id("drug-retire-open").click()
    page.locator("form[data-testid=drug-retire-form] input[name=reason]").fill(REASON)
    page.get_by_test_id("drug-retire").click()
    day = f"{timezone.localdate():%Y-%m-%d}"
    expect(page.get_by_test_id("drug-retired")).to_contain_text(
        f"Retired {day} by pharmacist-d: {REASON}"
    )
    expect(page.get_by_test_id("drug-reactivate")).to_be_visible()
    expect(page.get_by_test_id("drug-retire-form")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-drug-retired-page.png"), full_page=True)
    assert not Drug.objects.get(pk=drug.pk).active
    page.goto(f"{live_server.url}/pharmacy/formulary/?q=ondan")
    expect(page.locator(f"#drug-{drug.pk} [data-testid=drug-retired]")).to_have_text("retired")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-drug-retired.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, clerk.username)
    page.goto(f"{live_server.url}/registration/visits/{encounter.pk}/orders/new/")
    page.fill("input[name=drug]", "ondansetron")
    page.fill("input[name=dose_value]", "8")
    page.fill("input[name=indication]", "R11.2")
    page.fill("input[name=ordering_provider]", "Dr. Amara Okafor")
    page.fill("input[name=ordering_provider_npi]", "1234567893")
    page.get_by_role("button", name="Enter the order").click()
    expect(page.locator("[id$=_id_drug]").last).to_contain_text(
        f"ondansetron is retired from the formulary ({day}, {REASON}): choose another drug."
    )
    page.screenshot(path=str(ARTIFACTS / "order-entry-retired-drug.png"), full_page=True)
    assert not Order.objects.filter(encounter=encounter).exists()
