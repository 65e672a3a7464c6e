"""HCPCS drug units and the JW/JZ waste modifiers: the arithmetic of the drug lines, as plain data.

`encounter_drug_lines(given)` takes every administration of an encounter with a charted dose
whose drug has a HCPCS code and a billing unit, and makes ONE line per HCPCS code, date of
service (`day`), billing unit, modifier (JZ or none) and NDC scanned at the bedside: the doses
of the line's administrations are converted to the billing unit (g/mg/mcg, L/mL, units) and
summed, and the line's units are ceil(total / billing unit), never 0 (DRUG-DAY-TOTAL, named on
a line that sums more than one administration; CMS and the MACs: the units of a code on a date
of service on one line, the total rounded up once, not each dose). So 15 mg then 15 mg of a
drug billed per 10 mg on one day is one line of ceil(30 / 10) = 3 units, not 2 + 2.
`drug_line_items(given)` is the same for one administration.

Waste (CMS JW/JZ policy, which applies only to drugs from single-dose containers) follows the
formulary's container:

- single-dose: when the nurse charted an amount wasted, a line for it with modifier JW, the
  wasted amounts of the group summed likewise (one JW line per code, day, billing unit and
  NDC), its units what the containers held in whole units (given + wasted, rounded down) less
  the units billed as given (rounded up), and no JW line when that is 0 (CMS pays the
  discarded amount "up to the amount ... on the vial": `discarded_units`); when she charted
  that nothing was wasted (waste 0), modifier JZ on the administered line (so an
  administration with JZ and one without are on separate lines); when waste was not charted,
  no modifier and a DRUG-WASTE finding (info) for the coder.
- multi-dose: never JW or JZ; charted waste is not billed, and a DRUG-WASTE finding (info) says so.
- not stated: never JW or JZ (single-dose cannot be claimed), and a DRUG-WASTE finding (info) per
  administration asks for the pharmacist to state the container, except for a hydration fluid
  (`packaged`): packaged under OPPS, not separately payable, so outside the JW/JZ policy (CMS,
  "JW and JZ modifier policy" FAQ: the policy applies to drugs separately payable under Part B).

The findings (DRUG-WASTE, DRUG-UNIT) and the not-charged entries (DRUG-DOSE) stay one per
administration. A dose whose unit cannot become the billing unit (mg/m2, mg/kg, AUC: as
ordered, not as given) makes no line and joins no group: a not-charged entry (DRUG-DOSE, as is
a dose not charted); the finding is the engine's DRUG-DOSE check on the record (checks.py). A
waste amount in such a unit is a DRUG-UNIT finding (error), and the administered dose is still
billed. The output does not depend on the order of `given`: the administrations are taken by
day, then by record id (A2 before A10). The database reads and writes stay in
`coding/drug_lines.py`, which calls `encounter_drug_lines` once per encounter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
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


def units_of(amount: Decimal, per_unit: Decimal) -> int:
    """ceil(amount / per_unit) for an amount in the billing unit; at least 1 for any positive
    amount, 0 for none."""
    units = int((amount / per_unit).to_integral_value(rounding=ROUND_CEILING))
    return max(units, 1) if amount > 0 else 0


def discarded_units(given: Decimal, wasted: Decimal, per_unit: Decimal) -> int:
    """The JW units of `wasted` from containers `given` was drawn from (both in the billing
    unit): what given and wasted together hold in whole units, less the units the given amount
    is billed (rounded up): floor((given + wasted) / per_unit) - ceil(given / per_unit), never
    below 0. So the units billed, given and discarded, never exceed what the containers held
    (CMS: the discarded amount is paid "up to the amount ... indicated on the vial")."""
    held = int(((given + wasted) / per_unit).to_integral_value(rounding=ROUND_FLOOR))
    return max(held - units_of(given, per_unit), 0)


def billing_units(value: Decimal, unit: str, per_unit: Decimal, billing_unit: str) -> int:
    """ceil(value / per_unit) after conversion; at least 1 for any positive amount."""
    return units_of(amount_convert(value, unit, billing_unit), per_unit)


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
    ndc: str = ""  # the 11-digit NDC scanned at the bedside, "" when none
    # A hydration fluid: packaged under OPPS (status indicator N), not separately payable, so
    # the JW/JZ policy does not ask its container (no DRUG-WASTE note when none is stated).
    packaged: bool = False


@dataclass(slots=True)
class DrugLineItems:
    lines: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    # {administration, reason, rules}: its drug line was not made (DRUG-DOSE). The finding is
    # the engine's check on the record (checks.py), which the bedside shows before signing.
    not_charged: list[dict[str, Any]] = field(default_factory=list)


def dose_missing(
    administration: str, drug: str, hcpcs: str, billing_unit_label: str
) -> dict[str, Any]:
    """The not-charged entry of a drug line with no charted dose (DRUG-DOSE)."""
    return {
        "administration": administration,
        "reason": f"{drug}: no drug charge: dose missing ({hcpcs} per {billing_unit_label})",
        "rules": ["DRUG-DOSE"],
    }


def _waste_note(given: DrugGiven) -> str | None:
    """The coder's note on the waste of a drug not known to come in a single-dose container."""
    if given.container != MULTI_DOSE and given.packaged:
        return None  # JW/JZ apply to separately payable drugs only (CMS JW/JZ FAQ)
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


def _id_order(record_id: str) -> tuple[str, int, str]:
    """Record ids in their numeric order: A2 before A10."""
    head = record_id.rstrip("0123456789")
    digits = record_id[len(head) :]
    return (head, int(digits) if digits else -1, record_id)


def _given_order(given: DrugGiven) -> tuple[date, tuple[str, int, str]]:
    return (given.day, _id_order(given.administration))


# A drug line's group: HCPCS code, day, billing unit, per unit, modifiers, NDC.
GroupKey = tuple[str, date, str, Decimal, tuple[str, ...], str]


class _Group:
    """The administrations one drug line covers and their amounts in the billing unit."""

    def __init__(self, first: DrugGiven) -> None:
        self.first = first
        self.ids: list[str] = []
        self.words: list[tuple[str, str]] = []  # (drug, the amount as charted)
        self.amounts_in_unit: list[Decimal] = []  # each one's amount in the billing unit
        self.total = Decimal(0)

    def add(self, given: DrugGiven, words: str, amount: Decimal) -> None:
        self.ids.append(given.administration)
        self.words.append((given.drug, words))
        self.amounts_in_unit.append(amount)
        self.total += amount

    def units(self) -> int:
        return units_of(self.total, self.first.per_unit)

    def amounts(self) -> str:
        """'ondansetron 4 mg' or 'ondansetron 4 mg + 4 mg' (each drug named when they differ)."""
        drugs = {drug for drug, _ in self.words}
        if len(drugs) == 1:
            return f"{self.words[0][0]} " + " + ".join(words for _, words in self.words)
        return " + ".join(f"{drug} {words}" for drug, words in self.words)

    def summed(self) -> str:
        """'' for one administration, else ' = 8 mg': the total in the billing unit."""
        if len(self.ids) == 1:
            return ""
        return f" = {amount_label(self.total, self.first.billing_unit)}"


def _finding(
    given: DrugGiven, rule: str, severity: str, message: str, field: str
) -> dict[str, Any]:
    return {
        "rule": rule,
        "severity": severity,
        "administrations": [given.administration],
        "message": message,
        "field": field,
    }


def _waste(given: DrugGiven, out: DrugLineItems) -> tuple[tuple[str, ...], Decimal | None]:
    """The modifiers of this administration's line (JZ or none) and the amount wasted in the
    billing unit for a JW line (None: no JW line); its DRUG-WASTE/DRUG-UNIT findings to `out`."""
    label = f"{given.hcpcs} {given.billing_unit_label}"
    if given.container != SINGLE_DOSE:
        # JW and JZ are for single-dose containers only: none here, at most a note.
        note = _waste_note(given)
        if note is not None:
            out.findings.append(_finding(given, "DRUG-WASTE", "info", note, "waste_value"))
        return (), None
    if given.waste_value is None:
        message = (
            f"{given.drug}: no waste charted (JW for an amount wasted, JZ for none) for a "
            "single-dose container"
        )
        out.findings.append(_finding(given, "DRUG-WASTE", "info", message, "waste_value"))
        return (), None
    if given.waste_value == 0:
        return ("JZ",), None
    waste_unit = given.waste_unit or given.dose_unit
    try:
        wasted = amount_convert(given.waste_value, waste_unit, given.billing_unit)
    except UnitMismatch as exc:
        message = f"{given.drug}: waste cannot be billed in {label}: {exc}"
        out.findings.append(_finding(given, "DRUG-UNIT", "error", message, "waste_unit"))
        return (), None
    return (), wasted if wasted > 0 else None


def _line(
    group: _Group, modifiers: list[str], why: str, rules: list[str], units: int | None = None
) -> dict[str, Any]:
    if len(group.ids) > 1:
        rules.append(r.DRUG_DAY_TOTAL)
    return {
        "code": group.first.hcpcs,
        "units": group.units() if units is None else units,
        "modifiers": modifiers,
        "date": group.first.day,
        "administrations": list(group.ids),
        "why": why,
        "rules": rules,
    }


def encounter_drug_lines(given: Iterable[DrugGiven]) -> DrugLineItems:
    """The drug lines of an encounter's administrations: one per HCPCS code, day, billing unit,
    modifier and scanned NDC with the day's total units (and one JW line per group for the
    amounts wasted); the findings and not-charged entries one per administration."""
    out = DrugLineItems()
    dosed: dict[GroupKey, _Group] = {}
    wasted: dict[GroupKey, _Group] = {}
    for item in sorted(given, key=_given_order):
        try:
            amount = amount_convert(item.dose_value, item.dose_unit, item.billing_unit)
        except UnitMismatch as exc:
            out.not_charged.append(
                {
                    "administration": item.administration,
                    "reason": f"{item.drug}: no drug charge: dose "
                    f"{amount_label(item.dose_value, item.dose_unit)}: the unit cannot be billed "
                    f"in {item.hcpcs} {item.billing_unit_label} ({exc})",
                    "rules": ["DRUG-DOSE"],
                }
            )
            continue
        if amount <= 0:
            continue
        modifiers, waste = _waste(item, out)
        unit = unit_normal(item.billing_unit)
        key: GroupKey = (item.hcpcs, item.day, unit, item.per_unit, modifiers, item.ndc)
        group = dosed.get(key)
        if group is None:
            group = dosed[key] = _Group(item)
        group.add(item, amount_label(item.dose_value, item.dose_unit), amount)
        if waste is not None:
            waste_key: GroupKey = (item.hcpcs, item.day, unit, item.per_unit, ("JW",), item.ndc)
            waste_group = wasted.get(waste_key)
            if waste_group is None:
                waste_group = wasted[waste_key] = _Group(item)
            words = amount_label(item.waste_value or Decimal(0), item.waste_unit or item.dose_unit)
            waste_group.add(item, words, waste)
    for key, group in dosed.items():
        label = f"{group.first.hcpcs} {group.first.billing_unit_label}"
        why = f"{group.amounts()} given{group.summed()}; {label} per unit: ceil = {group.units()}"
        rules = [r.DRUG_BILLING_UNITS]
        if key[4] == ("JZ",):
            why += "; no waste charted (JZ)"
        out.lines.append(_line(group, list(key[4]), why, rules))
        if key[4] == ("JZ",):
            out.lines[-1]["rules"].append(r.DRUG_JZ)
            continue
        waste_group = wasted.get((key[0], key[1], key[2], key[3], ("JW",), key[5]))
        if waste_group is None:
            continue
        containers = (
            "a single-dose container" if len(waste_group.ids) == 1 else ("single-dose containers")
        )
        # The given amount drawn from the same containers: the group's administrations that
        # charted the waste (others on the line may not have).
        drawn = sum(
            (
                amount
                for amount, adm in zip(group.amounts_in_unit, group.ids, strict=True)
                if adm in waste_group.ids
            ),
            Decimal(0),
        )
        jw = discarded_units(drawn, waste_group.total, group.first.per_unit)
        held = amount_label(drawn + waste_group.total, group.first.billing_unit)
        given_units = units_of(drawn, group.first.per_unit)
        if jw == 0:
            out.lines[-1]["why"] += (
                f"; {waste_group.amounts()} wasted: no JW unit (given and wasted hold {held}, "
                f"{given_units} unit{'s' if given_units != 1 else ''} already billed as given)"
            )
            out.lines[-1]["rules"].append(r.DRUG_JW)
            continue
        why = (
            f"{waste_group.amounts()} wasted from {containers}{waste_group.summed()}; "
            f"given and wasted hold {held}, {label} per unit: floor = "
            f"{given_units + jw}, less {given_units} billed as given = {jw} (JW)"
        )
        out.lines.append(
            _line(waste_group, ["JW"], why, [r.DRUG_JW, r.DRUG_BILLING_UNITS], units=jw)
        )
    return out


def drug_line_items(given: DrugGiven) -> DrugLineItems:
    """The drug line(s) of one administration and the findings about its units and waste."""
    return encounter_drug_lines([given])
