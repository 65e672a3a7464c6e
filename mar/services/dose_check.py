"""The dose and unit checks a pharmacy system makes on an order: warnings a person confirms, never
a refusal (clinicians sometimes order unusually).

- DOSE-UNIT: the dose's unit is of the kind the drug is dosed in: a hydration fluid by volume (mL,
  L); any other drug by the dimension of its billing unit (Drug.billing_unit: mass mg/g/mcg,
  volume mL/L, units, mEq, mmol). A mass-billed drug dosed in mL is warned too: the order has
  no concentration to turn the volume into the amount of drug.
- DOSE-RATE: the rate's unit fits the drug: a hydration fluid runs by volume (mL/h); another
  drug by volume (its bag) or by the kind it is dosed in (mg/h for a mass drug, units/h...).
- DOSE-MAX: a dose above the formulary's maximum single dose, kept by the pharmacist as a fixed
  amount (Drug.max_dose_amount/unit), per kg of body weight (Drug.max_dose_per_kg_amount/unit)
  and per m² of body surface area (Drug.max_dose_per_m2_amount/unit, BSA by Mosteller), each
  one set checked. A fixed dose is compared with the fixed maximum, and with the maximum per kg
  (per m²) × the weight (BSA) recorded for the visit, the basis said ("1,200 mg is above
  15 mg/kg × 70 kg = 1,050 mg"); amounts in mcg/mg/g (mL/L) are converted, never compared
  across kinds (DOSE-UNIT says that). A dose ordered per kg (per m²) is compared with the
  maximum per kg (per m²) as written; another calculated dose (AUC, per kg against a maximum
  per m²) is not compared. A maximum by body size with no weight (height) recorded for the
  visit is said beside the dose as not checked (`dose_notes`), a note, not a warning to confirm:
  the pharmacist's queue flags it.

Said at order entry beside the field (mar/registration/services.py `order_dose_problems`, the
confirm recorded as a SafetyOverride of kind "dose"), and to the pharmacist on the queue and the
review page for every order, an interface's included (`order_dose_warnings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from coding.engine.drug_units import UnitMismatch, amount_convert, unit_normal
from mar import dosing
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


def max_dose_per_kg_label(drug: Drug) -> str:
    """'15 mg/kg': the formulary's maximum single dose per kg of body weight; '' when none."""
    if drug.max_dose_per_kg_amount is None or not drug.max_dose_per_kg_unit:
        return ""
    return f"{_number(drug.max_dose_per_kg_amount)} {drug.max_dose_per_kg_unit}/kg"


def max_dose_per_m2_label(drug: Drug) -> str:
    """'2 mg/m²': the formulary's maximum single dose per m² of body surface area; '' when
    none."""
    if drug.max_dose_per_m2_amount is None or not drug.max_dose_per_m2_unit:
        return ""
    return f"{_number(drug.max_dose_per_m2_amount)} {drug.max_dose_per_m2_unit}/m²"


def max_doses_label(drug: Drug) -> str:
    """Every maximum single dose kept, '16 mg; 0.15 mg/kg'; '' when none."""
    found = (max_dose_label(drug), max_dose_per_kg_label(drug), max_dose_per_m2_label(drug))
    return "; ".join(label for label in found if label)


@dataclass(frozen=True)
class Body:
    """The patient's size as recorded for the visit (the chart's measures: weight in kg, height
    in cm; mar/services/measures.py `Measures.body`); None: not recorded."""

    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None

    @property
    def bsa(self) -> Decimal | None:
        """Body surface area (m², Mosteller, two decimals: mar/dosing.py); None without both."""
        if self.weight_kg is None or self.height_cm is None:
            return None
        try:
            return dosing.bsa_mosteller(height_cm=self.height_cm, weight_kg=self.weight_kg)
        except dosing.DosingError:
            return None


# A weight in kg from the units a weight may be given in (the chart records kg; a weight from
# elsewhere in lb is converted, never compared as it is).
_KG_PER = {"kg": Decimal(1), "g": Decimal("0.001"), "lb": Decimal("0.45359237")}
_KG_PER["lbs"] = _KG_PER["lb"]


def weight_in_kg(value: Decimal, unit: str) -> Decimal:
    """`value` `unit` (kg, g, lb) in kg; UnitMismatch for another unit."""
    try:
        return value * _KG_PER[unit.strip().lower()]
    except KeyError:
        raise UnitMismatch(f"{unit or 'no unit'} is not a unit of weight (kg, g, lb)") from None


def _number(value: Decimal) -> str:
    """'1,050', '0.15', '1,055.25': a Decimal as read, with thousands separated."""
    return f"{Decimal(value).normalize():,f}"  # an int from a caller's typed data too


def _base(value: Decimal, unit: str) -> tuple[Decimal, str]:
    """An amount in its dimension's smallest unit (mcg, mL), so two amounts compare whatever
    unit each is written in; another unit (units, mEq, mmol) as it is."""
    dimension = unit_dimension(unit)
    if dimension == MASS:
        return amount_convert(value, unit, "mcg"), "mcg"
    if dimension == VOLUME:
        return amount_convert(value, unit, "mL"), "mL"
    return value, unit_normal(unit)


def _above(value: Decimal, unit: str, limit: Decimal, limit_unit: str) -> bool:
    """`value` `unit` is above `limit` `limit_unit`; False when they cannot be compared
    (different kinds: DOSE-UNIT says that). Exactly at the limit is not above."""
    (amount, base), (most, limit_base) = _base(value, unit), _base(limit, limit_unit)
    return base == limit_base and amount > most


def max_dose_warning(
    drug: Drug,
    dose_value: Decimal | None,
    dose_unit: str,
    dose_basis: str = "",
    body: Body | None = None,
) -> str:
    """DOSE-MAX: the dose above each maximum single dose kept for the drug (see the module's
    doc), each with its basis; '' when within all, or none can be compared."""
    if dose_value is None or dose_basis == DoseBasis.AUC:
        return ""
    body = body or Body()
    dose = f"{_number(dose_value)} {dose_unit.strip()}"
    found: list[str] = []
    if dose_basis:
        # A dose per kg (per m²): compared with the maximum on the same basis, as written.
        per = {
            DoseBasis.PER_KG: (drug.max_dose_per_kg_amount, drug.max_dose_per_kg_unit, "kg"),
            DoseBasis.PER_M2: (drug.max_dose_per_m2_amount, drug.max_dose_per_m2_unit, "m²"),
        }.get(dose_basis)
        if per and per[0] is not None and per[1] and _above(dose_value, dose_unit, *per[:2]):
            found.append(
                f"{dose}/{per[2]} is above the formulary's maximum single dose of "
                f"{_number(per[0])} {per[1]}/{per[2]} for {drug.name}. Check with the prescriber."
            )
        return " ".join(found)
    limit = max_dose_label(drug)
    if limit and drug.max_dose_amount is not None:
        if _above(dose_value, dose_unit, drug.max_dose_amount, drug.max_dose_unit):
            found.append(
                f"{dose_value.normalize():f} {dose_unit.strip()} is above the formulary's "
                f"maximum single dose of {limit} for {drug.name}. Check with the prescriber."
            )
    per_kg, weight = drug.max_dose_per_kg_amount, body.weight_kg
    if per_kg is not None and drug.max_dose_per_kg_unit and weight is not None:
        most = per_kg * weight
        if _above(dose_value, dose_unit, most, drug.max_dose_per_kg_unit):
            found.append(
                f"{dose} is above {max_dose_per_kg_label(drug)} × {_number(weight)} kg = "
                f"{_number(most)} {drug.max_dose_per_kg_unit}, the formulary's maximum single "
                f"dose of {drug.name} for the weight recorded. Check with the prescriber."
            )
    per_m2, bsa = drug.max_dose_per_m2_amount, body.bsa
    if per_m2 is not None and drug.max_dose_per_m2_unit and bsa is not None:
        most = per_m2 * bsa
        if _above(dose_value, dose_unit, most, drug.max_dose_per_m2_unit):
            found.append(
                f"{dose} is above {max_dose_per_m2_label(drug)} × {_number(bsa)} m² (BSA, "
                f"Mosteller) = {_number(most)} {drug.max_dose_per_m2_unit}, the formulary's "
                f"maximum single dose of {drug.name} for the height and weight recorded. "
                "Check with the prescriber."
            )
    return " ".join(found)


# The words of a maximum by body size that cannot be checked (static/js/field_check.js
# DOSE_WORDS has "cannot be checked").
def max_dose_unchecked(
    drug: Drug,
    dose_value: Decimal | None,
    dose_unit: str,
    dose_basis: str = "",
    body: Body | None = None,
) -> str:
    """A maximum per kg (per m²) that a fixed dose cannot be compared with: no weight (height)
    recorded for the visit; '' when none. A note beside the dose, not a warning to confirm."""
    if dose_value is None or dose_basis:
        return ""
    body = body or Body()
    found: list[str] = []
    per_kg = max_dose_per_kg_label(drug)
    if per_kg and body.weight_kg is None:
        found.append(
            f"No weight recorded for this visit: the maximum of {per_kg} cannot be checked."
        )
    per_m2 = max_dose_per_m2_label(drug)
    if per_m2 and body.bsa is None:
        missing = " or ".join(
            what
            for what, value in (("height", body.height_cm), ("weight", body.weight_kg))
            if value is None
        )
        found.append(
            f"No {missing or 'usable height and weight'} recorded for this visit: the maximum "
            f"of {per_m2} (body surface area) cannot be checked."
        )
    return " ".join(found)


def needs_body(drug: Drug | None) -> bool:
    """The drug has a maximum by body size kept: its check reads the visit's measures."""
    return drug is not None and bool(max_dose_per_kg_label(drug) or max_dose_per_m2_label(drug))


def dose_warnings(
    drug: Drug | None,
    *,
    dose_value: Decimal | None,
    dose_unit: str,
    dose_basis: str = "",
    rate_value: Decimal | None = None,
    rate_unit: str = "",
    body: Body | None = None,
) -> dict[str, str]:
    """Every dose/unit warning of an order, by the order form's field it is said beside
    (dose_unit, rate_unit, dose_value); `body`: the weight and height recorded for the visit
    (None: none recorded)."""
    if drug is None:
        return {}
    found = {
        "dose_unit": dose_unit_warning(drug, dose_unit, dose_basis)
        if dose_value is not None
        else "",
        "rate_unit": rate_unit_warning(drug, rate_unit) if rate_value is not None else "",
        "dose_value": max_dose_warning(drug, dose_value, dose_unit, dose_basis, body),
    }
    return {field: words for field, words in found.items() if words}


def dose_notes(
    drug: Drug | None,
    *,
    dose_value: Decimal | None,
    dose_unit: str,
    dose_basis: str = "",
    body: Body | None = None,
) -> dict[str, str]:
    """What the dose check could not check, by the field it is said beside (dose_value): a
    maximum by body size with no weight (height) recorded for the visit. Not confirmed by the
    person entering the order: said, and flagged on the pharmacist's queue."""
    if drug is None:
        return {}
    words = max_dose_unchecked(drug, dose_value, dose_unit, dose_basis, body)
    return {"dose_value": words} if words else {}


def order_dose_warnings(order: Order, body: Body | None = None) -> list[str]:
    """The dose/unit warnings of an entered order (the pharmacist's queue and review page), as
    the order is now: for an interface's order too, which no one confirmed at entry; `body`:
    the visit's weight and height (`Measures.body`)."""
    found = dose_warnings(
        order.drug,
        dose_value=order.dose_value,
        dose_unit=order.dose_unit,
        dose_basis=order.dose_basis,
        rate_value=order.rate_value,
        rate_unit=order.rate_unit,
        body=body,
    )
    return list(found.values())


def order_dose_unchecked(order: Order, body: Body | None = None) -> list[str]:
    """The maxima by body size an entered order's dose cannot be checked against (no weight or
    height recorded for the visit): the pharmacist's queue and review page flag them."""
    found = dose_notes(
        order.drug,
        dose_value=order.dose_value,
        dose_unit=order.dose_unit,
        dose_basis=order.dose_basis,
        body=body,
    )
    return list(found.values())
