"""A dose typed that cannot be read does not wipe the dose charted (QA walkthrough: "1e" typed
into "Dose given" and Save sent it empty, the browser's value of a number field it cannot read,
and the server, for which an empty dose is a dose not known, saved none). The field is not sent
(its saved value goes in its place): "Enter a number" is said beside it as the server says its
refusals, what she typed stays in it, the card says it is not saved, and the dose stays as
charted. The card's other changes are still saved as she leaves them; once she types a number
the card saves it. Clearing the field on purpose still clears the dose (a dose not known)."""

from decimal import Decimal

import pytest

from mar.models import Administration
from tests.browser.card_saving import SAVE_WAIT, save_state, unfold, wait_until_saved
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _unreadable(locator) -> bool:
    """The field still holds what she typed, which the browser cannot read as a number."""
    return locator.evaluate("el => el.validity.badInput")


def test_a_dose_typed_that_cannot_be_read_is_said_beside_it_and_the_charted_dose_kept(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(dose_value=Decimal(450), dose_unit="mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    posts: list[str] = []
    page.on(
        "request",
        lambda r: r.method == "POST" and f"/administrations/{adm.pk}/" in r.url
        and posts.append(r.post_data or ""),
    )  # fmt: skip
    card = page.locator(f"#adm-{adm.pk}")
    dose = page.locator(f"#id_a{adm.pk}-dose_value")
    dose.fill("")
    dose.press_sequentially("1e")
    assert _unreadable(dose)
    card.get_by_role("button", name="Save", exact=True).click()
    hint = card.get_by_test_id("number-hint")
    expect(hint).to_have_text("Enter a number")
    expect(hint).to_be_visible()
    assert "is-invalid" in (dose.get_attribute("class") or "")
    # Beside the field, the server's refusal's markup (an invalid-feedback under it).
    assert hint.evaluate("(h, f) => h.previousElementSibling === f", dose.element_handle())
    expect(save_state(page, adm.pk)).to_contain_text("Not saved: enter a number")
    expect(page.get_by_test_id("unsaved-count")).to_have_text("1 unsaved change")
    page.wait_for_timeout(500)
    assert posts == []  # nothing else to send: nothing sent
    assert _unreadable(dose)  # what she typed, kept
    card.screenshot(path=str(ARTIFACTS / "card-number-unreadable.png"))

    # Another field changed meanwhile is saved; the dose is not sent empty, and stays as typed.
    page.fill(f"#id_a{adm.pk}-bag", "BAG-7")
    page.press(f"#id_a{adm.pk}-bag", "Tab")
    expect(page.locator(f"input[name='a{adm.pk}-version']")).to_have_value(
        str(adm.version + 1), timeout=SAVE_WAIT
    )
    saved = Administration.objects.get(pk=adm.pk)
    assert saved.bag == "BAG-7" and saved.dose_value == Decimal(450)
    assert posts and all(f"a{adm.pk}-dose_value=450" in body for body in posts)
    assert _unreadable(dose)  # the answer's morph left it as she typed it
    expect(hint).to_have_text("Enter a number")
    expect(save_state(page, adm.pk)).to_contain_text("Not saved: enter a number")

    # Put right: the hint goes, and the number is saved.
    dose.fill("400")
    expect(hint).to_have_count(0)
    assert "is-invalid" not in (dose.get_attribute("class") or "")
    dose.press("Tab")
    wait_until_saved(page, adm.pk)
    assert Administration.objects.get(pk=adm.pk).dose_value == Decimal(400)


def test_a_dose_cleared_on_purpose_is_still_cleared(browser_page, live_server) -> None:
    """An empty dose is a dose not known (mar/forms.py AdministrationForm): her choice, sent."""
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(dose_value=Decimal(450), dose_unit="mg")
    page = browser_page
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    page.fill(f"#id_a{adm.pk}-dose_value", "")
    page.press(f"#id_a{adm.pk}-dose_value", "Tab")
    wait_until_saved(page, adm.pk)
    assert Administration.objects.get(pk=adm.pk).dose_value is None
    assert page.locator(f"#adm-{adm.pk} [data-testid=number-hint]").count() == 0


def test_a_rate_change_with_a_rate_that_cannot_be_read_is_not_sent(
    browser_page, live_server
) -> None:
    """The chart's other forms too: "1e" typed as a rate change's rate was sent empty (the form
    leaves the browser's own check off, `novalidate`, to say its refusals beside the fields),
    and the answer asked for a rate she had typed. Now nothing is sent: "Enter a number" beside
    the field, what she typed kept; put right, the rate change is charted."""
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    page = browser_page
    open_chart(page, live_server, encounter)
    posts: list[str] = []
    page.on(
        "request",
        lambda r: r.method == "POST" and "/rate/" in r.url and posts.append(r.post_data or ""),
    )
    card = page.locator(f"#adm-{adm.pk}")
    card.locator("summary", has_text="Rate change").click()
    form = card.locator("[data-testid=rate-form]")
    rate = form.locator("input[name$='-rate_ml_h']")
    rate.press_sequentially("1e")
    assert _unreadable(rate)
    form.locator("input[name$='-reason']").fill("protocol step 2")
    form.locator("[data-testid=rate-save]").click()
    hint = form.get_by_test_id("number-hint")
    expect(hint).to_have_text("Enter a number")
    page.wait_for_timeout(500)
    assert posts == []
    assert _unreadable(rate)  # what she typed, kept
    assert adm.rate_changes.count() == 0

    rate.fill("120")
    expect(hint).to_have_count(0)
    with page.expect_response(lambda r: "/rate/" in r.url, timeout=SAVE_WAIT):
        form.locator("[data-testid=rate-save]").click()
    assert len(posts) == 1 and "rate_ml_h=120" in posts[0]
