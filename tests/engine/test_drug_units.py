"""HCPCS drug units and JW/JZ (engine `drug_units.py`): units = ceil(dose / billing unit) after
conversion; JW waste lines, JZ for none, for single-dose containers only (CMS JW/JZ policy)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from coding.engine.drug_units import (
    MULTI_DOSE,
    SINGLE_DOSE,
    DrugGiven,
    UnitMismatch,
    amount_convert,
    billing_units,
    drug_line_items,
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
