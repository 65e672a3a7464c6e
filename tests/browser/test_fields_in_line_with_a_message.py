"""A message under one field must not push the row's other fields out of line (walk19), in real
Chromium at tablet width.

The bedside forms line their fields up at the bottom (labels of different lengths); a refusal
under one field ("Enter the date and the 24-hour time…") then moved every other field and the
button down beside it, so the row's inputs stood at two heights. With a message showing, the
inputs and the button stand level, the message below its own field, and what was typed is kept.
"""

import pytest

from tests import factories
from tests.browser.card_saving import SAVE_WAIT
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _tops(form, selectors: list[str]) -> dict[str, float]:
    tops = {}
    for selector in selectors:
        box = form.locator(selector).bounding_box()
        assert box is not None, selector
        tops[selector] = round(box["y"])
    return tops


def test_a_rate_change_refused_for_its_time_keeps_its_fields_and_button_level(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    card = page.locator(f"#adm-{adm.pk}")
    card.locator("summary", has_text="Rate change").click()
    form = card.locator("[data-testid=rate-form]")
    form.locator("input[name$='-rate_ml_h']").fill("120")
    form.locator("input[name$='-at']").fill("25:99")
    form.locator("input[name$='-reason']").fill("protocol step 2")
    with page.expect_response(lambda r: "/rate/" in r.url, timeout=SAVE_WAIT):
        form.locator("[data-testid=rate-save]").click()
    form = page.locator(f"#adm-{adm.pk} [data-testid=rate-form]")
    expect(form.locator(".invalid-feedback")).to_contain_text("24-hour time", timeout=SAVE_WAIT)
    expect(form.locator("input[name$='-at']")).to_have_value("25:99")
    expect(form.locator("input[name$='-reason']")).to_have_value("protocol step 2")
    tops = _tops(
        form,
        [
            "input[name$='-rate_ml_h']",
            "input[name$='-at']",
            "input[name$='-reason']",
            "[data-testid=rate-save]",
        ],
    )
    assert len(set(tops.values())) == 1, tops


def test_a_site_refused_for_its_time_keeps_its_fields_level(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    encounter = factories.encounter_create()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    open_chart(page, live_server, encounter)
    form = page.locator("[data-testid=site-form]")  # open: the encounter has no site yet
    form.locator("input[name='site-location']").fill("right forearm")
    form.locator("input[name='site-placed_at']").fill("tomorrow")
    with page.expect_response(lambda r: "/sites/" in r.url, timeout=SAVE_WAIT):
        form.locator("button[type=submit]").click()
    form = page.locator("[data-testid=site-form]")
    expect(form.locator(".invalid-feedback")).to_contain_text("24-hour time", timeout=SAVE_WAIT)
    expect(form.locator("input[name='site-location']")).to_have_value("right forearm")
    tops = _tops(
        form,
        ["select[name='site-kind']", "input[name='site-location']", "input[name='site-placed_at']"],
    )
    assert len(set(tops.values())) == 1, tops


def test_the_audit_sweep_form_keeps_its_fields_level_beside_the_payers_help_text(
    browser_page, live_server
) -> None:
    """The same with a help text: the payer's ("Its current coding-policy profile…") pushed the
    dates and the button down beside it."""
    from tests.browser.conftest import sign_in

    factories.user_create(username="coder-t", role="coder")
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, live_server, "coder-t")
    page.goto(f"{live_server.url}/coding/sweeps/")
    form = page.locator("[data-testid=sweep-form]")
    tops = _tops(
        form,
        [
            "input[name=date_from]",
            "input[name=date_to]",
            "select[name=payer]",
            "button[type=submit]",
        ],
    )
    assert len(set(tops.values())) == 1, tops
