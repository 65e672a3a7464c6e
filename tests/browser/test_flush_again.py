"""A second "Flush now" on a site in the same minute asks first, in real Chromium: the chip says
when the first was charted and charts nothing; "Chart a second flush" charts it with the same
details (QA walkthrough: three flushes in the same minute were charted without a word)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_chart import visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_second_flush_in_the_minute_is_asked_then_charted_once_said(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-a", role="nurse")
    encounter = visit()
    site = factories.site_create(encounter, placed_at=timezone.now() - timedelta(hours=3))
    page = browser_page
    sign_in(page, live_server, "nurse-a")
    page.wait_for_url("**/mar/board/")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    chip = page.locator(f"#site-{site.pk}")
    chip.locator("[data-testid=flush]").click()
    expect(chip.locator("[data-testid=last-flush]")).to_be_visible()
    assert encounter.flushes.count() == 1
    chip.locator("[data-testid=flush-volume]").first.fill("5")
    chip.locator("[data-testid=flush]").click()
    asked = chip.locator("[data-testid=flush-again]")
    expect(asked).to_contain_text(f"A flush of S{site.pk} was charted at")
    expect(asked).to_contain_text("chart it again?")
    assert encounter.flushes.count() == 1
    asked.locator("[data-testid=flush-again-yes]").click()
    expect(chip.locator("[data-testid=flush-again]")).to_have_count(0)
    flushes = list(encounter.flushes.order_by("pk"))
    assert [f.volume_ml for f in flushes] == [Decimal(10), Decimal(5)]
