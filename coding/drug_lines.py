"""HCPCS drug lines: the drug supplied, beside the engine's administration codes.

For each administration with a charted dose whose drug has a HCPCS code and a billing unit in the
formulary, one line with units = ceil(dose / billing unit) (never 0). Waste (CMS JW/JZ policy,
which applies only to drugs from single-dose containers) follows the formulary's `Drug.container`:

- single-dose: when the nurse charted an amount wasted, a second line for it with modifier JW;
  when she charted that nothing was wasted (waste 0), modifier JZ on the administered line; when
  waste was not charted, no modifier and a DRUG-WASTE finding (info) for the coder.
- multi-dose: never JW or JZ; charted waste is not billed, and a DRUG-WASTE finding (info) says so.
- not stated: never JW or JZ (single-dose cannot be claimed), and a DRUG-WASTE finding (info) per
  administration asks for the pharmacist to state the container.

Which administration codes to charge is the engine's business (coding/engine); the drug units
are plain arithmetic on the formulary and stay here, stored as lines of the same run after the
engine's (positions from DRUG_LINE_POSITION_BASE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coding.models import ChargeFinding, ChargeLine, ChargeRun
from mar.models import Administration, Drug

DRUG_LINE_POSITION_BASE = 1000

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


@dataclass
class DrugLines:
    lines: list[dict[str, object]] = field(default_factory=list)
    findings: list[dict[str, object]] = field(default_factory=list)


def _amount_label(value: Decimal, unit: str) -> str:
    return f"{value.normalize():f} {unit}".strip()


def _waste_note(drug: Drug, adm: Administration) -> str | None:
    """The coder's note on the waste of a drug not known to come in a single-dose container."""
    if drug.container == Drug.Container.MULTI_DOSE:
        if adm.waste_value is None or adm.waste_value <= 0:
            return None
        wasted = _amount_label(adm.waste_value, adm.waste_unit or adm.dose_unit)
        return (
            f"{drug.name}: {wasted} wasted from a multi-dose container is not billed "
            "(JW and JZ are for single-dose containers only)"
        )
    return (
        f"{drug.name}: the formulary does not say whether it comes in a single-dose container, "
        "so JW/JZ cannot be applied; the pharmacist should state the container"
    )


def drug_lines_compute(administrations: list[Administration], zone_name: str) -> DrugLines:
    """The drug lines and the notes for administrations that could not be billed as drug units."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    out = DrugLines()
    for adm in sorted(administrations, key=lambda a: (a.start, a.pk)):
        if adm.dose_value is None:
            continue
        drug = adm.drug
        record_id = f"A{adm.pk}"
        if not drug.hcpcs_code or not drug.billing_unit_amount:
            continue  # fluids and drugs billed in the pharmacy's own way: no HCPCS unit here
        label = f"{drug.hcpcs_code} {drug.billing_unit_label}"
        day = adm.start.astimezone(zone).date()
        try:
            units = billing_units(
                adm.dose_value, adm.dose_unit, drug.billing_unit_amount, drug.billing_unit
            )
        except UnitMismatch as exc:
            out.findings.append(
                {
                    "rule": "DRUG-UNIT",
                    "severity": "error",
                    "administrations": [record_id],
                    "message": f"{drug.name}: dose {_amount_label(adm.dose_value, adm.dose_unit)}"
                    f" cannot be billed in {label}: {exc}",
                    "field": "dose_unit",
                }
            )
            continue
        if units == 0:
            continue
        given = _amount_label(adm.dose_value, adm.dose_unit)
        why = f"{drug.name} {given} given; {label} per unit: ceil = {units}"
        modifiers: list[str] = []
        waste_line = None
        if drug.container != Drug.Container.SINGLE_DOSE:
            # JW and JZ are for single-dose containers only: none here, at most a note.
            note = _waste_note(drug, adm)
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
        elif adm.waste_value is None:
            out.findings.append(
                {
                    "rule": "DRUG-WASTE",
                    "severity": "info",
                    "administrations": [record_id],
                    "message": f"{drug.name}: no waste charted (JW for an amount wasted, JZ for "
                    "none) for a single-dose container",
                    "field": "waste_value",
                }
            )
        elif adm.waste_value == 0:
            modifiers = ["JZ"]
            why += "; no waste charted (JZ)"
        else:
            waste_unit = adm.waste_unit or adm.dose_unit
            try:
                wasted = billing_units(
                    adm.waste_value, waste_unit, drug.billing_unit_amount, drug.billing_unit
                )
            except UnitMismatch as exc:
                out.findings.append(
                    {
                        "rule": "DRUG-UNIT",
                        "severity": "error",
                        "administrations": [record_id],
                        "message": f"{drug.name}: waste cannot be billed in {label}: {exc}",
                        "field": "waste_unit",
                    }
                )
            else:
                waste_label = _amount_label(adm.waste_value, waste_unit)
                waste_line = {
                    "code": drug.hcpcs_code,
                    "units": wasted,
                    "modifiers": ["JW"],
                    "date": day,
                    "administrations": [record_id],
                    "why": f"{drug.name} {waste_label} wasted from a single-dose container; "
                    f"{label} per unit: ceil = {wasted} (JW)",
                }
        out.lines.append(
            {
                "code": drug.hcpcs_code,
                "units": units,
                "modifiers": modifiers,
                "date": day,
                "administrations": [record_id],
                "why": why,
            }
        )
        if waste_line is not None:
            out.lines.append(waste_line)
    return out


def drug_billing(drug: Drug) -> dict[str, str]:
    """The formulary's data the drug lines read: a change to any of it changes the lines."""
    return {
        "hcpcs": drug.hcpcs_code,
        "billing_unit": drug.billing_unit_label,
        "container": drug.container,
    }


def drug_line_inputs(administrations: list[Administration]) -> dict[str, dict[str, str]]:
    """What the drug lines are computed from, per administration with a dose: compared with the
    current run's, so a change to waste or to the formulary's billing data alone makes a new run."""
    return {
        f"A{adm.pk}": {
            **drug_billing(adm.drug),
            "dose": _amount_label(adm.dose_value, adm.dose_unit),
            "waste": "" if adm.waste_value is None else _amount_label(
                adm.waste_value, adm.waste_unit or adm.dose_unit
            ),
        }
        for adm in sorted(administrations, key=lambda a: a.pk)
        if adm.dose_value is not None
    }  # fmt: skip


def drug_lines_store(*, run: ChargeRun) -> DrugLines:
    """Add the run's drug lines (and drug findings) after the engine's, from the record's rows."""
    administrations = list(
        Administration.objects.filter(encounter_id=run.encounter_id).select_related("drug")
    )
    computed = drug_lines_compute(administrations, run.encounter.timezone)
    ChargeLine.objects.bulk_create(
        ChargeLine(run=run, position=DRUG_LINE_POSITION_BASE + n, **line)  # type: ignore[arg-type]
        for n, line in enumerate(computed.lines)
    )
    ChargeFinding.objects.bulk_create(
        ChargeFinding(run=run, position=DRUG_LINE_POSITION_BASE + n, **finding)  # type: ignore[arg-type]
        for n, finding in enumerate(computed.findings)
    )
    return computed


def is_drug_line(line: ChargeLine) -> bool:
    return line.position >= DRUG_LINE_POSITION_BASE
