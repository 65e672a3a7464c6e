"""Issue 19: a start's answer sends only what a start changes, out of band: its order's row (out
of the orders to give and in among the orders given, or in place when given again), the new card
on top of what runs or of the administrations. In real Chromium, after each start the page htmx
left is the one a fresh load of the chart shows: the same rows to give and given, in the same
order and saying the same, the same count of orders given, the same cards in the same order,
and no id twice (an insertion that left its wrapper on the page would put the next card in
twice)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import DrugClass, Order
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOWN = """() => {
  const text = (e) => e.textContent.replace(/\\s+/g, ' ').trim();
  const all = (selector) => [...document.querySelectorAll(selector)];
  const row = (r) => [
    r.id, text(r.querySelector('.order-what')), !!r.querySelector('[data-testid=start]'),
  ];
  const ids = all('[id]').map((e) => e.id);
  return {
    to_give: all('#orders > .order-row').map(row),
    given: all('#orders-given > .order-row').map(row),
    count: document.querySelector('#orders-given-count')?.textContent ?? null,
    running: all('#running-list > [data-testid=adm-card]').map((c) => c.id),
    others: all('#administrations-list > [data-testid=adm-card]').map((c) => c.id),
    twice: ids.filter((id, i) => ids.indexOf(id) !== i),
  };
}"""


def test_after_each_start_the_chart_is_as_a_fresh_load_shows_it(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-o", role="nurse")
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    first_site = factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    second_site = factories.site_create(
        encounter, placed_at=now - timedelta(hours=1), location="right forearm",
        separate_site_reason="the first site cannot take two drugs at once",
    )  # fmt: skip
    factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        purpose=Order.Purpose.HYDRATION, dose="1000 mL",
    )  # fmt: skip
    for name in ("ondansetron", "diphenhydramine", "famotidine", "dexamethasone"):
        factories.order_create(encounter, factories.drug_get(name), dose="8 mg")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nurse-o")
    chart = f"{live_server.url}/mar/encounters/{encounter.pk}/"
    page.goto(chart)

    # A middle order first (the section whole), then the last, pushes on top of the
    # administrations; infusions on one site and the other, each on top of what runs; the first
    # order, then one given again.
    starts = [
        ("diphenhydramine", "push", first_site),
        ("dexamethasone", "push", first_site),
        ("sodium chloride", "infusion", first_site),
        ("famotidine", "infusion", second_site),
        ("ondansetron", "infusion", first_site),
        ("dexamethasone", "push", second_site),
    ]
    for given, (name, method, site) in enumerate(starts, 1):
        row = page.locator("[data-testid=order-row]", has_text=name)
        if not row.is_visible():  # given before: under "Orders already given"
            page.locator("#orders-given > summary").click()
        row.locator("select[name$='-method']").select_option(method)
        row.locator("select[name$='-site']").select_option(str(site.pk))
        row.locator("[data-testid=start]").click()
        expect(page.locator("[data-testid=adm-card]")).to_have_count(given)
        swapped = page.evaluate(SHOWN)
        assert swapped["twice"] == [], f"after starting {name}"
        page.goto(chart)
        assert swapped == page.evaluate(SHOWN), f"after starting {name}"
    shown = page.evaluate(SHOWN)
    assert shown["to_give"] == [] and shown["count"] == "5"
    assert len(shown["running"]) == 3 and len(shown["others"]) == 3
    page.locator("#orders-given > summary").click()
    page.locator("#orders").screenshot(path=str(ARTIFACTS / "orders-given.png"))
