"""In real Chromium: the chart is open on an order when the ordering system changes it (HL7
ORC-1 XO). Start is refused beside the order's form, saying what the order is now; the row says
what changed; starting again (htmx morphed the form to the order's new revision) starts it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.models import Administration, EntryMethod
from mar.registration.services import OrderEntry, order_change, order_enter
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def entry(dose: str) -> OrderEntry:
    return OrderEntry(
        drug=factories.drug_get("ondansetron"),
        dose_value=Decimal(dose),
        dose_unit="mg",
        indication="R11.2",
        ordering_provider="Dr. Amara Okafor",
        entry_method=EntryMethod.ELECTRONIC,
        placer_number="P1",
    )


def test_a_start_from_a_chart_drawn_before_a_change_is_refused_then_starts_as_changed(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-x", role="nurse")
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    order = order_enter(encounter=encounter, entry=entry("8"))
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nurse-x")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    row = page.locator(f"#order-{order.pk}")
    expect(row).to_contain_text("ondansetron 8 mg")
    # The order says neither push nor infusion: she chooses (not guessed).
    row.locator("select[name$='-method']").select_option("push")

    order_change(encounter=encounter, entry=entry("4"))  # while the chart is open
    row.get_by_test_id("start").click()
    refused = row.get_by_test_id("start-refused")
    expect(refused).to_contain_text("This order was changed by the ordering system at")
    expect(refused).to_contain_text("it is now ondansetron 4 mg · IV (dose 8 mg → 4 mg)")
    expect(row.get_by_test_id("order-changed")).to_contain_text("dose 8 mg → 4 mg")
    expect(row).to_contain_text("ondansetron 4 mg")
    page.screenshot(path=str(ARTIFACTS / "order-changed-start-refused.png"))
    assert not Administration.objects.filter(order=order).exists()

    row.get_by_test_id("start").click()
    expect(page.locator("body")).to_contain_text("ondansetron started at")
    assert Administration.objects.filter(order=order).count() == 1
