"""screens.md: every screen works at 768 px wide. The coder's review page and the pharmacist's
order queue keep within the window at 768 and 1024 px: a wide table scrolls in its own box
(Bootstrap's .table-responsive) instead of pushing the page sideways. On the review page no table
is wider than its box at all: stacked below 1200 px (1024: the record's tables do not fit a half),
side by side from there (1280, 1440, 1920; screens.md: the charge lines left, the record and
findings right)."""

import pytest

from coding.review import review_claim
from mar.models import DrugClass, Order
from mar.pharmacy.services import order_class_override, order_verify
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


TABLES_CUT = """() => [...document.querySelectorAll('main table')]
  .map(t => { const box = t.parentElement;
    return [t.dataset.testid || t.className, Math.ceil(t.scrollWidth), box.clientWidth]; })
  .filter(([, table, box]) => table > box + 1)"""


def tables_cut(page) -> list[str]:
    """The tables wider than the box that shows them: their columns hide behind its edge."""
    return [f"{name}: {table} px in {box} px" for name, table, box in page.evaluate(TABLES_CUT)]


def overflow(page) -> int:
    """How far the page reaches beyond the window, in CSS pixels (0: it fits)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


@pytest.mark.parametrize("width", [768, 1024, 1280, 1440, 1920])
def test_the_review_page_and_the_order_queue_fit_the_window(
    browser_page, live_server, width
) -> None:
    # The widest badges the record shows: a verification with a long name, a class override.
    pharmacist = factories.user_create(
        username="pharmacist-with-a-rather-long-name", role="pharmacist"
    )
    coder = factories.user_create(username="coder-w", role="coder")
    admin = factories.user_create(username="admin-w", role="admin")
    encounter, _, item = reviewed()
    orders = list(Order.objects.filter(encounter=encounter).order_by("pk"))
    order_class_override(
        order=orders[-1], drug_class=DrugClass.CHEMO, reason="oncology protocol", user=pharmacist
    )
    for order in orders[:-1]:
        order_verify(order=order, user=pharmacist)
    review_claim(user=coder, item_id=item.pk)
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})

    sign_in(page, live_server, "coder-w")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    page.wait_for_selector("[data-testid=accept]")
    page.screenshot(path=str(ARTIFACTS / f"coder-review-{width}.png"), full_page=True)
    assert overflow(page) == 0
    # Each of the review page's tables (charge lines, the record's orders and administrations)
    # shows every column: none is wider than its box, so nothing hides behind a scroll edge.
    assert page.locator("table").count() >= 3
    assert tables_cut(page) == []
    page.goto(f"{live_server.url}/coding/worklist/")
    assert overflow(page) == 0

    # An admin's nav is the widest; the pharmacist's queue with its recent verifications.
    page.context.clear_cookies()
    sign_in(page, live_server, admin.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    page.screenshot(path=str(ARTIFACTS / f"pharmacy-orders-{width}.png"), full_page=True)
    assert overflow(page) == 0
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    assert overflow(page) == 0
    assert tables_cut(page) == []


COLUMNS = """() => ['review-lines-column', 'review-record-column'].map(id => {
  const r = document.querySelector(`[data-testid=${id}]`).getBoundingClientRect();
  return {left: Math.round(r.left), right: Math.round(r.right), top: Math.round(r.top)}; })"""


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (1199, 768), (1200, 768), (1280, 900)])
def test_the_review_page_has_charge_lines_left_and_the_record_right_from_1200_px(
    browser_page, live_server, width, height
) -> None:
    """screens.md: the charge lines on the left, the record and findings on the right (QA: one
    long column at 1024 px: side by side there the record's tables were cut, so it stays stacked
    below 1200). Side by side, each charge line's "why" sits
    under its line inside the left column, and nothing is cut or scrolls sideways."""
    factories.user_create(username="coder-cols", role="coder")
    encounter, _, _item = reviewed()
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, "coder-cols")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    page.wait_for_selector("[data-testid=charge-lines]")
    page.screenshot(path=str(ARTIFACTS / f"coder-review-columns-{width}.png"), full_page=True)
    lines, record = page.evaluate(COLUMNS)
    if width < 1200:
        assert record["top"] > lines["top"] and record["left"] == lines["left"]
    else:
        assert record["top"] == lines["top"] and record["left"] >= lines["right"]
        why = page.locator("[data-testid=charge-line] > td:last-child").first.bounding_box()
        code = page.locator("[data-testid=charge-line] > td:first-child").first.bounding_box()
        assert why is not None and code is not None
        assert why["x"] + why["width"] <= lines["right"] + 1
        if width < 1400:  # under its line, the table's width
            assert why["y"] >= code["y"] + code["height"] - 1
    assert overflow(page) == 0
    assert tables_cut(page) == []
