"""checks.py, rac-checklist.md: each check RAC-1..9 and DOC-1..5 fires on a minimal record with
the gap and not on the same record fixed; checks run on an incomplete record (the bedside form)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from coding.engine import check_record, parse_record

from .records import (
    adm,
    billed,
    chemo,
    findings,
    flush,
    hydration,
    infusion,
    not_charged,
    order,
    push,
    record,
    rules,
    run,
    site,
)

NY = ZoneInfo("America/New_York")


def two_drugs(flushes=None):
    return record(
        infusion("A1", "vancomycin", minutes=60),
        infusion("A2", "cefazolin", start=60, minutes=30),
        flushes=flushes,
    )


def overlapping(bags=(None, None)):
    return record(
        infusion("A1", "vancomycin", minutes=90, bag=bags[0]),
        infusion("A2", "cefazolin", start=30, minutes=30, bag=bags[1]),
    )


def second_site(reason):
    return record(
        infusion("A1", "vancomycin", minutes=60, site="S1"),
        infusion("A2", "cefazolin", start=70, minutes=30, site="S2"),
        sites=[site("S1"), site("S2", reason=reason)],
        flushes=[flush(65)],
    )


def hydration_order(**kw):
    o = order("O1", "sodium chloride 0.9%", purpose="hydration", indication="E86.0")
    o.update(kw)
    return record(hydration("A1", minutes=60, order="O1"), orders=[o])


# (rule, severity, the record with the gap, the same record fixed)
CASES = [
    ("RAC-1", "error", record(hydration("A1", minutes=60, order=None)),
     record(hydration("A1", minutes=60))),
    ("RAC-2", "error", record(hydration("A1", minutes=60, purpose=None)),
     record(hydration("A1", minutes=60))),
    ("RAC-3", "error", hydration_order(indication=""), hydration_order()),
    ("RAC-4", "warning", record(infusion("A1", minutes=60, site=None)),
     record(infusion("A1", minutes=60))),
    ("RAC-4", "warning", second_site(None), second_site("vesicant requires a dedicated line")),
    ("RAC-5", "warning", two_drugs(), two_drugs([flush(60)])),
    ("RAC-6", "warning", overlapping(), overlapping(("B1", "B2"))),
    ("RAC-7", "error", record(infusion("A1", stop=None)), record(infusion("A1", minutes=60))),
    ("RAC-7", "error", record(infusion("A1", minutes=60, pauses=[(10, None)])),
     record(infusion("A1", minutes=60, pauses=[(10, 20)]))),
    ("RAC-8", "error", record(infusion("A1", minutes=60, started_by="ems")),
     record(infusion("A1", minutes=60, started_by="ems"), arrived_at=-10)),
    ("RAC-8", "warning", record(infusion("A1", minutes=60), arrived_at=10),
     record(infusion("A1", minutes=60), arrived_at=-10)),
    ("RAC-9", "info", record(infusion("A1", minutes=120), observation_at=60),
     record(infusion("A1", minutes=120))),
    ("DOC-1", "warning", record(infusion("A1", minutes=60, order=None)),
     record(infusion("A1", minutes=60))),
    ("DOC-1", "warning",
     record(infusion("A1", minutes=60, order="O1"), orders=[order("O1", "vancomycin", dose=None)]),
     record(infusion("A1", minutes=60, order="O1"), orders=[order("O1", "vancomycin")])),
    ("DOC-1", "warning",
     record(infusion("A1", minutes=60, order="O1"), orders=[order("O1", "cefazolin")]),
     record(infusion("A1", minutes=60, order="O1"), orders=[order("O1", "vancomycin")])),
    ("DOC-2", "info",
     record(infusion("A1", minutes=60, order="O1"),
            orders=[order("O1", "vancomycin", duration_minutes=60)]),
     record(infusion("A1", minutes=64, order="O1"),
            orders=[order("O1", "vancomycin", duration_minutes=60)])),
    ("DOC-3", "error", record(infusion("A1", start=60, stop=0)),
     record(infusion("A1", start=0, stop=60))),
    ("DOC-3", "error", record(infusion("A1", minutes=60, pauses=[(50, 70)])),
     record(infusion("A1", minutes=60, pauses=[(40, 50)]))),
    ("DOC-3", "error", record(infusion("A1", minutes=60, pauses=[(30, 20)])),
     record(infusion("A1", minutes=60, pauses=[(20, 30)]))),
    ("DOC-3", "error", record(infusion("A1", minutes=25 * 60)),
     record(infusion("A1", minutes=25 * 60, pump="portable"))),
    ("DOC-4", "error", record(adm("A1", drug_class=None, minutes=60)),
     record(adm("A1", minutes=60))),
    ("DOC-5", "error", record(hydration("A1", minutes=30)), record(hydration("A1", minutes=31))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "severity", "gap", "fixed"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_check_fires_on_the_gap_and_not_on_the_fixed_record(rule, severity, gap, fixed):
    """rac-checklist.md: each check fires with its id and severity and is gone once fixed."""
    assert rule in rules(run(gap), severity)
    assert rule not in rules(run(fixed), severity)


def test_doc_3_a_time_in_the_future_is_an_error_only_with_now():
    """rac-checklist DOC-3: nothing in the future; the engine has no clock, so only with now=."""
    rec = parse_record(record(infusion("A1", minutes=60)))
    before = datetime(2026, 3, 2, 8, 30, tzinfo=NY)
    after = datetime(2026, 3, 2, 12, 0, tzinfo=NY)
    future = [f for f in check_record(rec, now=before) if f.rule == "DOC-3"]
    assert {f.field for f in future} == {"stop"}
    assert not [f for f in check_record(rec, now=after) if f.rule == "DOC-3"]
    assert not [f for f in check_record(rec) if f.rule == "DOC-3"]


@pytest.mark.parametrize(("hours", "pump", "fires"), [(24, None, False), (25, None, True),
                                                    (25, "portable", False)])  # fmt: skip
def test_doc_3_an_infusion_still_running_after_24_hours_without_a_pump_is_an_error(
    hours, pump, fires
):
    """rac-checklist DOC-3: nothing longer than 24 h without a pump, a running infusion too: with
    no stop yet, it has run from its start to now (a start typed days early, say)."""
    extra = {"pump": pump, "planned_hours": 46} if pump else {}
    rec = parse_record(record(infusion("A1", start=0, **extra)))
    now = datetime(2026, 3, 2, 8, 0, tzinfo=NY) + timedelta(hours=hours)
    found = [f for f in check_record(rec, now=now) if f.rule == "DOC-3"]
    assert [f.field for f in found] == (["start"] if fires else [])
    if fires:
        assert "check the start date" in found[0].message


def test_doc_3_blocks_the_charge():
    """rac-checklist DOC-3: an input error: the administration is not charged."""
    result = run(record(infusion("A1", start=60, stop=0)))
    assert billed(result) == {}
    assert "DOC-3" in not_charged(result)["A1"]


def test_doc_3_more_than_24_hours_with_a_pump_is_plausible():
    """rac-checklist DOC-3: nothing longer than 24 h *without a pump*."""
    rec = record(adm("A1", "fluorouracil", "chemo", minutes=46 * 60, pump="portable",
                     planned_hours=46))  # fmt: skip
    assert "DOC-3" not in rules(run(rec))


def test_doc_3_names_the_pause_field():
    """rac-checklist DOC-3: the message goes next to the field (the pause)."""
    result = run(record(infusion("A1", minutes=60, pauses=[(20, 30), (50, 70)])))
    assert [f.field for f in findings(result, "DOC-3")] == ["pauses[1]"]


def test_checks_work_on_a_running_infusion_with_no_stop_yet():
    """rac-checklist: every check works on an incomplete record (the bedside form)."""
    rec = parse_record(
        record(
            infusion("A1", "vancomycin", stop=None, pauses=[(10, None)]),
            push("A2", "ondansetron", at=5),
            hydration("A3", stop=None, site="S2"),
        )
    )
    found = check_record(rec, now=datetime(2026, 3, 2, 8, 20, tzinfo=NY))
    assert {f.rule for f in found} >= {"RAC-7", "RAC-4"}
    assert {f.field for f in found if f.rule == "RAC-7"} >= {"stop", "pauses[0].end"}


def test_check_record_gives_the_same_findings_as_the_charges():
    """rac-checklist: one rule, one home: the checklist and the charge run never disagree."""
    doc = record(hydration("A1", minutes=30, order=None), infusion("A2", start=40, stop=None))
    assert check_record(parse_record(doc)) == run(doc).findings


def test_every_finding_names_its_administrations_and_a_known_severity():
    """record-format: findings carry rule, severity (error/warning/info) and administrations."""
    for _, _, gap, _ in CASES:
        for f in run(gap).findings:
            assert f.severity in ("error", "warning", "info")
            assert f.message


def test_rac_7_a_short_pump_does_not_stand_in_for_the_stop():
    """rac-checklist RAC-7: only a pump for a prolonged infusion (more than 8 h, coding-rules §4)
    ends outside the encounter; a pump planned for 8 hours or less still needs a stop time."""
    short = run(record(infusion("A1", stop=None, pump="portable", planned_hours=8)))
    prolonged = run(record(chemo("A1", stop=None, pump="portable", planned_hours=46)))
    assert "RAC-7" in rules(short, "error")
    assert billed(short) == {"96374": 1}  # no stop: coded only as a push
    assert "RAC-7" not in rules(prolonged)
    assert billed(prolonged) == {"96416": 1}


def test_a_short_pump_with_no_stop_takes_no_minutes_from_hydration():
    """coding-rules §2: only the minutes another infusion runs are taken out of hydration; a pump
    infusion with no stop and no prolonged plan has no charted running time."""
    result = run(
        record(
            hydration("A1", minutes=60),
            infusion("A2", "vancomycin", start=5, stop=None, pump="portable", planned_hours=4),
        )
    )
    assert billed(result) == {"96374": 1, "96361": 1}


def test_check_record_refuses_a_naive_now():
    """Every time in a record carries its zone; a `now` without one cannot be compared."""
    with pytest.raises(ValueError, match="timezone-aware"):
        check_record(parse_record(record(infusion("A1", minutes=30))), now=datetime(2026, 3, 2))


def test_doc_3_a_pause_or_flush_in_the_future_is_an_error():
    """rac-checklist DOC-3: nothing in the future: pauses and flushes included."""
    doc = record(
        infusion("A1", minutes=120, pauses=((30, 200),)),
        flushes=[flush(300), flush(10)],
    )
    now = datetime(2026, 3, 2, 11, 0, tzinfo=NY)  # 180 minutes after 08:00
    found = [(f.rule, f.field) for f in check_record(parse_record(doc), now=now)]
    assert ("DOC-3", "pauses[0].end") in found
    # The flush is named by its place in the record's flushes (in time order): the form that
    # charted it and the checklist's link find it by that.
    assert ("DOC-3", "flushes[1]") in found
    assert ("DOC-3", "flushes[0]") not in found
    assert ("DOC-3", "pauses[0].start") not in found
