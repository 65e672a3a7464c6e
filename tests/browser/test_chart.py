"""A nurse charts a whole chemotherapy visit by clicking, in real Chromium against the live server:
a site, hydration, a flush, an antiemetic push, a flush, paclitaxel with a pause; a checklist item
appears and clears; she signs; a real Celery worker (through Redis) makes the charges, which
appear on the chart. Screenshots of the chart at 1280 and 768 px go to test-artifacts/."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import Administration, DrugClass, Encounter, Order
from mar.services.signature import signature_store
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wall(moment) -> str:
    """A moment as the time fields show it: the encounter's wall clock, 24-hour."""
    return moment.astimezone(factories.NEW_YORK).strftime("%Y-%m-%d %H:%M")


def visit() -> Encounter:
    now = timezone.now()
    encounter = factories.encounter_create(
        arrived_at=now - timedelta(hours=3), location_label="4", unit="Infusion Center"
    )
    factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        indication="E86.0 dehydration", purpose=Order.Purpose.HYDRATION, dose="1000 mL",
    )  # fmt: skip
    factories.order_create(encounter, factories.drug_get("ondansetron"), indication="R11.2",
                           dose="8 mg")  # fmt: skip
    # Verified by pharmacy: a chemotherapy order starts only once verified (issue 17).
    factories.order_create(encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO),
                           dose="175 mg/m2", verified_at=now,
                           verified_by=factories.user_create(username=f"rph-{encounter.pk}",
                                                             role="pharmacist"))  # fmt: skip
    factories.user_create(username=f"second-{encounter.pk}", role="nurse")
    return encounter


def card(page, drug: str):
    return page.locator("[data-testid=adm-card]", has_text=drug)


def start_order(page, drug: str, method: str = "infusion") -> int:
    row = page.locator("[data-testid=order-row]", has_text=drug).first
    row.locator("select[name$='-method']").select_option(method)
    double_check = row.locator("[data-testid=double-check]")
    if double_check.count():  # chemotherapy: the second nurse signs in on this device
        encounter_pk = re.search(r"/encounters/(\d+)/", page.url)[1]
        double_check.locator("input[name$='-second_username']").fill(f"second-{encounter_pk}")
        double_check.locator("input[name$='-second_password']").fill(factories.PASSWORD)
        double_check.locator("input[name$='-double_check_confirmed']").check()
    row.locator("[data-testid=start]").click()
    card(page, drug).wait_for()
    return int(card(page, drug).get_attribute("data-administration")[1:])


def edit_time(page, adm_pk: int, field: str, value: str) -> None:
    """Type a late-entry time; htmx saves it on change, and the card comes back one version on."""
    from playwright.sync_api import expect

    if not page.locator(f"#id_a{adm_pk}-{field}").is_visible():
        page.locator(f"#adm-{adm_pk} details.adm-edit > summary").click()  # a folded card
    version = page.locator(f"input[name='a{adm_pk}-version']")
    before = int(version.get_attribute("value"))
    page.fill(f"#id_a{adm_pk}-{field}", value)  # typed; a text field changes when she leaves it
    page.locator(f"#id_a{adm_pk}-{field}").blur()
    # The save runs the engine on the whole record: on a loaded 2-core CI machine it has been
    # seen to take over 5 s, playwright's default wait.
    expect(version).to_have_value(str(before + 1), timeout=20_000)
    expect(page.locator(f"#id_a{adm_pk}-{field}")).to_have_value(value)


def flush_at(page, moment) -> None:
    from playwright.sync_api import expect

    chip = page.locator("[data-testid=site-chip]").first
    count = page.locator(".tl-flush").count()
    chip.locator("summary", has_text="Flush earlier").click()
    chip.locator("[data-testid=flush-late-form] input[data-time24]").fill(wall(moment))
    chip.locator("[data-testid=flush-at]").click()
    expect(page.locator(".tl-flush")).to_have_count(count + 1)  # a tick on the timeline


@pytest.mark.integration  # the real worker: Celery is not eager here
def test_a_nurse_charts_a_chemotherapy_visit_by_clicking(browser_page, live_server, worker) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-c", role="nurse")
    encounter = visit()
    now = timezone.now()
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nurse-c")
    page.wait_for_url("**/mar/board/")
    page.locator("[data-testid=encounter-card]", has_text=encounter.patient.name).click()
    page.wait_for_url(f"**/mar/encounters/{encounter.pk}/")
    checklist = page.locator("[data-testid=checklist]")

    # An access site, placed at arrival.
    form = page.locator("[data-testid=site-form]")
    form.locator("select[name=site-kind]").select_option("peripheral_iv")
    form.locator("input[name=site-location]").fill("left forearm")
    form.locator("input[name=site-placed_at]").fill(wall(now - timedelta(hours=3)))
    form.locator("button[type=submit]").click()
    page.locator("[data-testid=site-chip]").wait_for()

    # Hydration: started from its order (the only site preselected); the checklist at once says
    # it is running (RAC-7 info: a state, not yet a gap; issue 15, item 9).
    fluid = start_order(page, "sodium chloride")
    expect(checklist).to_contain_text("RAC-7")
    expect(checklist).to_contain_text("sodium chloride 0.9% is running")
    edit_time(page, fluid, "start", wall(now - timedelta(hours=2, minutes=50)))
    edit_time(page, fluid, "stop", wall(now - timedelta(hours=2, minutes=10)))
    # ... and clears when the stop is charted.
    expect(checklist).not_to_contain_text("sodium chloride 0.9% is running")

    flush_at(page, now - timedelta(hours=2, minutes=8))

    # The antiemetic as a push.
    push = start_order(page, "ondansetron", method="push")
    edit_time(page, push, "start", wall(now - timedelta(hours=2, minutes=5)))
    flush_at(page, now - timedelta(hours=2, minutes=2))

    # Paclitaxel, with a pause (the big buttons), then stopped now.
    chemo = start_order(page, "paclitaxel")
    edit_time(page, chemo, "start", wall(now - timedelta(hours=2)))
    card(page, "paclitaxel").locator("[data-testid=pause]").click()
    expect(card(page, "paclitaxel").locator("[data-testid=adm-state]")).to_contain_text("Paused")
    card(page, "paclitaxel").locator("[data-testid=resume]").click()
    expect(card(page, "paclitaxel").locator("[data-testid=adm-state]")).to_contain_text("Running")
    page.screenshot(path=str(ARTIFACTS / "chart-running.png"), full_page=True)
    card(page, "paclitaxel").locator("[data-testid=stop]").click()
    expect(card(page, "paclitaxel").locator("[data-testid=adm-state]")).to_contain_text("Stopped")

    # Nothing an auditor would raise: the checklist is clear and the record ready to sign.
    expect(page.locator("[data-testid=checklist-clear]")).to_be_visible()
    adms = {a.drug.name: a for a in Administration.objects.filter(encounter=encounter)}
    assert adms["ondansetron"].method == "push"
    assert adms["paclitaxel"].pauses.get().end is not None
    assert encounter.flushes.count() == 2

    assert "{#" not in page.content()  # no template comment leaked into the page
    # Pictures of the chart for the record, at a laptop's and a tablet's width.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "chart.png"), full_page=True)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.screenshot(path=str(ARTIFACTS / "chart-768.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.locator("#id_confirm").check()  # "I have checked what I am signing."
    page.locator("[data-testid=sign]").click()
    expect(page.locator("[data-testid=signed]")).to_be_visible()
    # The worker (through Redis) makes the charges; the chart polls until they are there.
    charges = page.locator("[data-testid=charges]")
    expect(charges).to_contain_text("96413", timeout=30_000)
    expect(charges).to_contain_text("96375")  # the push after chemotherapy: sequential
    page.screenshot(path=str(ARTIFACTS / "chart-signed.png"), full_page=True)


def test_without_javascript_every_action_is_a_plain_form_post(browser_page, live_server) -> None:
    """The same chart with JavaScript off: forms post, the server redirects back, nothing lost."""
    factories.user_create(username="nurse-d", role="nurse")
    encounter = visit()
    now = timezone.now()
    context = browser_page.context.browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "nurse-d")
        page.wait_for_url("**/mar/board/")
        page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
        form = page.locator("[data-testid=site-form]")
        form.locator("input[name=site-location]").fill("right hand")
        form.locator("input[name=site-placed_at]").fill(wall(now - timedelta(hours=3)))
        form.locator("button[type=submit]").click()
        page.locator("[data-testid=site-chip]").wait_for()

        # Paclitaxel started and left running: its stop is missing, an error at sign-off.
        start_order(page, "paclitaxel")
        chemo = card(page, "paclitaxel")
        assert "RAC-7" in page.locator("[data-testid=checklist]").inner_text()
        # A stop before the start: refused beside the field, the typed value kept.
        adm_pk = int(chemo.get_attribute("data-administration")[1:])
        early = wall(now - timedelta(hours=4))
        page.fill(f"#id_a{adm_pk}-stop", early)
        page.fill(f"#id_a{adm_pk}-bag", "typed")
        chemo.get_by_role("button", name="Save", exact=True).first.click()
        page.locator(f"#error_1_id_a{adm_pk}-stop").wait_for()
        assert "is not after its start" in page.locator(f"#error_1_id_a{adm_pk}-stop").inner_text()
        assert page.locator(f"#id_a{adm_pk}-bag").input_value() == "typed"
        assert Administration.objects.get(pk=adm_pk).bag == ""

        # Signing asks for the stop still missing (RAC-7, an error at signing): sign with a
        # reason for it.
        page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
        page.locator("[data-testid=sign]").click()
        reasons = page.locator("[data-testid=sign-form] input[name^=ack_]")
        reasons.first.wait_for()
        for i in range(reasons.count()):  # the stop, and the orders not given (DOC-6)
            reasons.nth(i).fill("still running at discharge")
        # Not confirmed: said beside the box, without JavaScript too; nothing signed.
        assert "Tick the box to confirm" in page.locator("#error_1_id_confirm").inner_text()
        assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.IN_PROGRESS
        page.locator("#id_confirm").check()
        page.locator("[data-testid=sign]").click()
        page.locator("[data-testid=signed]").wait_for()
        assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.SIGNED
    finally:
        context.close()


def test_a_refused_flush_time_comes_back_beside_its_field_with_and_without_javascript(
    browser_page, live_server
) -> None:
    """ "Flush earlier…": a time in the future (DOC-3) with htmx, and a time that cannot be read
    without JavaScript, are each named beside the time field; the panel stays open with the
    nurse's typing in it and nothing is charted."""
    from playwright.sync_api import expect

    factories.user_create(username="nurse-f", role="nurse")
    encounter = visit()
    now = timezone.now()
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=3))
    field = f"#id_flush{site.pk}-at"
    error = f"#error_1_id_flush{site.pk}-at"

    page = browser_page
    sign_in(page, live_server, "nurse-f")
    page.wait_for_url("**/mar/board/")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    chip = page.locator(f"#site-{site.pk}")
    chip.locator("summary", has_text="Flush earlier").click()
    future = wall(now + timedelta(hours=2))
    page.fill(field, future)
    chip.locator("[data-testid=flush-at]").click()
    expect(page.locator(error)).to_contain_text("is charted in the future")
    expect(page.locator(field)).to_have_value(future)
    assert not encounter.flushes.exists()

    context = page.context.browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}
    )
    plain = context.new_page()
    try:
        sign_in(plain, live_server, "nurse-f")
        plain.wait_for_url("**/mar/board/")
        plain.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
        plain.locator(f"#site-{site.pk} summary", has_text="Flush earlier").click()
        plain.fill(field, "noon-ish")
        plain.locator(f"#site-{site.pk} [data-testid=flush-at]").click()
        plain.locator(error).wait_for()
        assert "Enter the 24-hour time, such as 14:30 (today)" in plain.locator(error).inner_text()
        assert plain.locator(field).input_value() == "noon-ish"
        assert plain.locator(field).is_visible()  # the panel is open
        assert not encounter.flushes.exists()
    finally:
        context.close()


def test_a_signed_chart_is_read_only_until_the_addendum_button(browser_page, live_server) -> None:
    """screens.md: "After signing, the same screen is read-only with an 'addendum' button": no
    field can be typed in until the nurse opens the addendum, whose forms save as addenda."""
    from playwright.sync_api import expect

    nurse = factories.user_create(username="nurse-s", role="nurse")
    encounter = factories.chemo_encounter_create()
    signature_store(encounter=encounter, user=nurse)
    page = browser_page
    sign_in(page, live_server, "nurse-s")
    page.wait_for_url("**/mar/board/")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    editable = page.locator(
        "#chart :is(input, select, textarea):not([type=hidden]):enabled, #chart button:enabled"
    )
    expect(page.locator("[data-testid=signed]")).to_be_visible()
    assert editable.count() == 0
    page.locator("[data-testid=addendum-open]").click()
    page.wait_for_url("**?addendum=1#addendum")
    expect(page.locator("#addendum")).to_contain_text("Add addendum")
    assert editable.count() > 0
    page.locator("[data-testid=addendum-close]").click()
    expect(page.locator("[data-testid=addendum-open]")).to_be_visible()
    assert editable.count() == 0


def test_a_missed_flush_charted_by_addendum_has_its_solution_and_volume(
    browser_page, live_server
) -> None:
    """The addendum's missed flush asks what the site chip's flush asks (NS 10 mL unless she
    types otherwise); the flush is then shown on its site with them, as a bedside flush is."""
    from playwright.sync_api import expect

    nurse = factories.user_create(username="nurse-af", role="nurse")
    encounter = factories.chemo_encounter_create()
    site = encounter.sites.get()
    signature_store(encounter=encounter, user=nurse)
    page = browser_page
    sign_in(page, live_server, "nurse-af")
    page.wait_for_url("**/mar/board/")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/?addendum=1#addendum")
    form = page.locator("#addendum form")
    solution = form.locator("input[name=addendum-flush_solution]")
    volume = form.locator("input[name=addendum-flush_volume_ml]")
    expect(solution).to_have_value("NS")
    expect(volume).to_have_value("10")
    form.locator("textarea[name=addendum-what]").fill("Heparin lock before the paclitaxel")
    form.locator("textarea[name=addendum-why]").fill("coder query")
    form.locator("select[name=addendum-flush_site]").select_option(str(site.pk))
    form.locator("input[name=addendum-flush_at]").fill("2026-03-02 09:10")
    solution.fill("heparin 10 units/mL")
    volume.fill("3")
    form.get_by_role("button", name="Add addendum").click()
    flushes = page.locator(f"#site-{site.pk}-flushes")
    expect(flushes).to_contain_text("flush 09:10 · heparin 10 units/mL 3 mL")
    expect(page.get_by_test_id("addenda")).to_contain_text(
        f"Flush charted on S{site.pk} at 2026-03-02 09:10: heparin 10 units/mL 3 mL."
    )
    page.screenshot(path=str(ARTIFACTS / "addendum-flush-details.png"), full_page=True)
    flush = encounter.flushes.get(at=factories.MORNING + timedelta(minutes=70))
    assert (flush.solution, str(flush.volume_ml)) == ("heparin 10 units/mL", "3.0")
