"""Patient measures and dose arithmetic for the pharmacist's check. Plain Python, Decimal in/out.

- Body surface area, Mosteller (N Engl J Med 1987;317:1098): BSA (m²) = sqrt(height cm ×
  weight kg / 3600).
- Creatinine clearance, Cockcroft-Gault (Nephron 1976;16:31): CrCl (mL/min) = (140 − age) ×
  weight kg / (72 × serum creatinine mg/dL), × 0.85 for a woman. Actual body weight: the
  pharmacist judges whether an ideal or adjusted weight fits better.
- Carboplatin, Calvert (J Clin Oncol 1989;7:1748): dose (mg) = target AUC × (GFR + 25), with
  CrCl standing in for GFR. The FDA's 2010 advice caps the GFR used at 125 mL/min (so the
  dose at AUC × 150 mg); `calvert_dose` applies that cap and says so.

A dose per m², per kg or by AUC is calculated from these and compared with the ordered dose:
a difference beyond `TOLERANCE_PERCENT` (10%) is flagged for the pharmacist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

TOLERANCE_PERCENT = Decimal(10)
GFR_CAP = Decimal(125)  # mL/min, FDA (2010) for the Calvert formula

PER_M2 = "per_m2"
PER_KG = "per_kg"
AUC = "auc"
BASES = {PER_M2: "per m²", PER_KG: "per kg", AUC: "AUC (Calvert)"}


class DosingError(ValueError):
    """A measure needed for the calculation is missing or impossible; the message says which."""


def _q(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def bsa_mosteller(*, height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """Body surface area in m², two decimals."""
    if height_cm <= 0 or weight_kg <= 0:
        raise DosingError("height and weight must be positive")
    return _q((height_cm * weight_kg / Decimal(3600)).sqrt(), "0.01")


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day`."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def crcl_cockcroft_gault(
    *, age_years: int, weight_kg: Decimal, creatinine_mg_dl: Decimal, sex: str
) -> Decimal:
    """Creatinine clearance in mL/min, one decimal. `sex`: "female" or "male"."""
    if creatinine_mg_dl <= 0 or weight_kg <= 0:
        raise DosingError("weight and serum creatinine must be positive")
    if sex not in ("female", "male"):
        raise DosingError("Cockcroft-Gault needs the patient's sex (female or male)")
    if not 0 < age_years < 140:
        raise DosingError("age must be between 0 and 140 years")
    crcl = Decimal(140 - age_years) * weight_kg / (Decimal(72) * creatinine_mg_dl)
    if sex == "female":
        crcl *= Decimal("0.85")
    return _q(crcl, "0.1")


@dataclass(frozen=True)
class Calculated:
    """A calculated dose and how it was reached, for the pharmacist to read."""

    dose: Decimal
    unit: str
    how: str


def calvert_dose(*, auc: Decimal, crcl: Decimal) -> Calculated:
    """Carboplatin dose in mg: AUC × (GFR + 25), GFR = CrCl capped at 125 mL/min."""
    gfr = min(crcl, GFR_CAP)
    capped = " (CrCl capped at 125)" if crcl > GFR_CAP else ""
    dose = _q(auc * (gfr + 25), "1")
    return Calculated(dose, "mg", f"AUC {auc.normalize():f} × ({gfr.normalize():f} + 25){capped}")


def calculated_dose(
    *,
    basis: str,
    amount: Decimal,
    unit: str = "mg",
    bsa: Decimal | None = None,
    weight_kg: Decimal | None = None,
    crcl: Decimal | None = None,
) -> Calculated:
    """The dose an order per m², per kg or by AUC comes to for this patient."""
    if basis == PER_M2:
        if bsa is None:
            raise DosingError("a dose per m² needs height and weight (BSA)")
        return Calculated(
            _q(amount * bsa, "0.1"), unit, f"{amount.normalize():f} {unit}/m² × {bsa} m²"
        )
    if basis == PER_KG:
        if weight_kg is None:
            raise DosingError("a dose per kg needs a weight")
        return Calculated(
            _q(amount * weight_kg, "0.1"),
            unit,
            f"{amount.normalize():f} {unit}/kg × {weight_kg.normalize():f} kg",
        )
    if basis == AUC:
        if crcl is None:
            raise DosingError("a dose by AUC needs a creatinine clearance (creatinine, age, sex)")
        return calvert_dose(auc=amount, crcl=crcl)
    raise DosingError(f"unknown dose basis {basis!r}")


def difference_percent(*, ordered: Decimal, calculated: Decimal) -> Decimal:
    """How far the ordered dose is from the calculated one, in % of the calculated (signed)."""
    if calculated <= 0:
        raise DosingError("the calculated dose is not positive")
    return _q((ordered - calculated) / calculated * 100, "0.1")


def beyond_tolerance(percent: Decimal) -> bool:
    return abs(percent) > TOLERANCE_PERCENT


# A dose per body surface as the screens show it: "m²", however it was written ("175 mg/m2" by an
# interface or the demo, "mg/m^2", "mg per sq m"; order entry writes "mg/m²"). Only what is shown:
# the order's text is stored, exported and read by the engine as it came (QA: the pharmacist's
# list said "mg/m2" where the order form said "per m²").
_SQUARE_METRE = re.compile(
    r"(?P<per>/\s*|\bper\s+)(?:m\s*(?:\^\s*)?2|sq\.?\s*m|m²)(?![a-z0-9²])", re.I
)


def dose_shown(text: object) -> str:
    """An order's dose (or any text naming a dose unit) as every screen shows it: a dose per m²
    with the superscript ('175 mg/m2' -> '175 mg/m²', '75 mg per sq m' -> '75 mg per m²');
    anything else as it is."""
    value = "" if text is None else str(text)
    return _SQUARE_METRE.sub(
        lambda m: ("/" if "/" in m["per"] else m["per"].split()[0] + " ") + "m²", value
    )


# What a calculated dose needs, read from the order's dose text ("AUC 5", "10 mg/kg",
# "75 mg/m²"), so that an order whose text says it is calculated is checked even when its
# structured basis was not filled in (QA: carboplatin "AUC 5" and teprotumumab "10 mg/kg"
# verified and started on a chart with no height, weight or creatinine).
HEIGHT, WEIGHT, CREATININE, AGE, SEX = "height", "weight", "creatinine", "age", "sex"
NEEDS = {
    PER_KG: (WEIGHT,),
    PER_M2: (HEIGHT, WEIGHT),
    AUC: (CREATININE, WEIGHT, AGE, SEX),  # Calvert with Cockcroft-Gault for the GFR
}
_NUMBER = r"\d+(?:[.,]\d+)?"
_PER = r"(?:\s*/\s*|\s+per\s+)"
_PER_TIME = r"(?:\s*/\s*(?:min|minute|h|hr|hour|d|day|dose|week|wk)(?![a-z]))?"
_DOSE_TEXT = (
    # "AUC 5", "auc=6", "AUC5", "target AUC of 5", "AUC: 4.5"
    (AUC, re.compile(rf"(?<![a-z])auc(?![a-z])(?:\s*(?:of|=|:)?\s*{_NUMBER})?", re.I)),
    # "75 mg/m2", "75 mg/m²", "75mg/m^2", "75 mg per m2", "75 mg/sq m", "75 mg/BSA"
    (
        PER_M2,
        re.compile(
            rf"(?:{_NUMBER}\s*)?[a-zµ]*{_PER}(?:m\s*(?:2|²|\^\s*2)|sq\.?\s*m|bsa)(?![a-z0-9]){_PER_TIME}",
            re.I,
        ),
    ),
    # "10 mg/kg", "10mg/kg", "15 mcg/kg/min", "0.5 g per kg", "100 units/kg"
    (PER_KG, re.compile(rf"(?:{_NUMBER}\s*)?[a-zµ]*{_PER}kg(?![a-z]){_PER_TIME}", re.I)),
)


@dataclass(frozen=True)
class DoseNeeds:
    """A calculated dose as the order writes it ("AUC 5") and the inputs it is worked out from
    (`HEIGHT`, `WEIGHT`, `CREATININE`, `AGE`, `SEX`), each once, in the order said."""

    written: str
    bases: tuple[str, ...]
    needs: tuple[str, ...]


def dose_needs(text: str, *, basis: str = "", written: str = "") -> DoseNeeds | None:
    """What an order's dose text needs to be checked: per kg a weight; per m² a height and a
    weight; by AUC (Calvert) a creatinine, a weight, the age and the sex. None for a fixed dose
    ("1000 mL", "8 mg", "per protocol"). `basis`: the order's structured basis (`PER_KG`...),
    used when the text says none, `written` then naming it ("AUC 5")."""
    found: list[tuple[str, str]] = []
    for kind, pattern in _DOSE_TEXT:
        match = pattern.search(text or "")
        if match:
            found.append((kind, " ".join(match.group(0).split())))
    if not found and basis in NEEDS:
        found.append((basis, written or BASES[basis]))
    if not found:
        return None
    needs: list[str] = []
    for kind, _written in found:
        needs += [need for need in NEEDS[kind] if need not in needs]
    return DoseNeeds(
        ", ".join(w for _kind, w in found), tuple(kind for kind, _w in found), tuple(needs)
    )


# A calculated dose written as the order's whole dose text: "10 mg/kg", "85 mg/m2", "AUC 5"
# (not "15 mcg/kg/min", a rate, nor "10 mg/kg, max 1 g", which the nurse works out).
_WRITTEN_PER = re.compile(
    rf"(?P<amount>{_NUMBER})\s*(?P<unit>[a-zµ]+){_PER}"
    r"(?:(?P<kg>kg)|m\s*(?:2|²|\^\s*2)|sq\.?\s*m)",
    re.I,
)
_WRITTEN_AUC = re.compile(rf"(?:target\s+)?auc\s*(?:of|=|:)?\s*(?P<amount>{_NUMBER})", re.I)


def written_basis(text: str) -> tuple[str, Decimal, str] | None:
    """(basis, amount, unit) of an order's dose text that is one calculated dose and nothing
    else: '10 mg/kg' -> (PER_KG, 10, 'mg'), '85 mg/m²' -> (PER_M2, 85, 'mg'), 'AUC 5' ->
    (AUC, 5, 'mg'); None otherwise."""
    text = " ".join((text or "").split())
    if match := _WRITTEN_PER.fullmatch(text):
        basis = PER_KG if match["kg"] else PER_M2
        return basis, Decimal(match["amount"].replace(",", ".")), match["unit"]
    if match := _WRITTEN_AUC.fullmatch(text):
        return AUC, Decimal(match["amount"].replace(",", ".")), "mg"
    return None
