"""One inbound HL7 message in, one ACK out: `message_receive` is what the listener calls.

Handled: ADT^A04 (register a patient and open a visit), ADT^A08 (update them), ADT^A03
(discharge), ADT^A11 (cancel a visit nothing was charted on), RDE^O11 and ORM^O01 (pharmacy
orders: ORC with RXE or RXO, RXR, optionally TQ1; ORC-1 NW enters an order once per placer
number ORC-2, the same order sent again is entered once and a different one under that number is
refused (205); XO changes the order the placer number names while nothing of it was given (its
dose, route, rate, duration, indication, prescriber; back to the pharmacist for verification),
refuses another drug or an order already given, and changes nothing when the order already says
it; CA and DC withdraw the order the placer number names: not given yet, it is documented not
given; given, a cancel is refused and a discontinue changes nothing). Records are
made by the same services as the clerk's screens (mar/registration/services.py); a refusal is
answered AE naming the segment and field. A message is processed once per sender and control id
(MSH-3^MSH-4, MSH-10): a resent message (the same but for MSH-7) gets the ACK already sent; a
different message under a control id already used is logged apart and rejected (AR, 205), never
answered with the first one's ACK. Nothing a message holds makes this function raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from mar.hl7.messages import (
    APPLICATION_ERROR,
    DATA_TYPE_ERROR,
    DUPLICATE_KEY,
    REQUIRED_FIELD_MISSING,
    TABLE_VALUE_NOT_FOUND,
    UNKNOWN_KEY,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    Hl7Error,
    Inbound,
    Segment,
    ack_build,
    header_peek,
    hl7_time,
    message_parse,
    text_normalise,
)
from mar.models import (
    DoseBasis,
    Drug,
    Encounter,
    EntryMethod,
    InterfaceMessage,
    Patient,
    Payer,
    Route,
)
from mar.registration.services import (
    WITHDRAWN,
    OrderEntry,
    drug_for_code,
    encounter_account_set,
    encounter_open,
    encounter_update,
    order_by_placer,
    order_change,
    order_enter,
    order_same_as,
    order_withdraw,
    patient_register,
    patient_update,
)

log = logging.getLogger(__name__)

# HL7 table 0162 (route of administration) -> the MAR's routes.
ROUTES = {
    "IV": Route.IV,
    "IVP": Route.IV,
    "IVPB": Route.IV,
    "SC": Route.SQ,
    "SQ": Route.SQ,
    "IM": Route.IM,
    "IA": Route.IA,
    "IT": Route.INTRATHECAL,
    "IS": Route.INTRALESIONAL,
    "IL": Route.INTRALESIONAL,
    "CAV": Route.INTRACAVITARY,
}
SEX = {"F": "F", "M": "M", "O": "O", "U": "U", "A": "O", "N": "U"}
PATIENT_FIELDS = {"mrn": 3, "name": 5, "birth_date": 7, "sex": 8}
VISIT_FIELDS = {
    "unit": 3,
    "location_label": 3,
    "setting": 18,
    "attending": 7,
    "arrived_at": 44,
    "account_number": 19,
}


@dataclass
class Result:
    patient: Patient | None = None
    encounter: Encounter | None = None
    # What was done, said in the ACK's MSA-3 when it is worth saying (an account number filled).
    note: str = ""


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _validation_to_hl7(exc: ValidationError, where: dict[str, tuple[str, int]]) -> Hl7Error:
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            segment, number = where.get(field, ("", 0))
            return Hl7Error(
                f"{segment}-{number}: {messages[0]}" if segment else messages[0],
                segment=segment,
                field=number or None,
            )
    return Hl7Error("; ".join(exc.messages))


def _patient_where() -> dict[str, tuple[str, int]]:
    return {field: ("PID", n) for field, n in PATIENT_FIELDS.items()}


def _visit_where() -> dict[str, tuple[str, int]]:
    return {field: ("PV1", n) for field, n in VISIT_FIELDS.items()}


# --- PID, AL1, PV1 -----------------------------------------------------------------------------


def _mrn(pid: Segment) -> str:
    mrn = pid.component(3, 1)
    if not mrn:
        raise Hl7Error(
            "PID-3: the patient identifier (MRN) is empty.",
            segment="PID",
            field=3,
            code=REQUIRED_FIELD_MISSING,
        )
    return mrn


def _demographics(pid: Segment) -> dict[str, object]:
    family, given, middle = (pid.component(5, k) for k in (1, 2, 3))
    name = f"{family}, {' '.join(p for p in (given, middle) if p)}".strip(", ")
    birth: date | None = None
    born = pid.component(7, 1)
    if born:
        moment = hl7_time(born[:8], zone=_zone(), segment="PID", field=7)
        birth = moment.date() if moment else None
    sex_code = pid.component(8, 1).upper()
    if sex_code and sex_code not in SEX:
        raise Hl7Error(
            f"PID-8: sex {sex_code!r} is not in HL7 table 0001 (F, M, O, U, A, N).",
            segment="PID",
            field=8,
            code=TABLE_VALUE_NOT_FOUND,
        )
    return {"name": name, "birth_date": birth, "sex": SEX.get(sex_code, "")}


def _allergies(message: Inbound) -> str | None:
    """AL1 segments as 'penicillin (hives); latex'; None when the message has none."""
    al1s = message.all("AL1")
    if not al1s:
        return None
    items = []
    for al1 in al1s:
        allergen = al1.component(3, 2) or al1.component(3, 1)
        reaction = al1.text(5).replace(al1.component_separator, " ").strip()
        if allergen:
            items.append(f"{allergen} ({reaction})" if reaction else allergen)
    return "; ".join(items)


def _patient_from_pid(message: Inbound, *, create: bool) -> Patient:
    pid = message.need("PID")
    mrn = _mrn(pid)
    fields = _demographics(pid)
    allergies = _allergies(message)
    patient = Patient.objects.filter(mrn__iexact=mrn).first()
    try:
        if patient is None:
            if not create:
                raise Hl7Error(
                    f"PID-3: no patient with MRN {mrn} is registered.",
                    segment="PID",
                    field=3,
                    code=UNKNOWN_KEY,
                )
            return patient_register(mrn=mrn, allergies=allergies or "", **fields)  # type: ignore[arg-type]
        changes = {
            k: v for k, v in fields.items() if getattr(patient, k) != v and v not in ("", None)
        }
        if allergies is not None and allergies != patient.allergies:
            changes["allergies"] = allergies
        if changes:
            patient_update(patient=patient, **changes)
        return patient
    except ValidationError as exc:
        raise _validation_to_hl7(exc, _patient_where()) from None


def _account(pv1: Segment, *, required: bool = True) -> str:
    account = pv1.component(19, 1)
    if not account and required:
        raise Hl7Error(
            "PV1-19: the visit number (account) is empty.",
            segment="PV1",
            field=19,
            code=REQUIRED_FIELD_MISSING,
        )
    return account


def _visit_fields(message: Inbound, pv1: Segment) -> dict[str, object]:
    point_of_care, room, bed = (pv1.component(3, k) for k in (1, 2, 3))
    parts = pv1.components(7)
    attending = ""
    if len(parts) > 1:
        prefix = parts[5] if len(parts) > 5 else ""
        attending = " ".join(p for p in (prefix, *parts[2:4], parts[1]) if p)
    patient_type = pv1.component(18, 1).upper()
    payer = None
    in1 = message.one("IN1", required=False)
    if in1 is not None and in1.component(4, 1):
        payer = Payer.objects.filter(name__iexact=in1.component(4, 1), active=True).first()
    return {
        "unit": point_of_care,
        "location_label": bed or room,
        "setting": Encounter.Setting.OFFICE
        if patient_type in {"OFFICE", "POS11"}
        else Encounter.Setting.FACILITY,
        "attending": attending,
        "arrived_at": hl7_time(pv1.component(44, 1), zone=_zone(), segment="PV1", field=44),
        "payer": payer,
    }


def _encounter(message: Inbound, patient: Patient) -> Encounter:
    pv1 = message.need("PV1")
    account = _account(pv1)
    encounter = Encounter.objects.filter(account_number__iexact=account).first()
    if encounter is None or encounter.patient_id != patient.pk:
        raise Hl7Error(
            f"PV1-19: no visit {account} for MRN {patient.mrn}.",
            segment="PV1",
            field=19,
            code=UNKNOWN_KEY,
        )
    return encounter


# --- ADT ---------------------------------------------------------------------------------------


def adt_register(message: Inbound, now: datetime) -> Result:
    """A04: the patient (registered, or demographics updated) and a new visit."""
    patient = _patient_from_pid(message, create=True)
    pv1 = message.need("PV1")
    account = _account(pv1)
    if Encounter.objects.filter(account_number__iexact=account).exists():
        raise Hl7Error(
            f"PV1-19: visit {account} is already registered.",
            segment="PV1",
            field=19,
            code=DUPLICATE_KEY,
        )
    fields = _visit_fields(message, pv1)
    if not fields["unit"]:
        raise Hl7Error(
            "PV1-3: the assigned location (unit) is empty.",
            segment="PV1",
            field=3,
            code=REQUIRED_FIELD_MISSING,
        )
    try:
        encounter = encounter_open(
            patient=patient,
            account_number=account,
            now=now,
            **fields,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        raise _validation_to_hl7(exc, _visit_where()) from None
    return Result(patient, encounter)


def _visit_without_account(message: Inbound, pv1: Segment, patient: Patient) -> Encounter | None:
    """The patient's visit with no account number an A08 names otherwise than by PV1-19: by
    PV1-50 (alternate visit id: the MAR's visit id, which its charge messages send as the visit
    number while there is none), else by its arrival (PV1-44, to the minute: the same visit, as
    `encounter_open` counts duplicates). None when neither names one."""
    blank = Encounter.objects.filter(patient=patient, account_number="")
    alternate = pv1.component(50, 1)
    if alternate:
        return (
            blank.filter(pk=int(alternate)).first()
            if alternate.isdigit() and len(alternate) < 19
            else None
        )
    arrived = hl7_time(pv1.component(44, 1), zone=_zone(), segment="PV1", field=44)
    if arrived is None:
        return None
    minute = arrived.replace(second=0, microsecond=0)
    same = list(blank.filter(arrived_at__gte=minute, arrived_at__lt=minute + timedelta(minutes=1)))
    return same[0] if len(same) == 1 else None


def adt_update(message: Inbound, now: datetime) -> Result:
    """A08: demographics; and the visit's unit, chair, attending, arrival, payer if it is open
    (`encounter_update`: the unit as visits spell it, as A04; a signed visit refused on PV1-19
    when the message would change it).

    A visit with no account number, named by PV1-50 or its arrival (`_visit_without_account`),
    gets PV1-19 as its number (`encounter_account_set`: registration's number, not the clinical
    record: a signed visit too, its charges made again); the ACK's MSA-3 says so. A signed
    visit's other fields are still refused as above, and then nothing is done."""
    patient = _patient_from_pid(message, create=False)
    pv1 = message.one("PV1", required=False)
    account = _account(pv1, required=False) if pv1 is not None else ""
    if pv1 is None or not account:
        return Result(patient)
    blank = None
    if not Encounter.objects.filter(account_number__iexact=account).exists():
        blank = _visit_without_account(message, pv1, patient)
    encounter = blank or _encounter(message, patient)
    fields = {k: v for k, v in _visit_fields(message, pv1).items() if v not in ("", None)}
    try:  # the unit as visits spell it, the checks of A04: the registration's one service
        encounter_update(encounter=encounter, now=now, **fields)
        if blank is not None:
            encounter_account_set(encounter=blank, account_number=account, source="HL7 ADT^A08")
    except ValidationError as exc:
        raise _validation_to_hl7(exc, _visit_where()) from None
    if blank is None:
        return Result(patient, encounter)
    again = "; charges re-run" if blank.is_signed else ""
    note = f"PV1-19 {blank.account_number} entered on visit {blank.pk} (it had none){again}."
    return Result(patient, encounter, note)


def adt_discharge(message: Inbound, now: datetime) -> Result:
    """A03: the discharge time (PV1-45, else EVN-2, else now) on an open visit. A signed record
    is not changed (its discharge stays in this log)."""
    patient = _patient_from_pid(message, create=False)
    encounter = _encounter(message, patient)
    pv1 = message.need("PV1")
    evn = message.one("EVN", required=False)
    at = hl7_time(pv1.component(45, 1), zone=_zone(), segment="PV1", field=45)
    if at is None and evn is not None:
        at = hl7_time(evn.component(2, 1), zone=_zone(), segment="EVN", field=2)
    if not encounter.is_signed:
        encounter.discharged_at = at or now
        encounter.save(update_fields=["discharged_at"])
    return Result(patient, encounter)


def adt_cancel(message: Inbound, now: datetime) -> Result:
    """A11: the visit registered in error is removed, when nothing was charted on it."""
    patient = _patient_from_pid(message, create=False)
    encounter = _encounter(message, patient)
    charted = (
        encounter.is_signed
        or encounter.orders.exists()
        or encounter.administrations.exists()
        or encounter.sites.exists()
    )
    if charted:
        raise Hl7Error(
            f"PV1-19: visit {encounter.account_number} has orders or charting; "
            "it cannot be cancelled by the interface.",
            segment="PV1",
            field=19,
        )
    InterfaceMessage.objects.filter(encounter=encounter).update(encounter=None)
    encounter.delete()
    return Result(patient, None)


# --- orders ------------------------------------------------------------------------------------


def _decimal(segment: Segment, n: int, *, required: bool = False) -> Decimal | None:
    text = segment.component(n, 1)
    if not text:
        if required:
            raise Hl7Error(
                f"{segment.name}-{n} is empty.",
                segment=segment.name,
                field=n,
                code=REQUIRED_FIELD_MISSING,
            )
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise Hl7Error(
            f"{segment.name}-{n}: {text!r} is not a number.",
            segment=segment.name,
            field=n,
            code=DATA_TYPE_ERROR,
        ) from None


def _unit_and_basis(unit: str) -> tuple[str, str]:
    """'mg/m2' -> ('mg', per_m2); 'mg/kg' -> ('mg', per_kg); 'AUC' -> ('', auc)."""
    folded = unit.strip().lower().replace("²", "2")
    if folded.startswith("auc"):
        return "", DoseBasis.AUC
    for suffix, basis in (("/m2", DoseBasis.PER_M2), ("/kg", DoseBasis.PER_KG)):
        if folded.endswith(suffix):
            return unit.strip()[: -len(suffix)], basis
    return unit.strip(), ""


def _drug(segment: Segment, n: int, *, retired_ok: bool = False) -> Drug:
    """The give code (CE: identifier^text^coding system) as a formulary drug. A retired drug is
    refused as an unknown one is (103, its words saying when and why), unless `retired_ok`: the
    order was entered before the retirement (sent again, or an XO changing it)."""
    identifier, text, system = (segment.component(n, k) for k in (1, 2, 3))
    if not identifier and not text:
        raise Hl7Error(
            f"{segment.name}-{n}: the drug code is empty.",
            segment=segment.name,
            field=n,
            code=REQUIRED_FIELD_MISSING,
        )
    try:
        return drug_for_code(identifier=identifier, text=text, system=system, retired_ok=retired_ok)
    except ValidationError as exc:
        raise Hl7Error(
            f"{segment.name}-{n}: {exc.message_dict['drug'][0]}",
            segment=segment.name,
            field=n,
            code=TABLE_VALUE_NOT_FOUND,
        ) from None


def _route(rxr: Segment | None, order_segment: Segment) -> str:
    if rxr is None:
        raise Hl7Error(
            f"RXR is missing for the order in {order_segment.name}.",
            segment="RXR",
            code=REQUIRED_FIELD_MISSING,
        )
    code = rxr.component(1, 1).upper()
    if code in ROUTES:
        return ROUTES[code]
    raise Hl7Error(
        f"RXR-1: route {code or '(empty)'!r} is not one of {', '.join(ROUTES)}.",
        segment="RXR",
        field=1,
        code=TABLE_VALUE_NOT_FOUND,
    )


def _duration(tq1: Segment | None) -> int | None:
    if tq1 is None or not tq1.component(13, 1):
        return None
    amount = _decimal(tq1, 13)
    unit = tq1.component(13, 2).lower()
    assert amount is not None
    factor = {"": 1, "min": 1, "m": 1, "h": 60, "hr": 60, "hour": 60}.get(unit)
    if factor is None:
        raise Hl7Error(
            f"TQ1-13: duration unit {unit!r} is not min or h.",
            segment="TQ1",
            field=13,
            code=TABLE_VALUE_NOT_FOUND,
        )
    return int(amount * factor)


@dataclass
class _OrderGroup:
    orc: Segment
    give: Segment | None = None  # RXE or RXO
    rxr: Segment | None = None
    tq1: Segment | None = None


def _order_groups(message: Inbound, give_name: str) -> list[_OrderGroup]:
    groups: list[_OrderGroup] = []
    for segment in message.segments:
        if segment.name == "ORC":
            groups.append(_OrderGroup(segment))
        elif groups and segment.name == give_name and groups[-1].give is None:
            groups[-1].give = segment
        elif groups and segment.name == "RXR" and groups[-1].rxr is None:
            groups[-1].rxr = segment
        elif groups and segment.name == "TQ1" and groups[-1].tq1 is None:
            groups[-1].tq1 = segment
    if not groups:
        raise Hl7Error("The ORC segment is missing.", segment="ORC", code=REQUIRED_FIELD_MISSING)
    return groups


# Where each field of an order comes from, in RXE (RDE^O11) and RXO (ORM^O01).
GIVE_FIELDS = {
    "RXE": {
        "drug": 2,
        "dose_value": 3,
        "dose_unit": 5,
        "rate_value": 23,
        "rate_unit": 24,
        "indication": 27,
    },
    "RXO": {
        "drug": 1,
        "dose_value": 2,
        "dose_unit": 4,
        "rate_value": 21,
        "rate_unit": 22,
        "indication": 20,
    },
}


def _order_entry(
    group: _OrderGroup, give_name: str, placer: str, dg1: Segment | None, *, new: bool = True
) -> tuple[OrderEntry, dict[str, tuple[str, int]]]:
    """The order an ORC group describes, and where each of its fields comes from. `new`: no
    order of that placer number is on the visit yet (a retired drug is refused for it)."""
    positions = GIVE_FIELDS[give_name]
    give = group.give
    if give is None:
        raise Hl7Error(
            f"The {give_name} segment is missing.",
            segment=give_name,
            code=REQUIRED_FIELD_MISSING,
        )
    provider = group.orc.components(12)
    npi = provider[0] if provider and provider[0].isdigit() else ""
    prefix = provider[5] if len(provider) > 5 else ""
    name = " ".join(
        p for p in (prefix, *provider[2:4], provider[1] if len(provider) > 1 else "") if p
    )
    unit, basis = _unit_and_basis(give.component(positions["dose_unit"], 1))
    indication = give.component(positions["indication"], 1) or (
        dg1.component(3, 1) if dg1 is not None else ""
    )
    rate = _decimal(give, positions["rate_value"])
    entry = OrderEntry(
        drug=_drug(give, positions["drug"], retired_ok=not new),
        dose_value=_decimal(give, positions["dose_value"], required=True),  # type: ignore[arg-type]
        dose_unit=unit,
        dose_basis=basis,
        route=_route(group.rxr, give),
        duration_minutes=_duration(group.tq1),
        rate_value=rate,
        rate_unit=give.component(positions["rate_unit"], 1) if rate is not None else "",
        indication=indication,
        ordering_provider=name,
        ordering_provider_npi=npi,
        entry_method=EntryMethod.ELECTRONIC,
        placer_number=placer,
    )
    where = {field: (give_name, n) for field, n in positions.items()}
    where.update(
        {
            "route": ("RXR", 1),
            "duration_minutes": ("TQ1", 13),
            "ordering_provider": ("ORC", 12),
            "ordering_provider_npi": ("ORC", 12),
        }
    )
    if not give.component(positions["indication"], 1) and dg1 is not None:
        where["indication"] = ("DG1", 3)
    where["placer_number"] = ("ORC", 2)
    return entry, where


ORDER_CONTROLS = "NW (new order), XO (change order), CA (cancel) and DC (discontinue)"


def pharmacy_order(message: Inbound, now: datetime) -> Result:
    """RDE^O11 / ORM^O01: each ORC (NW) with its RXE or RXO, RXR and TQ1 becomes an order on the
    visit PV1-19, waiting for a pharmacist's verification; an ORC XO changes the order of its
    placer number (not given yet: mar/registration/services.py `order_change`); CA and DC
    withdraw it. All of them, or none."""
    give_name = "RXE" if message.message_type.startswith("RDE") else "RXO"
    patient = _patient_from_pid(message, create=False)
    encounter = _encounter(message, patient)
    dg1 = message.one("DG1", required=False)
    for group in _order_groups(message, give_name):
        control = group.orc.component(1, 1).upper()
        placer = group.orc.text(2).split("~")[0].strip().rstrip("^")  # EI: number^namespace
        if control in WITHDRAWN:
            try:
                order_withdraw(encounter=encounter, placer_number=placer, control=control)
            except ValidationError as exc:
                raise _validation_to_hl7(exc, {"placer_number": ("ORC", 2)}) from None
            continue
        if control not in {"NW", "XO"}:
            raise Hl7Error(
                f"ORC-1: order control {control or '(empty)'!r}: {ORDER_CONTROLS} are accepted.",
                segment="ORC",
                field=1,
                code=TABLE_VALUE_NOT_FOUND,
            )
        if control == "XO" and order_by_placer(encounter, placer) is None:
            raise Hl7Error(
                f"ORC-2: no order {placer or '(none)'} on this visit to change (ORC-1 XO).",
                segment="ORC",
                field=2,
                code=UNKNOWN_KEY,
            )
        entry, where = _order_entry(
            group, give_name, placer, dg1, new=order_by_placer(encounter, placer) is None
        )
        if control == "XO":
            try:
                order_change(encounter=encounter, entry=entry, now=now)
            except ValidationError as exc:
                raise _validation_to_hl7(exc, where) from None
            continue
        if (earlier := order_by_placer(encounter, placer)) is not None:
            try:
                same = order_same_as(earlier, entry)
            except ValidationError:
                same = False
            if same:
                continue  # sent again (under another control id): entered once
            raise Hl7Error(
                f"ORC-2: order {placer} is already on this visit as {earlier}; a change to it "
                "comes as ORC-1 XO (change order).",
                segment="ORC",
                field=2,
                code=DUPLICATE_KEY,
            )
        try:
            order_enter(encounter=encounter, entry=entry, user=None)
        except ValidationError as exc:
            raise _validation_to_hl7(exc, where) from None
    return Result(patient, encounter)


HANDLERS: dict[str, Callable[[Inbound, datetime], Result]] = {
    "ADT^A04": adt_register,
    "ADT^A08": adt_update,
    "ADT^A03": adt_discharge,
    "ADT^A11": adt_cancel,
    "RDE^O11": pharmacy_order,
    "ORM^O01": pharmacy_order,
}


# --- the entry point ---------------------------------------------------------------------------


def _process(text: str, now: datetime) -> tuple[Inbound | None, Result, Hl7Error | None]:
    inbound: Inbound | None = None
    try:
        inbound = message_parse(text)
        handler = HANDLERS.get(inbound.message_type)
        if handler is None:
            kind = inbound.message_type.split("^")[0]
            known = kind in {h.split("^")[0] for h in HANDLERS}
            raise Hl7Error(
                f"MSH-9: {inbound.message_type} is not processed here "
                f"(accepted: {', '.join(HANDLERS)}).",
                segment="MSH",
                field=9,
                code=UNSUPPORTED_EVENT_CODE if known else UNSUPPORTED_MESSAGE_TYPE,
                ack="AR",
            )
        with transaction.atomic():
            return inbound, handler(inbound, now), None
    except Hl7Error as exc:
        return inbound, Result(), exc
    except Exception as exc:  # noqa: BLE001 - a message must never take the listener down
        log.exception("HL7 message failed")
        return (
            inbound,
            Result(),
            Hl7Error(
                f"Internal error processing the message ({type(exc).__name__}); "
                "the interface team is told.",
                code=APPLICATION_ERROR,
            ),
        )


def _answer(record: InterfaceMessage, text: str, now: datetime) -> str:
    inbound, result, error = _process(text, now)
    code = error.ack if error else "AA"
    ack = ack_build(
        inbound_id=record.control_id,
        sender=record.sender,
        message_type=record.message_type,
        version=record.version,
        code=code,
        control_id=f"ACK{record.pk}-{record.attempts}",
        error=error,
        at=now,
        note=result.note,
    )
    record.outcome = {
        "AA": InterfaceMessage.Outcome.ACCEPTED,
        "AE": InterfaceMessage.Outcome.ERROR,
    }.get(code, InterfaceMessage.Outcome.REJECTED)
    record.error_location = error.location if error else ""
    record.error_text = error.text if error else ""
    record.ack = ack
    record.patient = result.patient
    record.encounter = result.encounter
    record.save()
    return ack


def message_receive(raw: bytes, *, peer: str = "", now: datetime | None = None) -> str:
    """Process one message (the bytes inside an MLLP frame) and return its ACK.

    Logged first (so a crash mid-way leaves a trace and a concurrent copy of the same control
    id waits for it), then processed in one transaction, then the log row gets the outcome."""
    now = now or timezone.now()
    text = text_normalise(raw)
    control_id, sender, message_type, version = header_peek(text)
    if control_id:
        done = InterfaceMessage.objects.filter(
            sender=sender, control_id=control_id, reuses=None
        ).first()
        if done is not None and done.outcome != InterfaceMessage.Outcome.RECEIVED:
            if same_message(done.raw, text):
                return done.ack  # a resend: answered as the first time, processed once
            return _control_id_reused(done, text, peer=peer, now=now)
    try:
        with transaction.atomic():
            record = InterfaceMessage.objects.create(
                control_id=control_id,
                sender=sender,
                message_type=message_type,
                version=version,
                peer=peer[:100],
                raw=text,
                received_at=now,
                outcome=InterfaceMessage.Outcome.RECEIVED,
            )
    except IntegrityError:  # the same message is being processed by another connection
        done = InterfaceMessage.objects.get(sender=sender, control_id=control_id)
        return done.ack or ack_build(
            inbound_id=control_id,
            sender=sender,
            message_type=message_type,
            version=version,
            code="AE",
            control_id=f"ACK{done.pk}-busy",
            error=Hl7Error("This control id is being processed: resend later."),
            at=now,
        )
    return _answer(record, text, now)


def same_message(first: str, second: str) -> bool:
    """The same message sent again: equal but for MSH-7 (the time it was sent), which a
    sender may stamp again on a resend."""
    return _without_send_time(first) == _without_send_time(second)


def _without_send_time(text: str) -> str:
    msh, _, rest = text.partition("\r")
    separator = msh[3:4] or "|"
    fields = msh.split(separator)
    if len(fields) > 6:
        fields[6] = ""
    return separator.join(fields) + "\r" + rest


def _control_id_reused(first: InterfaceMessage, text: str, *, peer: str, now: datetime) -> str:
    """A message under a sender and control id that an earlier, different message already used
    (a sender's counter reset, two feeds under one name). Answering it with the first one's ACK
    would tell the sender it was filed when it was dropped; processing it would break "once per
    control id" for true resends. It is logged apart (pointing at the first), not processed,
    answered AR with code 205 so the sender's team sees it, and shown in the interface log,
    where an administrator can process it after a look. A resend of it gets the same answer."""
    for earlier in first.reused_by.all():
        if same_message(earlier.raw, text):
            return earlier.ack
    error = Hl7Error(
        f"MSH-10: control id {first.control_id} was already used by a different message from "
        f"this sender (received {timezone.localtime(first.received_at):%Y-%m-%d %H:%M}); this "
        "message was not processed. Send it again under a new control id.",
        segment="MSH",
        field=10,
        code=DUPLICATE_KEY,
        ack="AR",
    )
    _, _, message_type, version = header_peek(text)
    record = InterfaceMessage.objects.create(
        control_id=first.control_id,
        sender=first.sender,
        message_type=message_type,
        version=version,
        peer=peer[:100],
        raw=text,
        received_at=now,
        outcome=InterfaceMessage.Outcome.REJECTED,
        error_location=error.location,
        error_text=error.text,
        reuses=first,
    )
    record.ack = ack_build(
        inbound_id=record.control_id,
        sender=record.sender,
        message_type=record.message_type,
        version=record.version,
        code="AR",
        control_id=f"ACK{record.pk}-{record.attempts}",
        error=error,
        at=now,
    )
    record.save(update_fields=["ack"])
    log.warning(
        "HL7 control id %s from %s reused by a different message (log #%s, first #%s)",
        first.control_id, first.sender, record.pk, first.pk,
    )  # fmt: skip
    return record.ack


def message_reprocess(
    *, message: InterfaceMessage, user: AbstractBaseUser, now: datetime | None = None
) -> InterfaceMessage:
    """Process a failed message again (after the formulary or the patient was fixed). The
    sender is not answered again: the new outcome and ACK are in the log."""
    if message.outcome == InterfaceMessage.Outcome.ACCEPTED:
        raise ValidationError("This message was accepted; it is not processed twice.")
    now = now or timezone.now()
    message.attempts += 1
    message.reprocessed_by = user  # type: ignore[assignment]
    message.reprocessed_at = now
    _answer(message, message.raw, now)
    message.refresh_from_db()
    return message
