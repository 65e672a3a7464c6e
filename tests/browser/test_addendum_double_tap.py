"""A double tap on "Save as addendum" is one addendum (QA walkthrough: the second tap, sent
while the first was on its way, was refused; the card then showed the red "This record is
signed… (say why)" with its Why emptied and "1 unsaved change", although the addendum had been
saved). While the save is on its way its button waits (as an action's does: static/js/chart.js
"One tap, one action") and the card's queue sends nothing more of what is already on its way:
one POST, one addendum, the card drawn saved, nothing said wrong."""

from decimal import Decimal

import pytest

from mar.models import Addendum, Administration
from tests.browser.card_saving import SAVE_WAIT, unfold
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_saving import slow_network
from tests.browser.test_chart_typing_kept import open_chart
from tests.coding.review_helpers import hydration_and_ondansetron

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("how", ["dblclick", "enter-twice"])
def test_a_double_tap_on_save_as_addendum_saves_one_addendum_and_says_nothing_wrong(
    browser_page, live_server, how: str
) -> None:
    from playwright.sync_api import expect

    encounter = hydration_and_ondansetron()  # signed; ondansetron 8 mg pushed
    adm = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    page = browser_page
    open_chart(page, live_server, encounter, "?addendum=1")  # the chart's Addendum opened
    unfold(page, adm.pk)
    card = page.locator(f"#adm-{adm.pk}")
    dose = page.locator(f"#id_a{adm.pk}-dose_value")
    why = page.locator(f"#id_a{adm.pk}-addendum_why")
    dose.fill("4")
    why.fill("4 mg given, 8 mg charted in error")
    slow_network(page, latency_ms=400)  # the second tap lands while the first is on its way
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    button = card.get_by_role("button", name="Save as addendum")
    if how == "dblclick":
        button.dblclick()
    else:
        why.press("Enter")  # a text field's Enter submits; pressed twice, quickly
        why.press("Enter")
    expect(page.locator("#messages")).to_contain_text("saved as an addendum", timeout=SAVE_WAIT)
    page.wait_for_timeout(1500)  # a second request, had it gone, would have come back by now
    sent = [url for url in posts if f"/administrations/{adm.pk}/" in url]
    assert sent == [f"{live_server.url}/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"]
    assert Administration.objects.get(pk=adm.pk).dose_value == Decimal(4)
    assert Addendum.objects.filter(encounter=encounter).count() == 1
    # The card drawn as saved: the dose saved, its Why cleared for the next, nothing red.
    expect(dose).to_have_value("4")
    expect(why).to_have_value("")
    assert "This record is signed" not in card.inner_text()
    expect(card.locator(".is-invalid, .alert-danger")).to_have_count(0)
    expect(card.get_by_test_id("save-state")).not_to_contain_text("Not saved")
    expect(page.get_by_test_id("unsaved-count")).to_be_hidden()
    expect(button).to_be_enabled()  # and ready for the next addendum
    card.screenshot(path=str(ARTIFACTS / f"addendum-double-tap-{how}.png"))
