"""The administration card's pause times line up with the card's other fields (walk18, in
Chromium): inside their `display: contents` fieldset the columns missed Bootstrap's gutter and
stood 4 px out of line on both sides, the Save button reaching past the fields above it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import Pause
from tests.browser.test_chart_typing_kept import open_chart, unfold
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [768, 1024])
def test_a_pauses_times_line_up_with_the_cards_fields(browser_page, live_server, width) -> None:
    encounter, adm = running_visit()
    now = timezone.now()
    Pause.objects.create(
        administration=adm, start=now - timedelta(minutes=30), end=now - timedelta(minutes=20)
    )
    page = browser_page
    page.set_viewport_size({"width": width, "height": 1024})
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    card = page.locator(f"#adm-{adm.pk}")
    start = card.locator(f"#id_a{adm.pk}-start").bounding_box()
    stop = card.locator(f"#id_a{adm.pk}-stop").bounding_box()
    pause = card.locator("[data-testid=pause-form]")
    pause_start = pause.locator("input[name$='-start']").bounding_box()
    save = pause.locator("button[type=submit]").bounding_box()
    assert start and stop and pause_start and save
    assert abs(pause_start["x"] - start["x"]) <= 1
    assert save["x"] + save["width"] <= stop["x"] + stop["width"] + 1
