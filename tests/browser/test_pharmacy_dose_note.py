"""A calculated dose's note where the pharmacist verifies, in real Chromium (QA: an order of
"10 mg/kg" verified from the queue's row, with no weight on the chart, and nobody warned: the
note was on the review page only). The queue's row and the review page say it in amber, Verify
still offered; once a weight is recorded on the visit, neither does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.models import DrugClass
from mar.services.measures import measure_chart
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against."


def test_a_dose_per_kg_without_a_weight_is_noted_on_the_queue_row_and_the_review_until_weighed(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    pharmacist = factories.user_create(username="pharmacist-dn", role="pharmacist")
    nurse = factories.user_create(username="nurse-dn", role="nurse")
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    order = factories.order_create(
        encounter, factories.drug_get("teprotumumab", DrugClass.THERAPEUTIC), dose="10 mg/kg"
    )
    fixed = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    row = page.locator(f"#to-verify-orders #order-{order.pk}")
    note = row.get_by_test_id("order-dose-measures-note")
    expect(note).to_have_text(NOTE)
    expect(note).to_be_visible()
    assert "text-warning-emphasis" in (note.get_attribute("class") or "")
    expect(row.get_by_role("button", name="✓ Verify")).to_be_enabled()  # a warning, not a stop
    expect(
        page.locator(f"#order-{fixed.pk}").get_by_test_id("order-dose-measures-note")
    ).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-dose-note-queue.png"), full_page=True)

    row.get_by_test_id("order-review").click()
    review_note = page.get_by_test_id("review-dose-measures-note")
    expect(review_note).to_contain_text(NOTE)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-dose-note-review.png"), full_page=True)

    measure_chart(
        encounter=encounter, kind="weight_kg", value=Decimal("70"), method="measured",
        measured_at=timezone.now() - timedelta(minutes=5), user=nurse,
    )  # fmt: skip
    page.reload()
    expect(page.get_by_test_id("review-dose-measures-note")).to_have_count(0)
    expect(page.get_by_text(NOTE)).to_have_count(0)  # the page still says it is written per kg
    page.goto(f"{live_server.url}/pharmacy/orders/")
    expect(page.locator(f"#to-verify-orders #order-{order.pk}")).to_have_count(1)
    expect(page.get_by_test_id("order-dose-measures-note")).to_have_count(0)
    expect(page.get_by_text(NOTE)).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-dose-note-weighed.png"), full_page=True)
