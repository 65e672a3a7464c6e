"""Two nurses on one administration card, in two Chromium sessions (issue 18, item 8): the one
whose page is older changes another field and the other's dose is kept; the same field changed
two ways is shown as a conflict naming it, and saving again keeps the other's dose."""

from decimal import Decimal

import pytest

from mar.models import Administration
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.browser.test_chart_typing_kept import unfold
from tests.mar.chart_helpers import running_visit
from tests.mar.test_card_merge import MERGE_FROM_HISTORY

pytestmark = pytest.mark.postgresql(MERGE_FROM_HISTORY)


def open_as(page, live_server, username: str, encounter) -> None:
    sign_in(page, live_server, username)
    page.wait_for_url("**/mar/board/")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")


def test_a_stale_card_is_merged_field_by_field_and_a_clash_is_named(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-a", role="nurse")
    factories.user_create(username="nurse-b", role="nurse")
    encounter, adm = running_visit()
    a = browser_page
    b = a.context.browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    open_as(a, live_server, "nurse-a", encounter)
    open_as(b, live_server, "nurse-b", encounter)
    unfold(a, adm.pk)
    unfold(b, adm.pk)
    version = f"input[name='a{adm.pk}-version']"

    # Nurse A charts the dose; it saves on change.
    a.fill(f"#id_a{adm.pk}-dose_value", "750")
    a.fill(f"#id_a{adm.pk}-dose_unit", "mg")
    a.locator(f"#id_a{adm.pk}-dose_unit").press("Tab")
    expect(a.locator(version)).not_to_have_value("1")

    # Nurse B's page still says version 1 with no dose: she charts the bag id.
    b.fill(f"#id_a{adm.pk}-bag", "B2")
    b.locator(f"#id_a{adm.pk}-bag").press("Tab")
    expect(b.locator(f"#id_a{adm.pk}-dose_value")).to_have_value("750")  # merged, shown
    expect(b.locator(f"#adm-{adm.pk} [data-testid=conflict]")).to_have_count(0)
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value) == ("B2", Decimal(750))

    # Both change the bag id from the same version: B is told, naming the field.
    a.reload()
    unfold(a, adm.pk)
    a.fill(f"#id_a{adm.pk}-bag", "B3")
    a.locator(f"#id_a{adm.pk}-bag").press("Tab")
    expect(a.locator(f"#id_a{adm.pk}-bag")).to_have_value("B3")
    expect(a.locator(version)).to_have_value(str(saved.version + 1))
    b.fill(f"#id_a{adm.pk}-bag", "B4")
    b.locator(f"#id_a{adm.pk}-bag").press("Tab")
    conflict = b.locator(f"#adm-{adm.pk}")
    expect(conflict.locator("[data-testid=conflict]")).to_have_count(1)
    b.screenshot(path=str(ARTIFACTS / "two-nurses-conflict.png"), full_page=True)
    expect(conflict.locator("[data-testid=conflict]")).to_contain_text("bag B3")
    expect(conflict.locator("[data-testid=conflict-fields]")).to_have_text(
        "Yours differs in: bag id."
    )
    expect(b.locator(f"#id_a{adm.pk}-bag")).to_have_value("B4")  # hers, kept
    expect(conflict.locator("[data-testid=save-state]").first).to_contain_text("Save again")
    b.screenshot(path=str(ARTIFACTS / "two-nurses-conflict.png"), full_page=True)
    assert Administration.objects.get(pk=adm.pk).bag == "B3"

    # B saves again, deliberately: her bag id goes in, A's dose stays.
    b.locator(f"#adm-{adm.pk}").get_by_role("button", name="Save", exact=True).first.click()
    expect(b.locator(f"#adm-{adm.pk} [data-testid=conflict]")).to_have_count(0)
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value) == ("B4", Decimal(750))
    b.context.close()
