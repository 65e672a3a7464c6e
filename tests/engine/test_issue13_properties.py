"""Issue 13, "Proof": properties over generated records (hypothesis). A push's 96376 never falls
within 30 minutes of a reported push of the same drug; no line is sequential time for minutes
during which another infusion or a pump ran on the same line; 96368 is never a chemotherapy
drug's. Each is the invariant of the same words in invariants.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coding.engine import code_record, parse_record

from .invariants import violations
from .records import adm, record, site
from .test_properties import SETTINGS

DRUGS = {"morphine": "therapeutic", "ondansetron": "therapeutic", "vancomycin": "therapeutic",
         "cisplatin": "chemo", "fluorouracil": "chemo", "paclitaxel": "chemo"}  # fmt: skip


def broken(doc, words: str) -> list[str]:
    rec = parse_record(doc)
    return [v for v in violations(rec, code_record(rec)) if words in v]


@st.composite
def pushes_of_few_drugs(draw):
    """Pushes of two drugs at any minutes, some with a short stop charted; maybe an infusion or a
    mixed bag of one of them; facility or office."""
    adms = []
    for n in range(draw(st.integers(1, 6))):
        drug = draw(st.sampled_from(["morphine", "ondansetron", "fluorouracil"]))
        at = draw(st.integers(0, 180))
        extra = {"stop": at + draw(st.integers(1, 3))} if draw(st.booleans()) else {}
        adms.append(adm(f"P{n}", drug, DRUGS[drug], method="push", start=at, **extra))
    if draw(st.booleans()):
        drug = draw(st.sampled_from(["morphine", "ondansetron", "vancomycin"]))
        start = draw(st.integers(0, 180))
        minutes = draw(st.integers(5, 90))
        adms.append(adm("I1", drug, "therapeutic", start=start, minutes=minutes, bag="B1"))
        if draw(st.booleans()):
            adms.append(adm("I2", "dexamethasone", "therapeutic", start=start, minutes=minutes,
                            bag="B1"))  # fmt: skip
    setting = draw(st.sampled_from(["facility", "facility", "office"]))
    return record(*adms, setting=setting)


@SETTINGS
@given(pushes_of_few_drugs())
def test_a_push_96376_is_never_within_30_minutes_of_a_reported_push_of_the_same_drug(doc):
    assert broken(doc, "96376") == []


@st.composite
def infusions_beside_pumps(draw):
    """A push (often the initial), maybe a prolonged pump, and infusions of any family on one or
    two lines (with or without a documented reason), in separate bags, overlapping at will."""
    adms = [adm("P0", "ondansetron", "therapeutic", method="push", start=0, site="S1")]
    if draw(st.booleans()):
        adms.append(adm("PUMP", "fluorouracil", "chemo", start=draw(st.integers(0, 120)),
                        stop=None, site=draw(st.sampled_from(["S1", "S2"])),
                        pump=draw(st.sampled_from(["portable", "implanted"])),
                        planned_hours=46))  # fmt: skip
    for n in range(draw(st.integers(1, 4))):
        drug = draw(st.sampled_from(["vancomycin", "cefazolin", "cisplatin", "paclitaxel"]))
        start = draw(st.integers(0, 240))
        adms.append(adm(f"I{n}", drug, "chemo" if drug in ("cisplatin", "paclitaxel") else
                        "therapeutic", start=start, minutes=draw(st.integers(16, 180)),
                        site=draw(st.sampled_from(["S1", "S2"])), bag=f"B{n}"))  # fmt: skip
    reason = draw(st.sampled_from([None, "vesicant requires a dedicated line"]))
    policy = {
        "second_line_without_reason": draw(st.sampled_from(["one_line", "own_minutes"])),
        "facility_pump_code": draw(st.sampled_from(["96416", "G0498"])),
        "same_drug_reinfusion": draw(st.sampled_from(["sequential", "additional_hour"])),
        "concurrent_min_overlap": draw(st.sampled_from([0, 16])),
    }
    sites = [site("S1"), site("S2", reason=reason, location="right forearm")]
    return record(*adms, sites=sites, policy=policy)


@SETTINGS
@given(infusions_beside_pumps())
def test_no_line_is_sequential_time_beside_another_infusion_or_a_pump_on_the_same_line(doc):
    assert broken(doc, "apart from the pumps and infusions") == []
    assert broken(doc, "hours for") == []


@SETTINGS
@given(infusions_beside_pumps())
def test_96368_is_never_a_chemotherapy_drugs(doc):
    assert broken(doc, "96368") == []
