"""A change made in a second tab after the record was signed in the first (QA walkthrough, high:
a Bag id typed in tab B vanished, the card redrawn read-only, no message, "0 unsaved"). In real
Chromium: the card says beside it that the record was signed, when and by whom, and what she
typed; her value stays in the field; the top bar still counts it unsaved; the link opens the
card's addendum form with her value in it. A Pause pressed in tab B says the same beside it.

And after an expired session, a button pressed meanwhile keeps the time it was pressed: "Do it
again" records that time, not the later one (QA walkthrough, low)."""

from datetime import datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from mar.models import Administration, Encounter, Pause
from tests.browser.card_saving import type_into_card
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_saving import sign_in_again
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign(page, adm_pk: int) -> None:
    """Tab A: stop the infusion, then sign (a reason for any error left, the box ticked)."""
    from playwright.sync_api import expect

    page.locator(f"#adm-{adm_pk} [data-testid=stop]").click()
    expect(page.locator(f"#adm-{adm_pk} [data-testid=stop]")).to_have_count(0)
    form = page.get_by_test_id("sign-form")
    for box in form.locator("textarea[name^=ack_], input[name^=ack_]").all():
        box.fill("checked at the bedside")
    page.locator("#id_confirm").check()
    page.get_by_test_id("sign").click()
    expect(page.get_by_test_id("signed")).to_be_visible()


def test_a_bag_id_typed_in_a_tab_drawn_before_the_signature_is_kept_and_offered_as_addendum(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    # The dose the card draws (as carried over from an order stating an amount): she does not
    # touch it, and it is not named as hers (QA: "Dose given: '450'" was).
    Administration.objects.filter(pk=adm.pk).update(dose_value=450, dose_unit="mg")
    tabs = browser_page.context.browser.new_context(viewport={"width": 1024, "height": 768})
    a = tabs.new_page()
    open_chart(a, live_server, encounter)
    b = tabs.new_page()  # a second tab, same nurse, drawn before the signature
    b.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    _sign(a, adm.pk)
    assert Encounter.objects.get(pk=encounter.pk).is_signed
    signed = Encounter.objects.get(pk=encounter.pk)
    when = timezone.localtime(signed.signed_at, signed.zone).strftime("%H:%M")

    type_into_card(b, adm.pk, "bag", "BAG-TAB-B")
    card = b.locator(f"#adm-{adm.pk}")
    said = card.get_by_test_id("signed-since")
    expect(said).to_contain_text(f"Not saved: this record was signed at {when} by nurse-t.")
    expect(said).to_contain_text(
        "Your change — Bag id: 'BAG-TAB-B' — can be written as an addendum"
    )
    expect(said).not_to_contain_text("Dose")
    expect(b.locator(f"#id_a{adm.pk}-bag")).to_have_value("BAG-TAB-B")  # hers, kept
    expect(b.locator(f"#id_a{adm.pk}-dose_value")).to_have_value("450")
    # Said once, where the card's save line is (the line says nothing more, hidden empty).
    line = card.get_by_test_id("save-state")
    expect(line).to_have_text("")
    expect(line).to_be_hidden()
    assert card.inner_text().count("Not saved") == 1
    assert said.evaluate(
        "(box, line) => box.closest('[data-signed-since]').nextElementSibling === line",
        line.element_handle(),
    )
    expect(b.get_by_test_id("unsaved-count")).to_have_text("1 unsaved change")
    card.screenshot(path=str(ARTIFACTS / "signed-since-card.png"))
    href = said.get_by_test_id("signed-addendum").get_attribute("href")
    assert "dose" not in href and f"a{adm.pk}-bag=BAG-TAB-B" in href
    assert Administration.objects.get(pk=adm.pk).bag == ""

    # The link opens the card's addendum form with her bag id in it.
    with b.context.expect_page() as opened:
        said.get_by_test_id("signed-addendum").click()
    addendum = opened.value
    addendum.wait_for_load_state()
    expect(addendum.locator(f"#id_a{adm.pk}-bag")).to_have_value("BAG-TAB-B")
    expect(addendum.locator(f"#adm-{adm.pk} [data-testid=addendum-prefill]")).to_contain_text(
        "BAG-TAB-B"
    )
    addendum.fill(f"#id_a{adm.pk}-addendum_why", "typed in another tab as it was signed")
    addendum.locator(f"#adm-{adm.pk}").get_by_role("button", name="Save as addendum").click()
    expect(addendum.locator("#messages")).to_contain_text("saved as an addendum")
    assert Administration.objects.get(pk=adm.pk).bag == "BAG-TAB-B"

    # Pause pressed in tab B (drawn while it ran): said beside it, nothing paused.
    b.locator(f"#adm-{adm.pk} [data-testid=pause]").click()
    beside = b.locator(f"#adm-{adm.pk} form.at-action [data-testid=signed-since]")
    expect(beside).to_contain_text(f"carboplatin (A{adm.pk}): Pause at")
    assert not Pause.objects.filter(administration=adm).exists()


def _minutes(page, selector: str, before: datetime, after: datetime, zone) -> str:
    """The time a field holds: the moment the button was pressed, to the minute."""
    value = page.input_value(selector)
    pressed = {m.astimezone(zone).strftime("%Y-%m-%d %H:%M") for m in (before, after)}
    assert value in pressed, (value, pressed)
    return value


def test_a_pause_and_a_stop_not_done_while_signed_out_keep_the_time_they_were_pressed(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    zone = encounter.zone
    page = browser_page
    open_chart(page, live_server, encounter)

    Session.objects.all().delete()  # idle sign-off on the server
    page.select_option(f"#adm-{adm.pk} [data-testid=pause-reason]", "pump_alarm")
    before = timezone.now()
    page.locator(f"#adm-{adm.pk} [data-testid=pause]").click()
    after = timezone.now()
    sign_in_again(page)
    expect(page.locator("#messages .alert")).to_contain_text("Not done while you were signed out")
    field = f"#id_at{adm.pk}-at"
    expect(page.locator(field)).not_to_have_value("")
    pressed = _minutes(page, field, before, after, zone)
    expect(page.locator(f"#adm-{adm.pk} [data-testid=pause]")).to_have_text(
        f"Pause at {pressed[11:]}"
    )
    assert page.input_value(f"#adm-{adm.pk} [data-testid=pause-reason]") == "pump_alarm"
    page.screenshot(path=str(ARTIFACTS / "signed-out-pause-time-kept.png"))
    page.locator(f"#adm-{adm.pk} [data-testid=pause]").click()
    expect(page.locator(f"#adm-{adm.pk} [data-testid=resume]")).to_be_visible()
    pause = Pause.objects.get(administration=adm)
    assert pause.start.astimezone(zone).strftime("%Y-%m-%d %H:%M") == pressed
    assert pause.reason == "pump_alarm"

    # Stop now has no time field: the time it was pressed is put in its note, and charted.
    Session.objects.all().delete()
    page.locator(f"#adm-{adm.pk} [data-testid=resume]").click()  # refused: signed out
    sign_in_again(page)
    page.locator(f"#adm-{adm.pk} [data-testid=resume]").click()  # done again (its own time)
    expect(page.locator(f"#adm-{adm.pk} [data-testid=pause]")).to_be_visible()
    Session.objects.all().delete()
    before = timezone.now()
    page.locator(f"#adm-{adm.pk} [data-testid=stop]").click()
    after = timezone.now()
    sign_in_again(page)
    kept = page.locator(f"#adm-{adm.pk} [data-testid=not-done] [data-testid=pressed-at]")
    expect(kept).to_be_visible()
    pressed = _minutes(page, f"#adm-{adm.pk} [data-testid=pressed-at]", before, after, zone)
    page.locator(f"#adm-{adm.pk} [data-testid=stop]").click()
    expect(page.locator(f"#adm-{adm.pk} [data-testid=stop]")).to_have_count(0)
    stop = Administration.objects.get(pk=adm.pk).stop
    assert stop is not None
    assert stop.astimezone(zone).strftime("%Y-%m-%d %H:%M") == pressed
    assert stop - pause.start < timedelta(hours=1)
