"""record-format.md and reading.py: a record is read into typed data or refused with a RecordError
naming the field; local times are in the encounter's zone; a DST-ambiguous or skipped local time is
an input error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coding.engine import RecordError, parse_record

from .records import adm, chemo, infusion, order, push, record, run


def refused(doc) -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse_record(doc)
    return caught.value


def test_an_ambiguous_local_time_is_an_input_error_naming_the_field():
    """record-format (encounter.timezone): 2026-11-01T01:30 happens twice in New York."""
    doc = record(infusion("A1", start="2026-11-01T01:30", stop="2026-11-01T03:00"))
    error = refused(doc)
    assert error.field == "administrations[0].start"
    assert "twice" in error.message


def test_a_non_existent_local_time_is_an_input_error_naming_the_field():
    """record-format (encounter.timezone): 2026-03-08T02:30 does not exist in New York."""
    doc = record(infusion("A1", start="2026-03-08T01:00", stop="2026-03-08T02:30"))
    error = refused(doc)
    assert error.field == "administrations[0].stop"
    assert "does not exist" in error.message


def test_an_ambiguous_time_with_an_offset_is_accepted():
    """record-format: giving the UTC offset resolves the DST ambiguity."""
    doc = record(infusion("A1", start="2026-11-01T01:30-05:00", stop="2026-11-01T02:30-05:00"))
    (a,) = parse_record(doc).administrations
    assert a.stop - a.start == timedelta(hours=1)


def test_times_written_with_an_offset_keep_their_instant_and_share_one_tzinfo():
    """record-format: a time with its UTC offset is that instant (the bridge writes every time
    so); every time of one offset, written or local, carries one tzinfo object, so comparing
    two never asks for offsets (reading._with_shared_offset)."""
    doc = record(
        infusion("A1", start="2026-03-10T08:00:00-04:00", stop="2026-03-10T09:10:00-04:00"),
        infusion("A2", start="2026-03-10T09:30", stop="2026-03-10T13:45:30-04:00"),
        infusion("A3", start="2026-03-10T12:00:00+00:00", stop="2026-03-10T08:30:00-04:00"),
    )
    by_id = {a.id: a for a in parse_record(doc).administrations}
    first, second, third = by_id["A1"], by_id["A2"], by_id["A3"]
    assert first.start == datetime.fromisoformat("2026-03-10T08:00:00-04:00")
    assert repr(first.start) == repr(datetime.fromisoformat("2026-03-10T08:00:00-04:00"))
    assert second.stop.second == 30
    assert third.start.tzinfo is UTC and third.start.utcoffset() == timedelta(0)
    eastern = {first.start.tzinfo, first.stop.tzinfo, second.start.tzinfo, second.stop.tzinfo}
    assert len({id(tz) for tz in eastern}) == 1
    assert third.stop.tzinfo is first.start.tzinfo


def test_a_pause_time_in_the_dst_gap_names_the_pause_field():
    """record-format: the message names the field, down to the pause."""
    doc = record(
        infusion(
            "A1",
            start="2026-03-08T01:00",
            stop="2026-03-08T04:00",
            pauses=[("2026-03-08T02:15", "2026-03-08T03:10")],
        )
    )
    assert refused(doc).field == "administrations[0].pauses[0].start"


def test_an_ambiguous_arrival_time_names_the_encounter_field():
    """record-format: encounter times are read in the zone too."""
    doc = record(infusion("A1", minutes=30), arrived_at="2026-11-01T01:10")
    assert refused(doc).field == "encounter.arrived_at"


def test_local_times_take_the_encounters_zone():
    """record-format: times without an offset are local to encounter.timezone."""
    doc = record(infusion("A1", minutes=30), timezone="Europe/Paris")
    (a,) = parse_record(doc).administrations
    assert a.start.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="infusion-record/2"), "format"),
        (lambda d: d.pop("encounter"), "encounter"),
        (lambda d: d["encounter"].update(timezone="Mars/Olympus"), "encounter.timezone"),
        (lambda d: d["encounter"].update(timezone=None), "encounter.timezone"),
        (lambda d: d["encounter"].pop("id"), "encounter.id"),
        (lambda d: d["encounter"].update(setting="home"), "encounter.setting"),
        (lambda d: d["encounter"].update(date_of_service="March 2"), "encounter.date_of_service"),
        (lambda d: d["encounter"].update(sequence_of_day=0), "encounter.sequence_of_day"),
        (lambda d: d["sites"][0].update(kind="vein"), "sites[0].kind"),
        (lambda d: d["administrations"][0].pop("drug_class"), "administrations[0].drug_class"),
        (lambda d: d["administrations"][0].update(route="oral"), "administrations[0].route"),
        (lambda d: d["administrations"][0].update(method=None), "administrations[0].method"),
        (lambda d: d["administrations"][0].update(start=None), "administrations[0].start"),
        (lambda d: d["administrations"][0].update(stop="soon"), "administrations[0].stop"),
        (lambda d: d["administrations"][0].update(site="S9"), "administrations[0].site"),
        (lambda d: d["administrations"][0].update(order="O9"), "administrations[0].order"),
        (lambda d: d["administrations"][0].update(primary="yes"), "administrations[0].primary"),
        (lambda d: d["administrations"][0].update(lesions=0), "administrations[0].lesions"),
        (
            lambda d: d["administrations"][0].update(planned_hours=-1),
            "administrations[0].planned_hours",
        ),
        (
            lambda d: d["administrations"][0].update(dose={"unit": "mg"}),
            "administrations[0].dose.value",
        ),
        (
            lambda d: d["administrations"].append(dict(d["administrations"][0])),
            "administrations[1].id",
        ),
        (lambda d: d.update(flushes=[{"site": "S1"}]), "flushes[0].at"),
        (lambda d: d.update(policy={"hydration_segments": "some"}), "policy.hydration_segments"),
        (lambda d: d.update(policy={"unheard_of": 1}), "policy.unheard_of"),
        (
            lambda d: d.update(policy={"concurrent_min_overlap": -1}),
            "policy.concurrent_min_overlap",
        ),
    ],
)
def test_a_bad_record_is_a_record_error_naming_the_field(mutate, field):
    """record-format: an invalid record is refused with the field and what is wrong."""
    doc = record(infusion("A1", minutes=30))
    mutate(doc)
    error = refused(doc)
    assert error.field == field
    assert error.message


def test_the_lists_are_put_in_a_canonical_order():
    """record-format: the result is the same whatever the order of the lists in the input."""
    a = record(push("A2", at=40), infusion("A1", minutes=30), push("A3", "dexamethasone", at=5))
    b = dict(a, administrations=list(reversed(a["administrations"])))
    assert run(a).to_json() == run(b).to_json()
    assert [x.id for x in parse_record(b).administrations] == ["A1", "A3", "A2"]


def test_a_push_with_only_a_start_is_read_with_no_stop():
    """record-format: a push may carry only `start`; stop is then null and not a gap."""
    (a,) = parse_record(record(push("A1", at=0))).administrations
    assert a.stop is None


def test_an_untagged_drug_class_is_read_as_none():
    """record-format: drug_class is null when no pharmacist has tagged the drug (DOC-4)."""
    (a,) = parse_record(record(adm("A1", drug_class=None, minutes=30))).administrations
    assert a.drug_class is None


def read_and_code(doc) -> str:
    """'record error' or 'coded': anything else escapes (the contract says it never does)."""
    try:
        run(doc)
    except RecordError:
        return "record error"
    return "coded"


@pytest.mark.parametrize(
    "doc",
    [
        # reading.py _Reader.number: math.isfinite(10**400) -> OverflowError
        record(chemo("A1", stop=None, pump="portable", planned_hours=10**400)),
        record(infusion("A1", minutes=60, dose={"value": 10**400, "unit": "mg"})),
        # charges.py _Book.day: datetime.fromtimestamp(...) in the zone -> year 10000 / year 0
        record(infusion("A1", start="9999-12-31T22:00", stop="9999-12-31T23:00")),
        record(infusion("A1", start="0001-01-01T00:00+14:00", stop="0001-01-01T01:00+14:00")),
        # checks.py _order_traces (DOC-2): timedelta(minutes=10**20) -> OverflowError
        record(
            infusion("A1", minutes=60, order="O1"),
            orders=[order("O1", "vancomycin", duration_minutes=10**20)],
        ),
    ],
    ids=["planned_hours-1e400", "dose-1e400", "year-10000", "year-0", "duration_minutes-1e20"],
)
def test_out_of_range_values_are_a_record_error_never_a_crash(doc):
    """record-format / issue 2: a bad record is a RecordError naming the field (exit 2 in the
    CLI), never another exception or a traceback."""
    assert read_and_code(doc) in ("record error", "coded")
