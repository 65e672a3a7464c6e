"""A tap on the addendum's query tick straight from a time it cannot read is not lost (QA: the
time's message, inserted as the field lost focus, pushed the form down and the tap on "It
answers the coder's query" landed on nothing). The message waits until the tap is done, as it
does for a button (static/js/chart.js, `PRESSABLE`): the box is ticked, then the message shows."""

import pytest

from coding.models import ReviewItem
from coding.review import query_send, review_claim
from coding.services import charge_run_generate
from tests import factories
from tests.browser.card_saving import SAVE_WAIT
from tests.browser.test_chart_typing_kept import open_chart
from tests.coding.review_helpers import hydration_and_ondansetron

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_tap_on_the_query_tick_straight_from_a_wrong_time_ticks_it(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter = hydration_and_ondansetron(hydration_ordered=False)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    coder = factories.user_create(username="coder-tap", role="coder")
    item = review_claim(user=coder, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    query = query_send(
        item=item, user=coder, finding=run.findings.get(rule="RAC-1"),
        question="Is there an order for hydration?",
    )  # fmt: skip
    page = browser_page
    open_chart(page, live_server, encounter, "?addendum=1")
    at = page.locator("#id_addendum-flush_at")
    at.fill("25:99")
    expect(at).to_be_focused()
    tick = page.locator(f"input[name='addendum-answers'][value='{query.pk}']")
    tick.click()
    expect(tick).to_be_checked()
    expect(page.locator("[data-testid=time24-hint]")).to_be_visible(timeout=SAVE_WAIT)
