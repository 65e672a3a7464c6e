"""What the chart says about time matches what it does, in real Chromium on a tablet whose own
clock is in another zone than the encounter's (the browser set to Tokyo, the visit in New York):

- a card's "Saved HH:MM" is on the chart's clock (the encounter's zone), as every other time on
  the chart and the message beside it, not the tablet's;
- a start refused with its time kept (in the future) comes back with the button saying
  "Start at HH:MM", what a tap on it does, not "Start now".
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import Administration
from tests import factories
from tests.browser.card_saving import SAVE_WAIT, type_and_wait_until_saved, unfold
from tests.browser.test_bedside_issue15 import wall
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_saved_says_the_time_on_the_charts_clock_not_the_tablets(browser_page, live_server) -> None:

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})  # the tablet's
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Tokyo"
    unfold(page, adm.pk)
    before = timezone.now()
    state = type_and_wait_until_saved(page, adm.pk, "bag", "B3")
    after = timezone.now()
    on_the_clock = {wall(before)[-5:], wall(after)[-5:]}
    assert state.inner_text().removeprefix("Saved ") in on_the_clock


def test_a_start_refused_for_its_time_still_says_when_it_starts(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    row = page.locator(f"#order-{order.pk}")
    future = wall(timezone.now() + timedelta(hours=3))
    row.locator("select[name$='-method']").select_option("push")  # the order does not say
    row.locator("input[name$='-at']").fill(future)
    start = row.locator("[data-testid=start]")
    expect(start).to_have_text("Start at " + future[-5:])
    start.click()
    expect(row.locator(".invalid-feedback")).to_contain_text("future", timeout=SAVE_WAIT)
    expect(row.locator("input[name$='-at']")).to_have_value(future)
    expect(row.locator("[data-testid=start]")).to_have_text("Start at " + future[-5:])
    assert not Administration.objects.filter(order=order).exists()
