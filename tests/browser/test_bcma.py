"""Issue 17 in real Chromium: a nurse scans the wristband on the board (the chart opens), then
drug barcodes into the chart's focused scan field as a keyboard scanner types them (a GS1
DataMatrix with its group separator sent as Ctrl+]): a match, a wrong drug stopped and
overridden with a reason; the start records lot and expiry. A chemotherapy order is held until
verified (or an emergency reason), and starts only with a second nurse's own credentials. The
pharmacist sees the calculated dose beside the ordered one, and the overrides report. Rate
changes show on the card and the timeline. Screenshots go to test-artifacts/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.models import Administration, DrugClass, DrugNdc, Encounter, Order, SafetyOverride
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# "]d2" DataMatrix: GTIN 00312345678906 (NDC 1234-5678-90), expiry 2027-06-30, lot A1B2, serial.
GS1_HEAD = "]d20100312345678906172706301" + "0A1B2"
GS1_TAIL = "21SN0001"
CISPLATIN_NDC = "00703-5748-11"


def sign_out(page) -> None:
    page.click("nav form button[type=submit]")
    page.wait_for_selector("input[name=username]")


def ward() -> Encounter:
    now = timezone.now()
    patient = factories.patient_create(
        name="Ada Scan", mrn="MRN-4471", sex="F", birth_date=now.date().replace(year=1960)
    )
    encounter = factories.encounter_create(
        patient=patient, arrived_at=now - timedelta(hours=1), location_label="7"
    )
    factories.site_create(encounter, placed_at=now - timedelta(minutes=50))
    ondansetron = factories.drug_get("ondansetron")
    DrugNdc.objects.create(drug=ondansetron, ndc="01234567890")
    factories.order_create(encounter, ondansetron, dose="8 mg", indication="R11.2")
    cisplatin = factories.drug_get("cisplatin", DrugClass.CHEMO)
    DrugNdc.objects.create(drug=cisplatin, ndc="00703574811")
    factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="600 mg",
        dose_value=Decimal(5), dose_unit="mg", dose_basis="auc", prescribed_amount=Decimal(600),
        duration_minutes=60,  # an infusion: preselected at the start
    )  # fmt: skip
    return encounter


def scan(page, text: str, *, gs_then: str = "") -> None:
    """Type into the focused scan field as a keyboard scanner does, Enter at the end."""
    from playwright.sync_api import expect

    field = page.locator("[data-scan-field]")
    expect(field).to_be_focused()
    page.keyboard.type(text)
    if gs_then:
        page.keyboard.press("Control+BracketRight")  # the scanner's GS
        page.keyboard.type(gs_then)
    page.keyboard.press("Enter")


def test_scan_right_and_wrong_override_and_start(browser_page, live_server) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-s1", role="nurse")
    encounter = ward()
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nurse-s1")
    page.wait_for_url("**/mar/board/")

    # The wristband, scanned on the board, opens the chart.
    expect(page.locator("[data-scan-field]")).to_be_focused()
    page.keyboard.type("MRN-4471")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/mar/encounters/{encounter.pk}/")

    # The board's scan is the wristband's: the chart opens with the patient confirmed (the
    # wristband scanned on the chart itself: tests/mar/test_views_care.py).
    expect(page.locator("[data-testid=patient-confirmed]")).to_be_visible()
    result = page.locator("[data-testid=scan-result]")
    expect(result).to_contain_text("Patient confirmed: Ada Scan")

    # The GS1 DataMatrix of ondansetron: a match, with its lot and expiry.
    scan(page, GS1_HEAD, gs_then=GS1_TAIL)
    expect(result).to_contain_text("lot A1B2")
    expect(result).to_have_attribute("data-result", "match")
    row = page.locator("[data-testid=order-row]", has_text="ondansetron")
    expect(row.locator("[data-testid=order-scan]")).to_contain_text("NDC 01234-5678-90 · lot A1B2")

    # Cisplatin is not ordered: stopped, in the chart (no popup), until overridden with a reason.
    scan(page, CISPLATIN_NDC)
    expect(result).to_have_attribute("data-result", "wrong_drug")
    expect(result).to_contain_text("Wrong drug: cisplatin")
    page.screenshot(path=str(ARTIFACTS / "bcma-wrong-drug.png"), full_page=False)
    form = page.locator("[data-testid=scan-override-form]")
    form.locator("select[name$='-order']").select_option(label="ondansetron 8 mg")
    form.locator("input[name$='-reason']").fill("scanned the wrong vial; ondansetron re-scanned")
    form.locator("[data-testid=scan-override]").click()
    expect(page.locator("[data-testid=scan-overridden]")).to_contain_text("wrong vial")

    # Scan ondansetron again and start it: NDC, lot and expiry on the administration.
    scan(page, GS1_HEAD, gs_then=GS1_TAIL)
    expect(result).to_have_attribute("data-result", "match")
    row.locator("select[name$='-method']").select_option("push")
    row.locator("[data-testid=start]").click()
    adm_card = page.locator("[data-testid=adm-card]", has_text="ondansetron")
    expect(adm_card.locator("[data-testid=adm-package]")).to_have_text(
        "NDC 01234-5678-90 · lot A1B2 · exp 2027-06-30"
    )
    adm_card.locator("[data-testid=adm-package]").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "bcma-started-card.png"), full_page=False)
    expect(adm_card.locator("[data-testid=adm-package]")).to_contain_text("exp 2027-06-30")
    page.screenshot(path=str(ARTIFACTS / "bcma-started.png"), full_page=True)
    adm = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    assert (adm.ndc, adm.lot, str(adm.expiry)) == ("01234567890", "A1B2", "2027-06-30")
    override = SafetyOverride.objects.get()
    assert (override.kind, override.by.username) == ("wrong_drug", "nurse-s1")


def test_verification_gate_double_check_and_the_pharmacists_screen(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    factories.user_create(username="nurse-v1", role="nurse")
    factories.user_create(username="nurse-v2", role="nurse")
    factories.user_create(username="rph-v", role="pharmacist")
    encounter = ward()
    carboplatin = Order.objects.get(encounter=encounter, drug__name="carboplatin")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nurse-v1")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")

    # Measures: height, weight, creatinine -> BSA and CrCl on the chart.
    for kind, value in (("height_cm", "165"), ("weight_kg", "60"), ("creatinine_mg_dl", "0.9")):
        if not page.locator("[data-testid=measure-form]").is_visible():
            page.locator("#measures summary").click()
        form = page.locator("[data-testid=measure-form]")
        form.locator("select[name=m-kind]").select_option(kind)
        form.locator("input[name=m-value]").fill(value)
        form.locator("button[type=submit]").click()
        expect(page.locator("[data-testid=measures]")).to_contain_text(value)
    expect(page.locator("[data-testid=bsa]")).to_contain_text("1.66 m²")
    expect(page.locator("[data-testid=crcl]")).to_contain_text("mL/min")

    # Not verified: the start is stopped and asks for the emergency reason.
    row = page.locator("[data-testid=order-row]", has_text="carboplatin")
    expect(row.locator("[data-testid=verification-gate]")).to_be_visible()
    row.locator("[data-testid=start]").click()
    row = page.locator("[data-testid=order-row]", has_text="carboplatin")
    expect(row).to_contain_text("no pharmacist has verified the order")
    assert not Administration.objects.filter(order=carboplatin).exists()
    sign_out(page)

    # The pharmacist's screen: calculated (Calvert) beside ordered, flagged beyond 10%.
    sign_in(page, live_server, "rph-v")
    page.goto(f"{live_server.url}/pharmacy/orders/")
    page.locator("[data-testid=order-review]", has_text="carboplatin").click()
    expect(page.locator("[data-testid=calculated-dose]")).to_contain_text("AUC 5")
    expect(page.locator("[data-testid=dose-difference]")).to_have_attribute("data-flagged", "1")
    page.screenshot(path=str(ARTIFACTS / "pharmacist-dose-check.png"), full_page=True)
    # The form asks first whether the session holds (static/js/session.js), then goes.
    with page.expect_navigation():
        page.locator("[data-testid=verify]").click()
    page.wait_for_url("**/pharmacy/orders/**")
    carboplatin.refresh_from_db()
    assert carboplatin.verified_by.username == "rph-v"
    sign_out(page)

    # Verified: the start now needs the second nurse, with her own password, on this device.
    sign_in(page, live_server, "nurse-v1")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    row = page.locator("[data-testid=order-row]", has_text="carboplatin")
    check = row.locator("[data-testid=double-check]")
    check.locator("input[name$='-second_username']").fill("nurse-v2")
    check.locator("input[name$='-second_password']").fill("wrong password")
    check.locator("input[name$='-double_check_confirmed']").check()
    row.locator("[data-testid=start]").click()
    row = page.locator("[data-testid=order-row]", has_text="carboplatin")
    expect(row).to_contain_text("user name or password is wrong")
    check = row.locator("[data-testid=double-check]")
    check.locator("input[name$='-second_username']").fill("nurse-v2")
    check.locator("input[name$='-second_password']").fill(factories.PASSWORD)
    check.locator("input[name$='-double_check_confirmed']").check()
    row.locator("input[name$='-rate_ml_h']").fill("250")
    row.locator("[data-testid=start]").click()
    adm_card = page.locator("[data-testid=adm-card]", has_text="carboplatin")
    expect(adm_card.locator("[data-testid=double-checked]")).to_contain_text(
        "nurse-v1 and nurse-v2"
    )
    expect(adm_card.locator("[data-testid=adm-rate]")).to_contain_text("250 mL/h")

    # A rate change (titration) shows on the card and as a mark on the timeline's bar.
    adm_card.locator("summary", has_text="Rate change").click()
    rate = adm_card.locator("[data-testid=rate-form]")
    rate.locator("input[name$='-rate_ml_h']").fill("125")
    rate.locator("input[name$='-reason']").fill("infusion reaction: titrated down")
    rate.locator("[data-testid=rate-save]").click()
    adm_card = page.locator("[data-testid=adm-card]", has_text="carboplatin")
    expect(adm_card.locator("[data-testid=rate-changes]")).to_contain_text("125 mL/h")
    adm = Administration.objects.get(order=carboplatin)
    bar = page.locator(f"#timeline .tl-bar[data-administration='A{adm.pk}']")
    mark = bar.locator("[data-testid=rate-mark]")
    expect(mark).to_have_count(1)
    expect(mark).to_have_attribute("data-rate", "125 mL/h")
    assert "rate 125 mL/h from" in mark.locator("title").text_content()
    assert mark.locator("line").bounding_box()["height"] > 18  # across the bar, visible
    page.screenshot(path=str(ARTIFACTS / "rate-change-timeline.png"), full_page=True)
    assert (adm.created_by.username, adm.double_checked_by.username) == ("nurse-v1", "nurse-v2")
    assert adm.rate_changes.get().rate_ml_h == Decimal(125)


def test_a_wrong_patient_wristband_is_a_hard_stop(browser_page, live_server) -> None:
    """Another patient's wristband on this chart: no override, only what to do instead (scan
    this patient's wristband, or open the other patient's chart, which the link opens)."""
    from playwright.sync_api import expect

    factories.user_create(username="nurse-wp", role="nurse")
    encounter = ward()
    other = factories.patient_create(name="Bea Other", mrn="MRN-5502")
    other_visit = factories.encounter_create(patient=other, location_label="9")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nurse-wp")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")

    scan(page, "MRN-5502")
    result = page.locator("[data-testid=scan-result]")
    expect(result).to_have_attribute("data-result", "wrong_patient")
    expect(result).to_contain_text("Wrong patient: this wristband is Bea Other")
    expect(result.locator("[data-testid=scan-wrong-patient]")).to_have_text(
        "Not overridable: scan this patient's wristband, or open Bea Other's chart."
    )
    expect(page.locator("[data-testid=scan-override-form]")).to_have_count(0)
    result.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "bcma-wrong-patient.png"), full_page=False)

    # This patient's wristband: confirmed.
    page.locator("[data-scan-field]").focus()
    scan(page, "MRN-4471")
    expect(page.locator("[data-testid=patient-confirmed]")).to_be_visible()
    assert not SafetyOverride.objects.exists()

    # Or the link opens the other patient's chart.
    scan(page, "MRN-5502")
    page.locator("[data-testid=scan-wrong-patient-chart]").click()
    page.wait_for_url(f"**/mar/encounters/{other_visit.pk}/")
