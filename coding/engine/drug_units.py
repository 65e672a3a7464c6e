"""HCPCS drug units and the JW/JZ waste modifiers: the arithmetic of a drug line, as plain data.

For an administration with a charted dose whose drug has a HCPCS code and a billing unit, one
line with units = ceil(dose / billing unit) after g/mg/mcg, L/mL and units conversion (never 0).
Waste (CMS JW/JZ policy, which applies only to drugs from single-dose containers) follows the
formulary's container:

- single-dose: when the nurse charted an amount wasted, a second line for it with modifier JW;
  when she charted that nothing was wasted (waste 0), modifier JZ on the administered line; when
  waste was not charted, no modifier and a DRUG-WASTE finding (info) for the coder.
- multi-dose: never JW or JZ; charted waste is not billed, and a DRUG-WASTE finding (info) says so.
- not stated: never JW or JZ (single-dose cannot be claimed), and a DRUG-WASTE finding (info) per
  administration asks for the pharmacist to state the container.

A dose whose unit cannot become the billing unit is a DRUG-UNIT finding (error). The database
reads and writes stay in `coding/drug_lines.py`, which calls `drug_line_items` per administration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Any

from . import rules as r

SINGLE_DOSE = "single_dose"
MULTI_DOSE = "multi_dose"

# Each unit in terms of the base unit of its dimension.
_MASS = {"g": Decimal(1_000_000), "mg": Decimal(1000), "mcg": Decimal(1)}
_UNIT_ALIASES = {
    "gram": "g",
    "grams": "g",
    "gm": "g",
    "milligram": "mg",
    "milligrams": "mg",
    "microgram": "mcg",
    "micrograms": "mcg",
    "ug": "mcg",
    "µg": "mcg",
    "μg": "mcg",
    "unit": "units",
    "u": "units",
    "iu": "units",
    "international units": "units",
    "ml": "ml",
    "millilitre": "ml",
    "milliliter": "ml",
    "l": "l",
}
_VOLUME = {"l": Decimal(1000), "ml": Decimal(1)}


class UnitMismatch(ValueError):
    pass


def unit_normal(unit: str) -> str:
    key = unit.strip().lower()
    return _UNIT_ALIASES.get(key, key)


def amount_convert(value: Decimal, unit: str, to_unit: str) -> Decimal:
    """`value` `unit` expressed in `to_unit`; mass (g/mg/mcg), volume (L/mL) and units."""
    source, target = unit_normal(unit), unit_normal(to_unit)
    if source == target:
        return value
    for table in (_MASS, _VOLUME):
        if source in table and target in table:
            return value * table[source] / table[target]
    raise UnitMismatch(f"cannot convert {unit or 'no unit'} to {to_unit or 'no unit'}")


def billing_units(value: Decimal, unit: str, per_unit: Decimal, billing_unit: str) -> int:
    """ceil(value / per_unit) after conversion; at least 1 for any positive amount."""
    amount = amount_convert(value, unit, billing_unit)
    units = int((amount / per_unit).to_integral_value(rounding=ROUND_CEILING))
    return max(units, 1) if amount > 0 else 0


def amount_label(value: Decimal, unit: str) -> str:
    return f"{value.normalize():f} {unit}".strip()


@dataclass(frozen=True, slots=True)
class DrugGiven:
    """What one administration's drug line is computed from: the chart and the formulary."""

    administration: str  # the record id, "A12"
    day: date  # the local date of its start
    drug: str
    hcpcs: str
    billing_unit_label: str  # "J9045 10 mg"-style words for the reason
    per_unit: Decimal
    billing_unit: str
    container: str  # SINGLE_DOSE, MULTI_DOSE or "" (not stated)
    dose_value: Decimal
    dose_unit: str
    waste_value: Decimal | None = None
    waste_unit: str = ""


@dataclass(slots=True)
class DrugLineItems:
    lines: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def _waste_note(given: DrugGiven) -> str | None:
    """The coder's note on the waste of a drug not known to come in a single-dose container."""
    if given.container == MULTI_DOSE:
        if given.waste_value is None or given.waste_value <= 0:
            return None
        wasted = amount_label(given.waste_value, given.waste_unit or given.dose_unit)
        return (
            f"{given.drug}: {wasted} wasted from a multi-dose container is not billed "
            "(JW and JZ are for single-dose containers only)"
        )
    return (
        f"{given.drug}: the formulary does not say whether it comes in a single-dose container, "
        "so JW/JZ cannot be applied; the pharmacist should state the container"
    )


def drug_line_items(given: DrugGiven) -> DrugLineItems:
    """The drug line(s) of one administration and the findings about its units and waste."""
    out = DrugLineItems()
    record_id = given.administration
    label = f"{given.hcpcs} {given.billing_unit_label}"
    try:
        units = billing_units(given.dose_value, given.dose_unit, given.per_unit, given.billing_unit)
    except UnitMismatch as exc:
        out.findings.append(
            {
                "rule": "DRUG-UNIT",
                "severity": "error",
                "administrations": [record_id],
                "message": f"{given.drug}: dose {amount_label(given.dose_value, given.dose_unit)}"
                f" cannot be billed in {label}: {exc}",
                "field": "dose_unit",
            }
        )
        return out
    if units == 0:
        return out
    given_words = amount_label(given.dose_value, given.dose_unit)
    why = f"{given.drug} {given_words} given; {label} per unit: ceil = {units}"
    modifiers: list[str] = []
    applied = [r.DRUG_BILLING_UNITS]
    waste_line = None
    if given.container != SINGLE_DOSE:
        # JW and JZ are for single-dose containers only: none here, at most a note.
        note = _waste_note(given)
        if note is not None:
            out.findings.append(
                {
                    "rule": "DRUG-WASTE",
                    "severity": "info",
                    "administrations": [record_id],
                    "message": note,
                    "field": "waste_value",
                }
            )
    elif given.waste_value is None:
        out.findings.append(
            {
                "rule": "DRUG-WASTE",
                "severity": "info",
                "administrations": [record_id],
                "message": f"{given.drug}: no waste charted (JW for an amount wasted, JZ for "
                "none) for a single-dose container",
                "field": "waste_value",
            }
        )
    elif given.waste_value == 0:
        modifiers = ["JZ"]
        applied.append(r.DRUG_JZ)
        why += "; no waste charted (JZ)"
    else:
        waste_unit = given.waste_unit or given.dose_unit
        try:
            wasted = billing_units(
                given.waste_value, waste_unit, given.per_unit, given.billing_unit
            )
        except UnitMismatch as exc:
            out.findings.append(
                {
                    "rule": "DRUG-UNIT",
                    "severity": "error",
                    "administrations": [record_id],
                    "message": f"{given.drug}: waste cannot be billed in {label}: {exc}",
                    "field": "waste_unit",
                }
            )
        else:
            waste_label = amount_label(given.waste_value, waste_unit)
            waste_line = {
                "code": given.hcpcs,
                "units": wasted,
                "modifiers": ["JW"],
                "date": given.day,
                "administrations": [record_id],
                "why": f"{given.drug} {waste_label} wasted from a single-dose container; "
                f"{label} per unit: ceil = {wasted} (JW)",
                "rules": [r.DRUG_JW, r.DRUG_BILLING_UNITS],
            }
    out.lines.append(
        {
            "code": given.hcpcs,
            "units": units,
            "modifiers": modifiers,
            "date": given.day,
            "administrations": [record_id],
            "why": why,
            "rules": applied,
        }
    )
    if waste_line is not None:
        out.lines.append(waste_line)
    return out
