"""Issue 15 (bedside) in real Chromium at 1024x768, as the nurse: the running infusion at the top
(item 11), an IV-push order starting as a push with 24-hour time fields and a Start button that
says when (item 10). Screenshots to test-artifacts/bedside-*.png."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from mar.models import Administration, DrugClass
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wall(moment) -> str:
    return moment.astimezone(factories.NEW_YORK).strftime("%Y-%m-%d %H:%M")


def _chart_as_nurse(page, live_server, username: str, encounter) -> None:
    """Sign in as a new nurse and open the encounter's chart."""
    sign_in(page, live_server, factories.user_create(username=username, role="nurse").username)
    page.goto(live_server.url + reverse("mar:encounter", args=[encounter.pk]))


def _fluid_running(now):
    """A visit with one site and a hydration fluid running on it for 40 minutes."""
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    fluid = factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        dose="1000 mL", purpose="hydration", duration_minutes=120,
    )  # fmt: skip
    running = factories.administration_create(
        encounter, fluid, site=site, start=now - timedelta(minutes=40), stop=None,
        purpose="hydration",
    )  # fmt: skip
    return encounter, site, running


def test_an_iv_push_starts_as_a_push_at_a_24_hour_time_and_running_is_at_the_top(
    browser_page, live_server
) -> None:
    now = timezone.now()
    encounter, site, running = _fluid_running(now)
    push = factories.order_create(
        encounter, factories.drug_get("ondansetron"), dose="8 mg IV push", indication="R11.2"
    )
    for name in ("dexamethasone", "famotidine", "diphenhydramine", "acetaminophen"):
        factories.order_create(encounter, factories.drug_get(name), dose="1 mg")
    page = browser_page
    _chart_as_nurse(page, live_server, "nurse-p", encounter)

    # Item 11: the running fluid, its Stop within reach on the first screen, a calm blue state.
    running_card = page.locator(f"#adm-{running.pk}")
    expect(page.locator("[data-testid=running-now]")).to_contain_text("sodium chloride")
    stop_box = running_card.locator("[data-testid=stop]").bounding_box()
    assert stop_box is not None and 0 <= stop_box["y"] and stop_box["y"] + stop_box["height"] < 768
    badge = running_card.locator(".adm-state-running")
    expect(badge).to_contain_text("Running")
    colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(207, 226, 255)"  # light blue, not red
    page.screenshot(path=str(ARTIFACTS / "bedside-running-top.png"))

    # Item 10: the push order starts as a push; the time field is 24-hour text.
    row = page.locator(f"#order-{push.pk}")
    expect(row.locator("select[name$='-method']")).to_have_value("push")
    at = row.locator("input[name$='-at']")
    assert at.get_attribute("type") == "text"
    assert at.get_attribute("placeholder") == "HH:MM or YYYY-MM-DD HH:MM"
    start = row.locator("[data-testid=start]")
    expect(start).to_have_text("Start now")
    at.fill("03/02/2026 2:30 PM")
    at.blur()
    hint = row.locator("[data-testid=time24-hint]")
    expect(hint).to_contain_text("24-hour")
    row.screenshot(path=str(ARTIFACTS / "bedside-time24-hint.png"))
    given = now - timedelta(minutes=10)
    at.fill(wall(given))
    at.blur()
    expect(hint).to_have_count(0)
    expect(start).to_have_text("Start at " + wall(given)[-5:])
    start.click()
    card = page.locator("[data-testid=adm-card]", has_text="ondansetron")
    expect(card).to_be_visible()
    adm = Administration.objects.get(order=push)
    assert adm.method == Administration.Method.PUSH
    assert wall(adm.start) == wall(given)
    # A cleared field says "Start now" again.
    page.screenshot(path=str(ARTIFACTS / "bedside-push-started.png"), full_page=True)


def test_discontinue_asks_naming_the_running_infusion_and_reopen_undoes_it(
    browser_page, live_server
) -> None:
    """Item 7: "Discontinue…" opens a confirmation that names what runs on the site; confirming
    stops it with the site (the message says so); "Reopen" brings the site back."""
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    order = factories.order_create(encounter, factories.drug_get("vancomycin"), dose="1 g")
    adm = factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=30), stop=None
    )
    page = browser_page
    _chart_as_nurse(page, live_server, "nurse-d", encounter)
    chip = page.locator(f"#site-{site.pk}")
    chip.locator("[data-testid=discontinue-open]").click()
    warning = chip.locator("[data-testid=discontinue-running]")
    expect(warning).to_contain_text("vancomycin")
    expect(warning).to_contain_text(f"A{adm.pk}")
    button = chip.locator("[data-testid=discontinue]")
    expect(button).to_have_text(f"Discontinue S{site.pk} and stop A{adm.pk}")
    chip.screenshot(path=str(ARTIFACTS / "bedside-discontinue-confirm.png"))
    button.click()
    expect(page.locator("#messages")).to_contain_text(f"S{site.pk} discontinued at")
    expect(page.locator("#messages")).to_contain_text("vancomycin")
    expect(page.locator("[data-testid=running-now]")).to_have_count(0)
    reopen = page.locator(f"#site-{site.pk} [data-testid=reopen]")
    expect(reopen).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "bedside-discontinued.png"))
    reopen.click()
    expect(page.locator("#messages")).to_contain_text(f"S{site.pk} reopened")
    expect(page.locator(f"#site-{site.pk} [data-testid=discontinue-open]")).to_be_visible()
    site.refresh_from_db()
    assert site.discontinued_at is None


def test_the_board_shows_the_last_24_hours_or_a_chosen_day(browser_page, live_server) -> None:
    """Item 14: the board's default is the last 24 hours (last evening's signed visit is there
    after midnight); the date field shows a chosen day."""
    from mar.models import Encounter

    now = timezone.now()
    evening = factories.encounter_create(
        arrived_at=now - timedelta(hours=7), status=Encounter.Status.SIGNED, location_label="3"
    )
    older = factories.encounter_create(
        arrived_at=now - timedelta(days=3), status=Encounter.Status.SIGNED, location_label="5"
    )
    page = browser_page
    sign_in(page, live_server, factories.user_create(username="nurse-b", role="nurse").username)
    page.goto(live_server.url + reverse("mar:board"))
    expect(page.locator("[data-testid=board-title]")).to_contain_text("last 24 hours")
    cards = page.locator("[data-testid=encounter-card]")
    expect(cards.filter(has_text=evening.patient.name)).to_have_count(1)
    expect(cards.filter(has_text=older.patient.name)).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "bedside-board.png"))
    day = timezone.localdate(older.arrived_at)
    page.fill("#board-date", day.isoformat())
    page.locator("[data-testid=board-date] button[type=submit]").click()
    expect(cards.filter(has_text=older.patient.name)).to_have_count(1)
    expect(page.locator("[data-testid=board-title]")).not_to_contain_text("last 24 hours")


def test_the_board_pages_through_many_open_visits(browser_page, live_server, monkeypatch) -> None:
    """Issue 19: the board shows a page of cards at a time (BOARD_PAGE, here 2) with Next and
    Previous; every open visit is on one page, and a chosen day stays chosen from page to page."""
    from mar import views

    monkeypatch.setattr(views, "BOARD_PAGE", 2)
    now = timezone.now()
    visits = [
        factories.encounter_create(arrived_at=now - timedelta(hours=1), location_label=str(n))
        for n in range(1, 6)
    ]
    page = browser_page
    sign_in(page, live_server, factories.user_create(username="nurse-p", role="nurse").username)
    page.goto(live_server.url + reverse("mar:board") + f"?date={timezone.localdate(now)}")
    pages = page.locator("[data-testid=board-pages]")
    cards = page.locator("[data-testid=encounter-card]")
    seen = []
    for number in (1, 2, 3):
        expect(pages).to_contain_text(f"Page {number} of 3")
        seen += [cards.nth(i).get_attribute("href") for i in range(cards.count())]
        assert "date=" in page.url
        if number == 1:
            page.screenshot(path=str(ARTIFACTS / "board-pages.png"))
        if number < 3:
            pages.get_by_role("link", name="Next").click()
    expect(cards).to_have_count(1)
    assert sorted(seen) == sorted(reverse("mar:encounter", args=[v.pk]) for v in visits)
    pages.get_by_role("link", name="Previous").click()
    expect(pages).to_contain_text("Page 2 of 3")


def test_a_second_infusion_started_goes_on_top_and_what_was_typed_on_the_first_stays(
    browser_page, live_server
) -> None:
    """Issue 19: a start answers with the new card on top of what is running (newest first).
    Both run on S1, so they overlap (RAC-6 names both): the first card's list of findings is
    sent again, saying the overlap too, and a volume typed into its Stop box and not yet sent is
    still there."""
    now = timezone.now()
    encounter, site, running = _fluid_running(now)
    antibiotic = factories.order_create(
        encounter, factories.drug_get("cefazolin", DrugClass.THERAPEUTIC), dose="2 g",
        duration_minutes=30, indication="L03.90",
    )  # fmt: skip
    page = browser_page
    _chart_as_nurse(page, live_server, "nurse-2nd", encounter)

    volume = page.locator(f"#adm-{running.pk} [data-testid=stop-volume]")
    volume.fill("250")  # typed, not sent
    row = page.locator(f"#order-{antibiotic.pk}")
    expect(row.locator("select[name$='-method']")).to_have_value("infusion")
    row.locator("[data-testid=start]").click()

    cards = page.locator("#running-list > [data-testid=adm-card]")
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("cefazolin")  # newest first
    expect(cards.nth(1)).to_contain_text("sodium chloride")
    expect(volume).to_have_value("250")  # what she typed stays
    expect(cards.nth(1)).to_contain_text("RAC-6")  # the overlap said on both cards
    page.locator("#running-slot").screenshot(path=str(ARTIFACTS / "bedside-second-start.png"))
    started = Administration.objects.get(order=antibiotic)
    assert started.stop is None and started.site_id == site.pk


def test_moving_an_infusion_to_another_site_clears_the_overlap_on_the_other_card_too(
    browser_page, live_server
) -> None:
    """Issue 19: a card save answers with that card, and with the list of findings of every
    other card the save altered. Two infusions on S1 overlap (RAC-6 on both cards); moving the
    second to S2 on its card clears the overlap from the first card's own list as well, and a
    volume typed into the first card's Stop box and not yet sent stays."""
    now = timezone.now()
    encounter, site, running = _fluid_running(now)
    other = factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    antibiotic = factories.order_create(
        encounter, factories.drug_get("cefazolin", DrugClass.THERAPEUTIC), dose="2 g",
        duration_minutes=30, indication="L03.90",
    )  # fmt: skip
    second = factories.administration_create(
        encounter, antibiotic, site=site, start=now - timedelta(minutes=10), stop=None
    )
    page = browser_page
    _chart_as_nurse(page, live_server, "nurse-move", encounter)
    first_findings = page.locator(f"#adm-{running.pk}-findings")
    expect(first_findings).to_contain_text("RAC-6")  # the overlap, on the first card

    volume = page.locator(f"#adm-{running.pk} [data-testid=stop-volume]")
    volume.fill("180")  # typed, not sent
    page.locator(f"#adm-{second.pk} select[name$='-site']").select_option(str(other.pk))

    expect(page.locator(f"#adm-{second.pk}")).to_have_attribute("data-saved", "yes")
    expect(first_findings).not_to_contain_text("RAC-6")  # cleared on the first card too
    expect(page.locator("[data-testid=checklist]")).not_to_contain_text("RAC-6")
    expect(volume).to_have_value("180")  # what she typed stays
    page.locator("#running-slot").screenshot(path=str(ARTIFACTS / "bedside-overlap-cleared.png"))
    second.refresh_from_db()
    assert second.site_id == other.pk


def test_signing_with_an_open_error_and_an_infusion_running_says_both_before_she_signs(
    browser_page, live_server
) -> None:
    """The sign-off lists an open error's reason field and, beside it, that signing will ask for
    the running infusion's stop: she is told before she signs, not after. Giving a reason for
    each, the record signs. Screenshot bedside-sign-running.png."""
    now = timezone.now()
    encounter, _site, running = _fluid_running(now)
    factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")  # DOC-6
    page = browser_page
    _chart_as_nurse(page, live_server, "nurse-sr", encounter)
    form = page.locator("[data-testid=sign-form]")
    expect(form.locator("input[name^=ack_]")).to_have_count(1)
    expect(form.locator("[data-testid=sign-running-note]")).to_contain_text(
        "sodium chloride 0.9% is running"
    )
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "bedside-sign-running.png"))

    form.locator("input[name^=ack_]").fill("ondansetron not needed, no nausea")
    page.locator("[data-testid=sign]").click()
    # Signing asks for the running one's stop, as the panel said; she gives a reason.
    reasons = page.locator("[data-testid=sign-form] input[name^=ack_]")
    expect(reasons).to_have_count(2)
    for index in range(2):
        if not reasons.nth(index).input_value():
            reasons.nth(index).fill("still running at transfer to the ward")
    page.locator("#id_confirm").check()  # "I have checked what I am signing."
    page.locator("[data-testid=sign]").click()
    expect(page.locator("[data-testid=signed]")).to_be_visible()
    running.refresh_from_db()
    assert running.encounter.status == "signed"
