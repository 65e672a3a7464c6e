"""A nurse removes a duplicate administration charted in error (issue 18, 4b), in Chromium:
the reason is asked for beside its field, the card goes, the chart lists what went and why."""

from datetime import timedelta

from mar.models import Administration, ChartedInError
from tests import factories
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit


def test_a_double_tapped_start_is_removed_with_a_reason(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    twin = factories.administration_create(
        encounter, adm.order, site=adm.site, start=adm.start + timedelta(minutes=1), stop=None
    )
    page = browser_page
    open_chart(page, live_server, encounter)
    card = page.locator(f"#adm-{twin.pk}")
    card.locator("[data-testid=adm-remove] > summary").click()
    card.locator("[data-testid=adm-remove-confirm]").click()
    # No reason: the browser holds the form at the empty field (the server's own refusal beside
    # the field is tested in tests/mar/test_charted_in_error.py); nothing removed.
    reason = page.locator(f"#id_rm{twin.pk}-reason")
    assert reason.evaluate("el => el.validity.valueMissing") is True
    assert Administration.objects.filter(pk=twin.pk).exists()

    page.fill(f"#id_rm{twin.pk}-reason", "double tap on Start")
    page.locator(f"#adm-{twin.pk} [data-testid=adm-remove-confirm]").click()
    expect(page.locator(f"#adm-{twin.pk}")).to_have_count(0)
    listed = page.locator("[data-testid=charted-in-error]")
    expect(listed).to_contain_text("double tap on Start")
    expect(page.locator(f"#adm-{adm.pk}")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "charted-in-error.png"), full_page=True)
    assert ChartedInError.objects.get().administration_ref == f"A{twin.pk}"


def test_cancel_closes_the_charted_in_error_fold_and_keeps_what_was_typed(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    fold = page.locator(f"#adm-{adm.pk} [data-testid=adm-remove]")
    fold.locator("> summary").click()
    page.fill(f"#id_rm{adm.pk}-reason", "wrong card")
    fold.locator("[data-testid=adm-remove-cancel]").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "charted-in-error-cancel.png"), full_page=False)
    fold.locator("[data-testid=adm-remove-cancel]").click()
    expect(fold).not_to_have_attribute("open", "")
    expect(fold.locator("[data-testid=adm-remove-form]")).to_be_hidden()
    expect(fold.locator("> summary")).to_be_focused()
    assert Administration.objects.filter(pk=adm.pk).exists()
    assert not ChartedInError.objects.exists()
    # Opened again: what was typed is still there.
    fold.locator("> summary").click()
    expect(page.locator(f"#id_rm{adm.pk}-reason")).to_have_value("wrong card")
    fold.locator("[data-testid=adm-remove-cancel]").click()
    page.screenshot(path=str(ARTIFACTS / "charted-in-error-cancelled.png"), full_page=False)
