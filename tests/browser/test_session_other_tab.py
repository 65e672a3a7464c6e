"""Signed out and in again in another tab of the same browser, while a chart is open with a
change on a card (the shared bedside tablet), in real Chromium:

- the same nurse signed in again: the page's security token is stale (signing in rotates it);
  the page takes a fresh one and the change is saved, the chart intact. With DEBUG on, as the
  demo runs, django-htmx's debug helper used to replace the whole page with the 403's text,
  losing everything typed;
- someone else signed in: the change is not sent under their name; the sign-in dialog says who
  is signed in and asks the page's nurse to sign in; then the change is saved, hers (audit).
"""

import re

import pytest

from mar.audit.models import EVENTS
from mar.models import Administration
from tests import factories
from tests.browser.card_saving import (
    SAVE_WAIT,
    save_state,
    type_and_wait_until_saved,
    type_into_card,
    wait_until_saved,
)
from tests.browser.test_chart_saving import sign_in_again
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_in_another_tab(page, live_server, username: str) -> None:
    """Sign out and in as `username` with the browser's cookies, as another tab would."""
    request = page.context.request

    def token(path: str) -> str:
        html = request.get(f"{live_server.url}{path}").text()
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert found, path
        return found.group(1)

    request.post(
        f"{live_server.url}/accounts/logout/",
        form={"csrfmiddlewaretoken": token("/mar/board/")},
    )
    answer = request.post(
        f"{live_server.url}/accounts/login/",
        form={
            "csrfmiddlewaretoken": token("/accounts/login/"),
            "username": username,
            "password": factories.PASSWORD,
        },
    )
    assert "/accounts/login/" not in answer.url, answer.url


def saved_by(adm_pk: int) -> int:
    event = (
        EVENTS[Administration]
        .objects.filter(pgh_obj_id=adm_pk, pgh_label="update")
        .latest("pgh_id")
    )
    return int(event.pgh_context.metadata["user"])


def test_the_same_nurse_signed_in_again_in_another_tab_saves_without_asking_even_in_debug(
    browser_page, live_server, settings
) -> None:
    from playwright.sync_api import expect

    settings.DEBUG = True  # as bin/demo runs
    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    sign_in_in_another_tab(page, live_server, "nurse-t")

    type_and_wait_until_saved(page, adm.pk, "bag", "B8")
    expect(page.locator("[data-testid=session-dialog]")).to_have_count(0)
    expect(page.locator(f"#id_a{adm.pk}-bag")).to_have_value("B8")
    assert Administration.objects.get(pk=adm.pk).bag == "B8"
    assert "django-htmx.js" not in page.content()


def test_someone_else_signed_in_in_another_tab_is_named_and_the_change_waits_for_her(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    factories.user_create(username="nurse-b", role="nurse")
    sign_in_in_another_tab(page, live_server, "nurse-b")

    type_into_card(page, adm.pk, "bag", "B9")
    dialog = page.locator("[data-testid=session-dialog]")
    expect(dialog).to_be_visible(timeout=SAVE_WAIT)
    expect(dialog).to_contain_text("nurse-b signed in on this device meanwhile")
    expect(save_state(page, adm.pk)).to_contain_text("Not saved")
    assert Administration.objects.get(pk=adm.pk).bag == ""  # not sent as nurse-b's

    sign_in_again(page)
    wait_until_saved(page, adm.pk)
    assert Administration.objects.get(pk=adm.pk).bag == "B9"
    assert saved_by(adm.pk) == factories.User.objects.get(username="nurse-t").pk
