"""charges.py, coding-rules.md §4: what follows the initial service. Pushes (96375, 96376 and its
30-minute clock, 96411), sequential and concurrent infusions (96367, 96417, 96368 once), the same
drug infused again (policy same_drug_reinfusion) or continued in a new bag,
concurrent_min_overlap."""

from __future__ import annotations

import pytest

from .records import billed, chemo, infusion, not_charged, push, record, rules, run


def test_a_push_of_a_new_drug_is_96375():
    """coding-rules §4: a push of a new drug after the initial service is 96375."""
    rec = record(infusion("A1", minutes=60), push("A2", "ondansetron", at=70))
    assert billed(run(rec)) == {"96365": 1, "96375": 1}


def test_a_chemo_push_of_a_new_drug_is_96411():
    """coding-rules §4: a chemotherapy push of a new drug is 96411."""
    rec = record(
        push("A1", "doxorubicin", "chemo", at=0), push("A2", "vincristine", "chemo", at=10)
    )
    assert billed(run(rec)) == {"96409": 1, "96411": 1}


@pytest.mark.parametrize(("gap", "expected"), [(30, {"96374": 1}), (31, {"96374": 1, "96376": 1})])
def test_a_push_of_the_same_drug_needs_more_than_30_minutes_since_its_last_push(gap, expected):
    """coding-rules §4 (96376): a push within 30 minutes of the previous reported push of the same
    drug earns nothing; 31 minutes later it is 96376 (facility)."""
    rec = record(push("A1", "morphine", at=0), push("A2", "morphine", at=gap))
    result = run(rec)
    assert billed(result) == expected
    if gap == 30:
        assert "within 30 min" in not_charged(result)["A2"]


def test_the_96376_clock_runs_from_the_last_reported_push_only():
    """coding-rules §4: a push that earned nothing starts no clock: 0 (reported), 20 (nothing),
    40 (40 min after the reported one: 96376)."""
    rec = record(
        push("A1", "morphine", at=0), push("A2", "morphine", at=20), push("A3", "morphine", at=40)
    )
    result = run(rec)
    assert billed(result) == {"96374": 1, "96376": 1}
    assert "A2" in not_charged(result)


def test_the_96376_clock_runs_between_pushes_of_that_drug_only():
    """coding-rules §4: another drug's push in between does not reset the morphine clock."""
    rec = record(
        push("A1", "morphine", at=0),
        push("A2", "ondansetron", at=20),
        push("A3", "morphine", at=31),
    )
    assert billed(run(rec)) == {"96374": 1, "96375": 1, "96376": 1}


def test_a_push_of_a_drug_the_encounter_infuses_is_96376():
    """coding-rules §4: a push of a drug the encounter already reports through an infusion is
    96376, before or after it in time, and the infusion starts no clock."""
    rec = record(push("A1", "vancomycin", at=0), infusion("A2", "vancomycin", start=5, minutes=60))
    assert billed(run(rec)) == {"96365": 1, "96376": 1}


def test_the_office_reports_no_96376():
    """coding-rules §3 (office): 96376 is not reported in the office."""
    rec = record(push("A1", "morphine", at=0), push("A2", "morphine", at=60), setting="office")
    result = run(rec)
    assert billed(result) == {"96374": 1}
    assert "office" in not_charged(result)["A2"]


def test_the_same_chemo_drug_pushed_again_earns_nothing():
    """coding-rules §1: 96411 is for a new drug; there is no same-drug chemotherapy push code."""
    rec = record(
        push("A1", "doxorubicin", "chemo", at=0), push("A2", "doxorubicin", "chemo", at=60)
    )
    result = run(rec)
    assert billed(result) == {"96409": 1}
    assert "A2" in not_charged(result)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, {"96365": 1, "96375": 1}),
        (16, {"96365": 1, "96367": 1}),
        (91, {"96365": 1, "96367": 1, "96366": 1}),
    ],
)
def test_a_sequential_infusion_of_a_new_drug_needs_16_minutes(minutes, expected):
    """coding-rules §2/§4: 96367 needs at least 16 minutes (15 is a push, 96375); its own
    additional hours go on 96366."""
    rec = record(
        infusion("A1", "vancomycin", minutes=60),
        infusion("A2", "cefazolin", start=70, minutes=minutes),
    )
    assert billed(run(rec)) == expected


def test_a_sequential_chemo_infusion_is_96417_with_96415_hours():
    """coding-rules §4: a new chemotherapy drug infused after the initial is 96417 (+96415)."""
    rec = record(
        chemo("A1", "cisplatin", minutes=60), chemo("A2", "etoposide", start=70, minutes=91)
    )
    assert billed(run(rec)) == {"96413": 1, "96417": 1, "96415": 1}


def concurrent(overlap_policy=None, bags=("B1", "B2")):
    """vancomycin 0-90; cefazolin 30-50 alongside it (20 min overlap, 0 alone)."""
    return record(
        infusion("A1", "vancomycin", minutes=90, bag=bags[0]),
        infusion("A2", "cefazolin", start=30, minutes=20, bag=bags[1]),
        policy=overlap_policy,
    )


def test_a_new_drug_in_its_own_bag_alongside_another_is_concurrent_96368():
    """coding-rules §4: a new drug infused at the same time, separate bag, same site: 96368."""
    assert billed(run(concurrent())) == {"96365": 1, "96368": 1}


def test_without_separate_bags_charted_an_overlap_is_not_concurrent():
    """rac-checklist RAC-6: when neither one bag nor separate bags are charted, the overlap is
    coded conservatively (no 96368) and flagged."""
    result = run(concurrent(bags=(None, None)))
    assert billed(result) == {"96365": 1}
    assert "RAC-6" in not_charged(result)["A2"]


def short_overlap(policy=None):
    """cefazolin 80-105 (25 min): 10 min beside vancomycin 0-90, 15 min alone."""
    return record(
        infusion("A1", "vancomycin", minutes=90, bag="B1"),
        infusion("A2", "cefazolin", start=80, minutes=25, bag="B2"),
        policy=policy,
    )


def test_concurrent_min_overlap_default_16_refuses_a_shorter_overlap():
    """coding-rules §4/§7 concurrent_min_overlap=16: 15 min alone is short of sequential and a
    10-minute overlap is short of concurrent: nothing, with the reason."""
    rec = short_overlap()
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "A2" in not_charged(result)


def test_concurrent_min_overlap_policy_accepts_a_shorter_overlap():
    """coding-rules §7 concurrent_min_overlap: a payer taking 10 minutes makes it 96368."""
    rec = short_overlap({"concurrent_min_overlap": 10})
    assert billed(run(rec)) == {"96365": 1, "96368": 1}


def test_96368_is_reported_at_most_once_per_encounter():
    """coding-rules §4: 96368 at most once per encounter; a second concurrent drug earns nothing."""
    rec = record(
        infusion("A1", "vancomycin", minutes=120, bag="B1"),
        infusion("A2", "cefazolin", start=10, minutes=20, bag="B2"),
        infusion("A3", "metronidazole", start=60, minutes=20, bag="B3"),
    )
    result = run(rec)
    assert billed(result) == {"96365": 1, "96366": 1, "96368": 1}
    assert "once per encounter" in not_charged(result)["A3"]


def test_an_infusion_after_the_initial_is_sequential_on_the_minutes_it_ran_alone():
    """coding-rules §4: overlap minutes are taken out; 16 or more alone make it sequential, never
    two codes: cefazolin 60-140 beside vancomycin 0-90 has 50 min alone: 96367 only."""
    rec = record(
        infusion("A1", "vancomycin", minutes=90, bag="B1"),
        infusion("A2", "cefazolin", start=60, minutes=80, bag="B2"),
    )
    assert billed(run(rec)) == {"96365": 1, "96367": 1}


def reinfusion(policy=None):
    """vancomycin 0-60, stopped, then vancomycin again 120-160."""
    return record(
        infusion("A1", "vancomycin", minutes=60),
        infusion("A2", "vancomycin", start=120, minutes=40),
        policy=policy,
    )


def test_same_drug_reinfusion_default_is_sequential():
    """coding-rules §7 same_drug_reinfusion=sequential: the same drug again is 96367."""
    result = run(reinfusion())
    assert billed(result) == {"96365": 1, "96367": 1}
    assert "same_drug_reinfusion=sequential" in result.charges[-1].why


def test_same_drug_reinfusion_additional_hour_adds_the_minutes_to_the_first():
    """coding-rules §7 same_drug_reinfusion=additional_hour: 60 + 40 = 100 min: 96365 + 96366."""
    result = run(reinfusion({"same_drug_reinfusion": "additional_hour"}))
    assert billed(result) == {"96365": 1, "96366": 1}
    assert {"A1", "A2"} <= {a for c in result.charges for a in c.administrations}


def test_infusions_on_two_undocumented_sites_at_once_are_separate_bags():
    """coding-rules §4 (concurrent) and RAC-6: drugs running on two different lines cannot have
    been mixed in one bag, so their overlap is concurrent (96368) without a bag id; RAC-6 asks
    for bag ids only for overlaps on one line."""
    result = run(
        record(
            infusion("A1", "vancomycin", minutes=60, site="S1"),
            infusion("A2", "famotidine", start=10, minutes=40, site="S2"),
        )
    )
    assert billed(result) == {"96365": 1, "96368": 1}
    assert "RAC-6" not in rules(result)
    assert "RAC-4" in rules(result)  # the second site has no documented reason


def test_two_infusions_together_after_a_chemo_push_initial():
    """coding-rules §3-§4 and CPT: a chemotherapy push outranks a therapeutic infusion, so it is
    the initial service; the first of two infusions running together then keeps all its minutes
    (sequential, 96367), and the other is not concurrent, because 96368 is reported only with an
    initial infusion or its hours (96365/96366/96413/96415/96416)."""
    result = run(
        record(
            push("A3", "fluorouracil", "chemo", at=0),
            infusion("A1", "vancomycin", start=5, minutes=30, site="S1"),
            infusion("A2", "famotidine", start=5, minutes=30, site="S2"),
        )
    )
    assert billed(result) == {"96409": 1, "96367": 1}
    assert "96368 is reported only with an initial infusion" in not_charged(result)["A2"]


# --- the same drug in a new bag ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (infusion, {"96365": 1, "96366": 1}),
        (chemo, {"96413": 1, "96415": 1}),
    ],
)
def test_the_same_drug_continued_in_a_new_bag_as_the_last_ran_out_is_one_infusion(make, expected):
    """CPT: 96367 / 96417 are for a new or different drug; a bag change with no minute without the
    drug stops nothing (coding-rules §4's same-drug row is for a drug infused again after it was
    stopped), so the minutes run on: 60 + 60 = 120 min."""
    rec = record(make("A1", start=0, minutes=60), make("A2", start=60, minutes=60))
    result = run(rec)
    assert billed(result) == expected
    assert set(result.charges[0].administrations) == {"A1", "A2"}
    assert "continued in a new bag" in result.charges[0].why


def test_the_same_drug_after_a_gap_is_infused_again_sequential_by_default():
    """coding-rules §4 / policy same_drug_reinfusion=sequential: stopped, then infused again."""
    rec = record(infusion("A1", start=0, minutes=60), infusion("A2", start=61, minutes=60))
    assert billed(run(rec)) == {"96365": 1, "96367": 1}


def test_a_sequential_infusion_continued_in_a_new_bag_counts_both_bags():
    """The continuation rule holds after the initial service too: 96367 for 120 min + 96366."""
    rec = record(
        chemo("A1", minutes=60),
        infusion("A2", "vancomycin", start=65, minutes=60),
        infusion("A3", "vancomycin", start=125, minutes=60),
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96367": 1, "96366": 1}
    sequential = next(c for c in result.charges if c.code == "96367")
    assert sequential.administrations == ("A2", "A3")


def test_the_infusion_already_running_keeps_its_minutes_the_one_hung_beside_it_is_concurrent():
    """CPT / MedLearn / HCPro citing CPT Assistant (published; coding-rules §4 would take the
    overlap out of both): vancomycin 08:00-09:30 initial; cefepime 09:35-10:35 keeps its 60 min
    (96367); metronidazole hung at 09:45 beside it runs 10 min apart: concurrent (96368)."""
    rec = record(
        infusion("A1", "vancomycin", start=0, minutes=90),
        infusion("A2", "cefepime", start=95, minutes=60, bag="B2"),
        infusion("A3", "metronidazole", start=105, minutes=60, bag="B3"),
    )
    result = run(rec)
    assert billed(result) == {"96365": 1, "96367": 1, "96368": 1}
    assert next(c for c in result.charges if c.code == "96367").administrations == ("A2",)
    assert next(c for c in result.charges if c.code == "96368").administrations == ("A3",)


def test_a_chemo_sequential_keeps_its_hour_when_a_rider_is_hung_beside_it():
    """As above for chemotherapy: cisplatin, then etoposide 60 min (96417), then magnesium hung
    10 min into the etoposide (96368), not 96413 + 96368 with the etoposide lost."""
    rec = record(
        chemo("A1", "cisplatin", start=0, minutes=60),
        chemo("A2", "etoposide", start=65, minutes=60, bag="B2"),
        infusion("A3", "magnesium sulfate", start=75, minutes=60, bag="B3"),
    )
    assert billed(run(rec)) == {"96413": 1, "96417": 1, "96368": 1}


def test_a_desensitisation_of_short_bags_of_one_drug_is_one_infusion():
    """The same drug continued bag after bag counts its minutes together, bags of 15 minutes or
    less included (each would be a push on its own): carboplatin 15 + 15 + 210 min = 240 min,
    96413 + 96415 x3; never a 96376 or 96411 for a bag."""
    rec = record(
        chemo("A1", "carboplatin", start=0, minutes=15),
        chemo("A2", "carboplatin", start=15, minutes=15),
        chemo("A3", "carboplatin", start=30, minutes=210),
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96415": 3}
    assert result.charges[0].administrations == ("A1", "A2", "A3")


def test_a_short_last_bag_of_the_same_drug_adds_its_minutes_not_a_push():
    """vancomycin 60 min, then its last 10 min from a new bag: 70 min, 96365 only (not 96376)."""
    rec = record(infusion("A1", start=0, minutes=60), infusion("A2", start=60, minutes=10))
    assert billed(run(rec)) == {"96365": 1}
