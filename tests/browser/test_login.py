"""A nurse signs in with a real browser and lands on the board; a coder sees the charges."""

import pytest
from django.utils import timezone

from coding.services import charge_run_generate
from mar.models import Encounter
from tests import factories
from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username: str) -> None:
    """Unlike conftest.sign_in, start from "/": the login this file tests is the one the app
    asks for there."""
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")


def test_a_nurse_signs_in_and_sees_the_board(browser_page, live_server) -> None:
    factories.user_create(username="nurse-b", role="nurse")
    encounter = factories.chemo_encounter_create(arrived_at=timezone.now(), location_label="9")
    page = browser_page
    sign_in(page, live_server, "nurse-b")
    page.wait_for_url("**/mar/board/")
    assert page.locator("[data-testid=encounter-card]").count() == 1
    assert encounter.patient.name in page.content()
    # Bootstrap is served by the app itself: the navbar is styled.
    assert page.eval_on_selector("nav", "e => getComputedStyle(e).display") == "flex"
    page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)


def test_a_coder_sees_charges_with_their_reasons(browser_page, live_server) -> None:
    factories.user_create(username="coder-b", role="coder")
    encounter = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    charge_run_generate(encounter_id=encounter.pk)
    page = browser_page
    sign_in(page, live_server, "coder-b")
    page.wait_for_url("**/coding/worklist/")
    page.click(f"text={encounter.patient.name}")
    page.wait_for_selector("text=96413")
    page.screenshot(path=str(ARTIFACTS / "coder-charges.png"), full_page=True)
