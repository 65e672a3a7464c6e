"""The pharmacist's queue row of an order whose drug matches an allergy of the patient, in real
Chromium (QA: "penicillin (rash)" and piperacillin-tazobactam, verified in one click with no
allergy shown): the match in red under the drug, Verify asking for the reason first (the browser
asks; the server refuses too), then verified with it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import Drug, SafetyOverride
from mar.pharmacy.formulary import formulary_load_csv
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WARNING = "Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class)."


def test_the_queue_row_warns_in_red_and_verify_asks_the_reason(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    formulary_load_csv()
    pharmacist = factories.user_create(username="pharmacist-a", role="pharmacist")
    patient = factories.patient_create(name="Lopez, Ana", allergies="penicillin (rash)")
    visit = factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=1)
    )
    zosyn = Drug.objects.get(name="piperacillin-tazobactam")
    order = factories.order_create(visit, zosyn, dose="3.375 g", indication="J18.9")
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    row = page.locator(f"#order-{order.pk}")
    warning = row.get_by_test_id("order-allergy")
    expect(warning).to_have_text(WARNING)
    colour = warning.evaluate("e => getComputedStyle(e).color")
    red, green, blue = (int(c) for c in colour[colour.index("(") + 1 : -1].split(",")[:3])
    assert red > 150 and green < 100 and blue < 100, colour  # Bootstrap's danger red
    warning.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "pharmacy-allergy-row.png"), full_page=True)

    verify = row.get_by_role("button", name="✓ Verify despite the allergy")
    verify.click()  # the reason is required: the browser asks, nothing is sent
    reason = row.get_by_test_id("order-allergy-reason")
    assert reason.evaluate("e => e.validity.valueMissing") is True
    order.refresh_from_db()
    assert order.verified_at is None

    reason.fill("rash only in 2019; prescriber confirmed, premedicate")
    verify.click()
    done = page.locator("#to-verify-orders").get_by_test_id("order-verify-done")
    expect(done).to_contain_text("Verified: piperacillin-tazobactam")
    order.refresh_from_db()
    assert order.verified_by == pharmacist
    override = SafetyOverride.objects.get(order=order)
    assert override.reason == "rash only in 2019; prescriber confirmed, premedicate"


ENTRY_REASON = "Dr. Okafor confirmed: cefazolin given in 2023 without reaction"


def _rgb(locator) -> tuple[int, int, int]:
    colour = locator.evaluate("e => getComputedStyle(e).color")
    red, green, blue = (int(c) for c in colour[colour.index("(") + 1 : -1].split(",")[:3])
    return red, green, blue


def _cross_order_entered():
    """A penicillin (rash) patient's ceftriaxone, entered by the clerk past the
    cross-sensitivity with a reason (order entry's SafetyOverride)."""
    from decimal import Decimal

    from mar.registration.services import OrderEntry, order_enter

    formulary_load_csv()
    clerk = factories.user_create(username="clerk-a", role="clerk")
    patient = factories.patient_create(name="Lopez, Ana", allergies="penicillin (rash)")
    visit = factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=1)
    )
    entry = OrderEntry(
        drug=Drug.objects.get(name="ceftriaxone"), dose_value=Decimal("1"), dose_unit="g",
        duration_minutes=30, indication="J18.9", ordering_provider="Dr. Amara Okafor",
        allergy_reason=ENTRY_REASON,
    )  # fmt: skip
    return order_enter(encounter=visit, entry=entry, user=clerk)


def test_the_queue_row_shows_the_cross_sensitivity_in_amber_and_the_clerks_reason(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    order = _cross_order_entered()
    pharmacist = factories.user_create(username="pharmacist-a", role="pharmacist")
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    row = page.locator(f"#order-{order.pk}")
    warning = row.get_by_test_id("order-allergy")
    expect(warning).to_contain_text("Cross-sensitivity: patient allergic to penicillin class")
    red, green, blue = _rgb(warning)
    assert red > 80 and blue < 60 and not (green < 100 and red > 150), (red, green, blue)  # amber
    override = row.get_by_test_id("order-allergy-override")
    expect(override).to_contain_text("Overridden at order entry by clerk-a (")
    expect(override).to_contain_text(ENTRY_REASON)
    expect(row.get_by_role("button", name="✓ Verify despite the cross-sensitivity")).to_be_visible()
    row.scroll_into_view_if_needed()
    row.screenshot(path=str(ARTIFACTS / "pharmacy-allergy-override-row.png"))


def test_the_start_box_shows_who_overrode_when_and_why(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    from mar.pharmacy.services import order_verify

    order = _cross_order_entered()
    pharmacist = factories.user_create(username="pharmacist-a", role="pharmacist")
    order_verify(order=order, user=pharmacist, allergy_reason="tolerated cefazolin; no IgE history")
    nurse = factories.user_create(username="nurse-a", role="nurse")
    page = browser_page
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{order.encounter_id}/")
    box = page.locator(f"#order-{order.pk}").get_by_test_id("allergy-warning")
    expect(box).to_contain_text("Cross-sensitivity: patient allergic to penicillin class")
    lines = box.get_by_test_id("allergy-override")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Overridden at order entry by clerk-a (")
    expect(lines.nth(0)).to_contain_text(ENTRY_REASON)
    expect(lines.nth(1)).to_contain_text("Overridden at verification by pharmacist-a (")
    expect(lines.nth(1)).to_contain_text("tolerated cefazolin; no IgE history")
    box.scroll_into_view_if_needed()
    page.locator(f"#order-{order.pk}").screenshot(
        path=str(ARTIFACTS / "chart-start-box-overrides.png")
    )
