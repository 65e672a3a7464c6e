"""A coder in Chromium after an addendum changed the charges: the review page marks what changed
since the run before (coding/run_changes.py) beside each line's code, lists the line no longer
charged under the table, and the charge table still fits its box at 768 to 1920 px."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction

from coding.services import charge_run_generate
from mar.models import Administration
from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_widths import tables_cut
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/run-changes-shots")


def test_the_coder_sees_what_the_addendum_changed_beside_each_line(
    browser_page, live_server
) -> None:
    SHOTS.mkdir(exist_ok=True)
    coder = factories.user_create(username="coder-rc", role="coder")
    encounter, first, _ = reviewed()
    hydration = first.lines.get(code="96361")
    with transaction.atomic():  # the signed-record guard wants both in one transaction
        addendum_for_test(encounter, coder)
        chemo = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=chemo.pk).update(stop=chemo.start + timedelta(minutes=130))
        fluid = Administration.objects.get(encounter=encounter, purpose="hydration")
        Administration.objects.filter(pk=fluid.pk).update(stop=fluid.start + timedelta(minutes=20))
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created

    page = browser_page
    sign_in(page, live_server, "coder-rc")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    marker = page.locator("[data-testid=charge-line][data-code='96415'] [data-testid=run-change]")
    assert marker.is_visible() and marker.inner_text() == "was ×2 in run 1"
    assert page.locator("[data-testid=run-change]").count() == 1
    gone = page.locator("[data-testid=run-gone]")
    assert gone.is_visible()
    assert gone.inner_text() == (
        f"No longer charged since run 1: 96361 ×{hydration.units} "
        f"({', '.join(hydration.administrations)})"
    )
    # Runs named by their number in the encounter, the global id in the tooltip.
    assert "(run 2," in page.inner_text("main")
    assert marker.get_attribute("title") == f"charge run #{first.pk}"
    assert page.locator(f"[title='charge run #{run.pk}']").first.inner_text() == "run 2"
    for width in (768, 1024, 1440, 1920):
        page.set_viewport_size({"width": width, "height": 1024})
        assert not tables_cut(page), width
        assert marker.is_visible()
    page.set_viewport_size({"width": 1024, "height": 1024})
    page.screenshot(path=str(SHOTS / "review-run-changes.png"), full_page=True)
