"""HCPCS drug units and JW/JZ (engine `drug_units.py`): units = ceil(dose / billing unit) after
conversion; JW waste lines, JZ for none, for single-dose containers only (CMS JW/JZ policy); one
line per HCPCS code, date of service, modifier and NDC with the day's total units, rounded up
once (DRUG-DAY-TOTAL)."""

from __future__ import annotations

import math
import random
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from coding.engine import rules as r
from coding.engine.drug_units import (
    MULTI_DOSE,
    SINGLE_DOSE,
    DrugGiven,
    UnitMismatch,
    amount_convert,
    billing_units,
    drug_line_items,
    encounter_drug_lines,
)


@pytest.mark.parametrize(
    ("value", "unit", "per", "billing_unit", "expected"),
    [
        ("300", "mg", "1", "mg", 300),
        ("450", "mg", "50", "mg", 9),  # carboplatin, exact
        ("451", "mg", "50", "mg", 10),  # any part of a unit rounds up
        ("0.2", "g", "50", "mg", 4),  # 200 mg
        ("1500", "mcg", "1", "mg", 2),  # 1.5 mg
        ("8", "mg", "1", "mg", 8),
        ("30000", "units", "15", "units", 2000),
        ("15", "IU", "15", "units", 1),
        ("0.1", "mg", "0.5", "mg", 1),  # never 0 units for an amount given
    ],
)
def test_billing_units_round_up_after_conversion(
    value: str, unit: str, per: str, billing_unit: str, expected: int
) -> None:
    assert billing_units(Decimal(value), unit, Decimal(per), billing_unit) == expected


def test_mass_and_units_do_not_convert() -> None:
    with pytest.raises(UnitMismatch):
        amount_convert(Decimal(10), "mL", "mg")
    with pytest.raises(UnitMismatch):
        amount_convert(Decimal(10), "units", "mg")


def given(**changes: object) -> DrugGiven:
    base: dict[str, object] = {
        "administration": "A1",
        "day": date(2026, 3, 2),
        "drug": "paclitaxel",
        "hcpcs": "J9267",
        "billing_unit_label": "1 mg",
        "per_unit": Decimal(1),
        "billing_unit": "mg",
        "container": SINGLE_DOSE,
        "dose_value": Decimal(300),
        "dose_unit": "mg",
        "waste_value": None,
        "waste_unit": "",
    }
    base.update(changes)
    return DrugGiven(**base)


def test_single_dose_waste_charted_is_a_jw_line() -> None:
    items = drug_line_items(given(waste_value=Decimal(20)))
    assert [(ln["code"], ln["units"], ln["modifiers"]) for ln in items.lines] == [
        ("J9267", 300, []),
        ("J9267", 20, ["JW"]),
    ]
    assert items.findings == []


def test_single_dose_no_waste_is_jz_and_waste_not_charted_is_a_note() -> None:
    assert drug_line_items(given(waste_value=Decimal(0))).lines[0]["modifiers"] == ["JZ"]
    unstated = drug_line_items(given())
    assert unstated.lines[0]["modifiers"] == []
    assert [f["rule"] for f in unstated.findings] == ["DRUG-WASTE"]


def test_multi_dose_and_unstated_containers_never_take_jw_or_jz() -> None:
    for container in (MULTI_DOSE, ""):
        items = drug_line_items(given(container=container, waste_value=Decimal(20)))
        assert [ln["modifiers"] for ln in items.lines] == [[]]
        assert [f["rule"] for f in items.findings] == ["DRUG-WASTE"]


def test_a_hydration_fluid_with_no_container_stated_gets_no_waste_note() -> None:
    """CMS's JW/JZ policy covers drugs separately payable under Part B; a hydration fluid is
    packaged under OPPS (status indicator N), so its container is not asked (no DRUG-WASTE)."""
    saline = {"drug": "sodium chloride 0.9%", "hcpcs": "J7030", "billing_unit": "mL"}
    saline |= {"per_unit": Decimal(1000), "dose_value": Decimal(1000), "dose_unit": "mL"}
    items = drug_line_items(given(container="", packaged=True, **saline))
    assert [(ln["code"], ln["units"], ln["modifiers"]) for ln in items.lines] == [("J7030", 1, [])]
    assert items.findings == []
    # A drug that is not packaged keeps the note, whatever else is the same.
    assert [f["rule"] for f in drug_line_items(given(container="", **saline)).findings] == [
        "DRUG-WASTE"
    ]


def test_a_dose_unit_that_cannot_be_billed_is_not_charged_drug_dose_and_no_line() -> None:
    """The finding is the engine's DRUG-DOSE check on the record (test_issue15_checks.py)."""
    items = drug_line_items(given(dose_unit="mg/m2"))
    assert items.lines == [] and items.findings == []
    assert [(n["rules"], n["administration"]) for n in items.not_charged] == [
        (["DRUG-DOSE"], given().administration)
    ]
    assert "no drug charge" in items.not_charged[0]["reason"]
    assert "the unit cannot be billed" in items.not_charged[0]["reason"]


def test_a_waste_unit_that_cannot_be_billed_is_still_drug_unit() -> None:
    items = drug_line_items(
        given(container=SINGLE_DOSE, waste_value=Decimal(2), waste_unit="mg/m2")
    )
    assert [(f["rule"], f["severity"]) for f in items.findings] == [("DRUG-UNIT", "error")]
    assert len(items.lines) == 1 and items.not_charged == []


# --- one line per HCPCS code, date of service, modifier and NDC (DRUG-DAY-TOTAL) -------------


def ondansetron(record_id: str, dose: str, **changes: object) -> DrugGiven:
    """ondansetron billed per 10 mg (a made-up unit, so that rounding shows), not stated
    container unless changed."""
    base: dict[str, object] = {
        "administration": record_id,
        "day": date(2026, 3, 2),
        "drug": "ondansetron",
        "hcpcs": "J2405",
        "billing_unit_label": "10 mg",
        "per_unit": Decimal(10),
        "billing_unit": "mg",
        "container": MULTI_DOSE,
        "dose_value": Decimal(dose),
        "dose_unit": "mg",
    }
    base.update(changes)
    return DrugGiven(**base)


def shapes(lines: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (ln["code"], ln["units"], ln["modifiers"], ln["date"], ln["administrations"])
        for ln in lines
    ]


def test_the_same_drug_twice_on_one_day_is_one_line_of_the_total_rounded_up_once() -> None:
    """15 mg + 15 mg at 10 mg per unit: ceil(30 / 10) = 3, not 2 + 2 (it over-billed)."""
    items = encounter_drug_lines([ondansetron("A1", "15"), ondansetron("A2", "15")])
    assert shapes(items.lines) == [("J2405", 3, [], date(2026, 3, 2), ["A1", "A2"])]
    [line] = items.lines
    assert line["why"] == "ondansetron 15 mg + 15 mg given = 30 mg; J2405 10 mg per unit: ceil = 3"
    assert line["rules"] == [r.DRUG_BILLING_UNITS, r.DRUG_DAY_TOTAL]


def test_the_total_is_summed_in_the_billing_unit_whatever_unit_each_dose_was_charted_in() -> None:
    items = encounter_drug_lines(
        [ondansetron("A1", "0.004", dose_unit="g"), ondansetron("A2", "4000", dose_unit="mcg")]
    )
    [line] = items.lines
    assert line["units"] == 1  # 8 mg at 10 mg per unit
    assert line["why"].startswith("ondansetron 0.004 g + 4000 mcg given = 8 mg;")


def test_the_same_drug_on_two_dates_of_service_is_two_lines() -> None:
    items = encounter_drug_lines(
        [ondansetron("A1", "15"), ondansetron("A2", "15", day=date(2026, 3, 3))]
    )
    assert shapes(items.lines) == [
        ("J2405", 2, [], date(2026, 3, 2), ["A1"]),
        ("J2405", 2, [], date(2026, 3, 3), ["A2"]),
    ]
    assert all(r.DRUG_DAY_TOTAL not in ln["rules"] for ln in items.lines)


def test_two_different_scanned_ndcs_are_two_lines_and_one_ndc_is_one() -> None:
    first, second = "00781305195", "00409400101"
    items = encounter_drug_lines(
        [
            ondansetron("A1", "15", ndc=first),
            ondansetron("A2", "15", ndc=second),
            ondansetron("A3", "5", ndc=first),
        ]
    )
    assert [(ln["units"], ln["administrations"]) for ln in items.lines] == [
        (2, ["A1", "A3"]),  # 20 mg
        (2, ["A2"]),
    ]
    unscanned = encounter_drug_lines([ondansetron("A1", "15", ndc=first), ondansetron("A2", "5")])
    assert len(unscanned.lines) == 2  # a scanned NDC and none: the claim's NDCs may differ


def test_jz_and_no_modifier_administrations_of_the_same_drug_are_separate_lines() -> None:
    items = encounter_drug_lines(
        [
            ondansetron("A1", "15", container=SINGLE_DOSE, waste_value=Decimal(0)),
            ondansetron("A2", "15", container=SINGLE_DOSE),  # waste not charted: no modifier
            ondansetron("A3", "15", container=SINGLE_DOSE, waste_value=Decimal(0)),
        ]
    )
    assert [(ln["units"], ln["modifiers"], ln["administrations"]) for ln in items.lines] == [
        (3, ["JZ"], ["A1", "A3"]),
        (2, [], ["A2"]),
    ]
    assert items.lines[0]["rules"] == [r.DRUG_BILLING_UNITS, r.DRUG_DAY_TOTAL, r.DRUG_JZ]
    assert items.lines[0]["why"].endswith("; no waste charted (JZ)")
    # The DRUG-WASTE finding stays the administration's own.
    assert [(f["rule"], f["administrations"]) for f in items.findings] == [("DRUG-WASTE", ["A2"])]


def test_jw_waste_of_one_day_is_summed_on_its_own_line_after_the_dose_line() -> None:
    """17 mg + 16 mg given, 8 mg + 9 mg wasted at 10 mg per unit: the containers held 50 mg,
    4 units billed as given, so one JW unit (not 1 + 1, each waste rounded up)."""
    items = encounter_drug_lines(
        [
            ondansetron("A2", "16", container=SINGLE_DOSE, waste_value=Decimal(9)),
            ondansetron("A1", "17", container=SINGLE_DOSE, waste_value=Decimal(8)),
        ]
    )
    assert [(ln["units"], ln["modifiers"], ln["administrations"]) for ln in items.lines] == [
        (4, [], ["A1", "A2"]),  # 33 mg
        (1, ["JW"], ["A1", "A2"]),  # 17 mg
    ]
    jw = items.lines[1]
    assert jw["why"] == (
        "ondansetron 8 mg + 9 mg wasted from single-dose containers = 17 mg; given and wasted "
        "hold 50 mg, J2405 10 mg per unit: floor = 5, less 4 billed as given = 1 (JW)"
    )
    assert jw["rules"] == [r.DRUG_JW, r.DRUG_BILLING_UNITS, r.DRUG_DAY_TOTAL]
    assert items.findings == []


def test_a_jw_line_covers_only_the_administrations_that_wasted() -> None:
    items = encounter_drug_lines(
        [
            ondansetron("A1", "15", container=SINGLE_DOSE, waste_value=Decimal(15)),
            ondansetron("A2", "15", container=MULTI_DOSE),
        ]
    )
    assert [(ln["units"], ln["modifiers"], ln["administrations"]) for ln in items.lines] == [
        (3, [], ["A1", "A2"]),
        (1, ["JW"], ["A1"]),  # A1's vial held 30 mg: 3 units, 2 billed as given
    ]


@pytest.mark.parametrize(
    ("given_mg", "wasted_mg", "per_unit", "units", "jw"),
    [
        # MedLearn: 75 mg given of a 100 mg vial billed per 100 mg: one unit, no JW line.
        (75, 25, 100, 1, 0),
        # The Rheumatologist (ACR): 70 mg of a 100 mg vial per 10 mg: 7 units and 3 JW;
        # 77 mg: 8 units, and the 23 mg discarded rounded down, 2 JW.
        (70, 30, 10, 7, 3),
        (77, 23, 10, 8, 2),
        # 7 mg of a 10 mg vial per 10 mg: the whole unit billed as given, no JW line.
        (7, 3, 10, 1, 0),
    ],
)
def test_jw_units_never_bill_more_than_the_container_held(
    given_mg: int, wasted_mg: int, per_unit: int, units: int, jw: int
) -> None:
    """DRUG-JW-WASTE (CMS Claims Processing Manual ch. 17 §40: the discarded amount is paid
    "up to the amount ... indicated on the vial"): the dose rounded up, the waste's units what
    the container held in whole units less those."""
    items = encounter_drug_lines(
        [
            given(
                dose_value=Decimal(given_mg),
                waste_value=Decimal(wasted_mg),
                per_unit=Decimal(per_unit),
            )
        ]
    )
    assert [(ln["units"], ln["modifiers"]) for ln in items.lines] == [(units, [])] + (
        [(jw, ["JW"])] if jw else []
    )
    if not jw:
        assert "wasted: no JW unit" in items.lines[0]["why"]
        assert r.DRUG_JW in items.lines[0]["rules"]


def test_a_dose_in_mg_per_m2_is_not_charged_and_joins_no_group() -> None:
    items = encounter_drug_lines(
        [ondansetron("A1", "15"), ondansetron("A2", "8", dose_unit="mg/m2"), ondansetron("A3", "5")]
    )
    assert [(ln["units"], ln["administrations"]) for ln in items.lines] == [(2, ["A1", "A3"])]
    assert [(n["administration"], n["rules"]) for n in items.not_charged] == [("A2", ["DRUG-DOSE"])]


def test_findings_and_not_charged_entries_stay_one_per_administration() -> None:
    items = encounter_drug_lines(
        [
            ondansetron("A1", "15", container=""),
            ondansetron("A2", "15", container=""),
            ondansetron("A3", "1", dose_unit="mg/kg"),
            ondansetron("A4", "2", dose_unit="mg/kg"),
        ]
    )
    assert [f["administrations"] for f in items.findings] == [["A1"], ["A2"]]
    assert [n["administration"] for n in items.not_charged] == ["A3", "A4"]
    assert len(items.lines) == 1


def test_one_administration_reads_as_it_did_before_the_lines_were_grouped() -> None:
    one = given(waste_value=Decimal(20))
    assert encounter_drug_lines([one]) == drug_line_items(one)
    [line, waste] = drug_line_items(one).lines
    assert line["why"] == "paclitaxel 300 mg given; J9267 1 mg per unit: ceil = 300"
    assert waste["why"] == (
        "paclitaxel 20 mg wasted from a single-dose container; given and wasted hold 320 mg, "
        "J9267 1 mg per unit: floor = 320, less 300 billed as given = 20 (JW)"
    )


def test_administrations_are_taken_in_the_order_of_their_record_ids_a2_before_a10() -> None:
    items = encounter_drug_lines([ondansetron("A10", "4"), ondansetron("A2", "4")])
    assert items.lines[0]["administrations"] == ["A2", "A10"]


# Doses of one drug on a day or two, some single-dose with waste or JZ, some scanned.
administration = st.builds(
    lambda n, dose, day, ndc, waste, container: ondansetron(
        f"A{n}",
        str(dose),
        day=date(2026, 3, day),
        ndc=ndc,
        waste_value=waste,
        container=container,
    ),
    n=st.integers(min_value=1, max_value=10_000),
    dose=st.decimals(min_value=Decimal("0.5"), max_value=Decimal(500), places=1),
    day=st.integers(min_value=2, max_value=3),
    ndc=st.sampled_from(["", "00781305195", "00409400101"]),
    waste=st.sampled_from([None, Decimal(0), Decimal(3), Decimal("12.5")]),
    container=st.sampled_from([SINGLE_DOSE, MULTI_DOSE, ""]),
)


@for_all(st.lists(administration, max_size=8, unique_by=lambda g: g.administration), st.randoms())
def test_drug_lines_do_not_depend_on_the_order_and_never_bill_more_than_dose_by_dose(
    doses: list[DrugGiven], rng: random.Random
) -> None:
    """Each line's units are ceil(total / per unit) of the doses it covers, never more than the
    administrations' units one by one; every dosed administration is on exactly one dose line;
    shuffling the administrations changes nothing."""
    items = encounter_drug_lines(doses)
    shuffled = list(doses)
    rng.shuffle(shuffled)
    assert encounter_drug_lines(shuffled) == items
    by_id = {g.administration: g for g in doses}
    dose_lines = [ln for ln in items.lines if ln["modifiers"] != ["JW"]]
    covered = [i for ln in dose_lines for i in ln["administrations"]]
    assert sorted(covered) == sorted(by_id)
    for line in items.lines:
        covered_doses = [by_id[i] for i in line["administrations"]]
        if line["modifiers"] == ["JW"]:
            # DRUG-JW-WASTE: what the containers held in whole units, less the given units.
            wasted = sum(g.waste_value or Decimal(0) for g in covered_doses)
            drawn = sum(g.dose_value for g in covered_doses)
            held = math.floor((drawn + wasted) / 10)
            assert line["units"] == held - max(1, math.ceil(drawn / 10)) > 0
            assert line["units"] <= math.ceil(wasted / 10)
            continue
        amounts = [g.dose_value for g in covered_doses]
        assert line["units"] == max(1, math.ceil(sum(amounts) / 10))
        assert line["units"] <= sum(max(1, math.ceil(a / 10)) for a in amounts)
        assert len({(g.day, g.ndc) for g in covered_doses}) == 1
