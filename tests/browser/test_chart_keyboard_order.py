"""The chart with a keyboard (QA walkthrough: a nurse with a scanner and a keyboard found the
running card's buttons before the scan field, and "Stop now" many tabs away). In real Chromium:

- as the chart loads, the scan field has the focus (static/js/scan.js: a scanner types there) and
  the newest running infusion's "Stop now" is `STOP_FROM_SCAN` Tab presses on: the field's Enter
  and Camera buttons, then the card's Pause time, reason, Pause, mL infused and Stop now (7);

pressing Tab from the top of the page (the focus on the page itself):

- the scan field is reached first of the chart's fields, within `SCAN_TABS` presses: the two
  skip links, the nav's four (brand, Board, Formulary, Log out), the header's sign-state button,
  then the field: 8;
- the newest running infusion's "Stop now" within `STOP_TABS`: the scan field's own Enter and
  Camera buttons, then the running card's Pause time, reason, Pause, mL infused and Stop now:
  8 + 2 + 5 = 15 (nothing else comes between: no measures, arrival or site form);
- the skip links are the page's first stops, shown when focused: "Skip to scan" puts the focus
  in the scan field, "Skip to running infusions" on the running list, "Stop now" then within
  `STOP_AFTER_SKIP` (the card's five stops);
- whatever has the focus shows an outline.

The order is the DOM's (mar/_chart.jinja: scan, then "Running now"), no CSS order and no
positive tabindex, so what is seen and what Tab visits agree.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.models import DrugClass
from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCAN_TABS = 8
STOP_TABS = 15
STOP_AFTER_SKIP = 5
STOP_FROM_SCAN = 7

FOCUSED_IS = "(sel) => document.activeElement && document.activeElement.matches(sel)"
OUTLINE = """() => { const s = getComputedStyle(document.activeElement);
  return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
FROM_THE_TOP = """() => { document.activeElement.blur(); document.body.tabIndex = -1;
  document.body.focus(); document.body.removeAttribute('tabindex'); }"""
NO_POSITIVE_TABINDEX = """() => [...document.querySelectorAll('[tabindex]')]
  .filter(e => e.tabIndex > 0).map(e => e.outerHTML.slice(0, 80))"""


def _chart_with_two_running(live_server, page):
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    adms = []
    for name, minutes in (("vancomycin", 30), ("cefazolin", 20)):
        order = factories.order_create(
            encounter, factories.drug_get(name, DrugClass.THERAPEUTIC), dose="1 g"
        )
        adms.append(
            factories.administration_create(
                encounter,
                order,
                site=site,
                start=now - timedelta(minutes=minutes),
                stop=None,
                rate_ml_h=Decimal(200),
            )
        )
    factories.user_create(username="nurse-k", role="nurse")
    sign_in(page, live_server, "nurse-k")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    return encounter, adms[1]  # the newest running: first under "Running now"


def _tabs_until(page, selector: str, most: int) -> int:
    """Tab presses until the focus is on `selector`; fails past `most`."""
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED_IS, selector):
            return presses
    pytest.fail(f"{selector} not focused within {most} Tab presses")


def _outlined(page) -> None:
    style, width = page.evaluate(OUTLINE)
    assert style != "none" and width >= 2, (style, width)


def test_as_the_chart_loads_stop_now_is_a_few_tabs_past_the_focused_scan_field(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    _encounter, newest = _chart_with_two_running(live_server, page)
    expect(page.locator("[data-scan-field]")).to_be_focused()
    _tabs_until(page, f"#adm-{newest.pk} [data-testid=stop]", STOP_FROM_SCAN)
    _outlined(page)


def test_tab_from_the_top_reaches_the_scan_field_then_the_running_infusions_stop_now(
    browser_page, live_server
) -> None:
    page = browser_page
    _encounter, newest = _chart_with_two_running(live_server, page)
    assert page.evaluate(NO_POSITIVE_TABINDEX) == []
    page.evaluate(FROM_THE_TOP)

    scan = _tabs_until(page, "[data-scan-field]", SCAN_TABS)
    _outlined(page)
    stop = f"#adm-{newest.pk} [data-testid=stop]"
    assert scan + _tabs_until(page, stop, STOP_TABS - scan) <= STOP_TABS
    _outlined(page)
    page.locator(stop).scroll_into_view_if_needed()
    page.screenshot(path="test-artifacts/chart-keyboard-stop-focused.png")
    # Shown where Tab found it: the scan panel above "Running now" on the screen too.
    scan_box = page.locator("#scan").bounding_box()
    running_box = page.locator("#running").bounding_box()
    assert scan_box is not None and running_box is not None
    assert scan_box["y"] < running_box["y"]


def test_the_skip_links_lead_to_the_scan_field_and_to_what_runs(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    page = browser_page
    _encounter, newest = _chart_with_two_running(live_server, page)
    skip_scan = page.get_by_test_id("skip-scan")
    expect(skip_scan).not_to_be_in_viewport()  # hidden until focused
    page.evaluate(FROM_THE_TOP)
    page.keyboard.press("Tab")
    expect(skip_scan).to_be_focused()
    expect(skip_scan).to_be_in_viewport()
    expect(skip_scan).to_have_text("Skip to scan")
    _outlined(page)
    page.screenshot(path="test-artifacts/chart-keyboard-skip-link.png")
    page.keyboard.press("Enter")
    expect(page.locator("[data-scan-field]")).to_be_focused()

    page.reload()
    page.evaluate(FROM_THE_TOP)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("skip-running")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#running")).to_be_focused()
    _tabs_until(page, f"#adm-{newest.pk} [data-testid=stop]", STOP_AFTER_SKIP)
    expect(page.locator(f"#adm-{newest.pk} [data-testid=stop]")).to_be_in_viewport()
