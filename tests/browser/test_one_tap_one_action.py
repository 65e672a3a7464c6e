"""A double tap is one action (walk20): a second tap on Pause, while the first was on its way,
sent the pause again and the card came back with "carboplatin is already paused." in red under
the pause she had just made. While an action's request is on its way its buttons wait (as Flush
now's did); the cards' own saves queue as before."""

import pytest

from mar.models import Pause
from tests.browser.test_chart_saving import slow_network
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("button", ["pause", "stop"])
def test_a_double_tap_on_pause_or_stop_sends_it_once_and_says_nothing_wrong(
    browser_page, live_server, button: str
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    slow_network(page, latency_ms=300)  # hospital Wi-Fi: the second tap lands mid-request
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    card = page.locator(f"#adm-{adm.pk}")
    card.locator(f"[data-testid={button}]").dblclick()
    done = "Paused" if button == "pause" else "Stopped"
    expect(card).to_contain_text(done, timeout=20_000)
    page.wait_for_timeout(1500)  # a second request, had it gone, would have come back by now
    assert [url for url in posts if f"/administrations/{adm.pk}/" in url] == [
        f"{live_server.url}/mar/encounters/{encounter.pk}/administrations/{adm.pk}/{button}/"
    ]
    assert "already" not in card.inner_text()
    if button == "pause":
        assert Pause.objects.filter(administration=adm).count() == 1
