"""A running infusion's "Rate change…" at the bedside tablet's widths (768, 1024, 1180 and 1440
px): its fields never overlap and its button's word stays on one line ("Chang / e" at 1024 px,
where the chart's working column is seven twelfths of the window: QA walkthrough)."""

import pytest

from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOXES = """form => [...form.querySelectorAll('input:not([type=hidden]), select, button')]
  .map(el => { const r = el.getBoundingClientRect();
    const text = document.createRange(); text.selectNodeContents(el);
    const lines = new Set([...text.getClientRects()].map(line => Math.round(line.top))).size;
    return {name: el.name || el.textContent.trim(), x: r.left, y: r.top, w: r.width, h: r.height,
            lines: el.tagName === 'BUTTON' ? lines : 1}; })"""


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if (
                a["x"] < b["x"] + b["w"] - 1
                and b["x"] < a["x"] + a["w"] - 1
                and a["y"] < b["y"] + b["h"] - 1
                and b["y"] < a["y"] + a["h"] - 1
            ):
                pairs.append((a["name"], b["name"]))
    return pairs


@pytest.mark.parametrize("width", [768, 1024, 1180, 1440])
def test_the_rate_change_form_fits_the_card(browser_page, live_server, width) -> None:
    nurse = factories.user_create(username=f"nurse-rate-{width}", role="nurse")
    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"#adm-{adm.pk}")
    card.locator("summary", has_text="Rate change").click()
    form = card.get_by_test_id("rate-form")
    boxes = form.evaluate(BOXES)
    assert overlapping(boxes) == [], f"at {width} px"
    button = next(b for b in boxes if b["name"] == "Change")
    assert button["lines"] == 1, f"the button's word wraps at {width} px"
    form.screenshot(path=str(ARTIFACTS / f"rate-form-{width}.png"))
