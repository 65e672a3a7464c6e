"""A request sent before the nurse signed in again, refused (401, the old session) after she did
(a slow save or a live check on hospital Wi-Fi), in real Chromium (static/js/session.js: each
request carries the sign-in generation it was sent in):

- the sign-in box does not open again over the chart she has just signed in to (it did);
- what it carried is not lost, nor sent twice: a card's save is sent again under the new
  session, once (the value saved once, the save line "Saved"); a button's form is named as not
  done, at once, at the top and beside it; a live check is asked again;
- a request sent after signing in and refused (the session really ended again) still opens
  the box.

The late answer is the server's own 401, held by the test (page.route) until she has signed in.
"""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from mar.models import Administration, Order, PatientMeasure
from tests import factories
from tests.browser.card_saving import SAVE_WAIT, type_into_card, unfold, wait_until_saved
from tests.browser.conftest import sign_in
from tests.browser.test_chart_saving import sign_in_again
from tests.browser.test_chart_typing_kept import open_chart
from tests.browser.test_forms_session import fill_order, sign_in_in_the_box, signed_out_here
from tests.mar.chart_helpers import hydration_order, running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class HeldFirst:
    """The first request to a URL goes to the server (answered as the server answers it then)
    and its answer is held until `release()`; later ones go through. Counts them all."""

    def __init__(self, page, url) -> None:
        self.page = page
        self.held: list = []
        self.later = 0
        page.route(url, self.handle)

    def handle(self, route) -> None:
        if self.held:
            self.later += 1
            route.continue_()
            return
        self.held.append((route, route.fetch()))

    def wait_until_held(self) -> None:
        for _ in range(400):
            if self.held:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError("the request was never sent")

    def release(self) -> int:
        """Answer the held request as the server did (its status)."""
        route, response = self.held[0]
        route.fulfill(response=response)
        return response.status


def two_running() -> tuple:
    encounter, adm = running_visit()
    fluid = factories.administration_create(
        encounter, hydration_order(encounter), site=adm.site,
        start=adm.start + timedelta(minutes=5), stop=None,
    )  # fmt: skip
    return encounter, adm, fluid


def test_a_save_refused_after_signing_in_again_is_sent_again_once_and_the_box_stays_shut(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm, fluid = two_running()
    version = adm.version
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    unfold(page, fluid.pk)
    dialog = page.locator("[data-testid=session-dialog]")
    slow = HeldFirst(page, f"**/administrations/{adm.pk}/")
    Session.objects.all().delete()  # idle sign-off on the server

    type_into_card(page, adm.pk, "bag", "B7")  # the slow save: refused, its answer on its way
    slow.wait_until_held()
    type_into_card(page, fluid.pk, "bag", "F1")  # the other card's save opens the box
    expect(dialog).to_be_visible(timeout=SAVE_WAIT)
    sign_in_again(page)
    wait_until_saved(page, fluid.pk)

    assert slow.release() == 401  # the old session's answer, after the sign-in
    state = wait_until_saved(page, adm.pk)
    page.wait_for_timeout(800)  # anything more it would do, done
    expect(dialog).to_be_hidden()
    expect(state).not_to_contain_text("signed out")
    expect(page.locator("[data-testid=unsaved-count]")).to_be_hidden()
    saved = Administration.objects.get(pk=adm.pk)
    assert saved.bag == "B7"
    assert slow.later == 1  # sent again once, not twice (the sign-in's resend and the late 401)
    assert saved.version == version + 1  # saved once
    assert Administration.objects.get(pk=fluid.pk).bag == "F1"

    # A request sent after the sign-in and refused: the session really ended again.
    Session.objects.all().delete()
    state = type_into_card(page, adm.pk, "bag", "B9")
    expect(dialog).to_be_visible(timeout=SAVE_WAIT)
    expect(state).to_contain_text("signed out")
    assert Administration.objects.get(pk=adm.pk).bag == "B7"


def test_an_action_refused_after_signing_in_again_is_named_not_done_at_once_without_the_box(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    dialog = page.locator("[data-testid=session-dialog]")
    measures = PatientMeasure.objects.count()
    slow = HeldFirst(page, f"**{reverse('mar:measure_add', args=[encounter.pk])}")
    Session.objects.all().delete()

    page.evaluate("() => { document.querySelector('#id_m-value').closest('details').open = true; }")
    page.fill("#id_m-value", "172")
    page.locator("[data-testid=measure-form] button[type=submit]").click()
    slow.wait_until_held()
    type_into_card(page, adm.pk, "bag", "B7")  # its save opens the box
    expect(dialog).to_be_visible(timeout=SAVE_WAIT)
    sign_in_again(page)
    wait_until_saved(page, adm.pk)
    expect(page.locator("#messages [data-testid=not-done-message]")).to_have_count(0)

    assert slow.release() == 401
    said = page.locator("#messages [data-testid=not-done-message]")
    expect(said).to_contain_text("Not done while you were signed out")
    expect(said).to_contain_text("Chart (Height, weight, creatinine)")
    beside = page.locator("[data-testid=measure-form] [data-testid=not-done]")
    expect(beside).to_have_text("Not done while you were signed out: press it again.")
    page.wait_for_timeout(500)
    expect(dialog).to_be_hidden()
    assert page.input_value("#id_m-value") == "172"  # what she typed is still there
    assert slow.later == 0  # not done behind her back
    assert PatientMeasure.objects.count() == measures

    # Pressed again, it is done, once; and the next sign-in names nothing left over.
    page.locator("[data-testid=measure-form] button[type=submit]").click()
    expect(beside).to_have_count(0)
    expect(page.locator("#id_m-value")).to_have_value("", timeout=SAVE_WAIT)
    assert PatientMeasure.objects.count() == measures + 1
    Session.objects.all().delete()
    type_into_card(page, adm.pk, "bag", "B8")
    sign_in_again(page)
    wait_until_saved(page, adm.pk)
    expect(said).to_have_count(0)


def test_a_live_check_refused_after_signing_in_again_is_asked_again_without_the_box(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="clerk-l", role="clerk")
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, "clerk-l")
    page.goto(f"{live_server.url}{reverse('registration:order_new', args=[encounter.pk])}")
    dialog = page.locator("[data-testid=session-dialog]")
    slow = HeldFirst(page, "**/orders/check/indication/")
    signed_out_here(page)

    page.fill("#id_indication", "C50.9")  # a category, not a code: the check refuses it
    page.locator("#id_indication").blur()  # its live check: refused, its answer on its way
    slow.wait_until_held()
    page.fill("#id_drug", "oxaliplatin")
    page.press("#id_drug", "Tab")  # the drug's own check, refused now: the box
    expect(dialog).to_be_visible(timeout=SAVE_WAIT)
    sign_in_in_the_box(page, "clerk-l")
    expect(dialog).to_be_hidden(timeout=SAVE_WAIT)
    expect(page.get_by_test_id("indication-check")).to_be_empty()

    assert slow.release() == 401
    # Asked again in the new session: the check answers beside the field.
    expect(page.get_by_test_id("indication-check")).to_contain_text("category", timeout=SAVE_WAIT)
    expect(page.locator("#id_indication")).to_have_class("textinput form-control is-invalid")
    assert slow.later == 1
    page.wait_for_timeout(500)
    expect(dialog).to_be_hidden()


def test_a_forms_question_answered_after_signing_in_again_is_asked_again_and_it_goes_once(
    browser_page, live_server
) -> None:
    """A plain form (data-session-check) asks first whether the session holds: asked before the
    sign-in, answered "signed out" after it, it asks again, and goes once, no box."""
    from playwright.sync_api import expect

    factories.user_create(username="clerk-q", role="clerk")
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, "clerk-q")
    page.goto(f"{live_server.url}{reverse('registration:order_new', args=[encounter.pk])}")
    fill_order(page)
    dialog = page.locator("[data-testid=session-dialog]")
    slow = HeldFirst(page, "**/accounts/resume/")
    Session.objects.all().delete()  # ended on the server: the browser still sends its cookie

    page.click("button:has-text('Enter the order')")  # its question: on its way
    slow.wait_until_held()
    page.fill("#id_dose_value", "86")  # the dose's own check, refused now: the box
    expect(dialog).to_be_visible(timeout=SAVE_WAIT)
    sign_in_in_the_box(page, "clerk-q")
    expect(dialog).to_be_hidden(timeout=SAVE_WAIT)
    assert not Order.objects.exists()

    slow.release()  # "signed out": the old session's answer
    page.wait_for_selector("text=waiting for pharmacy", timeout=SAVE_WAIT)
    order = Order.objects.get(encounter=encounter)  # entered once
    assert order.dose == "86 mg/m²"
