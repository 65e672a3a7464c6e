"""coding-rules.md §2 (time): minutes less pauses, push vs infusion, initial and additional hours,
midnight dating, DST and offsets. Scenarios P04-P07, P25-P27 are the golden cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from coding.engine.record import seconds
from coding.engine.timing import additional_hours, hydration_add_on_units, is_push_length

from .records import adm, billed, hydration, infusion, record, run


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(16, 0), (90, 0), (91, 1), (150, 1), (151, 2), (210, 2), (211, 3)],
)
def test_additional_hours_need_more_than_30_minutes_past_each_hour(minutes, units):
    """coding-rules §2: additional = ceil((minutes - 90) / 60) for minutes > 90."""
    assert additional_hours(minutes) == units


@pytest.mark.parametrize(
    ("minutes", "units"), [(30, 0), (31, 1), (90, 1), (91, 2), (150, 2), (151, 3), (210, 3)]
)
def test_hydration_after_an_initial_counts_each_hour_started_beyond_30_minutes(minutes, units):
    """coding-rules §2: secondary hydration units = ceil((minutes - 30) / 60) from 31 minutes."""
    assert hydration_add_on_units(minutes) == units


@pytest.mark.parametrize(("minutes", "push"), [(1, True), (15, True), (16, False), (90, False)])
def test_push_length_is_15_minutes_or_less(minutes, push):
    """coding-rules §2: an infusion of 15 minutes or less is a push; 16 or more an infusion."""
    assert is_push_length(minutes) is push


def test_infusion_of_15_minutes_is_coded_as_a_push():
    """coding-rules §2: an IV infusion of 15 minutes is a push (96374)."""
    assert billed(run(record(infusion("A1", minutes=15)))) == {"96374": 1}


def test_infusion_of_16_minutes_is_an_infusion():
    """coding-rules §2: an IV infusion of 16 minutes is an infusion (96365)."""
    assert billed(run(record(infusion("A1", minutes=16)))) == {"96365": 1}


def test_push_charted_as_a_push_is_a_push_whatever_its_length():
    """coding-rules §2: charted as a push (the nurse stayed throughout), it is a push at 40 min."""
    rec = record(adm("A1", method="push", minutes=40))
    assert billed(run(rec)) == {"96374": 1}


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (90, {"96365": 1}),
        (91, {"96365": 1, "96366": 1}),
        (150, {"96365": 1, "96366": 1}),
        (151, {"96365": 1, "96366": 2}),
        (210, {"96365": 1, "96366": 2}),
        (211, {"96365": 1, "96366": 3}),
    ],
)
def test_initial_infusion_additional_hour_boundaries(minutes, expected):
    """coding-rules §2: 96365 covers 16-90 min; 91-150 = +1 96366, 151-210 = +2, 211 = +3."""
    assert billed(run(record(infusion("A1", minutes=minutes)))) == expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (91, {"96413": 1, "96415": 1}),
        (150, {"96413": 1, "96415": 1}),
        (151, {"96413": 1, "96415": 2}),
    ],
)
def test_chemo_infusion_additional_hours(minutes, expected):
    """coding-rules §2: chemotherapy additional hours go on 96415 by the same formula."""
    assert billed(run(record(infusion("A1", "cisplatin", "chemo", minutes=minutes)))) == expected


def test_pauses_are_taken_out_of_the_minutes():
    """coding-rules §2: minutes are start to stop less every pause: 100 run - 10 paused = 90."""
    rec = record(infusion("A1", minutes=100, pauses=[(30, 40)]))
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "90 min counted (100 run, 10 paused)" in result.charges[0].why


def test_two_pauses_are_both_taken_out():
    """coding-rules §2: every pause is taken out: 120 run - 2 x 15 paused = 90, no extra hour."""
    rec = record(infusion("A1", minutes=120, pauses=[(20, 35), (60, 75)]))
    assert billed(run(rec)) == {"96365": 1}


def test_a_pause_that_brings_an_infusion_to_15_minutes_makes_it_a_push():
    """coding-rules §2: 25 min run with 10 paused is 15 min: a push."""
    rec = record(infusion("A1", minutes=25, pauses=[(5, 15)]))
    assert billed(run(rec)) == {"96374": 1}


def test_an_additional_hour_after_midnight_is_dated_the_next_day():
    """coding-rules §2 (date of service): each unit is dated on the day its hour began; one code
    whose units fall on two dates is two lines. 22:30-01:10 hydration: 96360 on day 1, 96361 at
    23:30 (day 1) and 00:30 (day 2)."""
    rec = record(hydration("A1", start="2026-03-02T22:30", stop="2026-03-03T01:10"))
    result = run(rec)
    lines = [(c.code, c.units, c.date.isoformat()) for c in result.charges]
    assert sorted(lines) == [
        ("96360", 1, "2026-03-02"),
        ("96361", 1, "2026-03-02"),
        ("96361", 1, "2026-03-03"),
    ]


def test_an_infusion_that_starts_after_midnight_is_dated_that_day():
    """coding-rules §2: a line is dated on the day the service began (local to the encounter)."""
    rec = record(infusion("A1", start="2026-03-03T00:10", stop="2026-03-03T01:00"))
    assert [c.date.isoformat() for c in run(rec).charges] == ["2026-03-03"]


def test_midnight_does_not_reset_the_initial_service():
    """coding-rules §2: an encounter crossing midnight stays one; no second initial after 00:00."""
    rec = record(
        infusion("A1", "vancomycin", start="2026-03-02T23:00", stop="2026-03-02T23:40"),
        infusion("A2", "cefazolin", start="2026-03-03T00:30", stop="2026-03-03T01:10"),
    )
    assert billed(run(rec)) == {"96365": 1, "96367": 1}


def test_times_with_offsets_across_the_dst_change_count_real_minutes():
    """coding-rules §2, P26: 01:30 EDT to 02:40 EST is 130 minutes (96365 + 96366)."""
    rec = record(
        infusion("A1", start="2026-11-01T01:30-04:00", stop="2026-11-01T02:40-05:00"),
    )
    assert billed(run(rec)) == {"96365": 1, "96366": 1}


def test_times_with_offsets_in_another_zone_are_the_same_instants():
    """record-format: times with an offset are instants; 14:00Z-15:31Z is 91 minutes."""
    rec = record(infusion("A1", start="2026-03-02T14:00Z", stop="2026-03-02T10:31-05:00"))
    assert billed(run(rec)) == {"96365": 1, "96366": 1}


def test_local_times_across_spring_forward_count_real_minutes():
    """coding-rules §2: 01:30 to 03:30 local on 2026-03-08 (NY) is 60 real minutes, not 120."""
    rec = record(infusion("A1", start="2026-03-08T01:30", stop="2026-03-08T03:30"))
    assert billed(run(rec)) == {"96365": 1}


def test_a_moments_seconds_are_its_timestamp_even_in_the_hour_a_dst_change_repeats():
    """record.seconds caches timestamp() by moment; the two 01:30s of 2026-11-01 in New York are
    equal datetimes in one zone (fold aside) but different instants, an hour apart (P25, P26)."""
    zone = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert first == second
    for _ in range(2):  # the second time from the cache
        assert seconds(first) == first.timestamp()
        assert seconds(second) == second.timestamp()
    assert seconds(second) - seconds(first) == 3600
    fixed = datetime(2026, 3, 2, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    same_instant = fixed.astimezone(UTC)
    assert seconds(fixed) == seconds(same_instant) == fixed.timestamp()
