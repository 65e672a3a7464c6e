"""Barcode scanning at the bedside: what a scan matched, and a nurse's override of a stop.

A scan is recorded whatever it matched (`BarcodeScan`): a wristband confirms the patient of the
chart or is the wrong patient; a drug barcode (mar/bcma.py) is matched through the formulary's
NDCs (`DrugNdc`, 11 digits) to an order of this encounter, and its lot and expiry are kept for the
administration it starts. An expired lot, a package the pharmacy retired (`DrugNdc.active`
False) or a drug not ordered stops: the nurse may go on only with a reason (`SafetyOverride`),
reported per nurse and unit. A wristband of another patient is a hard stop, never overridden:
the nurse scans this patient's wristband, or opens the other patient's chart.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from mar.bcma import BarcodeError, parse_drug_barcode, wristband_mrn
from mar.models import (
    Administration,
    BarcodeScan,
    DrugNdc,
    Encounter,
    Order,
    Patient,
    SafetyOverride,
)
from mar.validators import ndc_display

R = BarcodeScan.Result


class ScanError(Exception):
    """The scan or override was refused; `message` says why."""


def drugs_without_ndc(drug_ids: set[int]) -> set[int]:
    """Those of the drugs with no active NDC in the formulary (`DrugNdc.active`): no barcode can
    match them, so they cannot be scanned (one read; none for no drugs)."""
    if not drug_ids:
        return set()
    on_file = DrugNdc.objects.filter(drug_id__in=drug_ids, active=True).values_list(
        "drug_id", flat=True
    )
    return set(drug_ids) - set(on_file)


def no_ndc_note(drug_name: str) -> str:
    """The Start box's sentence for an order whose drug has no active NDC."""
    return f"No NDC on file for {drug_name}: it cannot be scanned; pharmacy adds its package."


def _startable(order: Order) -> bool:
    """An order the chart offers a start for: not returned by pharmacy (`Order.is_returned`:
    its start is refused) and not documented as not given, held or refused."""
    return not order.is_returned and not order.disposition


def _orders_for(encounter: Encounter, drug_ids: set[int]) -> tuple[list[Order], list[Order]]:
    """The encounter's orders of one of these drugs a scan may be for, and all of them.

    Only startable ones (`_startable`; QA: the scan went to ondansetron 4 g, returned by
    pharmacy, and the verified 4 mg order started "without scanning"); of those, the verified
    ones if any, then of those the ones not given yet if any. More than one left: the nurse
    says which by starting it (the scan names them; it does not guess)."""
    orders = list(
        encounter.orders.filter(drug_id__in=drug_ids).select_related("drug").order_by("pk")
    )
    left = [o for o in orders if _startable(o)]
    verified = [o for o in left if o.verified_at is not None]
    left = verified or left
    given = {
        pk
        for pk in Administration.objects.filter(order__in=left).values_list("order_id", flat=True)
    }
    left = [o for o in left if o.pk not in given] or left
    return left, orders


def _not_startable_message(drug_name: str, shown_ndc: str, orders: list[Order]) -> str:
    """Why a scan of an ordered drug matched no order it could start."""
    whys = []
    for o in orders:
        if o.is_returned:
            whys.append(f"{o} (O{o.pk}) was returned by pharmacy: call pharmacy")
        else:
            whys.append(
                f"{o} (O{o.pk}) is charted {o.get_disposition_display().lower()}: "
                "undo that first, then scan again"
            )
    return f"No order to start: {drug_name} (NDC {shown_ndc}) — " + "; ".join(whys) + "."


@transaction.atomic
def scan_record(
    *, encounter: Encounter, raw: str, user: AbstractBaseUser, today: date | None = None
) -> BarcodeScan:
    """Read one scan on this encounter's chart and record what it matched."""
    text = raw.strip("\r\n\t ")[:200]
    if not text:
        raise ScanError("Nothing was scanned.")
    today = today or timezone.localdate()
    scan = BarcodeScan(encounter=encounter, raw=text, by=user)
    patient = encounter.patient
    mrn = wristband_mrn(text)
    other = Patient.objects.filter(mrn=mrn).first()
    if other is not None:
        scan.kind = BarcodeScan.Kind.PATIENT
        if other.pk == patient.pk:
            scan.result = R.MATCH
            scan.message = f"Patient confirmed: {patient.name}, MRN {patient.mrn}."
        else:
            scan.result = R.WRONG_PATIENT
            scan.message = (
                f"Wrong patient: this wristband is {other.name} (MRN {other.mrn}); "
                f"this chart is {patient.name} (MRN {patient.mrn})."
            )
        scan.save()
        return scan
    scan.kind = BarcodeScan.Kind.DRUG
    try:
        drug_scan = parse_drug_barcode(text, today=today)
    except BarcodeError as exc:
        scan.result = R.UNREADABLE
        scan.message = f"Not recognised: {exc}. Scan the wristband or the drug's barcode."
        scan.save()
        return scan
    scan.lot = drug_scan.lot
    scan.expiry = drug_scan.expiry
    # The formulary's NDCs (billing's model: drug, 11-digit ndc).
    drug_ndc = apps.get_model("mar", "DrugNdc")
    # Active packages first: a 10-digit NDC read three ways may match a retired one too.
    ndcs = list(
        drug_ndc.objects.filter(ndc__in=drug_scan.ndc11)
        .select_related("drug")
        .order_by("-active", "ndc")
    )
    scan.ndc = ndcs[0].ndc if ndcs else (drug_scan.ndc11[0] if len(drug_scan.ndc11) == 1 else "")
    shown_ndc = ndc_display(scan.ndc) if scan.ndc else drug_scan.ndc10
    if not ndcs:
        scan.result = R.WRONG_DRUG
        scan.message = (
            f"Wrong drug: NDC {shown_ndc} is not in the formulary and matches no order "
            f"for {patient.name}."
        )
        scan.save()
        return scan
    scan.drug = ndcs[0].drug
    candidates, ordered = _orders_for(encounter, {n.drug_id for n in ndcs})
    order = candidates[0] if len(candidates) == 1 else None
    if not ordered:
        scan.result = R.WRONG_DRUG
        scan.message = (
            f"Wrong drug: {scan.drug.name} (NDC {shown_ndc}) is not ordered for {patient.name}."
        )
    elif not candidates:
        # Ordered, but no order of it may start (returned, not given): a stop, saying why.
        scan.result = R.WRONG_DRUG
        scan.message = _not_startable_message(scan.drug.name, shown_ndc, ordered)[:300]
    elif drug_scan.expired(today):
        scan.order = order
        scan.result = R.EXPIRED
        scan.message = (
            f"Expired: {scan.drug.name} lot {drug_scan.lot or '(none)'} expired on "
            f"{drug_scan.expiry:%Y-%m-%d}. Do not give it."
        )
    elif not ndcs[0].active:
        # A package the pharmacy retired (no longer stocked, perhaps recalled): a stop, said
        # plainly; the nurse goes on only with a reason, naming the order.
        scan.order = order
        scan.result = R.RETIRED
        scan.message = _retired_message(ndcs[0], shown_ndc)
    else:
        scan.order = order
        scan.result = R.MATCH
        lot = f", lot {drug_scan.lot}" if drug_scan.lot else ""
        expiry = f", expires {drug_scan.expiry:%Y-%m-%d}" if drug_scan.expiry else ""
        if order is None:
            # More than one order it may be for: the nurse says which by starting it (each
            # one's start carries the scan, `scan_usable_for`); the scan does not guess.
            names = ", ".join(f"{o} (O{o.pk})" for o in candidates)
            scan.message = (
                f"Matches {len(candidates)} orders: {names}. Which are you giving? Start "
                f"that one: the scan goes with it. NDC {shown_ndc}{lot}{expiry}."
            )[:300]
        else:
            scan.message = f"Matches the order {order}: NDC {shown_ndc}{lot}{expiry}."
    scan.save()
    return scan


def _retired_message(ndc: Any, shown_ndc: str) -> str:
    """What the nurse reads (BarcodeScan.message, 300 characters: the pharmacist's reason is
    shortened, never the instruction)."""
    when = f" on {timezone.localtime(ndc.retired_at):%Y-%m-%d}" if ndc.retired_at else ""
    reason = " ".join(ndc.retired_reason.split())
    if len(reason) > 80:
        reason = reason[:79] + "…"
    why = f" ({reason})" if reason else ""
    head = f"Retired: {ndc.drug.name} NDC {shown_ndc} was retired by pharmacy{when}{why}."
    return f"{head[:200]} This package is no longer stocked: check with pharmacy before giving it."


@transaction.atomic
def scan_override(
    *, scan: BarcodeScan, user: AbstractBaseUser, reason: str, order: Order | None = None
) -> SafetyOverride:
    """Go past a scan's stop with a reason; a wrong drug, expired lot or retired package names
    the order it is given for (the scan then starts that order). A wrong patient's wristband is
    a hard stop: refused."""
    if scan.result == R.WRONG_PATIENT:
        found = wrong_patient_of(scan)
        whose = f"{found[0].name}'s" if found else "the other patient's"
        raise ScanError(
            "A wrong-patient scan cannot be overridden: scan this patient's wristband, "
            f"or open {whose} chart."
        )
    reason = reason.strip()
    if not reason:
        raise ScanError("Say why you override the scan.")
    if scan.result == R.MATCH:
        raise ScanError("This scan matched: there is nothing to override.")
    if scan.result == R.UNREADABLE:
        raise ScanError("An unreadable scan cannot be overridden: scan again or type the NDC.")
    if scan.result in (R.WRONG_DRUG, R.EXPIRED, R.RETIRED):
        if order is None or order.encounter_id != scan.encounter_id:
            raise ScanError("Choose the order this drug is given for.")
        scan.order = order
        scan.save(update_fields=["order"])
    return SafetyOverride.objects.create(
        encounter=scan.encounter,
        kind=scan.result,
        message=scan.message[:300],
        reason=reason,
        order=scan.order,
        scan=scan,
        by=user,
    )


def scan_usable_for(scan: BarcodeScan, order: Order) -> bool:
    """A drug scan may start `order`: it matched it, or a stop on it was overridden for it,
    and it has not started another administration."""
    if scan.kind != BarcodeScan.Kind.DRUG or scan.administration_id is not None:
        return False
    if scan.order_id is None and scan.result == R.MATCH and scan.drug_id == order.drug_id:
        # A scan matching more than one order (`_orders_for`): the one she starts.
        return _startable(order)
    if scan.order_id != order.pk:
        return False
    return scan.result == R.MATCH or bool(scan.overrides.all())


def wrong_patient_of(scan: BarcodeScan) -> tuple[Patient, Encounter | None] | None:
    """For a wrong-patient wristband scan: the patient whose wristband it was, and that
    patient's open encounter (None if there is none)."""
    if scan.result != R.WRONG_PATIENT:
        return None
    other = Patient.objects.filter(mrn=wristband_mrn(scan.raw)).first()
    if other is None:
        return None
    open_encounter = (
        Encounter.objects.filter(patient=other, status=Encounter.Status.IN_PROGRESS)
        .order_by("-pk")
        .first()
    )
    return other, open_encounter


def patient_confirmed(encounter: Encounter) -> BarcodeScan | None:
    """The latest wristband scan that confirmed this chart's patient."""
    for scan in encounter.scans.filter(kind=BarcodeScan.Kind.PATIENT).order_by("-at", "-pk"):
        if scan.result == R.MATCH:
            return scan
    return None
