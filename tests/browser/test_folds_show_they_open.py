"""A fold that is not a button shows that a tap opens it (walk19), in real Chromium.

The chart's folds ("Assess condition…", "Device and gauge…", "Details" on a site, the arrival,
"Orders already given") were flex boxes, which draw no disclosure triangle: they read as plain
text, nothing said they open. Each shows its triangle before its words, keeps its 44 px target,
and a tap opens it.
"""

import pytest

from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# How far a summary's words stand from its left edge (its triangle is drawn there), its height.
GEOMETRY = """(s) => {
  const words = document.createRange();
  words.selectNodeContents(s);
  const box = s.getBoundingClientRect();
  return [words.getClientRects()[0].left - box.left, box.height];
}"""


@pytest.mark.parametrize("fold", ["Assess condition", "Device and gauge", "Details", "Arrival"])
def test_a_fold_on_the_chart_shows_its_triangle_and_opens_on_a_tap(
    browser_page, live_server, fold
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    summary = page.locator("details > summary:not(.btn)", has_text=fold).first
    indent, height = summary.evaluate(GEOMETRY)
    assert indent >= 10, f"{fold!r}: its words start {indent:.1f} px in: no triangle before them"
    assert height >= 44
    summary.click()
    expect(summary.locator("xpath=..")).to_have_attribute("open", "")


def test_a_running_card_s_button_folds_sit_side_by_side_until_one_opens(
    browser_page, live_server
) -> None:
    """walk19: at 768 px "Rate change…", "Volumes…" and "Charted in error…" each took a line of
    their own on a running card. Closed, they sit on one line; the one opened spans the card
    with its form, the others stay reachable below it."""
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    card = page.locator(f"#adm-{adm.pk} [data-testid=adm-care]")
    names = ("Rate change", "Volumes", "Charted in error")
    summaries = [card.locator("details > summary.btn", has_text=name) for name in names]
    tops = [s.bounding_box()["y"] for s in summaries]
    assert max(tops) - min(tops) < 2, f"closed folds not on one line: {tops}"
    summaries[0].click()
    form = card.locator("[data-testid=rate-form]")
    expect(form).to_be_visible()
    width = card.bounding_box()["width"]
    assert form.bounding_box()["width"] > 0.9 * width
    rest = [s.bounding_box()["y"] for s in summaries[1:]]
    assert min(rest) > form.bounding_box()["y"]  # below the opened form, still on the card
