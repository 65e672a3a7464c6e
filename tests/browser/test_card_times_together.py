"""QA's steps on a card's start and stop, in real Chromium at 1024x768 (nurse, medium):

teprotumumab started, paused and stopped at the same minute. On its card: Start 15 minutes
earlier, Stop 16 minutes earlier (before the pause), Save. The card said "Not saved: see why in
the card", yet the start had been saved on its own as she left it: the record read a longer
infusion nobody meant. Now:

- the start and stop typed one after the other go together: both refused, nothing stored, the
  card says both are not saved, and a reload shows the record as it was;
- a start saved on its own (she left the pair for another field) is said saved when the stop is
  then refused, beside the stop, and the card's save line names only the stop as not saved.
"""

from datetime import timedelta

import pytest

from mar.models import Administration
from tests.browser.test_chart_saving import SAVE_WAIT
from tests.browser.test_chart_typing_kept import open_chart, unfold
from tests.mar.chart_helpers import local
from tests.mar.test_card_times_together import hhmm, stopped_with_a_pause

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def typed(moment) -> str:
    return local(moment).replace("T", " ")


def test_a_start_and_stop_typed_together_are_refused_together(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter, adm = stopped_with_a_pause()
    first = (adm.start, adm.stop, adm.version)
    start, stop = adm.start - timedelta(minutes=15), adm.stop - timedelta(minutes=16)
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    sent = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith(f"/administrations/{adm.pk}/")
            else None
        ),
    )
    card = page.locator(f"#adm-{adm.pk}")
    page.fill(f"#id_a{adm.pk}-start", typed(start))
    page.fill(f"#id_a{adm.pk}-stop", typed(stop))  # from the start straight to the stop
    state = card.locator("[data-testid=save-state]")
    expect(state).to_contain_text("saved together")
    page.wait_for_timeout(300)
    assert sent == []  # the start waits for its stop
    with page.expect_response(lambda r: f"/administrations/{adm.pk}/" in r.url):
        card.locator("[data-testid=adm-form] button[type=submit]").click()
    expect(state).to_contain_text(
        f"Not saved: start {hhmm(start)}, stop {hhmm(stop)}", timeout=SAVE_WAIT
    )
    assert all("stop=" in body and "start=" in body for body in sent)
    expect(card.locator(f"#error_1_id_a{adm.pk}-stop")).to_contain_text(
        f"Stop {hhmm(stop)} is not saved, nor is start {hhmm(start)}: the pause at "
        f"{hhmm(adm.stop)} is after it."
    )
    expect(card.locator(f"#error_1_id_a{adm.pk}-start")).to_contain_text("is not saved either")
    expect(card).not_to_contain_text("see why in the card")
    page.screenshot(path="/tmp/cardatomic-together-refused.png", full_page=False)
    card.screenshot(path="/tmp/cardatomic-together-refused-card.png")
    row = Administration.objects.get(pk=adm.pk)
    assert (row.start, row.stop, row.version) == first

    page.reload()
    unfold(page, adm.pk)
    expect(page.locator(f"#id_a{adm.pk}-start")).to_have_value(typed(adm.start))
    expect(page.locator(f"#id_a{adm.pk}-stop")).to_have_value(typed(adm.stop))


def test_a_stop_refused_after_its_start_was_saved_alone_says_the_start_is_saved(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = stopped_with_a_pause()
    start, stop = adm.start - timedelta(minutes=15), adm.stop - timedelta(minutes=16)
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    card = page.locator(f"#adm-{adm.pk}")
    state = card.locator("[data-testid=save-state]")
    page.fill(f"#id_a{adm.pk}-start", typed(start))
    page.click(f"#id_a{adm.pk}-bag")  # left the pair: the start goes alone, and is saved
    expect(state).to_contain_text("Saved", timeout=SAVE_WAIT)
    assert Administration.objects.get(pk=adm.pk).start == start

    page.fill(f"#id_a{adm.pk}-stop", typed(stop))
    with page.expect_response(lambda r: f"/administrations/{adm.pk}/" in r.url):
        card.locator("[data-testid=adm-form] button[type=submit]").click()
    expect(state).to_have_text(
        f"Not saved: stop {hhmm(stop)} (see the field marked in red). "
        f"Start {hhmm(start)} is saved.",
        timeout=SAVE_WAIT,
    )
    expect(card.locator(f"#error_1_id_a{adm.pk}-stop")).to_contain_text(
        f"Start {hhmm(start)} is saved; stop {hhmm(stop)} is not: the pause at "
        f"{hhmm(adm.stop)} is after it. The record keeps {hhmm(start)}–{hhmm(adm.stop)}."
    )
    # The timeline shows what is stored.
    expect(page.locator("#timeline")).to_contain_text(f"{hhmm(start)}–{hhmm(adm.stop)}")
    page.screenshot(path="/tmp/cardatomic-start-saved-stop-refused.png", full_page=False)
    card.screenshot(path="/tmp/cardatomic-start-saved-stop-refused-card.png")
    row = Administration.objects.get(pk=adm.pk)
    assert (row.start, row.stop) == (start, adm.stop)
