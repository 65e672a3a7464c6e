"""The dose and unit checks a pharmacy system makes on an order: warnings a person confirms, never
a refusal (clinicians sometimes order unusually).

- DOSE-UNIT: the dose's unit is of the kind the drug is dosed in: a hydration fluid by volume (mL,
  L); any other drug by the dimension of its billing unit (Drug.billing_unit: mass mg/g/mcg,
  volume mL/L, units, mEq, mmol). A mass-billed drug dosed in mL is warned too: the order has
  no concentration to turn the volume into the amount of drug.
- DOSE-RATE: the rate's unit fits the drug: a hydration fluid runs by volume (mL/h); another
  drug by volume (its bag) or by the kind it is dosed in (mg/h for a mass drug, units/h...).
- DOSE-MAX: a fixed dose above the formulary's maximum single dose (Drug.max_dose_amount and
  Drug.max_dose_unit, kept by the pharmacist). A calculated dose (per kg, per m², AUC) is not
  compared: the maximum is an amount.

Said at order entry beside the field (mar/registration/services.py `order_dose_problems`, the
confirm recorded as a SafetyOverride of kind "dose"), and to the pharmacist on the queue and the
review page for every order, an interface's included (`order_dose_warnings`).
"""

from __future__ import annotations

from decimal import Decimal

from coding.engine.drug_units import UnitMismatch, amount_convert
from mar.models import DoseBasis, Drug, DrugClass, Order

MASS, VOLUME, UNITS, MEQ, MMOL = "mass", "volume", "units", "mEq", "mmol"

# The dimension of each dose unit (as typed or billed; case-insensitive).
_DIMENSIONS = {
    "mg": MASS,
    "g": MASS,
    "gm": MASS,
    "mcg": MASS,
    "ml": VOLUME,
    "l": VOLUME,
    "units": UNITS,
    "unit": UNITS,
    "international units": UNITS,
    "iu": UNITS,
    "meq": MEQ,
    "mmol": MMOL,
}

# What each kind is said as, to the person entering the order.
_KIND_WORDS = {
    MASS: "a mass (mg, g or mcg)",
    VOLUME: "a volume (mL or L)",
    UNITS: "units",
    MEQ: "mEq",
    MMOL: "mmol",
}


def unit_dimension(unit: str) -> str:
    """The dimension of a dose unit ('mg' -> mass, 'mL' -> volume); '' when not known."""
    return _DIMENSIONS.get(unit.strip().lower(), "")


def rate_dimension(unit: str) -> str:
    """The dimension of a rate unit's amount ('mL/h' -> volume, 'mcg/min' -> mass)."""
    return unit_dimension(unit.split("/", 1)[0])


def drug_dimension(drug: Drug) -> str:
    """The kind of unit the drug is dosed in: volume for a hydration fluid, else its billing
    unit's dimension; '' when the formulary does not say (no check then)."""
    if drug.drug_class == DrugClass.HYDRATION:
        return VOLUME
    return unit_dimension(drug.billing_unit)


def dose_unit_warning(drug: Drug, dose_unit: str, dose_basis: str = "") -> str:
    """DOSE-UNIT: the dose's unit is not of the kind the drug is dosed in; '' when it is (or
    when either is not known, or the dose is an AUC)."""
    if dose_basis == DoseBasis.AUC:
        return ""
    expected, given = drug_dimension(drug), unit_dimension(dose_unit)
    if not expected or not given or expected == given:
        return ""
    if drug.drug_class == DrugClass.HYDRATION:
        return (
            f"{drug.name} is a hydration fluid, dosed as {_KIND_WORDS[VOLUME]}: "
            f"a dose in {dose_unit.strip()} is {_KIND_WORDS[given]}. Check the unit."
        )
    if given == VOLUME:
        return (
            f"{drug.name} is dosed as {_KIND_WORDS[expected]} (billed per "
            f"{drug.billing_unit_label}): a dose in {dose_unit.strip()} gives no amount of drug "
            "without its concentration. Give the dose as the amount of drug."
        )
    return (
        f"{drug.name} is dosed as {_KIND_WORDS[expected]} (billed per {drug.billing_unit_label}):"
        f" a dose in {dose_unit.strip()} is {_KIND_WORDS[given]}. Check the unit."
    )


def rate_unit_warning(drug: Drug, rate_unit: str) -> str:
    """DOSE-RATE: the rate's unit does not fit the drug; '' when it does or is not known."""
    expected, given = drug_dimension(drug), rate_dimension(rate_unit)
    if not expected or not given or given in {expected, VOLUME}:
        return ""
    if drug.drug_class == DrugClass.HYDRATION:
        return (
            f"{drug.name} is a hydration fluid: its rate is a volume over time (mL/h), "
            f"not {rate_unit.strip()}. Check the rate's unit."
        )
    return (
        f"{drug.name} is dosed as {_KIND_WORDS[expected]}: its rate is mL/h or "
        f"{_KIND_WORDS[expected]} over time, not {rate_unit.strip()}. Check the rate's unit."
    )


def max_dose_label(drug: Drug) -> str:
    """'16 mg': the formulary's maximum single dose; '' when none is kept."""
    if drug.max_dose_amount is None or not drug.max_dose_unit:
        return ""
    return f"{drug.max_dose_amount.normalize():f} {drug.max_dose_unit}"


def max_dose_warning(
    drug: Drug, dose_value: Decimal | None, dose_unit: str, dose_basis: str = ""
) -> str:
    """DOSE-MAX: a fixed dose above the formulary's maximum single dose; '' otherwise (no
    maximum kept, a calculated dose, a unit that cannot be compared: DOSE-UNIT says that)."""
    limit = max_dose_label(drug)
    if not limit or dose_value is None or dose_basis or drug.max_dose_amount is None:
        return ""
    try:
        amount = amount_convert(dose_value, dose_unit, drug.max_dose_unit)
    except UnitMismatch:
        return ""
    if amount <= drug.max_dose_amount:
        return ""
    return (
        f"{dose_value.normalize():f} {dose_unit.strip()} is above the formulary's maximum single "
        f"dose of {limit} for {drug.name}. Check with the prescriber."
    )


def dose_warnings(
    drug: Drug | None,
    *,
    dose_value: Decimal | None,
    dose_unit: str,
    dose_basis: str = "",
    rate_value: Decimal | None = None,
    rate_unit: str = "",
) -> dict[str, str]:
    """Every dose/unit warning of an order, by the order form's field it is said beside
    (dose_unit, rate_unit, dose_value)."""
    if drug is None:
        return {}
    found = {
        "dose_unit": dose_unit_warning(drug, dose_unit, dose_basis)
        if dose_value is not None
        else "",
        "rate_unit": rate_unit_warning(drug, rate_unit) if rate_value is not None else "",
        "dose_value": max_dose_warning(drug, dose_value, dose_unit, dose_basis),
    }
    return {field: words for field, words in found.items() if words}


def order_dose_warnings(order: Order) -> list[str]:
    """The dose/unit warnings of an entered order (the pharmacist's queue and review page), as
    the order is now: for an interface's order too, which no one confirmed at entry."""
    found = dose_warnings(
        order.drug,
        dose_value=order.dose_value,
        dose_unit=order.dose_unit,
        dose_basis=order.dose_basis,
        rate_value=order.rate_value,
        rate_unit=order.rate_unit,
    )
    return list(found.values())
