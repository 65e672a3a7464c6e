"""A rate change charted wrong (125 typed for 152 mL/h) is corrected in its row on the bedside
tablet (1024 x 768), in real Chromium: "correct…" under the row opens its rate and time; a time
before the start is refused beside the time, what she typed kept (the fold stays open, her
rate too); corrected, the row and the card's "Rate" say 152 and the fold closes. Its fields never
overlap; "correct…" and "remove…" sit side by side under the row."""

from datetime import timedelta
from decimal import Decimal

import pytest

from mar.models import Administration, RateChange
from mar.services import rates
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.browser.test_rate_form_fits import BOXES, overlapping
from tests.mar.chart_helpers import local, running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 20_000  # a change runs the engine on the whole record; slow on a loaded machine


def test_a_rate_row_is_corrected_on_a_tablet_width_page(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    nurse = factories.user_create(username="nurse-rate-row", role="nurse")
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(rate_ml_h=Decimal(100))
    adm.refresh_from_db()
    rc = rates.rate_change_record(
        administration=adm,
        rate_ml_h=Decimal(125),
        at=adm.start + timedelta(minutes=20),
        reason="titration per protocol",
        user=nurse,
    )
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server, nurse.username)
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    card = page.locator(f"#adm-{adm.pk}")
    row = card.get_by_test_id("rate-row")
    expect(row.get_by_test_id("rate-row-text")).to_contain_text("→ 125 mL/h")
    opener, remover = row.get_by_test_id("rate-edit-open"), row.get_by_test_id("rate-remove-open")
    assert opener.bounding_box()["y"] == remover.bounding_box()["y"]  # side by side

    opener.click()
    form = row.get_by_test_id("rate-edit-form")
    assert overlapping(form.evaluate(BOXES)) == []
    form.locator(f"input[name=rc{rc.pk}-rate_ml_h]").fill("152")
    too_early = local(adm.start - timedelta(minutes=5)).replace("T", " ")
    form.locator(f"input[name=rc{rc.pk}-at]").fill(too_early)
    form.get_by_test_id("rate-edit-save").click()
    expect(card.get_by_text("is before the infusion started")).to_be_visible(timeout=WAIT)
    form = card.get_by_test_id("rate-edit-form")
    at = form.locator(f"input[name=rc{rc.pk}-at]")
    said = card.get_by_text("is before the infusion started").bounding_box()
    box = at.bounding_box()
    assert box["x"] - 2 <= said["x"] <= box["x"] + box["width"]  # under the time field
    assert 0 <= said["y"] - (box["y"] + box["height"]) < 40
    expect(form.locator(f"input[name=rc{rc.pk}-rate_ml_h]")).to_have_value("152")  # kept
    expect(at).to_have_value(too_early)
    card.screenshot(path=str(ARTIFACTS / "rate-row-refused-1024.png"))

    at.fill(local(rc.at).replace("T", " "))
    form.get_by_test_id("rate-edit-save").click()
    expect(card.get_by_test_id("rate-row-text")).to_contain_text("→ 152 mL/h", timeout=WAIT)
    expect(card.get_by_test_id("adm-rate")).to_contain_text("Rate 152 mL/h")
    expect(card.get_by_test_id("rate-edit-form")).to_be_hidden()  # the fold closed: saved
    assert RateChange.objects.get(pk=rc.pk).rate_ml_h == Decimal(152)
    assert RateChange.objects.filter(administration=adm).count() == 1
    card.screenshot(path=str(ARTIFACTS / "rate-row-corrected-1024.png"))
