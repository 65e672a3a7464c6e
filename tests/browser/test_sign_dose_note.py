"""A calculated dose without its measures, from verification to the signature, in real Chromium
(QA: a dose per kg was verified, started and signed on a visit that never recorded a weight; the
pharmacist and the Start box were warned, the sign-off said nothing). The pharmacist's queue row
and review say it, Verify still offered; the nurse's Start box says it, Start still offered; the
sign-off says it for the order given, in amber, through the checklist's 60-second refresh, and
the record signs with only the confirmation ticked. Screenshot sign-dose-note.png."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import Administration, DrugClass, Encounter
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against."


def sign_out(page) -> None:
    page.click("nav form button[type=submit]")
    page.wait_for_selector("input[name=username]")


def test_the_note_from_verify_to_start_to_sign_off(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="rph-sdn", role="pharmacist")
    factories.user_create(username="nurse-sdn", role="nurse")
    now = timezone.now()
    encounter = factories.encounter_create(
        patient=factories.patient_create(name="Ada Weightless", mrn="MRN-5120"),
        arrived_at=now - timedelta(hours=1),
    )
    factories.site_create(encounter, placed_at=now - timedelta(minutes=50))
    order = factories.order_create(
        encounter, factories.drug_get("teprotumumab", DrugClass.THERAPEUTIC), dose="10 mg/kg"
    )
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})

    # The pharmacist: the queue's row and the review say it; Verify still goes.
    sign_in(page, live_server, "rph-sdn")
    page.goto(f"{live_server.url}/pharmacy/orders/")
    row = page.locator(f"#to-verify-orders #order-{order.pk}")
    expect(row.get_by_test_id("order-dose-measures-note")).to_have_text(NOTE)
    row.get_by_test_id("order-review").click()
    expect(page.get_by_test_id("review-dose-measures-note")).to_contain_text(NOTE)
    with page.expect_navigation():
        page.get_by_test_id("verify").click()
    page.wait_for_url("**/pharmacy/orders/**")
    order.refresh_from_db()
    assert order.verified_by is not None and order.verified_by.username == "rph-sdn"
    sign_out(page)

    # The nurse: the Start box says it and Start is offered; nothing at sign-off before it is
    # given (the order row warns there).
    page.clock.install()
    sign_in(page, live_server, "nurse-sdn")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    row = page.locator(f"#order-{order.pk}")
    expect(row.get_by_test_id("dose-measures-note")).to_have_text(NOTE)
    expect(page.get_by_test_id("sign-dose-notes")).to_have_count(0)
    row.locator("select[name$='-method']").select_option("push")
    start = row.get_by_test_id("start")
    expect(start).to_be_enabled()
    start.click()
    expect(page.locator("[data-testid=adm-card]", has_text="teprotumumab")).to_be_visible()
    assert Administration.objects.filter(order=order).count() == 1

    # Given: the sign-off (swapped in by the start's answer) says it, in amber.
    notes = page.get_by_test_id("sign-dose-notes")
    expect(notes).to_be_visible()
    expect(notes.get_by_test_id("sign-dose-note")).to_have_text(
        f"teprotumumab (order O{order.pk}): {NOTE}"
    )
    assert "alert-warning" in (notes.get_attribute("class") or "")
    expect(notes).to_contain_text("This does not stop the signature")
    # The checklist's refresh (the sign-off out of band) keeps it.
    with page.expect_response(lambda r: "/checklist/" in r.url):
        page.clock.run_for(61_000)
    expect(page.get_by_test_id("sign-dose-note")).to_have_count(1)
    page.get_by_test_id("sign-form").scroll_into_view_if_needed()
    page.locator("#sign").screenshot(path=str(ARTIFACTS / "sign-dose-note.png"))
    page.screenshot(path=str(ARTIFACTS / "sign-dose-note-page.png"), full_page=True)

    # A warning, not a stop: the confirmation ticked, the record signs.
    page.locator("#id_confirm").check()
    page.get_by_test_id("sign").click()
    expect(page.get_by_test_id("signed")).to_be_visible()
    assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.SIGNED
