"""Height, weight and creatinine on an encounter; BSA and CrCl from them; an order's dose check.

The arithmetic is mar/dosing.py's; here the latest charted measure of each kind is read, the
patient's age (on the day of the measure) and sex are taken from the registration, and each
missing input is said rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from mar import chart_reads, dosing
from mar.clock import CLOCK_AHEAD
from mar.models import AccessSite, Encounter, Order, Patient, PatientMeasure, SiteAssessment
from mar.services import dose_check
from mar.services.charting import (
    SIGNED_REFUSAL,
    ChartError,
    RecordSigned,
    times_not_in_the_future,
)

K = PatientMeasure.Kind

# Plausible ranges: a typo (weight 700 for 70.0) is refused, not calculated with.
RANGES = {
    K.HEIGHT: (Decimal(30), Decimal(250)),
    K.WEIGHT: (Decimal("0.5"), Decimal(400)),
    K.CREATININE: (Decimal("0.1"), Decimal(20)),
}


@transaction.atomic
def measure_chart(
    *,
    encounter: Encounter,
    kind: str,
    value: Decimal,
    measured_at: datetime,
    method: str,
    user: AbstractBaseUser,
) -> PatientMeasure:
    """Chart a height, weight or creatinine with when and how it was measured."""
    if encounter.is_signed:
        raise RecordSigned(encounter, {None: [SIGNED_REFUSAL]})
    low, high = RANGES[K(kind)]
    if not low <= value <= high:
        raise ChartError(
            {"value": [f"{K(kind).label} {value} is outside {low}–{high}: check the entry."]}
        )
    times_not_in_the_future(zone=encounter.zone, allowance=CLOCK_AHEAD, measured_at=measured_at)
    return PatientMeasure.objects.create(
        encounter=encounter, kind=kind, value=value, measured_at=measured_at, method=method, by=user
    )


def _sex(patient: Patient) -> str:
    return {"F": "female", "M": "male"}.get(getattr(patient, "sex", ""), "")


@dataclass(frozen=True)
class Measures:
    """The latest of each measure, and what follows from them (None, with why, when it cannot
    be calculated)."""

    height: PatientMeasure | None
    weight: PatientMeasure | None
    creatinine: PatientMeasure | None
    bsa: Decimal | None
    bsa_missing: str
    crcl: Decimal | None
    crcl_missing: str
    age: int | None
    sex: str = ""  # "female", "male" or "" (not recorded)

    @property
    def weight_kg(self) -> Decimal | None:
        return self.weight.value if self.weight else None

    @property
    def body(self) -> dose_check.Body:
        """The weight and height recorded for the visit, for the dose check's maxima by body
        size (mar/services/dose_check.py; the chart records them in kg and cm)."""
        return dose_check.Body(
            weight_kg=self.weight_kg, height_cm=self.height.value if self.height else None
        )

    def missing(self, needs: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """Of a calculated dose's inputs (`dosing.dose_needs`), those not recorded: the
        measures of this visit ("creatinine", "weight", "height"), then the registration's
        ("date of birth", "sex"), as `crcl_missing` says them."""
        have = {
            dosing.HEIGHT: self.height is not None,
            dosing.WEIGHT: self.weight is not None,
            dosing.CREATININE: self.creatinine is not None,
        }
        visit = [need for need in needs if need in have and not have[need]]
        registration = [
            words
            for need, words, recorded in (
                (dosing.AGE, "date of birth", self.age is not None),
                (dosing.SEX, "sex", bool(self.sex)),
            )
            if need in needs and not recorded
        ]
        return visit, registration


def encounter_measures(encounter: Encounter) -> Measures:
    return _measures(encounter, chart_reads.measures(encounter.pk, encounter=encounter))


def encounters_measures(encounters: Iterable[Encounter]) -> dict[int, Measures]:
    """Each encounter's `Measures` by its pk, every encounter's measures read in one statement
    however many there are (the pharmacist's queue: a calculated dose's note on each row);
    `encounter.patient` loaded by the caller. No encounter, no statement."""
    by_pk = {encounter.pk: encounter for encounter in encounters}
    if not by_pk:
        return {}
    charted: dict[int, list[PatientMeasure]] = {pk: [] for pk in by_pk}
    for measure in PatientMeasure.objects.filter(encounter_id__in=by_pk).order_by(
        "measured_at", "pk"
    ):
        charted[measure.encounter_id].append(measure)
    return {pk: _measures(by_pk[pk], charted[pk]) for pk in by_pk}


def _measures(encounter: Encounter, charted: Iterable[PatientMeasure]) -> Measures:
    """`Measures` from an encounter's measures, oldest first: the latest of each kind."""
    latest: dict[str, PatientMeasure] = {}
    for measure in charted:
        latest[measure.kind] = measure
    height, weight, creat = latest.get(K.HEIGHT), latest.get(K.WEIGHT), latest.get(K.CREATININE)
    bsa, bsa_missing = None, ""
    if height and weight:
        bsa = dosing.bsa_mosteller(height_cm=height.value, weight_kg=weight.value)
    else:
        bsa_missing = "needs height and weight"
    patient = encounter.patient
    day = (encounter.arrived_at or encounter.created_at or timezone.now()).date()
    age = dosing.age_on(patient.birth_date, day) if patient.birth_date else None
    crcl, crcl_missing = None, ""
    missing = [
        what
        for what, have in (
            ("a creatinine", creat),
            ("a weight", weight),
            ("the date of birth", age is not None),
            ("the patient's sex (female or male)", _sex(patient)),
        )
        if not have
    ]
    if missing:
        crcl_missing = "needs " + ", ".join(missing)
    else:
        assert creat is not None and weight is not None and age is not None
        try:
            crcl = dosing.crcl_cockcroft_gault(
                age_years=age,
                weight_kg=weight.value,
                creatinine_mg_dl=creat.value,
                sex=_sex(patient),
            )
        except dosing.DosingError as exc:
            crcl_missing = str(exc)
    return Measures(height, weight, creat, bsa, bsa_missing, crcl, crcl_missing, age, _sex(patient))


@dataclass(frozen=True)
class DoseCheck:
    """The pharmacist's comparison for one order written per m², per kg or by AUC."""

    basis: str
    calculated: dosing.Calculated | None
    ordered: Decimal | None
    unit: str
    difference: Decimal | None
    flagged: bool
    problem: str


def order_dose_check(order: Order, measures: Measures) -> DoseCheck | None:
    """None for an order of a fixed amount (no basis)."""
    basis = getattr(order, "dose_basis", "")
    if not basis or order.dose_value is None:
        return None
    return _dose_check(order, measures, basis, order.dose_value, order.dose_unit or "mg")


def _dose_check(
    order: Order, measures: Measures, basis: str, amount: Decimal, unit: str
) -> DoseCheck:
    ordered = order.prescribed_amount
    try:
        calculated = dosing.calculated_dose(
            basis=basis,
            amount=amount,
            unit=unit if basis != dosing.AUC else "mg",
            bsa=measures.bsa,
            weight_kg=measures.weight_kg,
            crcl=measures.crcl,
        )
    except dosing.DosingError as exc:
        return DoseCheck(basis, None, ordered, unit, None, False, str(exc))
    if ordered is None:
        return DoseCheck(
            basis, calculated, None, calculated.unit, None, False, "no amount ordered to compare"
        )
    difference = dosing.difference_percent(ordered=ordered, calculated=calculated.dose)
    return DoseCheck(
        basis,
        calculated,
        ordered,
        calculated.unit,
        difference,
        dosing.beyond_tolerance(difference),
        "",
    )


def order_carried_dose(order: Order, measures: Measures) -> tuple[Decimal, str] | None:
    """The dose a start carries over from a calculated order (screens.md: the dose carried from
    the order; QA: 10 mg/kg with a weight of 70 kg started with "Dose given" empty): worked out
    from the visit's measures (its structured basis, else its dose text when that is one
    calculated dose, "10 mg/kg", "AUC 5": `dosing.written_basis`), 700 mg; the amount the
    prescriber worked out instead when the order states one and it is within the check's
    tolerance. None (left for the nurse, the Start box's note saying what is missing) when a
    measure it needs is not recorded, the check flags the ordered amount, or the dose is not
    one calculated dose."""
    check = order_dose_check(order, measures)
    if check is None:
        written = dosing.written_basis(order.dose)
        if written is None:
            return None
        check = _dose_check(order, measures, *written)
    if check.calculated is None or check.flagged:
        return None
    if check.ordered is not None:
        return check.ordered, check.unit
    return check.calculated.dose, check.calculated.unit


@transaction.atomic
def site_condition_record(
    *,
    site: AccessSite,
    user: AbstractBaseUser,
    at: datetime,
    infiltration: int,
    phlebitis: int,
    blood_return: str = "",
    note: str = "",
) -> SiteAssessment:
    """An assessment of a site and its condition; the site's last assessment time follows."""
    if site.encounter.is_signed:
        raise RecordSigned(site.encounter, {None: [SIGNED_REFUSAL]})
    times_not_in_the_future(zone=site.encounter.zone, allowance=CLOCK_AHEAD, at=at)
    assessment = SiteAssessment.objects.create(
        site=site,
        at=at,
        infiltration=infiltration,
        phlebitis=phlebitis,
        blood_return=blood_return,
        note=note.strip(),
        by=user,
    )
    if site.assessed_at is None or at > site.assessed_at:
        site.assessed_at = at
        site.save(update_fields=["assessed_at"])
    return assessment
