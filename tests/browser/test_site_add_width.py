"""The "+ Add site" form's fields wrap within their column (QA at 1024 px: "Placed at" ran past
its column into the checklist column, its placeholder cut to "HH:MM or YYYY-MM-DD HH:N").
At 1024 and 768 px wide every field of the form ends inside the form, and the placed time's
input is wide enough for its placeholder. Screenshots go to test-artifacts/."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EDGES = """(form) => {
  const box = form.getBoundingClientRect();
  const placed = form.querySelector("input[name$='placed_at']");
  const fields = [...form.querySelectorAll("input:not([type=hidden]), select")];
  return {
    right: box.right,
    out: fields.filter((f) => f.getBoundingClientRect().right > box.right + 0.5).map((f) => f.name),
    placedRight: placed.getBoundingClientRect().right,
    placedCut: placed.scrollWidth > placed.clientWidth || placed.clientWidth < measure(placed),
  };
  function measure(input) {
    const c = document.createElement("canvas").getContext("2d");
    const s = getComputedStyle(input);
    c.font = s.font;
    const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
    return c.measureText(input.placeholder).width + pad;
  }
}"""


@pytest.mark.parametrize("width", [1024, 768])
def test_the_add_site_fields_stay_in_their_column(browser_page, live_server, width) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    factories.user_create(username="nurse-site-width", role="nurse")
    page = browser_page
    page.set_viewport_size({"width": width, "height": 768})
    sign_in(page, live_server, "nurse-site-width")
    page.goto(live_server.url + reverse("mar:encounter", args=[encounter.pk]))
    form = page.locator("[data-testid=site-form]")
    form.wait_for()  # no site yet: "+ Add site" is open
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"site-add-{width}.png"), full_page=False)
    edges = form.evaluate(EDGES)
    assert edges["out"] == [], edges
    assert edges["placedRight"] <= edges["right"] + 0.5, edges
    assert not edges["placedCut"], edges
    # Nor into the checklist beside it (the side column at 1024).
    side = page.locator(".chart-side")
    if side.is_visible():
        side_box = side.bounding_box()
        placed_box = form.locator("input[name$='placed_at']").bounding_box()
        if side_box["y"] < placed_box["y"] + placed_box["height"] and side_box["x"] > 0:
            assert placed_box["x"] + placed_box["width"] <= side_box["x"], (placed_box, side_box)
