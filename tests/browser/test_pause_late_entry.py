"""Pausing an infusion, late entry (QA finding), in real Chromium at 768 px as the nurse: the
pause she made earlier is charted at its own times ("Add a pause", both at once; Pause at a
typed time, the button saying so), a time over another pause is refused beside the field with
its date and time and her typing kept, the card is morphed in with nothing typed elsewhere on
the page lost, and a pause given no reason says so on the card."""

from datetime import timedelta

import pytest

from mar.models import Pause
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _typed(moment) -> str:
    from tests import factories

    return moment.astimezone(factories.NEW_YORK).strftime("%Y-%m-%d %H:%M")


def test_a_past_pause_is_charted_at_its_own_times_at_768_px(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    card = page.locator(f"#running-list #adm-{adm.pk}")
    elsewhere = page.locator("[data-testid=scan-form] input[type=text]").first
    elsewhere.fill("typed elsewhere, not sent")

    # "Add a pause": 10-20 min after the start, with both times at once and no reason.
    first_start, first_end = adm.start + timedelta(minutes=10), adm.start + timedelta(minutes=20)
    card.locator("[data-testid=pause-add-open]").click()
    card.locator(f"#id_pa{adm.pk}-start").fill(_typed(first_start))
    card.locator(f"#id_pa{adm.pk}-end").fill(_typed(first_end))
    card.locator("[data-testid=pause-add]").click()
    expect(card.locator("[data-testid=pause-line]")).to_have_count(1)
    expect(card.locator("[data-testid=pause-line]")).to_contain_text("no reason given")

    # A second one over the first: refused beside its start, naming the first's date and time.
    over_start = _typed(adm.start + timedelta(minutes=15))
    over_end = _typed(adm.start + timedelta(minutes=25))
    card.locator("[data-testid=pause-add-open]").click()
    card.locator(f"#id_pa{adm.pk}-start").fill(over_start)
    card.locator(f"#id_pa{adm.pk}-end").fill(over_end)
    card.locator(f"#id_pa{adm.pk}-reason").select_option("line_problem")
    card.locator("[data-testid=pause-add]").click()
    error = card.locator(f"#error_1_id_pa{adm.pk}-start")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"overlaps the pause of carboplatin of {_typed(first_start)}")
    expect(card.locator(f"#id_pa{adm.pk}-end")).to_have_value(over_end)  # her typing kept
    expect(card.locator(f"#id_pa{adm.pk}-reason")).to_have_value("line_problem")
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "pause-late-entry-overlap-768.png"), full_page=True)

    # Pause at a typed time after it: the button says when; the card is paused since then.
    paused_at = adm.start + timedelta(minutes=30)
    card.locator(f"input[name='at{adm.pk}-at']").fill(_typed(paused_at))
    expect(card.locator("[data-testid=pause]")).to_have_text(f"Pause at {_typed(paused_at)[-5:]}")
    card.locator("[data-testid=pause]").click()
    expect(card.locator("[data-testid=resume]")).to_be_visible()
    expect(card.locator("[data-testid=pause-line]")).to_have_count(2)

    expect(elsewhere).to_have_value("typed elsewhere, not sent")  # nothing typed elsewhere lost
    assert page.evaluate("document.documentElement.scrollWidth") <= 768  # no sideways scroll
    page.screenshot(path=str(ARTIFACTS / "pause-late-entry-768.png"), full_page=True)
    pauses = list(Pause.objects.filter(administration=adm).values_list("start", "end"))
    assert [(s.replace(second=0), e and e.replace(second=0)) for s, e in pauses] == [
        (first_start.replace(second=0, microsecond=0), first_end.replace(second=0, microsecond=0)),
        (paused_at.replace(second=0, microsecond=0), None),
    ]
