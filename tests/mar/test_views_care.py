"""The chart's issue-17 actions through the views (mar/care_views.py, order_start): scan,
override, rate change, volumes, measures, site details and condition, pause reason, stop volume,
flush solution; the board's wristband; the pharmacist's verification screen and report."""

import re
from datetime import timedelta
from decimal import Decimal
from html import escape, unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import (
    Administration,
    BarcodeScan,
    DrugClass,
    DrugNdc,
    Encounter,
    Flush,
    SafetyOverride,
    SiteAssessment,
)
from mar.services.charting import order_disposition_set
from tests import factories
from tests.mar.chart_helpers import local, running_visit

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def url(name, encounter, *more):
    return reverse(f"mar:{name}", args=[encounter.pk, *more])


def test_a_scan_is_recorded_and_shown_on_the_chart(client_as) -> None:
    encounter, _adm = running_visit()
    html = (
        client_as(roles.NURSE)
        .post(url("scan", encounter), {"scan-code": encounter.patient.mrn}, **HX)
        .content.decode()
    )
    assert 'data-testid="patient-confirmed"' in html
    assert BarcodeScan.objects.get().result == "match"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_an_unknown_scan_is_said_once_in_the_scan_panel_not_as_a_page_message(
    client_as, htmx
) -> None:
    """Beside the scan field, where the nurse is looking; not again at the top of the page.
    Without JavaScript the redirect lands on the panel (#scan), the result in it."""
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    response = client.post(
        url("scan", encounter), {"scan-code": "?!garbled"}, **(HX if htmx else {})
    )
    scan = BarcodeScan.objects.get()
    assert scan.result == "unreadable" and scan.message.startswith("Not recognised")
    if htmx:
        assert response.status_code == 200
        html = response.content.decode()
    else:
        assert response.status_code == 302 and response["Location"].endswith("#scan")
        html = client.get(response["Location"]).content.decode()
    assert html.count(escape(scan.message)) == 1
    panel = html[html.index('id="scan"') : html.index("</section>", html.index('id="scan"'))]
    assert 'data-result="unreadable"' in panel and escape(scan.message) in panel
    assert panel.index('data-testid="scan-form"') < panel.index('data-testid="scan-result"')
    # Nothing left queued for the next page either: still once, in the panel.
    assert client.get(url("encounter", encounter)).content.decode().count(escape(scan.message)) == 1


def test_a_matching_scan_is_said_once_too(client_as) -> None:
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    response = client.post(url("scan", encounter), {"scan-code": encounter.patient.mrn})
    html = client.get(response["Location"]).content.decode()
    assert html.count(escape(BarcodeScan.objects.get().message)) == 1


def test_a_wrong_drug_scan_stops_and_is_overridden_with_a_reason(client_as) -> None:
    encounter, adm = running_visit()
    DrugNdc.objects.create(drug=factories.drug_get("cisplatin", DrugClass.CHEMO), ndc="00703574811")
    client = client_as(roles.NURSE)
    html = client.post(
        url("scan", encounter), {"scan-code": "00703-5748-11"}, **HX
    ).content.decode()
    assert 'data-result="wrong_drug"' in html and 'data-testid="scan-override-form"' in html
    scan = BarcodeScan.objects.get()
    refused = client.post(
        url("scan_override", encounter, scan.pk), {f"sc{scan.pk}-order": adm.order_id}, **HX
    ).content.decode()
    assert "Say why you give it anyway: the reason is kept." in refused
    assert not SafetyOverride.objects.exists()
    html = client.post(
        url("scan_override", encounter, scan.pk),
        {f"sc{scan.pk}-order": adm.order_id, f"sc{scan.pk}-reason": "label misprint"},
        **HX,
    ).content.decode()
    assert 'data-testid="scan-overridden"' in html
    assert SafetyOverride.objects.get().reason == "label misprint"


@pytest.mark.parametrize("open_chart", [True, False], ids=["other-chart-open", "no-open-chart"])
def test_a_wrong_patient_scan_is_a_hard_stop_without_override(client_as, open_chart) -> None:
    """No override form: the panel says to scan this patient's wristband, or to open the other
    patient's chart (a link only to an open encounter); an override posted anyway is refused."""
    encounter, _adm = running_visit()
    other = factories.patient_create(name="Bea Other")
    other_visit = factories.encounter_create(patient=other) if open_chart else None
    client = client_as(roles.NURSE)
    html = client.post(url("scan", encounter), {"scan-code": other.mrn}, **HX).content.decode()
    panel = unescape(
        html[html.index('id="scan"') : html.index("</section>", html.index('id="scan"'))]
    )
    assert 'data-result="wrong_patient"' in panel
    assert 'data-testid="scan-override-form"' not in panel and "Override reason" not in panel
    assert "scan this patient's wristband" in panel
    if other_visit is not None:
        chart_link = reverse("mar:encounter", args=[other_visit.pk])
        link = f'href="{chart_link}" data-testid="scan-wrong-patient-chart">'
        assert link + "Bea Other's chart</a>" in panel
    else:
        assert 'data-testid="scan-wrong-patient-chart"' not in panel
    scan = BarcodeScan.objects.get()
    refused = client.post(
        url("scan_override", encounter, scan.pk), {f"sc{scan.pk}-reason": "same bed"}, **HX
    ).content.decode()
    assert "A wrong-patient scan cannot be overridden: scan this patient's wristband" in unescape(
        refused
    )
    assert not SafetyOverride.objects.exists()


def test_the_chart_shows_a_scanned_ndc_5_4_2_as_the_formulary_does(client_as) -> None:
    """The order's scan line and the administration card: "01234-5678-90", not 11 digits."""
    encounter, adm = running_visit()
    DrugNdc.objects.create(drug=adm.drug, ndc="01234567890")
    Administration.objects.filter(pk=adm.pk).update(ndc="01234567890", lot="L7")
    # A second order of the drug, not yet given: the scan matches it (its start checks).
    order = factories.order_create(encounter, adm.drug, dose="AUC 2")
    client = client_as(roles.NURSE)
    client.post(url("scan", encounter), {"scan-code": "01234-5678-90"})
    assert BarcodeScan.objects.get().order == order
    html = client.get(url("encounter", encounter)).content.decode()
    assert "01234567890" not in html
    card = html[html.index('data-testid="adm-package"') :]
    assert card[: card.index("</div>")].endswith(">NDC 01234-5678-90 · lot L7 · exp —")
    line = html[html.index('data-testid="order-scan"') :]
    assert "NDC 01234-5678-90" in line[: line.index("</div>")]


def test_a_scan_of_another_encounter_is_not_reachable(client_as) -> None:
    encounter, _adm = running_visit()
    other, _ = running_visit()
    scan = BarcodeScan.objects.create(
        encounter=other, kind="drug", raw="x", result="wrong_drug", message="m",
        by=factories.user_create(username="n9", role=roles.NURSE),
    )  # fmt: skip
    response = client_as(roles.NURSE).post(
        url("scan_override", encounter, scan.pk), {f"sc{scan.pk}-reason": "pharmacy relabelled it"}
    )
    assert response.status_code == 404


def test_the_board_scan_opens_the_patients_chart(client_as) -> None:
    encounter, _adm = running_visit()
    response = client_as(roles.NURSE).post(
        reverse("mar:board_scan"), {"scan-code": f"MRN:{encounter.patient.mrn}"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mar:encounter", args=[encounter.pk])
    unknown = client_as(roles.NURSE).post(reverse("mar:board_scan"), {"scan-code": "nobody"})
    assert unknown["Location"] == reverse("mar:board")


def test_a_chemo_start_without_the_double_check_is_refused_beside_its_fields(client_as) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    order = factories.order_create(
        encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="300 mg"
    )
    html = (
        client_as(roles.NURSE)
        .post(url("order_start", encounter, order.pk), {f"o{order.pk}-method": "infusion"}, **HX)
        .content.decode()
    )
    assert "no pharmacist has verified the order" in html
    assert "independent double check" in html
    assert not Administration.objects.exists()


def test_a_chemo_start_with_the_second_nurse_and_an_emergency_reason(client_as) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    order = factories.order_create(
        encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="300 mg"
    )
    factories.user_create(username="nurse-two", role=roles.NURSE)
    p = f"o{order.pk}-"
    client_as(roles.NURSE).post(
        url("order_start", encounter, order.pk),
        {p + "method": "infusion", p + "second_username": "nurse-two",
         p + "second_password": factories.PASSWORD, p + "double_check_confirmed": "on",
         p + "emergency_reason": "pharmacy closed, oncologist ordered now",
         p + "rate_ml_h": "180", p + "bag_volume_ml": "500", p + "vtbi_ml": "500"},
    )  # fmt: skip
    adm = Administration.objects.get()
    assert adm.double_checked_by.username == "nurse-two"
    assert (adm.rate_ml_h, adm.bag_volume_ml) == (180, 500)
    assert SafetyOverride.objects.get().kind == "unverified"


def test_rate_change_and_volumes_on_the_card(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    at = (adm.start + timedelta(minutes=20)).astimezone(factories.NEW_YORK)
    html = client.post(
        url("adm_rate", encounter, adm.pk),
        {f"r{adm.pk}-rate_ml_h": "125", f"r{adm.pk}-reason": "titrate per protocol",
         f"r{adm.pk}-at": at.strftime("%Y-%m-%dT%H:%M"), f"r{adm.pk}-version": adm.version},
        **HX,
    ).content.decode()  # fmt: skip
    assert "125 mL/h · titrate per protocol" in html
    client.post(
        url("adm_volumes", encounter, adm.pk),
        {f"v{adm.pk}-rate_ml_h": "250", f"v{adm.pk}-bag_volume_ml": "500",
         f"v{adm.pk}-vtbi_ml": "450", f"v{adm.pk}-volume_infused_ml": ""},
        **HX,
    )  # fmt: skip
    adm.refresh_from_db()
    assert (adm.rate_ml_h, adm.vtbi_ml, adm.volume_infused_ml) == (250, 450, None)


def test_pause_with_a_reason_and_stop_with_the_volume_infused(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)

    # Each one-tap action carries the card's version (a stale tap is refused, not applied).
    def version() -> dict[str, int]:
        adm.refresh_from_db()
        return {f"at{adm.pk}-version": adm.version}

    client.post(
        url("adm_pause", encounter, adm.pk), {f"at{adm.pk}-reason": "reaction", **version()}
    )
    assert adm.pauses.get().reason == "reaction"
    client.post(url("adm_resume", encounter, adm.pk), version())
    client.post(
        url("adm_stop", encounter, adm.pk),
        {f"at{adm.pk}-volume_infused_ml": "212", **version()},
    )
    adm.refresh_from_db()
    assert adm.stop is not None and adm.volume_infused_ml == Decimal(212)


@pytest.mark.parametrize("typed", ["-5", "lots", "1234567.5"])
def test_a_stop_with_a_volume_that_cannot_be_read_is_refused_and_nothing_stops(
    client_as, typed
) -> None:
    """Stopping without the volume she typed would drop it: the tap is refused, the card says
    which field, the infusion still runs."""
    encounter, adm = running_visit()
    response = client_as(roles.NURSE).post(
        url("adm_stop", encounter, adm.pk),
        {f"at{adm.pk}-volume_infused_ml": typed, f"at{adm.pk}-version": adm.version},
        **HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Volume infused (mL):" in html and "alert-danger" in html
    assert f'name="at{adm.pk}-volume_infused_ml"' in html and f'value="{typed}"' in html  # as typed
    adm.refresh_from_db()
    assert adm.stop is None and adm.volume_infused_ml is None


@pytest.mark.django_db(transaction=True)  # the view's transactions as they run in production
def test_a_stop_without_a_volume_writes_once_and_stores_the_summary_once(client_as) -> None:
    """Issue 19: a stop with no volume typed (the usual tap) is one transaction with no
    savepoint, one record check and one summary stored (the volume's write, with its own
    check and summary, ran for nothing before)."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    client.get(url("encounter", encounter))  # the session and the summary in place
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            url("adm_stop", encounter, adm.pk), {f"at{adm.pk}-version": adm.version}, **HX
        )
    assert response.status_code == 200
    adm.refresh_from_db()
    assert adm.stop is not None
    statements = [q["sql"] for q in captured]
    assert not any("SAVEPOINT" in sql for sql in statements)
    assert sum('INSERT INTO "mar_encountersummary"' in sql for sql in statements) == 1


def test_a_flush_records_its_solution_and_volume(client_as) -> None:
    encounter, adm = running_visit()
    client_as(roles.NURSE).post(
        url("site_flush", encounter, adm.site_id),
        {
            f"flush{adm.site_id}-solution": "heparin 100 units/mL",
            f"flush{adm.site_id}-volume_ml": "5",
        },
    )
    flush = Flush.objects.get()
    assert (flush.solution, flush.volume_ml) == ("heparin 100 units/mL", 5)


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [("volume_ml", "-2", "Flush volume (mL):"), ("solution", "x" * 61, "Flush solution:")],
)
def test_a_flush_with_details_that_cannot_be_read_is_refused_as_typed(
    client_as, field, typed, said
) -> None:
    """Charting the flush without the solution or volume she typed would drop it: nothing is
    charted, the chip says which detail, and shows it as she typed it."""
    encounter, adm = running_visit()
    site = adm.site_id
    response = client_as(roles.NURSE).post(
        url("site_flush", encounter, site),
        {
            f"flush{site}-solution": "NS",
            f"flush{site}-volume_ml": "10",
            f"flush{site}-{field}": typed,
        },
        **HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert said in html
    assert f'name="flush{site}-{field}"' in html and f'value="{typed}"' in html
    assert not Flush.objects.exists()


@pytest.mark.django_db(transaction=True)  # the view's transactions as they run in production
def test_a_flush_is_one_transaction_with_no_savepoint(client_as) -> None:
    """Issue 19: the flush and its details are one insert in the service's own transaction (the
    view's outer transaction made the service's a savepoint, two more round trips a tap)."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    client.get(url("encounter", encounter))
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            url("site_flush", encounter, adm.site_id),
            {f"flush{adm.site_id}-solution": "NS", f"flush{adm.site_id}-volume_ml": "10"},
            **HX,
        )
    assert response.status_code == 200
    assert not any("SAVEPOINT" in q["sql"] for q in captured)
    assert (Flush.objects.get().solution, Flush.objects.get().volume_ml) == ("NS", 10)


def test_measures_show_bsa_on_the_chart(client_as) -> None:
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    for kind, value in (("height_cm", "180"), ("weight_kg", "80")):
        html = client.post(
            url("measure_add", encounter),
            {"m-kind": kind, "m-value": value, "m-method": "measured", "m-measured_at": ""},
            **HX,
        ).content.decode()
    assert "2.00 m²" in html


def test_site_device_and_condition(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    s = adm.site_id
    client.post(
        url("site_details", encounter, s),
        {f"sd{s}-device": 'Huber needle 3/4"', f"sd{s}-gauge": "20G", f"sd{s}-attempts": "1",
         f"sd{s}-blood_return": "yes"},
    )  # fmt: skip
    html = client.post(
        url("site_condition", encounter, s),
        {f"sc-s{s}-infiltration": "1", f"sc-s{s}-phlebitis": "0", f"sc-s{s}-at": "",
         f"sc-s{s}-blood_return": "yes", f"sc-s{s}-note": "slight swelling"},
        **HX,
    ).content.decode()  # fmt: skip
    assert '20G Huber needle 3/4"' in html.replace("&quot;", '"')
    assert "infiltration 1" in html
    assert SiteAssessment.objects.get().note == "slight swelling"


def test_the_pharmacists_screen_and_report(client_as) -> None:
    encounter, adm = running_visit()
    SafetyOverride.objects.create(
        encounter=encounter, kind="unverified", message="m", reason="code blue", order=adm.order,
        by=factories.user_create(username="nurse-r", role=roles.NURSE),
    )  # fmt: skip
    client = client_as(roles.PHARMACIST)
    review = client.get(reverse("pharmacy:order_review", args=[adm.order_id])).content.decode()
    assert "code blue" in review
    report = client.get(reverse("pharmacy:overrides")).content.decode()
    assert "nurse-r" in report and "code blue" in report


def test_the_pharmacists_review_of_an_order_says_it_was_documented_not_given(client_as) -> None:
    """The queue says 'Refused: ...' under the drug; the review page its row opens said nothing
    of it, above the Verify button."""
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron", "therapeutic"))
    client = client_as(roles.PHARMACIST)
    review_url = reverse("pharmacy:order_review", args=[order.pk])
    assert 'data-testid="order-disposition"' not in client.get(review_url).content.decode()
    order_disposition_set(order=order, disposition="refused", reason="nausea settled", user=None)
    review = client.get(review_url).content.decode()
    assert 'data-testid="order-disposition">Refused: nausea settled</p>' in review


def test_a_signed_chart_with_no_scan_says_so_under_its_scan_heading(client_as) -> None:
    # walk18: a signed chart showed the heading "Scan" with nothing under it.
    unscanned, _ = running_visit()
    scanned, _ = running_visit()
    nurse = client_as(roles.NURSE)
    nurse.post(url("scan", scanned), {"scan-code": scanned.patient.mrn}, **HX)
    Encounter.objects.filter(pk__in=[unscanned.pk, scanned.pk]).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    html = nurse.get(url("encounter", unscanned)).content.decode()
    assert 'id="scan-heading"' in html
    assert 'data-testid="no-scans"' in html
    assert 'data-testid="scan-form"' not in html

    html = nurse.get(url("encounter", scanned)).content.decode()
    assert 'data-testid="patient-confirmed"' in html
    assert 'data-testid="no-scans"' not in html


def test_a_flush_s_volume_shows_its_unit_beside_the_box(client_as) -> None:
    """walk19: the flush's volume box read "10" with nothing beside it; "mL" now follows it on
    the site chip (screen readers had it in the box's label already)."""
    encounter, adm = running_visit()
    page = client_as(roles.NURSE).get(url("encounter", encounter)).content.decode()
    box = page[page.index(f'name="flush{adm.site_id}-volume_ml"') :]
    # the box, then at once its unit
    assert box.split(">", 2)[1].startswith('<span class="align-self-center" aria-hidden="true"')
    assert box.split(">", 2)[2].startswith("mL</span>")


def test_a_wristband_of_a_patient_with_two_visits_in_progress_asks_which(client_as) -> None:
    """Two visits of one patient in progress: the board's scan opens neither on its own (QA:
    it opened the newer, empty chart while a bag ran on the other); it lists both, the
    earliest arrival first, each choice posting the scan with its visit: that chart opens with
    the wristband recorded as scanned on it. With one in progress and the other signed it opens
    the one in progress (it opened the signed one: "-status" put "signed" first)."""
    first, _adm = running_visit()
    second = factories.encounter_create(
        patient=first.patient, arrived_at=first.arrived_at + timedelta(hours=1)
    )
    scan = {"scan-code": f"MRN:{first.patient.mrn}"}
    client = client_as(roles.NURSE)
    response = client.post(reverse("mar:board_scan"), scan)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="scan-two-visits"' in html
    choices = re.findall(r'name="encounter" value="(\d+)"', html)
    assert choices == [str(first.pk), str(second.pk)]
    assert not BarcodeScan.objects.exists()  # nothing recorded until she chooses
    response = client.post(reverse("mar:board_scan"), {**scan, "encounter": second.pk})
    assert response["Location"] == reverse("mar:encounter", args=[second.pk])
    recorded = BarcodeScan.objects.get()
    assert (recorded.encounter, recorded.kind, recorded.result) == (second, "patient", "match")
    Encounter.objects.filter(pk=second.pk).update(status=Encounter.Status.SIGNED)
    response = client.post(reverse("mar:board_scan"), scan)
    assert response["Location"] == reverse("mar:encounter", args=[first.pk])


def test_a_wristband_scanned_on_the_board_confirms_the_patient_on_the_chart(client_as) -> None:
    """The board's scan is the wristband scan of the visit it opens (QA: the chart it opened
    still said "Wristband not scanned")."""
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    before = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    client.post(reverse("mar:board_scan"), {"scan-code": f"MRN:{encounter.patient.mrn}"})
    after = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert "Wristband not scanned" in before and "Wristband not scanned" not in after
    assert f"Patient confirmed: {encounter.patient.name}" in unescape(after)


def test_a_pause_made_without_a_reason_is_given_one_later_on_its_card(client_as) -> None:
    """Pause is one tap (a reaction does not wait for a form): a reason can be left out then
    and given afterwards in the card's pause row, with the times (QA: it could not be added
    later); the card then says it. A form without the reason field (a page drawn before it)
    leaves the reason as it is."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    client.post(url("adm_pause", encounter, adm.pk), {f"at{adm.pk}-version": adm.version})
    pause = adm.pauses.get()
    assert pause.reason == ""
    adm.refresh_from_db()
    chart = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert f'name="p{pause.pk}-reason"' in chart
    times = {
        f"p{pause.pk}-start": local(pause.start),
        f"p{pause.pk}-end": "",
        f"p{pause.pk}-version": adm.version,
    }
    html = client.post(
        reverse("mar:pause_update", args=[encounter.pk, pause.pk]),
        {**times, f"p{pause.pk}-reason": "pump_alarm"},
        **HX,
    ).content.decode()
    pause.refresh_from_db()
    assert pause.reason == "pump_alarm"
    assert re.search(r"Paused \d\d:\d\d–\(not resumed\) · pump alarm", html)  # the card says it
    adm.refresh_from_db()
    client.post(
        reverse("mar:pause_update", args=[encounter.pk, pause.pk]),
        {**times, f"p{pause.pk}-version": adm.version},
        **HX,
    )
    pause.refresh_from_db()
    assert pause.reason == "pump_alarm"
    refused = client.post(
        reverse("mar:pause_update", args=[encounter.pk, pause.pk]),
        {**times, f"p{pause.pk}-version": adm.version, f"p{pause.pk}-reason": "boredom"},
        **HX,
    ).content.decode()
    assert f'id="error_1_id_p{pause.pk}-reason"' in refused
    pause.refresh_from_db()
    assert pause.reason == "pump_alarm"
