"""A start time typed wrong ("25:99") on the bedside chart, in real Chromium (walk18):

- the start button does not promise a time it cannot read: "Start at…", not "Start at 25:99";
- once the server refuses it, one message stands beside the field (the server's), not the
  server's and the browser's hint saying the same thing twice; what she typed is kept;
- a tap on Start straight from the field is not lost: the browser's hint, shown as she leaves
  the field, waits until the tap is done instead of moving the button from under her finger.
"""

import pytest

from mar.models import Administration
from tests import factories
from tests.browser.card_saving import SAVE_WAIT
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_start_time_that_cannot_be_read_is_neither_promised_nor_told_twice(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    row = page.locator(f"#order-{order.pk}")
    at = row.locator("input[name$='-at']")
    rate = row.locator("input[name$='-rate_ml_h']")
    rate.fill("120")
    row.locator("select[name$='-method']").select_option("infusion")  # the order does not say
    at.fill("2026-12-05 25:99")
    start = row.locator("[data-testid=start]")
    expect(start).to_have_text("Start at…")
    # The browser's hint appears as she leaves the field (the tap that leaves it may land on the
    # moved button or not); the next tap sends it and the server refuses it.
    at.blur()
    expect(row.locator("[data-testid=time24-hint]")).to_be_visible()
    with page.expect_response(lambda r: "/start/" in r.url, timeout=SAVE_WAIT):
        start.click()
    expect(row.locator(".invalid-feedback")).to_contain_text("24-hour time", timeout=SAVE_WAIT)
    messages = row.locator(".invalid-feedback:visible, [data-testid=time24-hint]:visible")
    expect(messages).to_have_count(1)
    expect(at).to_have_value("2026-12-05 25:99")
    expect(rate).to_have_value("120")
    expect(row.locator("[data-testid=start]")).to_have_text("Start at…")
    assert not Administration.objects.filter(order=order).exists()

    # Typed wrong another way: the browser says so at once, beside the field.
    at.fill("2026-12-05 7pm")
    at.blur()
    expect(row.locator("[data-testid=time24-hint]")).to_contain_text("24-hour clock")


def test_a_tap_on_start_straight_from_a_wrong_time_is_not_lost(browser_page, live_server) -> None:
    """One tap, from the time field to Start: the start is sent (and refused by the server, beside
    the field), where the hint inserted as the field lost focus moved the button and the tap
    landed on nothing."""
    from playwright.sync_api import expect

    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    row = page.locator(f"#order-{order.pk}")
    row.locator("select[name$='-method']").select_option("push")  # the order does not say
    at = row.locator("input[name$='-at']")
    at.fill("2026-12-05 25:99")
    expect(at).to_be_focused()
    with page.expect_response(lambda r: "/start/" in r.url, timeout=SAVE_WAIT):
        row.locator("[data-testid=start]").click()
    expect(row.locator(".invalid-feedback")).to_contain_text("24-hour time", timeout=SAVE_WAIT)
    expect(
        row.locator(".invalid-feedback:visible, [data-testid=time24-hint]:visible")
    ).to_have_count(1)
    expect(at).to_have_value("2026-12-05 25:99")
    assert not Administration.objects.filter(order=order).exists()
