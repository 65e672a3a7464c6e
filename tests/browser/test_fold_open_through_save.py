"""A fold she opens stays open through the card's autosave (QA, Chromium, tablet 1024x768): the
first tap on "Rate change…" straight after typing in the card did nothing. Leaving the Bag id
sent the autosave; the saved card came back with the fold drawn closed and the morph shut it,
so a second tap was needed. An answer to the fold's own form still decides: a rate change
saved closes it, listed on the card."""

import pytest
from django.utils import timezone

from mar.models import Administration, RateChange
from tests.browser.card_saving import SAVE_WAIT, route_first_save, unfold, wait_until_saved
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rate_change_tapped_once_after_typing_is_open_after_the_save_lands(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    held = route_first_save(page, adm.pk)  # let through after the tap: lands on the open fold
    card = page.locator(f"#adm-{adm.pk}")
    page.fill(f"#id_a{adm.pk}-bag", "BAG-9")
    fold = card.locator("details", has=page.locator("summary", has_text="Rate change…"))
    fold.locator("summary").click()  # one tap: the Bag id's change sends the autosave
    expect(fold).to_have_attribute("open", "")
    assert len(held) == 1
    held[0].continue_()
    wait_until_saved(page, adm.pk)
    assert Administration.objects.get(pk=adm.pk).bag == "BAG-9"
    expect(fold).to_have_attribute("open", "")  # still open after the morph
    expect(fold.locator("[data-testid=rate-form]")).to_be_visible()
    card.screenshot(path="/tmp/bedside-rate-fold-open.png")

    # Its own answer decides: the rate change saved, the fold is drawn closed.
    form = fold.locator("[data-testid=rate-form]")
    form.locator(f"input[name='r{adm.pk}-rate_ml_h']").fill("80")
    form.locator(f"input[name='r{adm.pk}-reason']").fill("titration per protocol")
    form.locator("[data-testid=rate-save]").click()
    expect(card.locator("[data-testid=rate-changes]")).to_contain_text(
        "80 mL/h · titration per protocol", timeout=SAVE_WAIT
    )
    expect(fold).not_to_have_attribute("open", "")
    change = RateChange.objects.get(administration=adm)
    assert change.at <= timezone.now()
