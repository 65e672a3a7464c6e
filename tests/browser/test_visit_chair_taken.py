"""A chair another patient's visit in progress holds, in real Chromium: the clerk opening a
visit in Infusion Center chair 2 is told beside the chair whose visit is in it and since when,
with a box under it; what was typed stays; ticked, the visit opens there (a handover)."""

import pytest
from django.utils import timezone

from mar.models import Encounter
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import NEW_YORK

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_clerk_is_warned_of_a_taken_chair_and_confirms_a_handover(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    clerk = factories.user_create(username="clerk-chair", role="clerk")
    since = timezone.localtime(timezone.now(), NEW_YORK).replace(hour=9, minute=10)
    occupant = factories.patient_create(name="Rivera, Ana", mrn="OCC-1")
    factories.encounter_create(patient=occupant, location_label="2", arrived_at=since)
    patient = factories.patient_create(name="Chen, Wei", mrn="A-2001")
    page = browser_page
    sign_in(page, live_server, clerk.username)
    page.goto(f"{live_server.url}/registration/patients/{patient.pk}/visits/new/")
    expect(page.locator("input[name=chair_confirm]")).to_have_attribute("type", "hidden")
    page.fill("input[name=location_label]", "2")
    page.fill("input[name=account_number]", "V-2")
    page.get_by_role("button", name="Open the visit").click()
    said = page.locator("#id_location_label ~ .invalid-feedback, #error_1_id_location_label")
    expect(said.first).to_contain_text("Chair 2 is taken by Rivera, Ana")
    expect(said.first).to_contain_text("in progress since 09:10")
    box = page.locator("input[name=chair_confirm]")
    expect(box).to_be_visible()
    expect(box).not_to_be_checked()
    expect(page.locator("input[name=account_number]")).to_have_value("V-2")
    page.screenshot(path=str(ARTIFACTS / "visit-chair-taken.png"), full_page=True)
    assert not Encounter.objects.filter(patient=patient).exists()
    box.check()
    page.get_by_role("button", name="Open the visit").click()
    page.wait_for_url(lambda url: "/registration/visits/" in url)
    assert Encounter.objects.get(patient=patient).location_label == "2"
