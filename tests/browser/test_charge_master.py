"""The charge master screen in real Chromium: an admin uploads a file from a later date, is
told what it did, and finds the scheduled version under the code's versions; a bad line comes
back named beside the file field. Screenshots at 1440x900 and 1024x768."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from coding.models import ChargeMasterItem
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "code,revenue_code,description,unit_price\n"


def test_an_admin_uploads_a_charge_master_and_sees_the_new_version_listed(
    browser_page, live_server, tmp_path
) -> None:
    call_command("load_charge_master", stdout=io.StringIO())  # the sample, from the beginning
    factories.user_create(username="admin-cdm", role="admin")
    page = browser_page
    sign_in(page, live_server, "admin-cdm")
    page.goto(f"{live_server.url}/coding/payers/")
    page.click("nav[aria-label=Coding] >> text=Charge master")
    page.wait_for_url("**/coding/charge-master/")
    for width, height in ((1440, 900), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"charge-master-{width}.png"))

    page.click("[data-testid=cdm-upload-link]")
    bad = tmp_path / "cdm-bad.csv"
    bad.write_text(HEADER + "96365,0260,IV infusion,310.00\n96366,0260,IV more,abc\n")
    page.set_input_files("input[name=file]", str(bad))
    # The form asks first whether the session holds (static/js/session.js), then goes.
    with page.expect_navigation():
        page.click("[data-testid=cdm-upload-form] button[type=submit]")
    field = page.locator("[data-testid=cdm-file-field]")
    assert "Line 3: unit price 'abc' is not an amount like 125.00." in field.inner_text()
    for width, height in ((1440, 900), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"charge-master-upload-error-{width}.png"))

    later = timezone.localdate() + timedelta(days=40)
    good = tmp_path / "cdm-2027.csv"
    sample_rows = [
        (i.code, i.revenue_code, i.description, i.unit_price)
        for i in ChargeMasterItem.objects.order_by("code")
    ]
    lines = [
        f'{code},{rev},"{desc}",{"399.00" if code == "96365" else price}'
        for code, rev, desc, price in sample_rows
    ]
    good.write_text(HEADER + "\n".join(lines) + "\n")
    page.set_input_files("input[name=file]", str(good))
    page.fill("input[name=effective_from]", later.isoformat())
    page.click("[data-testid=cdm-upload-form] button[type=submit]")
    page.wait_for_url("**/coding/charge-master/")
    assert (
        f"cdm-2027.csv: {len(sample_rows)} codes: 1 new price from {later.isoformat()}"
        in page.inner_text("body")
    )
    row = page.locator("[data-testid=cdm-priced] [data-testid=cdm-row][data-code='96365']")
    assert f"new price from {later.isoformat()}" in row.inner_text()
    versions = row.locator("[data-testid=cdm-versions]")
    assert not versions.locator("table").is_visible()  # folded until asked for
    versions.locator("summary").click()
    scheduled = versions.locator("tbody tr", has_text=later.isoformat())
    assert scheduled.is_visible() and "399.00" in scheduled.inner_text()
    assert "scheduled" in scheduled.inner_text()
    row.scroll_into_view_if_needed()
    for width, height in ((1440, 900), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"charge-master-uploaded-{width}.png"))
