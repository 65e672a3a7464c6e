"""The per-encounter summary (mar/summary.py, issue 19): what the board and the live checklist
read instead of running the engine. A stale summary is a bug: every write path must leave the
stored summary equal to one computed afresh from the record as it then stands."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from coding.engine import parse_record
from mar import chart_reads, roles
from mar.models import AccessSite, Administration, Encounter, EncounterSummary, Flush
from mar.pharmacy import services as pharmacy
from mar.record import record_dict_from_encounter
from mar.services import charting, rates
from mar.summary import (
    _store_if_unchanged,
    findings_of,
    is_fresh,
    signed_moment,
    summary_compute,
    summary_for,
    summary_refresh,
    written_kept,
)
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db


def fresh(encounter: Encounter) -> EncounterSummary:
    """Computed afresh: at the bedside now, or as signed (`signed_moment`)."""
    encounter = Encounter.objects.get(pk=encounter.pk)
    return summary_compute(
        encounter.pk,
        record_dict_from_encounter(encounter),
        timezone.now(),
        signed_at=signed_moment(encounter),
    )


def stored(encounter: Encounter) -> EncounterSummary:
    return EncounterSummary.objects.get(encounter_id=encounter.pk)


def assert_current(encounter: Encounter) -> None:
    """What a reader gets (the stored row unless expired) equals a summary computed afresh."""
    now = timezone.now()
    got = summary_for(Encounter.objects.get(pk=encounter.pk), now=now)
    want = fresh(encounter)
    assert (got.findings, got.record_error) == (want.findings, want.record_error)


def _visit() -> tuple[Encounter, Administration, AccessSite]:
    """Running carboplatin on a peripheral IV, and a second drug given before it without a
    flush between (RAC-5), so the checklist has something to change."""
    encounter, adm = running_visit()
    site = adm.site
    assert site is not None
    now = timezone.now()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=70), method="push", stop=None
    )
    summary_refresh(encounter=encounter)  # the summary as it stood before the change
    return encounter, adm, site


# Each write path of the record: (name, the change). Charting services refresh in their
# transaction; the pharmacist's and the order entry's changes mark the summary expired.
def _site_place(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.site_place(
        encounter=e, kind=AccessSite.Kind.PERIPHERAL_IV, location="right hand",
        placed_at=timezone.now() - timedelta(minutes=5), separate_site_reason="infiltrated",
    )  # fmt: skip


def _site_update(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.site_update(site=s, location="left hand", separate_site_reason="")


def _site_assess(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.site_assess(site=s, at=timezone.now())


def _site_discontinue(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.site_discontinue(site=s, at=timezone.now(), stop_running=True)


def _flush_chart(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.flush_chart(site=s, at=a.start - timedelta(minutes=2))


def _flush_remove(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    flush = Flush.objects.create(encounter=e, site=s, at=a.start - timedelta(minutes=2))
    summary_refresh(encounter=e)
    charting.flush_remove(flush=flush)


def _administration_start(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    order = factories.order_create(e, factories.drug_get("vancomycin"), dose="1 g")
    charting.administration_start(order=order, site=s, start=timezone.now(), user=u)


def _administration_start_locked(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    order = factories.order_create(e, factories.drug_get("vancomycin"), dose="1 g")
    with transaction.atomic():
        assert charting.start_lock(e, "") is None
        charting.administration_start_locked(
            order=order, site=s, start=timezone.now(), method="infusion", user=u, now=None,
            request_key="",
        )  # fmt: skip


def _administration_update(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.administration_update(administration=a, version=a.version, changes={"bag": "B1"})


def _administration_pause(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.administration_pause(administration=a, version=a.version, at=timezone.now())


def _administration_resume(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.administration_pause(
        administration=a, version=a.version, at=timezone.now() - timedelta(minutes=5)
    )
    a.refresh_from_db()
    charting.administration_resume(administration=a, version=a.version, at=timezone.now())


def _administration_stop(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.administration_stop(administration=a, version=a.version, at=timezone.now())


def _pause_update(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    now = timezone.now()
    pause = charting.administration_pause(
        administration=a, version=a.version, at=now - timedelta(minutes=10)
    )
    a.refresh_from_db()
    charting.pause_update(
        pause=pause, version=a.version, start=now - timedelta(minutes=10),
        end=now - timedelta(minutes=5),
    )  # fmt: skip


def _pause_add(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    now = timezone.now()
    charting.pause_add(
        administration=a, version=a.version, start=now - timedelta(minutes=10),
        end=now - timedelta(minutes=5), reason="pump_alarm",
    )  # fmt: skip


def _rate_change_update(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    rc = rates.rate_change_record(
        administration=a, rate_ml_h=Decimal(125), at=a.start, reason="titration", user=u
    )
    a.refresh_from_db()
    rates.rate_change_update(
        rate_change=rc, rate_ml_h=Decimal(152), at=a.start, version=a.version, user=u
    )


def _rate_change_remove(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    rc = rates.rate_change_record(
        administration=a, rate_ml_h=Decimal(125), at=a.start, reason="titration", user=u
    )
    a.refresh_from_db()
    rates.rate_change_remove(rate_change=rc, version=a.version, user=u)


def _order_disposition_set(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    order = factories.order_create(e, factories.drug_get("vancomycin"), dose="1 g")
    summary_refresh(encounter=e)  # the order open (DOC-6 once the engine asks)
    charting.order_disposition_set(order=order, disposition="held", reason="BP low", user=u)


def _encounter_times_update(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.encounter_times_update(
        encounter=e, arrived_at=a.start - timedelta(minutes=90), observation_at=None
    )


def _encounter_sign(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.administration_stop(administration=a, version=a.version, at=timezone.now())
    findings = charting.check_record(
        parse_record(record_dict_from_encounter(e)), now=timezone.now()
    )
    reasons = {charting.finding_key(f): "as charted" for f in findings if f.severity == "error"}
    charting.encounter_sign(encounter=e, user=u, reasons=reasons)


def _addendum_write(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    _encounter_sign(e, a, s, u)
    charting.addendum_write(
        encounter=e, user=u, what="flush given", why="charted late", flush_site=s,
        flush_at=a.start - timedelta(minutes=2),
    )  # fmt: skip


def _order_create(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    pharmacy.order_create(encounter=e, drug_name="heparin", dose="500 units")


def _order_class_override(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    order = a.order
    assert order is not None
    pharmacy.order_class_override(order=order, drug_class="therapeutic", reason="test", user=u)


def _drug_class_change(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    pharmacy.drug_class_change(drug=a.drug, to_class="therapeutic", reason="test", user=u)


def _drug_save_name(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    drug = a.drug
    pharmacy.drug_save(
        drug=drug, name="carboplatin (renamed)", synonyms=drug.synonyms, hcpcs=drug.hcpcs_code,
        billing_unit="", note="", user=u,
    )  # fmt: skip


def _administration_remove(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.administration_remove(
        administration=a, version=a.version, reason="wrong patient's bag scanned", user=u
    )


def _site_reopen(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.site_discontinue(site=s, at=timezone.now(), stop_running=True)
    charting.site_reopen(site=s, user=u)


def _site_placed_correct(e: Encounter, a: Administration, s: AccessSite, u: User) -> None:
    charting.site_placed_correct(
        site=s, placed_at=a.start - timedelta(minutes=20), was=s.placed_at, user=u
    )


WRITES: list[Callable[[Encounter, Administration, AccessSite, User], Any]] = [
    _administration_start_locked,
    _site_reopen,
    _site_placed_correct,
    _site_place,
    _site_update,
    _site_assess,
    _site_discontinue,
    _flush_chart,
    _flush_remove,
    _administration_start,
    _administration_update,
    _administration_pause,
    _administration_resume,
    _administration_stop,
    _administration_remove,
    _pause_update,
    _pause_add,
    _rate_change_update,
    _rate_change_remove,
    _order_disposition_set,
    _encounter_times_update,
    _encounter_sign,
    _addendum_write,
    _order_create,
    _order_class_override,
    _drug_class_change,
    _drug_save_name,
]


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.__name__.strip("_"))
def test_every_write_path_leaves_the_summary_current(write, nurse_user) -> None:
    encounter, adm, site = _visit()
    try:
        write(encounter, adm, site, nurse_user)
    except charting.ChartError:
        pass  # refused: rolled back, the summary as before must still be current
    assert_current(encounter)


def test_every_public_charting_service_refreshes_the_summary() -> None:
    """A service added to mar/services/charting.py must refresh the summary in its transaction
    (decorate it with @refreshes_summary under @transaction.atomic) and be added to WRITES."""
    services = {
        name: fn
        for name, fn in vars(charting).items()
        if callable(fn)
        and getattr(fn, "__module__", "") == "mar.services.charting"
        and not name.startswith("_")
        and hasattr(fn, "__wrapped__")  # @transaction.atomic
    }
    assert len(services) >= 15
    missing = sorted(
        name for name, fn in services.items() if not getattr(fn, "refreshes_summary", 0)
    )
    assert not missing, f"these services do not refresh the summary: {missing}"
    tested = {w.__name__.strip("_") for w in WRITES}
    assert set(services) <= tested, f"add to WRITES: {sorted(set(services) - tested)}"


def test_a_change_stores_the_summary_in_its_own_transaction(nurse_user) -> None:
    encounter, adm, site = _visit()
    before = stored(encounter)
    assert any(f["rule"] == "RAC-5" for f in before.findings)
    charting.flush_chart(site=site, at=adm.start - timedelta(minutes=2))
    after = stored(encounter)
    assert not any(f["rule"] == "RAC-5" for f in after.findings)
    assert after.computed_at > before.computed_at


def test_a_refused_change_leaves_the_summary_as_it_was(nurse_user) -> None:
    encounter, adm, site = _visit()
    before = stored(encounter)
    with pytest.raises(charting.ChartError):
        charting.administration_stop(  # DOC-3: a stop before the start
            administration=adm, version=adm.version, at=adm.start - timedelta(minutes=1)
        )
    assert stored(encounter).computed_at == before.computed_at


def test_the_summary_expires_when_a_time_of_the_record_passes(nurse_user) -> None:
    """DOC-3 "in the future" holds only until that time comes: the summary is valid until then."""
    encounter, adm, site = _visit()
    now = timezone.now()
    charting.flush_chart(site=site, at=now - timedelta(minutes=1))
    Flush.objects.create(encounter=encounter, site=site, at=now + timedelta(minutes=30))
    summary = summary_refresh(encounter=encounter, now=now)
    assert any("in the future" in f["message"] for f in summary.findings)
    assert summary.valid_until == (now + timedelta(minutes=30)).replace(microsecond=0)
    later = now + timedelta(minutes=31)
    assert not is_fresh(stored(encounter), later)
    recomputed = summary_for(encounter, now=later)
    assert not any("in the future" in f["message"] for f in recomputed.findings)
    assert stored(encounter).computed_at == later


def test_the_summary_expires_when_an_infusion_without_a_pump_passes_24_hours() -> None:
    encounter, adm = running_visit()
    now = timezone.now()
    summary = summary_refresh(encounter=encounter, now=now)
    assert summary.valid_until is not None
    assert summary.valid_until <= adm.start + timedelta(hours=24)
    day_later = adm.start + timedelta(hours=24, minutes=1)
    findings = findings_of(summary_for(encounter, now=day_later))
    assert any("without a pump" in f.message for f in findings)


def test_a_reader_never_overwrites_what_a_change_stored_meanwhile(nurse_user) -> None:
    """A reader recomputes an expired summary from the record it read; if a change stored a new
    summary in the meantime, the reader's (older) one is not stored."""
    encounter, adm, site = _visit()
    seen = stored(encounter)
    old = summary_compute(encounter.pk, record_dict_from_encounter(encounter), timezone.now())
    charting.flush_chart(site=site, at=adm.start - timedelta(minutes=2))  # the change
    after_change = stored(encounter)
    _store_if_unchanged([old], {encounter.pk: seen})
    assert stored(encounter).findings == after_change.findings
    EncounterSummary.objects.filter(pk=encounter.pk).delete()
    _store_if_unchanged([old], {})  # none was stored when it looked: it inserts
    assert stored(encounter).findings == old.findings


def test_the_checklist_reads_its_summary_with_the_encounter_and_recomputes_one_missing(
    client_as,
) -> None:
    """The live checklist's GET joins the stored summary to its read of the encounter (one
    statement); with none stored, the summary is computed and stored as before, and the
    checklist says the same either way."""
    encounter = factories.chemo_encounter_create()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_checklist", args=[encounter.pk])
    EncounterSummary.objects.filter(encounter=encounter).delete()
    first = client.get(url).content.decode()  # none stored: computed, stored
    assert EncounterSummary.objects.filter(encounter=encounter).exists()
    read = chart_reads.encounter_and_summary(encounter.pk, 0)[0]
    assert [s.pk for s in chart_reads.stored_summary(read)] == [encounter.pk]
    assert (
        client.get(url).content.decode().split('id="checklist"')[1]
        == first.split('id="checklist"')[1]
    )
    EncounterSummary.objects.filter(encounter=encounter).delete()
    assert chart_reads.stored_summary(chart_reads.encounter_and_summary(encounter.pk, 0)[0]) == []


@pytest.mark.parametrize("stored_first", [False, True])
def test_a_change_keeps_the_findings_stored_before_it_and_stores_its_own(stored_first) -> None:
    """The answer to a change compares the findings stored before it with its own (which cards
    to send again): on PostgreSQL both come from the one statement that stores the new summary
    (`_stored_returning_before`), elsewhere from a read then the store; either way the same."""
    encounter, adm = running_visit()
    if stored_first:
        EncounterSummary.objects.create(
            encounter=encounter, computed_at=timezone.now(), findings=[{"rule": "OLD-1"}]
        )
    with written_kept() as kept:
        charting.flush_chart(site=adm.site, at=adm.start + timedelta(minutes=5))
    written = kept[encounter.pk]
    assert written.before == ([{"rule": "OLD-1"}] if stored_first else None)
    row = EncounterSummary.objects.get(encounter=encounter)
    assert row.findings == written.summary.findings != [{"rule": "OLD-1"}]
    assert row.computed_at == written.summary.computed_at


def test_the_rac7_pause_migration_expires_the_summaries_of_records_in_progress_only() -> None:
    """mar/migrations/0020: summaries stored before the pause in progress became info at the
    bedside are recomputed by their next reader (a card paused then counted as an open error on
    the board until its next change); signed records' summaries, judged as signed, are kept."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("mar.migrations.0020_bedside_summaries_expired")
    open_one = factories.chemo_encounter_create()
    signed = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    now = timezone.now()
    for encounter in (open_one, signed):
        summary_refresh(encounter=encounter, now=now)
    assert is_fresh(EncounterSummary.objects.get(encounter=open_one), now)
    migration.expire_in_progress(apps, None)
    assert not is_fresh(EncounterSummary.objects.get(encounter=open_one), now)
    assert is_fresh(EncounterSummary.objects.get(encounter=signed), now)
    # The next reader stores it afresh.
    assert is_fresh(summary_for(Encounter.objects.get(pk=open_one.pk), now=now), now)
