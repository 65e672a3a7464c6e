"""A coder in real Chromium: worklist, review with the timeline, a correction, accept, export."""

import csv
import io

import pytest

from coding.models import ChargeCorrection, ReviewItem
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coder_reviews_corrects_accepts_and_downloads_the_export(
    browser_page, live_server
) -> None:
    factories.user_create(username="coder-b", role="coder")
    encounter, run, item = reviewed()
    page = browser_page
    sign_in(page, live_server, "coder-b")
    page.wait_for_url("**/coding/worklist/")
    row = page.locator(f"[data-testid=worklist-row][data-encounter='{encounter.pk}']")
    assert "New" in row.inner_text()

    row.locator("a").click()
    page.wait_for_selector("[data-testid=claim]")
    page.click("[data-testid=claim]")
    page.wait_for_selector("[data-testid=accept]")

    # Hovering a charge line lights up the administrations it covers on the timeline.
    line = run.lines.get(code="96415")
    adm = line.administrations[0]
    page.hover("[data-testid=charge-line][data-code='96415']")
    bar = page.locator(f"svg [data-administration='{adm}']")
    assert "tl-highlight" in (bar.get_attribute("class") or "")
    record_row = page.locator(f"tr[data-administration='{adm}']")
    assert "tl-highlight" in (record_row.get_attribute("class") or "")
    page.screenshot(path=str(ARTIFACTS / "coder-review.png"), full_page=True)

    # Correct 96415 to one unit, with the reason.
    page.click("text=Correct 96415")
    prefix = f"l{line.pk}"
    page.fill(f"input[name='{prefix}-units']", "1")
    page.fill(f"textarea[name='{prefix}-reason']", "pump stopped at 11:40 per the pump log")
    page.locator(
        "[data-testid=correct-form]", has=page.locator(f"input[name='{prefix}-units']")
    ).locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=correction]")
    assert "pump stopped at 11:40" in page.inner_text("[data-testid=charge-lines]")
    assert ChargeCorrection.objects.get().corrected["units"] == 1

    page.click("[data-testid=accept]")
    page.wait_for_url("**/coding/worklist/")
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.ACCEPTED

    page.click("text=Export to billing")
    page.click("[data-testid=export]")
    page.wait_for_selector("[data-testid=download-csv]")
    with page.expect_download() as info:
        page.click("[data-testid=download-csv]")
    download = info.value
    content = open(download.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert {r["code"] for r in rows} >= {"96413", "96415", "96375", "96361"}
    corrected = next(r for r in rows if r["code"] == "96415")
    assert corrected["units"] == "1" and corrected["original_units"] == "2"
    assert corrected["correction_reason"] == "pump stopped at 11:40 per the pump log"
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_refused_correction_comes_back_beside_its_fields_with_what_was_typed(
    browser_page, live_server, javascript
) -> None:
    """screens.md: every action works as a plain form post; the coder loses nothing typed."""
    factories.user_create(username="coder-r", role="coder")
    encounter, run, _ = reviewed()
    line = run.lines.get(code="96415")
    prefix = f"l{line.pk}"
    context = browser_page.context.browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1024, "height": 768}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "coder-r")
        page.wait_for_url("**/coding/worklist/")
        page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
        page.click("[data-testid=claim]")
        page.wait_for_selector("[data-testid=accept]")
        form = page.locator(
            "[data-testid=correct-form]", has=page.locator(f"input[name='{prefix}-units']")
        )

        # A reason of spaces passes the browser's `required` but is no reason.
        page.click("text=Correct 96415")
        form.locator(f"input[name='{prefix}-units']").fill("1")
        form.locator(f"textarea[name='{prefix}-reason']").fill("   ")
        form.locator("button[type=submit]").click()
        error = page.locator(f"#error_1_id_{prefix}-reason")
        error.wait_for()
        assert error.inner_text() == "Say why the line is corrected: the reason is kept beside it."
        assert form.locator(f"input[name='{prefix}-units']").input_value() == "1"
        assert page.locator(".alert-danger[role=alert]").count() == 0  # no page-top banner

        # Nothing changed: the same code and units, the reason typed is kept.
        form.locator(f"input[name='{prefix}-units']").fill(str(line.units))
        form.locator(f"textarea[name='{prefix}-reason']").fill("re-checked against the pump log")
        form.locator("button[type=submit]").click()
        form.locator(".alert-danger", has_text="Nothing changed").wait_for()
        reason = form.locator(f"textarea[name='{prefix}-reason']")
        assert reason.input_value().strip() == "re-checked against the pump log"
        assert reason.is_visible()
        page.screenshot(
            path=str(ARTIFACTS / f"coder-refused-correction-{'js' if javascript else 'nojs'}.png"),
            full_page=True,
        )
        assert not ChargeCorrection.objects.exists()
    finally:
        context.close()


@pytest.mark.parametrize("width", [768, 1440])
def test_the_worklist_filter_shows_a_whole_date_in_its_fields(
    browser_page, live_server, width
) -> None:
    """At 768 px six filter columns of 2/12 cut the date fields to 'mm/dd/y' (a typed date was
    not readable whole) and the state to 'any stat': three to a row up to 1200 px."""
    factories.user_create(username="coder-f", role="coder")
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "coder-f")
    page.wait_for_url("**/coding/worklist/")
    page.fill(".worklist-filter input[name=date_from]", "2026-12-05")
    cut = page.evaluate(
        """() => [...document.querySelectorAll('.worklist-filter input, .worklist-filter select')]
          .filter(e => e.type !== 'hidden')
          .filter(e => e.getBoundingClientRect().width < 150)
          .map(e => e.name + ': ' + Math.round(e.getBoundingClientRect().width) + ' px')"""
    )
    page.screenshot(path=str(ARTIFACTS / f"coder-worklist-filter-{width}.png"))
    assert not cut, cut
