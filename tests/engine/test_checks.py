"""checks.py, rac-checklist.md: each check RAC-1..9 and DOC-1..5 fires on a minimal record with
the gap and not on the same record fixed; checks run on an incomplete record (the bedside form)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from coding.engine import check_record, parse_record

from .records import (
    SALINE,
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


def test_doc_3_the_future_is_after_now_to_the_microsecond_whatever_the_offsets():
    """rac-checklist DOC-3: a time is in the future when its instant is after now's, compared
    exactly (times in seconds since the epoch): a stop at now is not, one a microsecond later
    is, with now in UTC and the record's times written with their New York offset."""
    stop = "2026-03-10T09:00:00.000001-04:00"
    doc = record(infusion("A1", start="2026-03-10T08:00:00-04:00", stop=stop), flushes=[])
    doc["flushes"] = [{"site": "S1", "at": stop}]
    rec = parse_record(doc)
    at_stop = datetime.fromisoformat(stop).astimezone(ZoneInfo("UTC"))
    a_microsecond_before = at_stop - timedelta(microseconds=1)
    assert not [f for f in check_record(rec, now=at_stop) if f.rule == "DOC-3"]
    future = {f.field for f in check_record(rec, now=a_microsecond_before) if f.rule == "DOC-3"}
    assert future == {"stop", "flushes[0]"}


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


@pytest.mark.parametrize("purpose", ["kvo", "vehicle"])
def test_rac_7_for_a_kvo_or_vehicle_fluid_is_a_warning_since_no_charge_is_lost(purpose):
    """rac-checklist RAC-7 asks every infusion for a stop, but errors are for what costs a
    charge: a fluid that is never charged (vehicle, KVO) gets a warning, not "hydration"."""
    result = run(record(hydration("A1", start=0, purpose=purpose), infusion("A2", minutes=60)))
    (finding,) = findings(result, "RAC-7")
    assert finding.severity == "warning" and finding.administrations == ("A1",)
    assert "hydration" not in finding.message


def test_rac_7_planned_pump_hours_stand_in_for_the_stop_only_for_chemotherapy():
    """coding-rules §2/§4: only a chemotherapy pump (96416) ends outside the encounter; a
    therapeutic infusion on a pump with no stop is billed as a push, so RAC-7 says so."""
    pump = {"stop": None, "pump": "portable", "planned_hours": 24}
    chemo_pump = run(record(chemo("A1", "fluorouracil", **pump)))
    assert billed(chemo_pump) == {"96416": 1} and "RAC-7" not in rules(chemo_pump)
    therapeutic = run(record(infusion("A1", "vancomycin", **pump)))
    assert billed(therapeutic) == {"96374": 1}
    (finding,) = findings(therapeutic, "RAC-7")
    assert finding.severity == "error" and "billed as a push" in finding.message


def test_rac_7_for_a_sq_infusion_says_it_is_billed_as_an_injection():
    """coding-rules §2: a SQ infusion of 15 minutes or less (or no stop) is a SQ injection."""
    result = run(record(adm("A1", "immune globulin", route="sq", start=0)))
    assert billed(result) == {"96372": 1}
    assert "billed as an injection" in findings(result, "RAC-7")[0].message


BEDSIDE_NOW = datetime(2026, 3, 2, 9, 0, tzinfo=NY)  # an hour after the records' 08:00


def test_a_push_into_a_line_while_its_infusion_still_runs_needs_no_flush_between():
    """RAC-5 is about drugs one after another: at the bedside (now known) an infusion with no
    stop yet is still running, so a push given through its line meanwhile is not "after" it."""
    rec = record(infusion("A1", "vancomycin", start=0), push("A2", "ondansetron", at=30))
    assert "RAC-5" not in {f.rule for f in check_record(parse_record(rec), now=BEDSIDE_NOW)}


def test_rac_6_an_infusion_hung_beside_one_still_running_on_its_line_asks_about_bags():
    """RAC-6: overlapping administrations on one site, the first still running (no stop yet,
    now known); on a signed record (no now) a missing stop is RAC-7's, nothing is assumed."""
    rec = record(infusion("A1", "vancomycin", start=0), infusion("A2", "cefazolin", start=30))
    bedside = [f for f in check_record(parse_record(rec), now=BEDSIDE_NOW) if f.rule == "RAC-6"]
    (finding,) = bedside
    assert finding.administrations == ("A1", "A2") and finding.field == "bag"
    assert "RAC-6" not in rules(run(rec))


def test_rac_1_and_rac_3_show_together_when_the_order_lacks_both():
    """The live checklist shows every open item at once: an order neither for hydration nor
    with a reason gets RAC-1 and RAC-3 together, not RAC-3 only after RAC-1 is fixed."""
    rec = record(
        hydration("A1", minutes=60, order="O1"),
        orders=[order("O1", SALINE, indication="")],
    )
    assert {"RAC-1", "RAC-3"} <= rules(run(rec), "error")


@pytest.mark.parametrize("field", ["arrived_at", "observation_at"])
def test_doc_3_an_arrival_or_observation_time_in_the_future_is_an_error(field):
    """rac-checklist DOC-3: nothing in the future, encounter times included (with now=)."""
    rec = parse_record(record(infusion("A1", minutes=60), **{field: 600}))
    now = datetime(2026, 3, 2, 12, 0, tzinfo=NY)
    found = [f for f in check_record(rec, now=now) if f.rule == "DOC-3"]
    assert [f.field for f in found] == [f"encounter.{field}"]
    assert not [f for f in check_record(rec) if f.rule == "DOC-3"]


def test_a_fluid_purpose_on_a_tagged_drug_is_a_warning_and_the_drug_is_coded():
    """RAC-2: purposes are for fluids; vancomycin charted "kvo" is still vancomycin (96365),
    with a warning, instead of silently never being charged."""
    result = run(record(infusion("A1", "vancomycin", minutes=60, purpose="kvo")))
    assert billed(result) == {"96365": 1}
    (finding,) = findings(result, "RAC-2")
    assert finding.severity == "warning" and finding.field == "purpose"


def test_an_untagged_fluid_charted_kvo_is_never_charged_and_not_warned_about_its_purpose():
    """RAC-2/DOC-4: a KVO bag whose class is not tagged yet is still a KVO fluid."""
    rec = record(adm("A1", SALINE, None, minutes=60, purpose="kvo"), infusion("A2", minutes=60))
    result = run(rec)
    assert "RAC-2" not in rules(result)
    assert "never charged" in not_charged(result)["A1"]


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


def test_doc_3_pauses_that_overlap_are_an_error_on_the_later_one():
    """rac-checklist DOC-3 (times are plausible): an infusion is paused or running, never paused
    twice at once; a pause charted late over one already charted is named, beside the later."""
    overlapping = run(record(infusion("A1", minutes=90, pauses=[(30, 50), (40, 60)])))
    assert [(f.field, f.severity) for f in findings(overlapping, "DOC-3")] == [
        ("pauses[1]", "error")
    ]
    assert "overlaps its pause of 08:30-08:50" in findings(overlapping, "DOC-3")[0].message
    touching = run(record(infusion("A1", minutes=90, pauses=[(30, 50), (50, 60)])))
    assert findings(touching, "DOC-3") == []


def test_doc_3_a_pause_after_one_still_open_overlaps_it():
    """rac-checklist DOC-3: an open pause lasts until its resume (none yet: until the stop, or
    still now); a pause charted after its start lies inside it."""
    rec = parse_record(record(infusion("A1", stop=None, pauses=[(10, None), (20, 25)])))
    found = check_record(rec, now=datetime(2026, 3, 2, 9, 0, tzinfo=NY))
    assert [f.field for f in found if f.rule == "DOC-3"] == ["pauses[1]"]


def test_doc_3_a_pause_charted_in_the_minute_the_last_one_resumed_does_not_overlap_it():
    """rac-checklist DOC-3, by the minute as times are charted: Resume tapped at 08:50:35 and a
    pause typed as 08:50 follow one another."""
    rec = record(
        infusion("A1", minutes=90, pauses=[(30, "2026-03-02T08:50:35"), (50, 60)]),
    )
    assert findings(run(rec), "DOC-3") == []
