"""A record signed with an infusion whose stop was never charted (the nurse acknowledged the
RAC-7 error with a reason: "continues at home", "patient left"): after the signature nothing
runs. The stored summary, the chart, its live checklist and timeline judge the record as the
signature did (mar/summary.py `_computed`), not as running at the bedside: no "Running now", no
elapsed clock, no "is running" item, no finding that ages with the clock."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.engine import parse_record
from coding.engine.checks import is_running_finding
from mar.chart_context import checklist_context
from mar.models import Encounter, EncounterSummary
from mar.record import record_dict_from_encounter
from mar.services import charting
from mar.services.charting import SignBlocked
from mar.summary import EXPIRED, findings_of, summary_for
from mar.timeline import NO_STOP_WORDS, RUNNING_WORDS, build_timeline
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

REASON = "continues at home on the pump"


def _signed_with_no_stop(nurse_user) -> Encounter:
    encounter, _adm = running_visit()
    with pytest.raises(SignBlocked) as blocked:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    assert [f.rule for f in blocked.value.open_errors] == ["RAC-7"]
    reasons = {charting.finding_key(f): REASON for f in blocked.value.open_errors}
    return charting.encounter_sign(encounter=encounter, user=nurse_user, reasons=reasons)


def _signed_with_a_pump_sent_home(nurse_user) -> Encounter:
    """Carboplatin on a portable pump, 46 h planned (96416: it ends after the visit), signed."""
    encounter, adm = running_visit()
    adm.pump, adm.planned_hours = "portable", 46
    adm.save(update_fields=["pump", "planned_hours"])
    try:
        return charting.encounter_sign(encounter=encounter, user=nurse_user)
    except SignBlocked as blocked:
        reasons = {charting.finding_key(f): "as charted" for f in blocked.open_errors}
        return charting.encounter_sign(encounter=encounter, user=nurse_user, reasons=reasons)


def test_the_signature_stores_the_summary_as_the_signature_judged_it(nurse_user) -> None:
    encounter = _signed_with_no_stop(nurse_user)
    summary = EncounterSummary.objects.get(encounter=encounter)
    findings = findings_of(summary)
    assert not any(is_running_finding(f) for f in findings)
    assert [(f.rule, f.severity, f.field) for f in findings] == [("RAC-7", "error", "stop")]
    assert summary.valid_until is None  # nothing of a signed record ages with the clock


def test_a_day_later_no_finding_appears_by_the_clock(nurse_user) -> None:
    """At the bedside an infusion running 24 h without a pump is a DOC-3 error (the start date is
    probably wrong); a signed record is judged at its signature, whenever it is read."""
    encounter = _signed_with_no_stop(nurse_user)
    EncounterSummary.objects.filter(encounter=encounter).update(valid_until=EXPIRED)
    later = timezone.now() + timedelta(hours=30)
    summary = summary_for(Encounter.objects.get(pk=encounter.pk), now=later)
    assert [f["rule"] for f in summary.findings] == ["RAC-7"]
    assert summary.valid_until is None


def test_a_summary_stored_as_running_before_is_recomputed_as_signed(nurse_user) -> None:
    """Summaries stored before this rule said "is running" (migration 0016 expires them)."""
    encounter = _signed_with_no_stop(nurse_user)
    document = record_dict_from_encounter(encounter)
    # The record as read before it carried its signature (the engine now judges a signed
    # record at its signature whatever `now` it is given).
    del document["encounter"]["signed_at"]
    bedside = charting.check_record(parse_record(document), now=timezone.now())
    assert any(is_running_finding(f) for f in bedside)  # what was stored before
    EncounterSummary.objects.filter(encounter=encounter).update(
        findings=[f.to_json() for f in bedside], valid_until=EXPIRED
    )
    context = checklist_context(Encounter.objects.get(pk=encounter.pk), now=timezone.now())
    checklist = context["checklist"]
    assert checklist.running == []
    assert checklist.open_errors == []  # the RAC-7 error is acknowledged


def test_the_chart_of_a_signed_record_shows_no_stop_charted_not_running(client, nurse_user) -> None:
    encounter = _signed_with_no_stop(nurse_user)
    client.force_login(nurse_user)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-testid="running-now"' not in page
    assert 'data-testid="adm-no-stop"' in page and "No stop charted" in page
    assert 'class="elapsed"' not in page  # no clock ticking on a signed record
    assert 'data-testid="checklist-running"' not in page
    assert "Stop time missing for carboplatin" in page
    assert f"Acknowledged by {nurse_user.username}: {REASON}" in page
    assert f"dashed outline: {NO_STOP_WORDS}" in page
    assert f"{RUNNING_WORDS}" not in page


def test_the_live_checklist_of_a_signed_record_has_no_running_item(client, nurse_user) -> None:
    encounter = _signed_with_no_stop(nurse_user)
    client.force_login(nurse_user)
    answer = client.get(
        reverse("mar:encounter_checklist", args=[encounter.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "is running" not in answer
    assert 'data-testid="checklist-running"' not in answer
    assert "Stop time missing for carboplatin" in answer


def test_the_timeline_draws_a_missing_stop_without_the_clock(nurse_user) -> None:
    encounter = _signed_with_no_stop(nurse_user)
    record = parse_record(record_dict_from_encounter(encounter))
    signed = build_timeline(record, now=None)
    assert signed.now_x is None and signed.open_end == NO_STOP_WORDS
    assert signed.bars[0].title.endswith(f"–{NO_STOP_WORDS}")
    bedside = build_timeline(record, now=timezone.now())
    assert bedside.open_end == RUNNING_WORDS and bedside.bars[0].title.endswith("–running")


def test_at_the_bedside_the_same_infusion_still_runs(client, nurse_user) -> None:
    """The rule is the signature's: before it, an infusion with no stop is running."""
    encounter, _adm = running_visit()
    client.force_login(nurse_user)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-testid="running-now"' in page
    assert 'data-testid="adm-no-stop"' not in page
    assert f"dashed outline: {RUNNING_WORDS}" in page


def test_the_open_end_legend_is_drawn_only_where_a_bar_has_no_stop(client, nurse_user) -> None:
    encounter, adm = running_visit()
    client.force_login(nurse_user)
    url = reverse("mar:encounter", args=[encounter.pk])
    assert f"dashed outline: {RUNNING_WORDS}" in client.get(url).content.decode()
    adm.stop = adm.start + timedelta(minutes=40)
    adm.save(update_fields=["stop"])
    assert "dashed outline" not in client.get(url).content.decode()


def test_a_chemotherapy_pump_sent_home_says_its_planned_hours_not_no_stop(
    client, nurse_user
) -> None:
    """A prolonged infusion on a portable pump (96416) ends after the visit: its card on the
    signed record names the pump and its planned hours, not a missing stop."""
    encounter = _signed_with_a_pump_sent_home(nurse_user)
    client.force_login(nurse_user)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert "On a portable pump · 46 h planned" in page
    assert "No stop charted" not in page and 'data-testid="running-now"' not in page


def test_an_acknowledged_error_is_counted_apart_from_open_ones(client, nurse_user) -> None:
    """The checklist's heading counted an error acknowledged at sign-off as "1 error" in red,
    as if something were still open: it says "1 acknowledged" instead."""
    encounter = _signed_with_no_stop(nurse_user)
    client.force_login(nurse_user)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-testid="checklist-errors"' not in page
    assert re.search(r'data-testid="checklist-acknowledged"[^>]*>1 acknowledged<', page)
    running, _adm = running_visit()
    stop = charting.check_record(parse_record(record_dict_from_encounter(running)))
    assert any(f.severity == "error" for f in stop)  # coded for charges: the stop missing
    bedside = client.get(reverse("mar:encounter", args=[running.pk])).content.decode()
    assert 'data-testid="checklist-acknowledged"' not in bedside


def test_an_open_error_is_counted_in_red(client, nurse_user) -> None:
    from tests import factories

    encounter, adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("mysterymab", None), dose="1 g")
    factories.administration_create(
        encounter, order, site=adm.site, start=adm.start, stop=adm.start + timedelta(minutes=5),
        method="push",
    )  # fmt: skip
    client.force_login(nurse_user)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert re.search(r'data-testid="checklist-errors"[^>]*>\d+ errors?<', page)
    assert "DOC-4" in page


def test_the_board_card_of_a_signed_record_says_no_stop_charted_not_running(
    client, nurse_user
) -> None:
    """The board card of the visit said 'Running: carboplatin, 60 min' after the signature, its
    minutes growing with the clock; it says what the chart's card says."""
    _signed_with_no_stop(nurse_user)
    client.force_login(nurse_user)
    page = client.get(reverse("mar:board")).content.decode()
    assert "No stop charted: carboplatin" in page
    assert "Running:" not in page


def test_the_board_card_of_a_pump_sent_home_says_its_planned_hours(client, nurse_user) -> None:
    _signed_with_a_pump_sent_home(nurse_user)
    client.force_login(nurse_user)
    page = client.get(reverse("mar:board")).content.decode()
    assert "On a portable pump: carboplatin, 46 h planned" in page
    assert "Running:" not in page and "No stop charted" not in page
