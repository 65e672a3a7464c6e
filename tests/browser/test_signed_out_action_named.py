"""An action refused because the session had ended is named with what it was on (walk20): after
signing in again the page said "Not done while you were signed out: Chart. Do it again." for
the measures' Chart button, and a card's "Pause" or "Stop now" named no drug."""

import pytest
from django.contrib.sessions.models import Session

from tests.browser.test_chart_saving import sign_in_again
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_actions_not_done_while_signed_out_say_what_they_were_on(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    Session.objects.all().delete()  # idle sign-off on the server

    page.evaluate("() => { document.querySelector('#id_m-value').closest('details').open = true; }")
    page.fill("#id_m-value", "172")
    page.locator("[data-testid=measure-form] button[type=submit]").click()
    expect(page.locator("[data-testid=session-dialog]")).to_be_visible()
    # The dialog promises what it does: a button pressed meanwhile is named, not done later.
    expect(page.get_by_test_id("session-why")).to_contain_text(
        "a button pressed meanwhile is named for you to press again"
    )
    expect(page.get_by_test_id("session-sign-in")).to_have_text("Sign in again")
    sign_in_again(page)
    said = page.locator("#messages .alert")
    expect(said).to_contain_text("Not done while you were signed out")
    assert "Chart (Height, weight, creatinine)" in said.inner_text()
    assert page.input_value("#id_m-value") == "172"  # what she typed is still there
    # ...and beside the form she pressed, brought into view (QA: the top message was out of
    # sight); sent again, the note goes.
    beside = page.locator("[data-testid=measure-form] [data-testid=not-done]")
    expect(beside).to_have_text("Not done while you were signed out: press it again.")
    expect(beside).to_be_in_viewport()
    page.locator("[data-testid=measure-form] button[type=submit]").click()
    expect(beside).to_have_count(0)

    Session.objects.all().delete()
    page.locator(f"#adm-{adm.pk} [data-testid=pause]").click()
    sign_in_again(page)
    expect(said).to_contain_text(f"Pause (carboplatin A{adm.pk})")
