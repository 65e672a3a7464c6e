"""Issue 19: a start's answer sends only what a start changes, out of band: its order's row (out
of the orders to give and in among the orders given, or in place when given again), the new card
on top of what runs or of the administrations. In real Chromium, after each start and stop the
page htmx left shows what a fresh load of the chart shows: the same rows to give and given, in
the same order and saying the same, the same count of orders given, the same cards running in
the same order, every card once (an insertion that left its wrapper on the page put the next card
in twice), none missing (a card stopped from "Running now" stays there until the page is drawn
again; a start that sends "Running now" whole moves it among the administrations, where a fresh
load has it), and the administrations in a fresh load's order."""

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
    running: all('#running-list > .adm-running').map((c) => c.id),
    others: all('#administrations-list > [data-testid=adm-card]').map((c) => c.id),
    cards: all('[data-testid=adm-card]').map((c) => c.id).sort(),
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
    fresh_tab = page.context.browser.new_context()  # the same session, another tab
    fresh_tab.add_cookies(page.context.cookies())
    fresh_page = fresh_tab.new_page()

    # A middle order first (the section whole), then the last, pushes on top of the
    # administrations; an infusion, stopped from its card (it stays in "Running now"), then
    # another on the other site ("Running now" sent whole: the stopped one moves down), one on
    # top of it; that one stopped and a push given again ("Running now" not sent: it stays).
    steps = [
        ("start", "diphenhydramine", "push", first_site),
        ("start", "dexamethasone", "push", first_site),
        ("start", "sodium chloride", "infusion", first_site),
        ("stop", "sodium chloride", None, None),
        ("start", "famotidine", "infusion", second_site),
        ("start", "ondansetron", "infusion", first_site),
        ("stop", "famotidine", None, None),
        ("start", "dexamethasone", "push", second_site),
    ]
    cards = 0
    for step, (action, name, method, site) in enumerate(steps):
        if action == "start":
            row = page.locator("[data-testid=order-row]", has_text=name)
            if not row.is_visible():  # given before: under "Orders already given"
                page.locator("#orders-given > summary").click()
            row.locator("select[name$='-method']").select_option(method)
            row.locator("select[name$='-site']").select_option(str(site.pk))
            # Charted late, five minutes apart, in order: each stop (now) is after its start.
            at = (now - timedelta(minutes=50 - 5 * step)).astimezone(factories.NEW_YORK)
            row.locator("input[name$='-at']").fill(at.strftime("%Y-%m-%d %H:%M"))
            row.locator("[data-testid=start]").click()
            cards += 1
            expect(page.locator("[data-testid=adm-card]")).to_have_count(cards)
        else:
            card = page.locator("#running-list > .adm-running", has_text=name)
            card.locator("[data-testid=stop]").click()
            expect(page.locator("#running-list > .adm-running", has_text=name)).to_have_count(0)
        swapped = page.evaluate(SHOWN)
        assert swapped["twice"] == [], f"after {action} {name}"
        fresh_page.goto(chart)  # this page goes on as htmx left it
        fresh = fresh_page.evaluate(SHOWN)
        # A card stopped from "Running now" may still be there: the rest is as a fresh load.
        assert {**swapped, "others": None} == {**fresh, "others": None}, f"after {action} {name}"
        assert swapped["others"] == [c for c in fresh["others"] if c in swapped["others"]]
    page.goto(chart)
    shown = page.evaluate(SHOWN)
    assert shown["to_give"] == [] and shown["count"] == "5"
    assert len(shown["running"]) == 1 and len(shown["others"]) == 5
    page.locator("#orders-given > summary").click()
    page.locator("#orders").screenshot(path=str(ARTIFACTS / "orders-given.png"))


def test_a_start_on_a_page_another_nurse_left_behind_draws_the_chart_again(
    browser_page, live_server
) -> None:
    """The answer to a start puts parts where the chart, as the server has it, has them: the
    first infusion running, the orders given. A page loaded before another nurse started the
    first of them shows neither: the parts with nowhere to go make the page draw the chart again
    (morphed in), and it then shows what a fresh load shows, nothing left out."""
    from playwright.sync_api import expect

    factories.user_create(username="nurse-p", role="nurse")
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    for name in ("ondansetron", "famotidine"):
        factories.order_create(encounter, factories.drug_get(name), dose="8 mg")
    page = browser_page
    sign_in(page, live_server, "nurse-p")
    chart = f"{live_server.url}/mar/encounters/{encounter.pk}/"
    page.goto(chart)  # this page stays as it is loaded now
    other_tab = page.context.browser.new_context()
    other_tab.add_cookies(page.context.cookies())
    other = other_tab.new_page()
    other.goto(chart)

    def start(on, name: str, minutes_ago: int) -> None:
        row = on.locator("[data-testid=order-row]", has_text=name)
        row.locator("select[name$='-method']").select_option("infusion")
        row.locator("select[name$='-site']").select_option(str(site.pk))
        at = (now - timedelta(minutes=minutes_ago)).astimezone(factories.NEW_YORK)
        row.locator("input[name$='-at']").fill(at.strftime("%Y-%m-%d %H:%M"))
        row.locator("[data-testid=start]").click()

    start(other, "ondansetron", 30)  # the other nurse: the first running, the first given
    expect(other.locator("#running-list > .adm-running")).to_have_count(1)
    start(page, "famotidine", 20)  # on top of a "Running now" this page does not have
    expect(page.locator("#running-list > .adm-running")).to_have_count(2)
    expect(page.locator("#orders-given > .order-row")).to_have_count(2)
    other.goto(chart)
    assert page.evaluate(SHOWN) == other.evaluate(SHOWN)
