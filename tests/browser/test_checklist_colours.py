"""The checklist speaks in colours (screens.md): items that would cost a charge red, questionable
ones amber, info grey; the same on the administration cards as in the checklist panel."""

import pytest
from django.urls import reverse

from tests.browser.readable import readable_world, sign_in, visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The left border and the background of an item, by severity (static/css/chart.css).
COLOURS = {
    "error": ("rgb(220, 53, 69)", "rgb(251, 233, 235)"),
    "warning": ("rgb(240, 173, 0)", "rgb(255, 246, 219)"),
    "info": ("rgb(173, 181, 189)", "rgb(241, 243, 245)"),
}

PAINT = "e => [getComputedStyle(e).borderLeftColor, getComputedStyle(e).backgroundColor]"


def test_checklist_items_are_red_amber_or_grey_by_severity_on_cards_and_panel(
    browser_page, live_server
) -> None:
    world = readable_world()
    page = browser_page
    sign_in(page, live_server, "nurse")
    visit(page, live_server, reverse("mar:encounter", args=[world.severities.pk]))
    for severity, colours in COLOURS.items():
        on_cards = page.locator(f"[data-testid=adm-card] .adm-findings li.ck-{severity}")
        in_panel = page.locator(f"[data-testid=checklist] li.ck-{severity}")
        assert on_cards.count() >= 1, severity
        assert in_panel.count() >= 1, severity
        for items in (on_cards, in_panel):
            for i in range(items.count()):
                assert tuple(items.nth(i).evaluate(PAINT)) == colours, (severity, i)
