"""A running infusion's "Past its expected end" note comes up on the open chart as the clock
passes its end, without a reload (static/js/chart.js, as the running minutes do), in real
Chromium: the page drawn before its end has it hidden."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.models import DrugClass
from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_overrun_note_shows_once_the_clock_passes_the_expected_end(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    order = factories.order_create(
        encounter, factories.drug_get("vancomycin", DrugClass.THERAPEUTIC), dose="1 g"
    )
    # 250 mL at 500 mL/h, started 29 min ago: it should end in a minute.
    adm = factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=29), stop=None,
        rate_ml_h=Decimal(500), bag_volume_ml=Decimal(250),
    )  # fmt: skip
    factories.user_create(username="nurse-o", role="nurse")
    page = browser_page
    page.clock.install()
    sign_in(page, live_server, "nurse-o")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"#adm-{adm.pk}")
    end = (adm.start + timedelta(minutes=30)).astimezone(encounter.zone)
    expect(card.locator("[data-testid=adm-expected-end]")).to_have_text(
        f"Expected to end {end:%H:%M} (250 mL at 500 mL/h)."
    )
    note = card.locator("[data-testid=adm-overrun]")
    expect(note).to_be_hidden()
    page.clock.run_for(3 * 60_000)  # the ticker runs every 15 s
    expect(note).to_be_visible()
    expect(note).to_have_text(
        re.compile(
            rf"^Past its expected end \({end:%H:%M}\) by [1-3] min: chart its stop, or the rate "
            r"if it changed\.$"
        )
    )
    page.screenshot(path="test-artifacts/overrun-note.png")
