"""A time typed alone ("08:28", "8:28", "0828") in real Chromium (QA walkthrough): the hint typed
against (static/js/chart.js) accepts and refuses the same forms as the server
(tests/mar/time_alone_cases.py), the start button promises the time, a start at a time alone is
kept at that time today, and a time alone read as yesterday (today's is in the future: a visit
crossing midnight) is said beside the field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.forms import time_alone
from mar.models import Administration
from tests import factories
from tests.browser.card_saving import SAVE_WAIT
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit
from tests.mar.time_alone_cases import ALONE, NOT_READ

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NY = factories.NEW_YORK


def test_the_hint_accepts_a_time_alone_as_the_server_does_and_a_start_keeps_it(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    row = page.locator(f"#order-{order.pk}")
    at = row.locator("input[name$='-at']")
    hint = row.locator("[data-testid=time24-hint]")
    expect(at).to_have_attribute("placeholder", "HH:MM or YYYY-MM-DD HH:MM")
    for typed, read in ALONE.items():
        at.fill(typed)
        at.blur()
        expect(hint).to_have_count(0)
        expect(row.locator("[data-testid=start]")).to_have_text(f"Start at {read}")
    for typed in NOT_READ:
        at.fill(typed)
        at.blur()
        expect(hint).to_be_visible()
        expect(hint).to_contain_text("24-hour")
        expect(row.locator("[data-testid=start]")).to_have_text("Start at…")

    # Ten minutes ago, typed as H:MM (no leading zero when the hour has one digit).
    given = (timezone.now() - timedelta(minutes=10)).astimezone(NY)
    typed = f"{given.hour}:{given.minute:02d}"
    at.fill(typed)
    at.blur()
    expect(row.locator("[data-testid=time24-read]")).to_have_count(0)  # today: nothing to say
    row.locator("input[name$='-rate_ml_h']").fill("120")
    row.locator("select[name$='-method']").select_option("infusion")  # the order does not say
    with page.expect_response(lambda r: "/start/" in r.url, timeout=SAVE_WAIT):
        row.locator("[data-testid=start]").click()
    expect(page.locator("[data-testid=adm-card]")).to_have_count(2, timeout=SAVE_WAIT)
    started = Administration.objects.get(order=order).start
    assert started == time_alone(typed, NY, started + timedelta(minutes=10))
    assert started.astimezone(NY).strftime("%H:%M") == given.strftime("%H:%M")


@pytest.mark.parametrize("arrived_hours_ago", [26, 2])
def test_a_time_alone_later_than_now_is_said_to_be_yesterdays_or_not_yet(
    browser_page, live_server, arrived_hours_ago: int
) -> None:
    """A visit that crossed midnight reads a later time alone as yesterday's and says so; a visit
    that arrived after yesterday's reading cannot have it: the time is said to be later than now,
    not chartable yet (QA: "Read as yesterday" pointed at the wrong problem)."""
    from playwright.sync_api import expect

    encounter, _adm = running_visit(arrived_at=timezone.now() - timedelta(hours=arrived_hours_ago))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    now = timezone.now().astimezone(NY)
    later = now + timedelta(hours=2)
    typed = later.strftime("%H:%M")
    read = time_alone(typed, NY, now)
    assert read is not None
    field = page.locator(f"#order-{order.pk} input[name$='-at']")
    field.fill(typed)
    field.blur()
    note = page.locator("[data-testid=time24-read]")
    if read.astimezone(NY).date() < now.date():
        expect(note).to_have_count(1)
        if arrived_hours_ago > 24:
            expect(note).to_contain_text(
                f"Read as yesterday, {read.astimezone(NY):%Y-%m-%d} {typed}: today's is later "
                "than now."
            )
            page.screenshot(path="/tmp/time-alone-yesterday.png")
        else:
            expect(note).to_contain_text(
                f"This time ({typed}) is later than now ({now:%H:%M}): it cannot be charted yet."
            )
    else:  # within two hours of midnight, two hours on is tomorrow's early morning: today's
        expect(note).to_have_count(0)
    field.fill(now.strftime("%Y-%m-%d") + " " + typed)
    expect(note).to_have_count(0)
