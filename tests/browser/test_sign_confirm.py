"""Signing asks for a confirmation that says what is signed (bedside finding 1), in real
Chromium: the sign-off panel counts the administrations and flushes and says that after signing
changes need an addendum; Sign without its box ticked is refused beside the box and signs nothing
(with htmx and without JavaScript); the box ticked survives the checklist's 60-second refresh;
ticked, the record signs. Screenshots sign-confirm-refused.png, sign-confirm-nojs.png."""

import pytest

from mar.models import Encounter
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAID = "You are signing 3 administrations and 1 flush."
LOCKED = "After signing, the record is locked: changes need an addendum."
REFUSED = "Tick the box to confirm what you are signing"


def test_sign_without_the_box_is_refused_beside_it_and_with_it_the_record_signs(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-sc", role="nurse")
    encounter = factories.chemo_encounter_create()
    page = browser_page
    page.clock.install()
    sign_in(page, live_server, "nurse-sc")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    confirm = page.get_by_test_id("sign-confirm")
    expect(confirm).to_contain_text(SAID)
    expect(confirm).to_contain_text(LOCKED)

    page.get_by_test_id("sign").click()
    expect(page.locator("#error_1_id_confirm")).to_contain_text(REFUSED)
    expect(page.get_by_test_id("signed")).to_have_count(0)
    assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.IN_PROGRESS
    page.get_by_test_id("sign-form").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "sign-confirm-refused.png"))

    # Ticked, then the checklist refreshes (its sign-off out of band): still ticked.
    page.locator("#id_confirm").check()
    with page.expect_response(lambda r: "/checklist/" in r.url):
        page.clock.run_for(61_000)
    expect(page.locator("#id_confirm")).to_be_checked()
    page.get_by_test_id("sign").click()
    expect(page.get_by_test_id("signed")).to_be_visible()
    assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.SIGNED


def test_without_javascript_the_box_is_asked_for_by_the_server(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-scn", role="nurse")
    encounter = factories.chemo_encounter_create()
    context = browser_page.context.browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "nurse-scn")
        page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
        page.get_by_test_id("sign").click()
        expect(page.locator("#error_1_id_confirm")).to_contain_text(REFUSED)
        expect(page.get_by_test_id("sign-confirm")).to_contain_text(SAID)
        assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.IN_PROGRESS
        page.get_by_test_id("sign-form").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "sign-confirm-nojs.png"))
        page.locator("#id_confirm").check()
        page.get_by_test_id("sign").click()
        expect(page.get_by_test_id("signed")).to_be_visible()
    finally:
        context.close()
