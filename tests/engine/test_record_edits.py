"""The edits that read the record (edits.py): EDIT-INFUSION-TIME, a coder's infusion code that the
charted time of its administrations does not bear out (CPT's time rules: an infusion of 15
minutes or less is a push; hydration of 30 minutes or less is not reported; each additional hour
needs more than 30 minutes past the hour before), and EDIT-ACCOUNT, a visit with no account
number.

QA: the engine's 96409 ("11 min: an infusion of 15 minutes or less is a push") corrected by the
coder to 96413 went to export with "Edits before export: None"; a claim left with no account
number."""

from __future__ import annotations

from datetime import date

import pytest

from coding.engine import Charge, account_edits, code_record, infusion_time_edits, parse_record

from .generator import generated_records
from .records import chemo, hydration, infusion, record

DAY = date(2026, 3, 2)


def line(code: str, units: int = 1, administrations: tuple[str, ...] = ("A1",)) -> Charge:
    return Charge(code=code, units=units, date=DAY, administrations=administrations, why="coder")


def edits(code: str, units: int, *administrations: dict, on: tuple[str, ...] = ("A1",)):
    rec = parse_record(record(*administrations))
    return [
        (f.rule, f.severity, f.message) for f in infusion_time_edits([line(code, units, on)], rec)
    ]


def test_qa_96409_corrected_to_96413_on_an_11_minute_infusion_is_an_error():
    (found,) = edits("96413", 1, chemo("A1", "teprotumumab", minutes=11))
    assert found == (
        "EDIT-INFUSION-TIME",
        "error",
        "96413 ×1 on 2026-03-02 bills an hour of infusion (16 minutes or more), but "
        "teprotumumab (A1) ran 11 minutes (CPT: an infusion of 15 minutes or less is reported "
        "as a push)",
    )


@pytest.mark.parametrize("code", ["96413", "96365", "96367", "96417"])
@pytest.mark.parametrize(("minutes", "held"), [(15, True), (16, False)])
def test_an_infusion_hour_needs_more_than_15_minutes(code, minutes, held):
    assert bool(edits(code, 1, infusion("A1", minutes=minutes))) == held


@pytest.mark.parametrize(("minutes", "held"), [(30, True), (31, False)])
def test_hydrations_first_hour_needs_more_than_30_minutes(minutes, held):
    found = edits("96360", 1, hydration("A1", minutes=minutes))
    assert bool(found) == held
    if held:
        assert "hydration of 30 minutes or less is not reported" in found[0][2]


@pytest.mark.parametrize("code", ["96415", "96366"])
@pytest.mark.parametrize(
    ("minutes", "units", "held"),
    [(90, 1, True), (91, 1, False), (150, 2, True), (151, 2, False), (151, 3, True)],
)
def test_each_additional_hour_needs_more_than_30_minutes_past_the_hour_before(
    code, minutes, units, held
):
    found = edits(code, units, infusion("A1", minutes=minutes))
    assert bool(found) == held
    if held:
        assert "each additional hour needs more than 30 minutes past the hour before" in found[0][2]


def test_additional_hours_count_the_minutes_of_every_administration_of_the_line():
    """A drug continued in a new bag is one infusion: the line's minutes are its bags'."""
    bags = (infusion("A1", minutes=60), infusion("A2", start=60, minutes=60))
    assert edits("96366", 1, *bags, on=("A1", "A2")) == []
    assert edits("96366", 1, bags[0], on=("A1",))


def test_pauses_are_taken_out_of_the_minutes():
    paused = infusion("A1", minutes=25, pauses=((5, 15),))
    assert edits("96365", 1, paused)  # 15 minutes running


def test_an_infusion_code_on_an_administration_with_no_stop_is_an_error():
    (found,) = edits("96365", 1, infusion("A1", stop=None))
    assert "has no stop time charted" in found[2]


def test_other_codes_and_lines_naming_no_administration_are_not_judged():
    assert edits("96409", 1, chemo("A1", minutes=11)) == []
    assert edits("96413", 1, chemo("A1", minutes=11), on=()) == []
    assert edits("96413", 1, chemo("A1", minutes=11), on=("A9",)) == []


def test_the_engines_own_lines_never_trip_the_infusion_time_edit():
    """The engine counts the same minutes or fewer: its lines pass (200 generated records)."""
    for doc in generated_records(200, seed=26):
        rec = parse_record(doc)
        assert infusion_time_edits(code_record(rec).charges, rec) == [], doc["encounter"]


def test_edit_account_a_visit_with_no_account_number_is_an_error():
    doc = record(infusion("A1", minutes=60))
    (found,) = account_edits(parse_record(doc))
    assert (found.rule, found.severity) == ("EDIT-ACCOUNT", "error")
    assert found.message.startswith("The visit has no account number")
    for blank in ("", "   "):
        doc["encounter"]["account_number"] = blank
        assert [f.rule for f in account_edits(parse_record(doc))] == ["EDIT-ACCOUNT"]
    doc["encounter"]["account_number"] = "V-1001"
    assert parse_record(doc).encounter.account_number == "V-1001"
    assert account_edits(parse_record(doc)) == []
