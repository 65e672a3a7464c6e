"""coding-rules.md §4-§5: special encounters and services reported on their own: EMS-started
infusions (RAC-8), ED into observation (RAC-9), chemo pumps (policy facility_pump_code), port
irrigation (96523 only alone); and every administration that earns nothing says why."""

from __future__ import annotations

import pytest

from coding.engine import RecordError

from .records import (
    adm,
    billed,
    chemo,
    findings,
    flush,
    hydration,
    infusion,
    not_charged,
    push,
    record,
    rules,
    run,
    site,
)


def test_an_ems_started_infusion_counts_only_the_minutes_after_arrival():
    """coding-rules §5 / RAC-8: started 60 min before arrival, 80 min after: 80 min, no 96366."""
    rec = record(infusion("A1", start=0, minutes=140, started_by="ems"), arrived_at=60)
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "RAC-8" in rules(result, "warning")


def test_an_ems_started_infusion_without_arrival_is_an_error_and_not_charged():
    """rac-checklist RAC-8: error when the arrival time is missing: no minutes can be counted."""
    result = run(record(infusion("A1", minutes=140, started_by="ems")))
    assert billed(result) == {}
    (finding,) = findings(result, "RAC-8")
    assert finding.severity == "error" and finding.field == "encounter.arrived_at"
    assert "RAC-8" in not_charged(result)["A1"]


def test_an_ems_infusion_that_stopped_before_arrival_earns_nothing_here():
    """coding-rules §5: only minutes after arrival count; none: not charged, with the reason."""
    rec = record(infusion("A1", start=0, minutes=30, started_by="ems"), arrived_at=45)
    result = run(rec)
    assert billed(result) == {}
    assert "before arrival" in not_charged(result)["A1"]


def test_an_infusion_begun_before_arrival_counts_only_the_minutes_after_it_even_unmarked():
    """rac-checklist RAC-8: an administration begun before arrival: "only time after arrival
    counts", marked as started by EMS or not (the warning asks for the mark): 70 of 130 min."""
    rec = record(infusion("A1", start=0, minutes=130), arrived_at=60)
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "minutes after arrival only" in result.charges[0].why
    assert "RAC-8" in rules(result, "warning")


@pytest.mark.parametrize("started_by", ["ems", "facility"])
def test_a_push_given_before_arrival_earns_nothing_here(started_by):
    """RAC-8 / coding-rules §5: nothing given after arrival, nothing to charge, with the reason;
    an EMS push charted after arrival is still a push."""
    rec = record(
        push("A1", "ondansetron", at=0, started_by=started_by),
        push("A2", "morphine", at=90, started_by="ems"),
        arrived_at=30,
    )
    result = run(rec)
    assert billed(result) == {"96374": 1}
    assert result.charges[0].administrations == ("A2",)
    assert "given before arrival" in not_charged(result)["A1"]


def test_observation_keeps_one_encounter_and_one_initial_service():
    """coding-rules §5 / RAC-9: ED into observation: no new initial at the change of status."""
    rec = record(
        infusion("A1", "vancomycin", minutes=120),
        infusion("A2", "cefazolin", start=180, minutes=60),
        observation_at=100,
    )
    result = run(rec)
    assert billed(result) == {"96365": 1, "96366": 1, "96367": 1}
    (finding,) = findings(result, "RAC-9")
    assert finding.severity == "info" and finding.administrations == ("A1",)


def pump(policy=None):
    return record(
        push("A1", "fluorouracil", "chemo", at=0),
        chemo("A2", "fluorouracil", start=5, stop=None, pump="portable", planned_hours=46),
        policy=policy,
    )


def test_facility_pump_code_default_is_96416():
    """coding-rules §7 facility_pump_code=96416."""
    assert billed(run(pump())) == {"96409": 1, "96416": 1}


def test_facility_pump_code_g0498():
    """coding-rules §7 facility_pump_code=G0498 (Medicare, pump supplied by the facility)."""
    result = run(pump({"facility_pump_code": "G0498"}))
    assert billed(result) == {"96409": 1, "G0498": 1}
    assert "facility_pump_code=G0498" in next(c.why for c in result.charges if c.code == "G0498")


def test_port_irrigation_alone_is_96523():
    """coding-rules §4: 96523 when irrigating a port is the sole service of the encounter."""
    rec = record(sites=[site("P1", "port")], flushes=[flush(0, "P1")])
    assert billed(run(rec)) == {"96523": 1}


def test_port_flush_with_any_drug_administration_is_not_96523():
    """coding-rules §4: a flush with any other service is bundled; never 96523 alongside."""
    rec = record(
        infusion("A1", minutes=60, site="P1"),
        sites=[site("P1", "port")],
        flushes=[flush(65, "P1")],
    )
    assert billed(run(rec)) == {"96365": 1}


def test_a_flush_of_a_peripheral_line_alone_is_not_96523():
    """coding-rules §4: 96523 only on a `port` site."""
    assert billed(run(record(flushes=[flush(0, "S1")]))) == {}


def test_every_administration_that_earns_nothing_has_a_reason():
    """issue 2 / record-format: every administration that earns no charge gets a reason."""
    rec = record(
        infusion("A1", "vancomycin", minutes=60),
        push("A2", "vancomycin", at=70),  # 96376
        push("A3", "vancomycin", at=80),  # within 30 min: nothing
        adm("A4", "sodium chloride 0.9%", "hydration", minutes=60, purpose="kvo"),
        adm("A5", "mystery", None, start=90, minutes=20),  # DOC-4
        hydration("A6", start=200, minutes=20),  # DOC-5
        adm("A7", "triamcinolone", route="intralesional", method="injection", start=230),
        hydration("A8", start=240, minutes=60, order=None),  # RAC-1
    )
    result = run(rec)
    charged = {a for c in result.charges for a in c.administrations}
    reasons = not_charged(result)
    assert charged == {"A1", "A2"}
    assert set(reasons) == {"A3", "A4", "A5", "A6", "A7", "A8"}
    assert all(reason.strip() for reason in reasons.values())


@pytest.mark.parametrize(
    ("emergency", "words"),
    [
        (True, "A1 drug started before the patient arrived: mark it as started by EMS"),
        (False, "started before the patient's arrival at 09:00: check the start time"),
    ],
)
def test_rac_8_asks_for_the_ems_mark_in_an_emergency_department_only(emergency, words):
    """RAC-8 (QA: an infusion center was told to mark a chemotherapy start scanned and
    double-checked there as started by EMS): a start before arrival asks for the EMS mark in an
    emergency department only, and elsewhere to check the start time; a warning either way, on
    the same field, the minutes after arrival counted the same."""
    drug = "A1 drug"
    encounter = {"emergency_department": True} if emergency else {}
    rec = record(infusion("A1", drug, start=0, minutes=130), arrived_at=60, **encounter)
    result = run(rec)
    (found,) = findings(result, "RAC-8")
    assert found.severity == "warning"
    assert found.field == "started_by"
    assert words in found.message
    assert ("EMS" in found.message) is emergency
    assert billed(result) == {"96365": 1}


def test_the_emergency_department_flag_is_true_or_false():
    """record-format: `encounter.emergency_department` is a boolean; anything else is an input
    error naming it."""
    rec = record(infusion("A1", start=0, minutes=30), emergency_department="yes")
    with pytest.raises(RecordError) as refused:
        run(rec)
    assert refused.value.field == "encounter.emergency_department"
