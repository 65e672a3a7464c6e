"""The pharmacist's verify, in real Chromium (walk18): the answer's "Recently verified" rows go
out of band into their own table. A bare <tbody> after the answer's <tr> is dropped by the HTML
parser, so its rows landed in the queue beside the verified one (the order twice, every recent
verification listed as if waiting) and "Recently verified" never changed."""

import pytest

from mar.pharmacy.services import order_verify
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "() => [...document.querySelectorAll('main table tbody')].map(b => b.rows.length)"


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
    assert recent_before >= 1  # the earlier verification

    row = page.locator(f"#order-{waiting[0].pk}").first
    row.get_by_role("button", name="✓ Verify").click()
    expect(recent.locator(f"#order-{waiting[0].pk}")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "pharmacy-verify.png"), full_page=True)
    after = page.evaluate(ROWS)
    assert after[0] == before[0]  # the queue: the same rows, this one now marked verified
    assert recent.locator("tr").count() == recent_before + 1
    queue = page.locator("main table").first
    expect(queue.locator(f"#order-{waiting[0].pk}")).to_have_count(1)
    expect(queue.locator(f"#order-{earlier.pk}")).to_have_count(0)
    expect(queue.locator(f"#order-{waiting[1].pk}").get_by_role("button")).to_have_text("✓ Verify")
