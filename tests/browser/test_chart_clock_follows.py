"""The chart header's "Now HH:MM" follows the clock (QA walkthrough: "Now 08:33" beside a card's
"Saved 08:34"): redrawn on the minute, on the encounter's wall clock, in real Chromium with
Playwright's clock (the page's timers run as told)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_headers_now_turns_to_the_next_minute_on_the_minute(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter, _adm = running_visit()
    page = browser_page
    # The page's clock starts on a minute near the real now (the session's own timers see it).
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    page.clock.install(time=start)
    open_chart(page, live_server, encounter)
    clock = page.locator(".chart-clock-time")
    before = start.astimezone(factories.NEW_YORK)
    expect(clock).to_have_text(f"{before:%H:%M}")
    # Held a second before the minute turns, then let run a second and a half: the header says
    # the new minute, not up to a 15-second tick later.
    page.clock.pause_at(start + timedelta(seconds=59))
    expect(clock).to_have_text(f"{before:%H:%M}")
    page.clock.run_for(1_500)
    after = before + timedelta(minutes=1)
    expect(clock).to_have_text(f"{after:%H:%M}")
    page.clock.run_for(60_000)
    expect(clock).to_have_text(f"{after + timedelta(minutes=1):%H:%M}")
