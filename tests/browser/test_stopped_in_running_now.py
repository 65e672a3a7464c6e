"""A card stopped from "Running now" stays there until the chart is drawn again (its answer is
the card alone), in real Chromium: "Administrations" then says so, not "Nothing else given yet"
(QA walkthrough); drawn again, the card is among the administrations."""

import re

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stopped_card_still_in_running_now_is_not_denied_by_administrations(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    expect(page.locator(f"#running-list #adm-{adm.pk}")).to_have_class(
        re.compile(r"\badm-running\b")
    )
    running_words = page.locator("[data-testid=adm-empty-running]")
    stopped_words = page.locator("[data-testid=adm-empty-stopped]")
    expect(running_words).to_have_text("Nothing else given yet: what is running is at the top.")
    expect(stopped_words).to_be_hidden()

    card = page.locator(f"#running-list #adm-{adm.pk}")
    card.locator("[data-testid=stop-volume]").fill("250")
    card.locator("[data-testid=stop]").click()
    expect(card).not_to_have_class(
        re.compile(r"\badm-running\b")
    )  # stopped, still under "Running now"
    expect(running_words).to_be_hidden()
    expect(stopped_words).to_be_visible()
    expect(stopped_words).to_have_text(
        "What was stopped stays at the top, under Running now, until the chart is drawn again."
    )
    page.locator("#administrations").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "stopped-in-running-now.png"), full_page=True)

    # Drawn again: the card is among the administrations, and "Running now" is gone.
    page.reload()
    expect(page.locator(f"#administrations-list #adm-{adm.pk}")).to_have_count(1)
    expect(page.locator("[data-testid=running-now]")).to_have_count(0)
    expect(stopped_words).to_have_count(0)
