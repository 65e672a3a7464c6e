"""Issue 13, "Wrong answers found" 1-9 and the two readings that became policy switches: each fix
is a rule, pinned here at its boundaries (CPT/CMS/NCCI as cited in the engine's docstrings)."""

from __future__ import annotations

import pytest

from coding.engine import RecordError, parse_record

from .records import (
    adm,
    billed,
    chemo,
    findings,
    infusion,
    not_charged,
    push,
    record,
    rules,
    run,
    site,
)

# --- 1. 96376 and the 30-minute clock when the initial service is a push ---


def test_a_push_length_does_not_choose_the_initial_push_the_first_push_is_initial():
    """Two morphine pushes 15 min apart, the later one with a 1-minute stop: the first is the
    initial (a push's length is not a service length) and the second is within its clock."""
    rec = record(push("A1", "morphine", at=0), push("A2", "morphine", at=15, stop=16))
    result = run(rec)
    assert billed(result) == {"96374": 1}
    assert "A1" in result.charges[0].administrations
    assert "within 30 min" in not_charged(result)["A2"]


@pytest.mark.parametrize(("gap", "expected"), [(30, {"96374": 1}), (31, {"96374": 1, "96376": 1})])
def test_the_96376_clock_counts_from_the_initial_push_whatever_its_charted_length(gap, expected):
    """96376 only more than 30 minutes after a reported push of the same drug, the initial one
    included, though the later push has a longer charted stop."""
    rec = record(push("A1", "morphine", at=0), push("A2", "morphine", at=gap, stop=gap + 5))
    assert billed(run(rec)) == expected


def test_the_96376_clock_runs_before_a_reported_push_as_well_as_after_it():
    """A push earlier than the initial push of the same drug (the initial of a documented second
    site) is within the clock of that reported push: it earns nothing, not 96375 nor 96376."""
    rec = record(
        chemo("A1", "cisplatin", start=0, minutes=60, site="S1"),
        push("A2", "morphine", at=10, site="S1"),
        push("A3", "morphine", at=25, site="S2"),
        sites=[site("S1"), site("S2", reason="vesicant requires a dedicated line")],
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96374-59": 1}
    assert "within 30 min of a reported push" in not_charged(result)["A2"]


# --- 2. A drug given in a mixed bag is already reported ---


def mixed_bag_then_push(drug: str, drug_class: str = "therapeutic", **encounter):
    return record(
        infusion("A1", "ondansetron", start=0, minutes=30, bag="B1"),
        infusion("A2", "dexamethasone", start=0, minutes=30, bag="B1"),
        push("A3", drug, drug_class, at=60),
        **encounter,
    )


def test_a_push_of_a_drug_from_a_mixed_bag_is_the_same_drug_96376_in_the_facility():
    """'Already reported' is asked of each drug in the bag, not the bag's combined contents."""
    assert billed(run(mixed_bag_then_push("dexamethasone"))) == {"96365": 1, "96376": 1}


def test_a_push_of_a_drug_from_a_mixed_bag_earns_nothing_in_the_office():
    result = run(mixed_bag_then_push("dexamethasone", setting="office"))
    assert billed(result) == {"96365": 1}
    assert "not reported in the office" in not_charged(result)["A3"]


def test_a_push_of_a_drug_not_in_the_mixed_bag_is_a_new_drug():
    assert billed(run(mixed_bag_then_push("famotidine"))) == {"96365": 1, "96375": 1}


def test_a_chemo_drug_pushed_after_a_bag_that_held_it_earns_no_96411():
    rec = record(
        chemo("A1", "fluorouracil", start=0, minutes=60, bag="B1"),
        infusion("A2", "leucovorin", start=0, minutes=60, bag="B1"),
        push("A3", "fluorouracil", "chemo", at=90),
        push("A4", "vincristine", "chemo", at=100),
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96411": 1}
    assert "already reports" in not_charged(result)["A3"]


# --- 3. Minutes beside a running pump are not sequential time ---


def folfox_pump(*later, **kw):
    """Facility, one peripheral IV: 5-FU push 07:40, 5-FU pump for 24 h from 07:50."""
    return record(
        push("P1", "fluorouracil", "chemo", at=-20),
        chemo("P2", "fluorouracil", start=-10, stop=None, pump="portable", planned_hours=24),
        *later,
        **kw,
    )


def test_an_infusion_hung_beside_a_running_pump_is_concurrent_not_sequential():
    """The issue's example: fosaprepitant 08:00-10:30 beside the pump: 96409, 96416, 96368."""
    result = run(folfox_pump(infusion("A1", "fosaprepitant", start=0, minutes=150)))
    assert billed(result) == {"96409": 1, "96416": 1, "96368": 1}
    why = next(c.why for c in result.charges if c.code == "96368")
    assert "running pump of fluorouracil" in why


def test_under_g0498_the_infusion_beside_the_pump_has_no_primary_for_96368():
    result = run(
        folfox_pump(
            infusion("A1", "fosaprepitant", start=0, minutes=150),
            policy={"facility_pump_code": "G0498"},
        )
    )
    assert billed(result) == {"96409": 1, "G0498": 1}
    assert "facility_pump_code=G0498" in not_charged(result)["A1"]


def test_only_the_minutes_before_the_pump_are_sequential_time():
    """Fosaprepitant 07:00-08:40 with the pump from 08:00: 60 min alone is 96367 without an
    additional hour (the 40 min beside the pump are not sequential time)."""
    rec = record(
        push("P1", "fluorouracil", "chemo", at=-70),
        chemo("P2", "fluorouracil", start=0, stop=None, pump="portable", planned_hours=24),
        infusion("A1", "fosaprepitant", start=-60, minutes=100),
    )
    result = run(rec)
    assert billed(result) == {"96409": 1, "96416": 1, "96367": 1}
    why = next(c.why for c in result.charges if c.code == "96367")
    assert "beside the running pump" in why


def test_a_chemo_drug_infused_beside_the_pump_gets_no_sequential_chemo_code():
    """Oxaliplatin (the initial infusion) runs before the pump; irinotecan runs only beside it:
    no 96417 (and no 96368, which is not for chemotherapy): a finding for the coder."""
    rec = record(
        chemo("A1", "oxaliplatin", start=-150, minutes=120),
        push("P1", "fluorouracil", "chemo", at=-20),
        chemo("P2", "fluorouracil", start=-10, stop=None, pump="portable", planned_hours=24),
        chemo("A2", "irinotecan", start=0, minutes=90),
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96415": 1, "96411": 1, "96416": 1}
    assert "CODING-CONCURRENT-CHEMO" in rules(result)
    assert "irinotecan" in not_charged(result)["A2"]


def test_a_pump_on_a_documented_separate_line_does_not_take_minutes_from_another_line():
    rec = record(
        push("P1", "fluorouracil", "chemo", at=-20, site="S2"),
        chemo("P2", "fluorouracil", start=-10, stop=None, pump="portable", planned_hours=24,
              site="S2"),
        push("A0", "ondansetron", at=-5, site="S1"),
        infusion("A1", "fosaprepitant", start=0, minutes=150, site="S1"),
        sites=[site("S1"), site("S2", "port", reason="vesicant requires a dedicated line")],
    )  # fmt: skip
    result = run(rec)
    assert billed(result)["96365-59"] == 1 and "96368" not in billed(result)


# --- 4. There is no concurrent chemotherapy code ---


def paclitaxel_carboplatin(carbo_start: int, carbo_minutes: int):
    return record(
        chemo("A1", "paclitaxel", start=60, minutes=60, site="P1", bag="B1"),
        chemo("A2", "carboplatin", start=carbo_start, minutes=carbo_minutes, site="P1", bag="B2"),
        sites=[site("P1", "port")],
    )


def test_96368_is_never_a_chemotherapy_drugs_concurrent_chemo_is_a_finding():
    """Paclitaxel 09:00-10:00 with carboplatin 09:10-09:40 in separate bags on one port: 96413
    only, and a finding naming the concurrent chemotherapy (96549 is the coder's decision)."""
    result = run(paclitaxel_carboplatin(70, 30))
    assert billed(result) == {"96413": 1}
    (finding,) = findings(result, "CODING-CONCURRENT-CHEMO")
    assert "carboplatin" in finding.message and "96549" in finding.message


def test_a_chemo_drug_with_16_minutes_alone_is_still_sequential_96417():
    result = run(paclitaxel_carboplatin(104, 32))  # 16 min after paclitaxel stops
    assert billed(result) == {"96413": 1, "96417": 1}


# --- 5. Intralesional chemotherapy is one service per session ---


def intralesional(id: str, lesions: int | None):
    extra = {} if lesions is None else {"lesions": lesions}
    return chemo(id, "bleomycin", route="intralesional", method="injection", **extra)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((3, 4), {"96405": 1}),
        ((4, 4), {"96406": 1}),
        ((7,), {"96405": 1}),
        ((2, 2, 4), {"96406": 1}),
    ],
)
def test_intralesional_lesions_of_a_session_are_added_before_choosing_96405_or_96406(
    counts, expected
):
    rec = record(*(intralesional(f"A{n}", c) for n, c in enumerate(counts)))
    assert billed(run(rec)) == expected


def test_intralesional_unstated_lesions_count_as_one_and_are_a_finding():
    result = run(record(intralesional("A1", 7), intralesional("A2", None)))
    assert billed(result) == {"96406": 1}
    assert "CODING-LESIONS" in rules(result)


# --- 6. G0498 is for a portable pump the facility supplies ---


@pytest.mark.parametrize(("pump", "code"), [("portable", "G0498"), ("implanted", "96416")])
def test_g0498_is_only_for_a_portable_pump(pump, code):
    rec = record(
        chemo("A1", "fluorouracil", stop=None, pump=pump, planned_hours=46),
        policy={"facility_pump_code": "G0498"},
    )
    result = run(rec)
    assert billed(result) == {code: 1}
    assert "facility_pump_code=G0498" in result.charges[0].why


# --- 7. A second encounter's distinct modifier goes on its initial service ---


def test_second_encounter_modifier_goes_on_the_intra_arterial_initial_not_the_injection():
    rec = record(
        adm("A1", "enoxaparin", route="sq", method="injection", start=0),
        push("A2", "verapamil", route="ia", at=30),
        sequence_of_day=2,
    )
    assert billed(run(rec)) == {"96372": 1, "96373-59": 1}


def test_second_encounter_modifier_goes_on_the_chemo_service_before_a_therapeutic_one():
    rec = record(
        adm("A1", "enoxaparin", route="sq", method="injection", start=0),
        chemo("A2", "leuprolide", route="sq", method="injection", start=40),
        sequence_of_day=2,
    )
    assert billed(run(rec)) == {"96372": 1, "96401-59": 1}


def test_second_encounter_modifier_still_goes_on_the_iv_initial_when_there_is_one():
    rec = record(
        adm("A1", "enoxaparin", route="sq", method="injection", start=0),
        infusion("A2", start=30, minutes=40),
        sequence_of_day=2,
    )
    assert billed(run(rec)) == {"96372": 1, "96365-59": 1}


# --- 8. Same-drug bags that overlap ---


@pytest.mark.parametrize("reinfusion", ["sequential", "additional_hour"])
@pytest.mark.parametrize("hung_early", [0, 1, 5, 20])
def test_overlapping_same_drug_bags_count_their_minutes_once_like_back_to_back_bags(
    reinfusion, hung_early
):
    def bags(early: int):
        return record(
            chemo("C1", "cisplatin", start=-60, minutes=60),
            infusion("A1", "vancomycin", start=0, minutes=60),
            infusion("A2", "vancomycin", start=60 - early, minutes=60 + early),
            policy={"same_drug_reinfusion": reinfusion},
        )

    overlapping, back_to_back = run(bags(hung_early)), run(bags(0))
    assert billed(overlapping) == billed(back_to_back) == {"96413": 1, "96367": 1, "96366": 1}
    assert not_charged(overlapping) == {}


# --- 9. concurrent_min_overlap accepts 0, meaning any overlap ---


def short_overlap(policy):
    return record(
        infusion("A1", "vancomycin", start=0, minutes=120, bag="B1"),
        infusion("A2", "cefazolin", start=105, minutes=20, bag="B2"),
        policy=policy,
    )


def test_concurrent_min_overlap_0_is_read_and_means_any_overlap():
    assert (
        parse_record(short_overlap({"concurrent_min_overlap": 0})).policy.concurrent_min_overlap
        == 0
    )
    result = run(short_overlap({"concurrent_min_overlap": 0}))
    assert billed(result) == {"96365": 1, "96366": 1, "96368": 1}
    assert "concurrent_min_overlap=0" in next(c.why for c in result.charges if c.code == "96368")


def test_concurrent_min_overlap_default_refuses_the_10_minute_overlap():
    assert billed(run(short_overlap(None))) == {"96365": 1, "96366": 1}


def test_concurrent_min_overlap_below_0_is_refused():
    with pytest.raises(RecordError):
        parse_record(short_overlap({"concurrent_min_overlap": -1}))


# --- Policy second_line_without_reason ---


def second_line(policy):
    return record(
        infusion("A1", "vancomycin", start=0, minutes=120, site="S1"),
        infusion("A2", "cefazolin", start=30, minutes=60, site="S2"),
        sites=[site("S1"), site("S2", location="right forearm")],
        policy=policy,
    )


def test_second_line_without_reason_one_line_gives_no_sequential_time_for_simultaneous_minutes():
    result = run(second_line(None))
    assert billed(result) == {"96365": 1, "96366": 1, "96368": 1}
    why = next(c.why for c in result.charges if c.code == "96368")
    assert "second_line_without_reason=one_line" in why


def test_second_line_without_reason_own_minutes_lets_each_line_keep_its_minutes():
    result = run(second_line({"second_line_without_reason": "own_minutes"}))
    assert billed(result) == {"96365": 1, "96366": 1, "96367": 1}
    why = next(c.why for c in result.charges if c.code == "96367")
    assert "second_line_without_reason=own_minutes" in why


def test_second_line_without_reason_own_minutes_still_shares_one_line():
    """On the same line the minutes that ran together are never sequential time."""
    rec = record(
        infusion("A1", "vancomycin", start=0, minutes=120, bag="B1"),
        infusion("A2", "cefazolin", start=30, minutes=60, bag="B2"),
        policy={"second_line_without_reason": "own_minutes"},
    )
    assert billed(run(rec)) == {"96365": 1, "96366": 1, "96368": 1}


def test_second_line_without_reason_takes_only_its_two_values():
    with pytest.raises(RecordError):
        parse_record(second_line({"second_line_without_reason": "two_lines"}))


# --- Policy split_dose_window_minutes ---


def syringes(gap: int, policy=None):
    return record(
        adm("A1", "enoxaparin", route="sq", method="injection", start=0),
        adm("A2", "enoxaparin", route="sq", method="injection", start=gap),
        policy=policy,
    )


@pytest.mark.parametrize(("gap", "units"), [(30, 1), (31, 2)])
def test_split_dose_window_minutes_default_30_makes_one_injection_session(gap, units):
    result = run(syringes(gap))
    assert billed(result) == {"96372": units}
    if units == 1:
        assert "split_dose_window_minutes=30" in result.charges[0].why


@pytest.mark.parametrize(("window", "units"), [(45, 1), (10, 2)])
def test_split_dose_window_minutes_policy_sets_the_session_window(window, units):
    result = run(syringes(40, {"split_dose_window_minutes": window}))
    assert billed(result) == {"96372": units}
