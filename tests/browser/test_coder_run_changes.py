"""A coder in Chromium after an addendum changed the charges: the review page marks what changed
since the run before (coding/run_changes.py) beside each line's code, lists the line no longer
charged under the table, and the charge table still fits its box at 768 to 1920 px. After the
QA's steps (run 1 queried, two addenda), the worklist row says "charges changed since review" and
the review page's box "Changed since run 1 was reviewed by you on ..." lists each line changed
and both addenda, each linked to its entry."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import dateformat, timezone

from coding.models import ReviewItem
from coding.review import query_send, review_claim
from coding.services import charge_run_generate
from mar.models import Administration
from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_widths import tables_cut
from tests.coding.review_helpers import (
    addendum_for_test,
    dexamethasone_addenda,
    dexamethasone_visit,
    reviewed,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/run-changes-shots")

# The charge table's header words wider than their cells, and run badges past their cell's edge.
OVERRUNS = """() => {
  const out = [];
  for (const th of document.querySelectorAll("[data-testid=charge-lines] thead th")) {
    if (th.offsetParent && th.scrollWidth > th.clientWidth + 1) out.push("th " + th.textContent);
  }
  for (const badge of document.querySelectorAll("[data-testid=run-change]")) {
    const cell = badge.closest("td").getBoundingClientRect();
    const right = badge.getBoundingClientRect().right;
    if (right > cell.right + 1) out.push("badge " + badge.textContent);
  }
  return out;
}"""


def test_the_coder_sees_what_the_addendum_changed_beside_each_line(
    browser_page, live_server
) -> None:
    SHOTS.mkdir(exist_ok=True)
    coder = factories.user_create(username="coder-rc", role="coder")
    encounter, first, _ = reviewed()
    hydration = first.lines.get(code="96361")
    with transaction.atomic():  # the signed-record guard wants both in one transaction
        addendum_for_test(encounter, coder)
        chemo = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=chemo.pk).update(stop=chemo.start + timedelta(minutes=130))
        fluid = Administration.objects.get(encounter=encounter, purpose="hydration")
        Administration.objects.filter(pk=fluid.pk).update(stop=fluid.start + timedelta(minutes=20))
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created

    page = browser_page
    sign_in(page, live_server, "coder-rc")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    marker = page.locator("[data-testid=charge-line][data-code='96415'] [data-testid=run-change]")
    assert marker.is_visible() and marker.inner_text() == "was ×2 in run 1"
    assert page.locator("[data-testid=run-change]").count() == 1
    gone = page.locator("[data-testid=run-gone]")
    assert gone.is_visible()
    assert gone.inner_text() == (
        f"No longer charged since run 1: 96361 ×{hydration.units} "
        f"({', '.join(hydration.administrations)})"
    )
    # Runs named by their number in the encounter, the global id in the tooltip.
    assert "(run 2," in page.inner_text("main")
    assert marker.get_attribute("title") == f"charge run #{first.pk}"
    assert page.locator(f"[title='charge run #{run.pk}']").first.inner_text() == "run 2"
    for width in (768, 1024, 1366, 1440, 1920):
        page.set_viewport_size({"width": width, "height": 1024})
        assert not tables_cut(page), width
        assert marker.is_visible()
        # Each header's word fits its column ("Units", "Mod." never run together) and the
        # run's badge stays inside the code's cell (QA at 1366 px: it spilled over the next).
        assert page.evaluate(OVERRUNS) == [], width
        if width == 1366:
            page.screenshot(path=str(SHOTS / "review-run-changes-1366.png"))
    page.set_viewport_size({"width": 1024, "height": 1024})
    page.screenshot(path=str(SHOTS / "review-run-changes.png"), full_page=True)


def test_the_qa_steps_the_coder_sees_what_changed_since_she_queried_run_1(
    browser_page, live_server
) -> None:
    """QA: the coder reviewed run 1 and sent a query; the nurse answered with two addenda (the
    dexamethasone stop two minutes later, then a missed flush); the coder comes back. 96375 x2
    became 96375 x1 + 96367 x1: the worklist says the charges changed since review, and the box
    at the top of the charges says how, with both addenda's reasons, not only the flush's."""
    SHOTS.mkdir(exist_ok=True)
    coder = factories.user_create(username="coder-qa", role="coder")
    nurse = factories.user_create(username="nurse-qa", role="nurse")
    encounter = dexamethasone_visit(nurse=nurse)
    charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder, item_id=item.pk)
    query = query_send(
        item=item, user=coder, finding=None, question="Was the dexamethasone a push?"
    )
    dexamethasone_addenda(encounter, nurse)

    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, "coder-qa")
    page.goto(f"{live_server.url}/coding/worklist/")
    row = page.locator(f"[data-testid=worklist-row][data-encounter='{encounter.pk}']")
    badge = row.locator("[data-testid=changed-since-review]")
    assert badge.is_visible() and badge.inner_text() == "charges changed since review"
    row.get_by_role("link", name=encounter.patient.name).click()
    page.wait_for_url(f"**/coding/encounters/{encounter.pk}/")
    box = page.locator("[data-testid=since-review]")
    assert box.is_visible()
    on = dateformat.format(timezone.localtime(query.asked_at), "j M H:i")
    assert box.locator("h3").inner_text() == f"Changed since run 1 was reviewed by you on {on}"
    # Above the lines: the box is the first thing under the charges' heading.
    assert box.bounding_box()["y"] < page.locator("[data-testid=charge-lines]").bounding_box()["y"]
    lines = box.locator("[data-testid=since-review-line]")
    assert [lines.nth(n).get_attribute("data-kind") for n in range(lines.count())] == [
        "changed",
        "added",
    ]
    assert (
        lines.nth(0).locator("[data-testid=since-review-was]").inner_text().startswith("96375 ×2")
    )
    assert (
        lines.nth(0).locator("[data-testid=since-review-now]").inner_text().startswith("96375 ×1")
    )
    assert (
        lines.nth(1).locator("[data-testid=since-review-now]").inner_text().startswith("96367 ×1")
    )
    addenda = box.locator("[data-testid=since-review-addendum]")
    assert addenda.count() == 2
    assert "stop time charted from the pump" in addenda.nth(0).inner_text()
    assert "flush given and not charted" in addenda.nth(1).inner_text()
    page.screenshot(path=str(SHOTS / "review-since-review-1440.png"))
    # Each reason links to its addendum in the record's Addenda list.
    addenda.nth(0).get_by_role("link", name="Addendum").click()
    target = page.locator("[data-testid=addendum]:target")
    assert target.count() == 1 and target.is_visible()
    assert "stop" in target.inner_text()
    for width in (768, 1024, 1440, 1920):
        page.set_viewport_size({"width": width, "height": 1024})
        assert not tables_cut(page), width
        assert box.is_visible()
