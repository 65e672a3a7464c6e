"""Issue 13/15 checks at their boundaries (rac-checklist.md, checks.py):

- DOC-6: an order neither given nor documented as not given / held / refused with a reason.
- DRUG-DOSE: a drug billed in HCPCS units with no dose, or a dose in a unit that cannot become
  its billing unit (AUC, mg/m2, mg/kg as charted).
- RAC-7 for an infusion running at the bedside (issue 15 item 9): info ("is running"), and the
  error it was when the record is checked for signing or coded for its charges.
- DOC-VOLUME (issue 17): the volume infused and the charted minutes at the charted rates agree
  within 15% and 10 mL; not more than the bag held, within the same.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from coding.engine import RecordError, check_record, code_record, parse_record
from coding.engine.checks import is_running_finding

from .records import (
    chemo,
    findings,
    hydration,
    infusion,
    not_charged,
    order,
    push,
    record,
    rules,
    run,
    t,
)


def _orders_record(*extra_orders, administrations=None):
    given = administrations if administrations is not None else [infusion("A1", minutes=60)]
    return record(*given, orders=[order("O-vancomycin", "vancomycin"), *extra_orders])


# --- DOC-6: order without a disposition ------------------------------------------------------


def test_doc6_an_order_neither_given_nor_documented_is_an_error_naming_its_disposition_field():
    doc = _orders_record(order("O2", "ondansetron", dose="8 mg"))
    found = findings(run(doc), "DOC-6")
    assert [(f.severity, f.field, f.administrations) for f in found] == [
        ("error", "orders[1].disposition", ())  # O-vancomycin, then O2: read in id order
    ]
    assert "ondansetron 8 mg (O2)" in found[0].message
    assert "neither given nor documented" in found[0].message


def test_doc6_the_field_is_the_orders_place_in_the_record_as_read():
    """Orders are read in id order: the field names the index the chart resolves."""
    doc = _orders_record(order("O3", "ondansetron"), order("O1", "dexamethasone"))
    record = parse_record(doc)
    fields = {f.field for f in findings(run(doc), "DOC-6")}
    named = {record.orders[int(f[len("orders[") : f.index("]")])].drug for f in fields}
    assert named == {"ondansetron", "dexamethasone"}


def test_doc6_a_given_order_is_not_flagged_whatever_its_method():
    doc = record(infusion("A1", minutes=60), push("A2", at=70, order="O2"),
                 orders=[order("O2", "ondansetron")])  # fmt: skip
    assert findings(run(doc), "DOC-6") == []


@pytest.mark.parametrize("disposition", ["not_given", "held", "refused"])
def test_doc6_an_order_documented_with_a_reason_is_resolved(disposition):
    doc = _orders_record(
        order("O2", "ondansetron", disposition=disposition, disposition_reason="BP 80/50")
    )
    assert findings(run(doc), "DOC-6") == []


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_doc6_a_disposition_without_a_reason_names_the_reason_field(reason):
    doc = _orders_record(order("O2", "ondansetron", disposition="held", disposition_reason=reason))
    found = findings(run(doc), "DOC-6")
    assert [(f.severity, f.field) for f in found] == [("error", "orders[1].disposition_reason")]
    assert "charted as held without a reason" in found[0].message


def test_doc6_every_order_given_no_finding_and_the_charges_are_unchanged():
    given = _orders_record()
    documented = _orders_record(
        order("O2", "ondansetron", disposition="refused", disposition_reason="declined")
    )
    assert findings(run(given), "DOC-6") == []
    assert run(given).charges == run(documented).charges


def test_a_record_without_dispositions_still_reads_and_an_unknown_one_is_a_record_error():
    plain = parse_record(_orders_record(order("O2", "ondansetron")))
    assert all(o.disposition is None and o.disposition_reason is None for o in plain.orders)
    with pytest.raises(RecordError) as bad:
        parse_record(_orders_record(order("O2", "ondansetron", disposition="skipped")))
    assert bad.value.field == "orders[1].disposition"  # as listed in the document


# --- DRUG-DOSE: drug without a billable dose ---------------------------------------------------

J9045 = {"hcpcs": "J9045", "billing_unit": {"value": 50, "unit": "mg"}}


def _carboplatin(**kw):
    return record(chemo("A1", "carboplatin", minutes=60, **{**J9045, **kw}))


def test_drug_dose_a_billed_drug_without_a_dose_is_an_error_on_the_dose():
    """Red: the drug's charge is lost (no drug line), so signing asks a reason."""
    found = findings(run(_carboplatin()), "DRUG-DOSE")
    assert [(f.severity, f.field, f.administrations) for f in found] == [("error", "dose", ("A1",))]
    assert "no drug charge: dose missing (J9045 per 50 mg)" in found[0].message


@pytest.mark.parametrize("unit", ["AUC", "mg/m2", "mg/kg", "mL", ""])
def test_drug_dose_a_dose_in_a_unit_that_cannot_be_billed_names_the_unit(unit):
    dose = {"value": 5, "unit": unit} if unit else {"value": 5, "unit": " "}
    if not unit:  # an empty unit is not a dose the reader takes
        with pytest.raises(RecordError):
            parse_record(_carboplatin(dose=dose))
        return
    found = findings(run(_carboplatin(dose=dose)), "DRUG-DOSE")
    assert [(f.severity, f.field) for f in found] == [("error", "dose.unit")]
    assert f"the unit {unit} cannot be billed (J9045 per 50 mg)" in found[0].message
    assert "chart the amount given in mg" in found[0].message


@pytest.mark.parametrize(("value", "unit"), [(450, "mg"), (0.45, "g"), (450000, "mcg")])
def test_drug_dose_a_dose_that_converts_is_billable(value, unit):
    assert findings(run(_carboplatin(dose={"value": value, "unit": unit})), "DRUG-DOSE") == []


def test_drug_dose_a_drug_without_a_billing_code_is_not_asked_for_a_dose():
    plain = record(chemo("A1", "carboplatin", minutes=60))
    assert findings(run(plain), "DRUG-DOSE") == []
    code_only = record(chemo("A1", "carboplatin", minutes=60, hcpcs="J9045"))
    assert [f.field for f in findings(run(code_only), "DRUG-DOSE")] == ["dose"]
    billed = record(chemo("A1", "carboplatin", minutes=60, hcpcs="J9045",
                          dose={"value": 5, "unit": "AUC"}))  # fmt: skip
    assert findings(run(billed), "DRUG-DOSE") == []  # no billing unit: nothing to compare


def test_drug_dose_is_a_warning_the_administration_is_still_coded():
    without = run(_carboplatin())
    with_dose = run(_carboplatin(dose={"value": 450, "unit": "mg"}))
    assert without.charges == with_dose.charges
    assert "A1" not in not_charged(without)


def test_a_record_without_billing_fields_still_reads_and_a_bad_one_names_the_field():
    plain = parse_record(record(chemo("A1", minutes=60)))
    assert plain.administrations[0].hcpcs is None
    assert plain.administrations[0].billing_unit is None
    with pytest.raises(RecordError) as bad:
        parse_record(_carboplatin(billing_unit={"value": 0, "unit": "mg"}))
    assert bad.value.field == "administrations[0].billing_unit.value"


# --- Issue 15 item 9: a running infusion at the bedside is not an error -----------------------

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/New_York"))  # 60 min after 08:00


def _rac7(doc, now=None, signing=False):
    return [(f.severity, f.field) for f in findings(run_mode(doc, now, signing), "RAC-7")]


def run_mode(doc, now, signing):
    return code_record(parse_record(doc), now=now, signing=signing)


@pytest.mark.parametrize(
    "adm",
    [
        infusion("A1", stop=None),
        chemo("A1", stop=None),
        hydration("A1", stop=None),
        hydration("A1", stop=None, purpose="kvo"),
    ],
    ids=["therapeutic", "chemo", "hydration", "kvo"],
)
def test_running_at_the_bedside_is_info_and_an_error_for_the_signature_and_the_charges(adm):
    doc = record(adm)
    bedside = findings(run_mode(doc, NOW, False), "RAC-7")
    assert [(f.severity, f.field) for f in bedside] == [("info", "stop")]
    assert is_running_finding(bedside[0]) and "is running (started 08:00)" in bedside[0].message
    strict = "warning" if adm.get("purpose") == "kvo" else "error"
    assert _rac7(doc, NOW, signing=True) == [(strict, "stop")]  # the signature's check
    assert _rac7(doc) == [(strict, "stop")]  # coded for the charges (no now)
    assert not any(is_running_finding(f) for f in run_mode(doc, NOW, True).findings)


def test_running_is_checked_to_the_minute_a_start_after_now_is_not_running():
    at_now = record(infusion("A1", start=60, stop=None))  # started exactly now
    assert _rac7(at_now, NOW) == [("info", "stop")]
    later = record(infusion("A1", start=61, stop=None))  # one minute ahead: a typing error
    assert _rac7(later, NOW) == [("error", "stop")]
    assert "DOC-3" in rules(run_mode(later, NOW, False), "error")


def test_a_stopped_infusion_is_unchanged_at_the_bedside():
    stopped = record(infusion("A1", minutes=30))
    assert _rac7(stopped, NOW) == []


def test_an_infusion_paused_now_at_the_bedside_is_info_and_an_error_for_the_signature():
    """walk19: the pause a running infusion is in now is not a gap (pausing it for a reaction
    made the chart say "1 item would cost a charge"); info at the bedside, never counted; the
    signature and the charges read it as the error it was."""
    paused = record(infusion("A1", stop=None, pauses=[(10, None)]))
    bedside = findings(run_mode(paused, NOW, False), "RAC-7")
    assert sorted((f.severity, f.field) for f in bedside) == [
        ("info", "pauses[0].end"),
        ("info", "stop"),
    ]
    on_hold = next(f for f in bedside if f.field == "pauses[0].end")
    said = "vancomycin is paused (since 08:10): chart when it resumes, or stop it"
    assert on_hold.message == said
    assert not is_running_finding(on_hold)  # not one more infusion to stop before signing
    assert not [f for f in check_record(parse_record(paused), now=NOW) if f.severity == "error"]
    strict = [("error", "pauses[0].end"), ("error", "stop")]
    assert sorted(_rac7(paused, NOW, signing=True)) == strict
    assert sorted(_rac7(paused)) == strict


def test_only_the_pause_in_progress_is_info_an_earlier_one_left_open_stays_an_error():
    twice = record(infusion("A1", stop=None, pauses=[(10, None), (30, None)]))
    assert sorted(_rac7(twice, NOW)) == [
        ("error", "pauses[0].end"),  # 08:10, left open: the nurse forgot its resume
        ("info", "pauses[1].end"),  # 08:30, the pause it is in now
        ("info", "stop"),
    ]
    stopped = record(infusion("A1", minutes=40, pauses=[(10, None)]))
    assert _rac7(stopped, NOW) == [("error", "pauses[0].end")]


def test_a_push_with_only_a_start_is_not_running():
    assert _rac7(record(push("A1", at=30)), NOW) == []


def test_the_running_finding_is_not_counted_as_a_blocking_error_by_check_record():
    doc = record(infusion("A1", stop=None))
    bedside = check_record(parse_record(doc), now=NOW)
    assert not [f for f in bedside if f.severity == "error"]
    signing = check_record(parse_record(doc), now=NOW, signing=True)
    assert [f.rule for f in signing if f.severity == "error"] == ["RAC-7"]


# --- DOC-VOLUME: the volume infused agrees with the charted minutes at the charted rates ------


def _rated(minutes=60, rates=((0, 100),), infused=100, bag=None, **kw):
    extra = {"rates": [{"at": t(at), "ml_h": ml_h} for at, ml_h in rates]}
    if infused is not None:
        extra["volume_infused_ml"] = infused
    if bag is not None:
        extra["bag_volume_ml"] = bag
    return record(infusion("A1", minutes=minutes, **extra, **kw))


def _volume_findings(doc, now=None):
    return [(f.severity, f.field) for f in findings(run(doc, now), "DOC-VOLUME")]


@pytest.mark.parametrize(
    ("infused", "flagged"),
    [
        (100, False),  # 60 min at 100 mL/h
        (115, False),  # 15% over: within
        (116, True),  # past 15% and past 10 mL
        (85, False),  # 15% under: within
        (84, True),
    ],
)
def test_doc_volume_the_tolerance_is_15_percent_of_the_expected_volume(infused, flagged):
    assert _volume_findings(_rated(infused=infused)) == (
        [("warning", "volume_infused_ml")] if flagged else []
    )


def test_doc_volume_says_the_whole_minutes_counted_for_the_codes():
    # Stopped 35 min 39 s after the start: 35 min, as TIME-MINUTES counts them and the card
    # shows ("Stopped · 35 min"), not 36 rounded.
    doc = _rated(minutes=35, infused=500)
    doc["administrations"][0]["stop"] += ":39"
    (finding,) = findings(run(doc), "DOC-VOLUME")
    assert "500 mL infused, but 35 min at the charted rates make 59 mL" in finding.message


@pytest.mark.parametrize(("infused", "flagged"), [(30, False), (40, False), (41, True)])
def test_doc_volume_a_small_volume_is_allowed_10_ml(infused, flagged):
    """30 min at 60 mL/h = 30 mL: 15% is 4.5 mL, so the 10 mL floor decides."""
    doc = _rated(minutes=30, rates=((0, 60),), infused=infused)
    assert bool(_volume_findings(doc)) is flagged


def test_doc_volume_counts_rate_changes_and_leaves_pauses_out():
    # 08:00-08:30 at 100 (50 mL), paused 08:30-08:40, 08:40-09:10 at 200 (100 mL): 150 mL.
    doc = _rated(minutes=70, rates=((0, 100), (30, 200)), infused=150, pauses=[(30, 40)])
    assert _volume_findings(doc) == []
    wrong = _rated(minutes=70, rates=((0, 100), (30, 200)), infused=233, pauses=[(30, 40)])
    (finding,) = findings(run(wrong), "DOC-VOLUME")
    assert "233 mL infused, but 60 min at the charted rates make 150 mL" in finding.message


def test_doc_volume_is_not_asked_while_running_or_without_a_rate_from_the_start():
    running = record(infusion("A1", stop=None, rates=[{"at": t(0), "ml_h": 100}],
                              volume_infused_ml=500))  # fmt: skip
    assert _volume_findings(running) == []
    late_rate = _rated(rates=((10, 100),), infused=500)
    assert _volume_findings(late_rate) == []
    no_volume = _rated(infused=None)
    assert _volume_findings(no_volume) == []


def test_doc_volume_more_than_the_bag_held():
    assert _volume_findings(_rated(rates=(), infused=1200, bag=1000)) == [
        ("warning", "volume_infused_ml")
    ]
    assert _volume_findings(_rated(rates=(), infused=1100, bag=1000)) == []  # overfill: within


def test_a_record_without_rates_still_reads_and_a_bad_rate_names_its_field():
    plain = parse_record(record(infusion("A1", minutes=60)))
    adm = plain.administrations[0]
    assert (adm.rates, adm.volume_infused_ml, adm.bag_volume_ml) == ((), None, None)
    rated = parse_record(_rated(rates=((30, 50), (0, 100)), infused=80))
    assert [e.ml_h for e in rated.administrations[0].rates] == [100.0, 50.0]  # in time order
    with pytest.raises(RecordError) as bad:
        parse_record(record(infusion("A1", minutes=60, rates=[{"at": t(0), "ml_h": 0}])))
    assert bad.value.field == "administrations[0].rates[0].ml_h"
    with pytest.raises(RecordError) as bad:
        parse_record(record(infusion("A1", minutes=60, rates=[{"ml_h": 10}])))
    assert bad.value.field == "administrations[0].rates[0].at"


# --- DRUG-DOSE: the whole dose charted for a bag stopped early ---------------------------------

J2543 = {"hcpcs": "J2543", "billing_unit": {"value": 1.125, "unit": "g"}}


def _pip_tazo(dose="3.375 g", given=3.375, infused=25, bag=100):
    adm = infusion(
        "A1", "piperacillin-tazobactam", minutes=30, **J2543,
        dose={"value": given, "unit": "g"}, volume_infused_ml=infused, bag_volume_ml=bag,
    )  # fmt: skip
    return record(adm, orders=[order(adm["order"], adm["drug"], dose=dose)])


def test_drug_dose_the_whole_ordered_dose_charted_for_a_bag_stopped_early_is_a_warning():
    """25 of 100 mL ran in and 3.375 g (the order) is charted as given: the drug line would bill
    the whole bag. The warning says how much ran in, beside the dose."""
    found = findings(run(_pip_tazo()), "DRUG-DOSE")
    assert [(f.severity, f.field) for f in found] == [("warning", "dose")]
    assert "25 of 100 mL infused" in found[0].message
    assert "about 0.844 g" in found[0].message


def test_drug_dose_the_amount_that_ran_in_charted_is_reconciled():
    assert findings(run(_pip_tazo(given=0.844)), "DRUG-DOSE") == []


@pytest.mark.parametrize("infused", [100, 90])  # the whole bag; within DOC-VOLUME's tolerance
def test_drug_dose_a_bag_run_in_within_tolerance_asks_nothing(infused):
    assert findings(run(_pip_tazo(infused=infused)), "DRUG-DOSE") == []


@pytest.mark.parametrize("dose", ["per protocol", "75 mg/m2", None])
def test_drug_dose_an_order_not_written_as_one_amount_is_not_compared(dose):
    assert findings(run(_pip_tazo(dose=dose)), "DRUG-DOSE") == []


def test_drug_dose_the_ordered_amount_in_another_unit_is_compared_converted():
    """ "3,375 mg" ordered, 3.375 g charted: the same amount."""
    assert len(findings(run(_pip_tazo(dose="3,375 mg")), "DRUG-DOSE")) == 1
