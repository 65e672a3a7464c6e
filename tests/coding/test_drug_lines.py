"""HCPCS drug lines: units = ceil(dose / billing unit), converted; JW waste lines, JZ for none."""

from decimal import Decimal

import pytest

from coding.drug_lines import (
    DRUG_LINE_POSITION_BASE,
    UnitMismatch,
    amount_convert,
    billing_units,
)
from coding.models import ChargeFinding, ChargeLine
from mar.models import Administration
from tests.coding.review_helpers import addendum_for_test, reviewed


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
def test_billing_units_round_up_after_conversion(value, unit, per, billing_unit, expected) -> None:  # type: ignore[no-untyped-def]
    assert billing_units(Decimal(value), unit, Decimal(per), billing_unit) == expected


def test_mass_and_units_do_not_convert() -> None:
    with pytest.raises(UnitMismatch):
        amount_convert(Decimal(10), "mL", "mg")
    with pytest.raises(UnitMismatch):
        amount_convert(Decimal(10), "units", "mg")


@pytest.mark.django_db
def test_a_drug_with_a_dose_gets_its_hcpcs_line_after_the_engine_lines() -> None:
    _, run, _ = reviewed(billable=True, waste=None)
    line = run.lines.get(code="J9267")
    assert line.position >= DRUG_LINE_POSITION_BASE
    assert line.units == 300  # 300 mg at 1 mg per unit
    assert line.modifiers == []
    adm = Administration.objects.get(encounter=run.encounter, drug__name="paclitaxel")
    assert line.administrations == [f"A{adm.pk}"]
    assert line.date.isoformat() == "2026-03-02"
    assert "ceil" in line.why
    # Waste not charted: the coder is told.
    assert run.findings.filter(rule="DRUG-WASTE").exists()


@pytest.mark.django_db
def test_no_waste_charted_as_zero_gets_jz() -> None:
    _, run, _ = reviewed(billable=True, waste=Decimal(0))
    assert list(run.lines.filter(code="J9267").values_list("modifiers", flat=True)) == [["JZ"]]
    assert not run.findings.filter(rule="DRUG-WASTE").exists()


@pytest.mark.django_db
def test_charted_waste_gets_its_own_jw_line() -> None:
    _, run, _ = reviewed(billable=True, waste=Decimal("20.5"))
    lines = list(run.lines.filter(code="J9267").order_by("position"))
    assert [(line.units, line.modifiers) for line in lines] == [(300, []), (21, ["JW"])]


@pytest.mark.django_db
def test_a_dose_in_a_unit_that_cannot_be_billed_is_a_finding_not_a_line() -> None:
    encounter, _, _ = reviewed(billable=True)
    addendum_for_test(encounter)
    Administration.objects.filter(encounter=encounter, drug__name="paclitaxel").update(
        dose_unit="mL", stop=None
    )
    from coding.services import charge_run_generate

    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger="manual")
    assert not ChargeLine.objects.filter(run=run, code="J9267").exists()
    finding = ChargeFinding.objects.get(run=run, rule="DRUG-UNIT")
    assert "mL" in finding.message


@pytest.mark.django_db
def test_drugs_without_hcpcs_or_dose_get_no_line() -> None:
    _, run, _ = reviewed()  # no HCPCS in the test formulary
    assert not run.lines.filter(position__gte=DRUG_LINE_POSITION_BASE).exists()
