"""hydration.py and charges.py, coding-rules.md §2/§4, rac-checklist RAC-1..3 and DOC-5: hydration
is charged only when ordered, with a reason, purpose hydration, 31+ minutes running alone; policy
hydration_segments total/continuous."""

from __future__ import annotations

import pytest

from .records import (
    adm,
    billed,
    findings,
    hydration,
    infusion,
    not_charged,
    order,
    push,
    record,
    rules,
    run,
)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (30, {}),
        (31, {"96360": 1}),
        (90, {"96360": 1}),
        (91, {"96360": 1, "96361": 1}),
        (150, {"96360": 1, "96361": 1}),
        (151, {"96360": 1, "96361": 2}),
        (180, {"96360": 1, "96361": 2}),
        (211, {"96360": 1, "96361": 3}),
    ],
)
def test_hydration_as_the_initial_service(minutes, expected):
    """coding-rules §2: 96360 needs 31 minutes; 31-90 = 96360; 91-150 = +96361; 180 = +96361 x2."""
    assert billed(run(record(hydration("A1", minutes=minutes)))) == expected


def test_hydration_of_30_minutes_alone_is_doc_5():
    """rac-checklist DOC-5: hydration runs at least 31 minutes by itself: error, not charged."""
    result = run(record(hydration("A1", minutes=30)))
    assert "DOC-5" in rules(result, "error")
    assert "31 minutes" in not_charged(result)["A1"]


@pytest.mark.parametrize(
    ("minutes", "units"), [(30, 0), (31, 1), (90, 1), (91, 2), (150, 2), (151, 3), (210, 3)]
)
def test_hydration_after_another_initial_service_is_96361_per_hour_started_beyond_30(
    minutes, units
):
    """coding-rules §2: hydration after another initial: ceil((minutes - 30) / 60) x 96361."""
    rec = record(infusion("A1", minutes=60), hydration("A2", start=60, minutes=minutes))
    expected = {"96365": 1} | ({"96361": units} if units else {})
    assert billed(run(rec)) == expected


def test_hydration_alongside_a_drug_infusion_earns_nothing():
    """coding-rules §4 (P36): hydration running alongside a drug infusion is not charged."""
    rec = record(hydration("A1", minutes=60), infusion("A2", minutes=60))
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "A1" in not_charged(result)


def test_only_the_minutes_hydration_runs_alone_count_on_any_site():
    """coding-rules §2: minutes during which another infusion runs on any site are taken out:
    hydration 0-100 on S1, vancomycin 0-70 on S2 (no reason): 30 alone: not charged."""
    rec = record(hydration("A1", minutes=100, site="S1"), infusion("A2", minutes=70, site="S2"))
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "DOC-5" in rules(result)


def test_a_push_with_only_a_start_takes_out_no_hydration_minutes():
    """coding-rules §2: a push charted with only a start time takes out no minutes."""
    rec = record(hydration("A1", minutes=31), push("A2", at=10))
    assert billed(run(rec)) == {"96374": 1, "96361": 1}


def test_a_push_with_start_and_stop_takes_out_its_minutes():
    """coding-rules §2: a push with start and stop takes out its minutes (31 - 5 = 26: nothing)."""
    rec = record(
        hydration("A1", minutes=31), adm("A2", "ondansetron", method="push", start=10, stop=15)
    )
    result = run(rec)
    assert billed(result) == {"96374": 1}
    assert "DOC-5" in rules(result)


def split(policy=None):
    """hydration 0-100 with vancomycin 20-80 alongside: 20 min alone before, 20 after."""
    return record(hydration("A1", minutes=100), infusion("A2", start=20, minutes=60), policy=policy)


def test_hydration_segments_total_adds_the_runs_alone():
    """coding-rules §7 hydration_segments=total: 20 + 20 = 40 min alone: one 96361."""
    result = run(split())
    assert billed(result) == {"96365": 1, "96361": 1}
    assert "hydration_segments=total" in result.charges[-1].why


def test_hydration_segments_continuous_judges_each_run_on_its_own():
    """coding-rules §7 hydration_segments=continuous: two runs of 20 min: nothing, DOC-5."""
    result = run(split({"hydration_segments": "continuous"}))
    assert billed(result) == {"96365": 1}
    assert "hydration_segments=continuous" in findings(result, "DOC-5")[0].message


def test_hydration_without_a_hydration_order_is_rac_1():
    """rac-checklist RAC-1: a fluid charted as hydration with no hydration order: not charged."""
    result = run(record(hydration("A1", minutes=60, order=None)))
    assert billed(result) == {}
    assert "RAC-1" in rules(result, "error")
    assert "RAC-1" in not_charged(result)["A1"]


def test_hydration_charted_against_an_order_without_purpose_hydration_is_rac_1():
    """rac-checklist RAC-1: the order's purpose must be hydration."""
    rec = record(
        hydration("A1", minutes=60, order="O1"), orders=[order("O1", "sodium chloride 0.9%")]
    )
    result = run(rec)
    assert billed(result) == {}
    assert findings(result, "RAC-1")[0].field == "order.purpose"


def test_hydration_order_without_an_indication_is_rac_3():
    """rac-checklist RAC-3: a hydration order carries an indication, else not charged."""
    rec = record(
        hydration("A1", minutes=60, order="O1"),
        orders=[order("O1", "sodium chloride 0.9%", purpose="hydration", indication=None)],
    )
    result = run(rec)
    assert billed(result) == {}
    assert "RAC-3" in rules(result, "error")


def test_a_fluid_without_a_purpose_is_rac_2():
    """rac-checklist RAC-2: every fluid states its purpose; missing: error, not charged."""
    result = run(record(hydration("A1", minutes=60, purpose=None)))
    assert billed(result) == {}
    assert "RAC-2" in rules(result, "error")
    assert "A1" in not_charged(result)


def test_doc_5_under_continuous_a_fluid_whose_runs_alone_are_all_short_earns_nothing():
    """DOC-5 / policy hydration_segments=continuous: A1 ran 40 min alone (counts), A3 20 min
    alone after the drug (does not): A3 gets DOC-5 and is not on the 96361 line."""
    rec = record(
        hydration("A1", start=0, minutes=40),
        infusion("A2", "vancomycin", start=40, minutes=60),
        hydration("A3", start=100, minutes=20),
        policy={"hydration_segments": "continuous"},
    )
    result = run(rec)
    assert billed(result) == {"96365": 1, "96361": 1}
    (line,) = [c for c in result.charges if c.code == "96361"]
    assert line.administrations == ("A1",)
    (finding,) = findings(result, "DOC-5")
    assert finding.administrations == ("A3",) and finding.severity == "error"
    assert "A3" in not_charged(result)
