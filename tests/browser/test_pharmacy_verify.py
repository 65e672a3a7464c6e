"""The pharmacist's verify, in real Chromium (walk18): the answer's "Recently verified" rows go
out of band into their own table. A bare <tbody> after the answer's <tr> is dropped by the HTML
parser, so its rows landed in the queue beside the verified one (the order twice, every recent
verification listed as if waiting) and "Recently verified" never changed. And the verified order
leaves the queue (QA: it stayed there with a Verified badge, under "Recently verified" too, both
rows with one id): a line in its place says where it went, and no id is on the page twice."""

import pytest

from mar.pharmacy.services import order_verify
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "() => [...document.querySelectorAll('main table tbody')].map(b => b.rows.length)"
IDS_TWICE = """() => {
  const seen = {};
  document.querySelectorAll('[id]').forEach(e => { seen[e.id] = (seen[e.id] || 0) + 1; });
  return Object.keys(seen).filter(id => seen[id] > 1);
}"""


def test_a_verify_moves_the_order_into_recently_verified_and_nothing_else(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    pharmacist = factories.user_create(username="pharmacist-v", role="pharmacist")
    encounter, _adm = running_visit()
    earlier = factories.order_create(encounter, factories.drug_get("diphenhydramine"), dose="25 mg")
    order_verify(order=earlier, user=pharmacist)
    waiting = [
        factories.order_create(encounter, factories.drug_get(name), dose="8 mg")
        for name in ("ondansetron", "famotidine")
    ]
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    recent = page.locator("#recently-verified")
    before = page.evaluate(ROWS)
    recent_before = recent.locator("tr").count()
    to_verify = int(page.locator("#to-verify-count").inner_text())  # with the running visit's
    assert recent_before >= 1  # the earlier verification

    row = page.locator(f"#order-{waiting[0].pk}")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="✓ Verify").click()
    expect(recent.locator(f"#order-{waiting[0].pk}")).to_have_count(1)
    queue = page.locator("#to-verify-orders")
    done = queue.get_by_test_id("order-verify-done")
    expect(done).to_contain_text("Verified: ondansetron")
    expect(done).to_contain_text("listed below, under “Recently verified”")
    page.screenshot(path=str(ARTIFACTS / "pharmacy-verify.png"), full_page=True)
    after = page.evaluate(ROWS)
    assert after[0] == before[0]  # the queue: its row is the line saying where it went
    assert recent.locator("tr").count() == recent_before + 1
    expect(page.locator(f"#order-{waiting[0].pk}")).to_have_count(1)  # listed once
    expect(queue.locator(f"#order-{waiting[0].pk}")).to_have_count(0)
    expect(queue.get_by_test_id("order-verified")).to_have_count(0)  # no Verified row left
    expect(queue.locator(f"#order-{earlier.pk}")).to_have_count(0)
    expect(queue.locator(f"#order-{waiting[1].pk}").get_by_role("button")).to_have_text("✓ Verify")
    expect(page.locator("#to-verify-count")).to_have_text(str(to_verify - 1))
    assert page.evaluate(IDS_TWICE) == []

    # The next one, from the same page: the line and the row move the same way.
    queue.locator(f"#order-{waiting[1].pk}").get_by_role("button", name="✓ Verify").click()
    expect(recent.locator(f"#order-{waiting[1].pk}")).to_have_count(1)
    expect(queue.get_by_test_id("order-verify-done")).to_have_count(2)
    expect(page.locator("#to-verify-count")).to_have_text(str(to_verify - 2))
    assert page.evaluate(IDS_TWICE) == []
    page.screenshot(path=str(ARTIFACTS / "pharmacy-verify-both.png"), full_page=True)


def test_a_returned_order_verified_leaves_the_returned_section_for_recently_verified(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    from mar.pharmacy.services import order_return

    pharmacist = factories.user_create(username="pharmacist-vr", role="pharmacist")
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    order_return(order=order, reason="Dose over the maximum", user=pharmacist)
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    expect(page.locator("#returned-count")).to_have_text("1")
    returned = page.locator("#returned-orders")
    returned.locator(f"#order-{order.pk}").get_by_role("button", name="✓ Verify").click()
    expect(returned.get_by_test_id("order-verify-done")).to_contain_text("Verified: ondansetron")
    expect(page.locator(f"#recently-verified #order-{order.pk}")).to_have_count(1)
    expect(page.locator(f"#order-{order.pk}")).to_have_count(1)
    expect(page.locator("#returned-count")).to_have_text("0")
    assert page.evaluate(IDS_TWICE) == []
    page.screenshot(path=str(ARTIFACTS / "pharmacy-verify-returned.png"), full_page=True)
