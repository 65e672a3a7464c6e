"""Export accepted charges to billing: CSV, HL7 v2.5 DFT^P03 and FHIR R4 ChargeItem.

An export sends, per encounter, only what changed since the billing system last heard of it
(coding/ledger.py): credits (CD) reversing standing charges that changed or went away, under the
transaction id they were sent with, and charges (CG) for new lines. An encounter with no change
sends nothing. Messages and resources are built with maintained libraries (hl7apy,
fhir.resources) and validated by them before they leave.

Every text put into HL7 is escaped here (E, F, S, T, R escape sequences; sequences already in
the text included); a control character (CR, LF, a Unicode line separator) or a value longer than
its field are refused, never cut. An encounter that cannot be exported is named as refused, with
why, and the others go. CSV cells go through mar/csv_safe.py (quoted, formulas neutralised).
Times carry the encounter's zone offset.

FHIR: fhir.resources 8 (pydantic 2) validates every ChargeItem and the Bundle with its R4B (4.3)
models, which read and write the R4 ChargeItem and Bundle elements used here unchanged
(tests/coding/test_exports.py checks the JSON against the R4 element lists).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from coding import claim
from coding.claim import claim_details, ndc_exact, record_facts
from coding.ledger import Sendable, ledger_difference, next_transaction_number, standing_charges
from coding.models import ChargeRun, Export, LedgerEntry, ReviewItem
from coding.review import MAX_UNITS, EffectiveLine, charge_edits_for_run, effective_lines
from mar.csv_safe import csv_dicts_write
from mar.models import Encounter

HL7_VERSION = "2.5"
SENDING_APPLICATION = "INFUSIONMAR"
RECEIVING_APPLICATION = "BILLING"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "urn:oid:2.16.840.1.113883.6.285"
MRN_SYSTEM = "urn:infusion-mar:mrn"
ACCOUNT_SYSTEM = "urn:infusion-mar:account"
LINE_SYSTEM = "urn:infusion-mar:charge-line"
MODIFIER_EXTENSION = "https://infusion-mar.example/fhir/StructureDefinition/charge-modifier"
REVENUE_EXTENSION = "https://infusion-mar.example/fhir/StructureDefinition/charge-revenue-code"
UNIT_PRICE_EXTENSION = "https://infusion-mar.example/fhir/StructureDefinition/charge-unit-price"
REVENUE_SYSTEM = "https://www.nubc.org/CodeSystem/RevenueCodes"
CURRENCY = "USD"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
USER_SYSTEM = "urn:infusion-mar:user"
N4_UNIT_SYSTEM = "urn:infusion-mar:837i-n4-unit"
NDC_QUANTITY_EXTENSION = "https://infusion-mar.example/fhir/StructureDefinition/charge-ndc-quantity"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROVIDER_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0443"
CSV_COLUMNS = [
    "export",
    "encounter",
    "account_number",
    "mrn",
    "patient",
    "unit",
    "transaction",
    "transaction_id",
    "line",
    "date_of_service",
    "code",
    "units",
    "modifiers",
    "revenue_code",
    "description",
    "unit_price",
    "amount",
    "ndc",
    "ndc_unit",
    "ndc_quantity",
    "diagnoses",
    "ordering_provider",
    "ordering_npi",
    "performed_by",
    "administrations",
    "source",
    "corrected",
    "correction_reason",
    "corrected_by",
    "original_code",
    "original_units",
    "original_modifiers",
    "why",
    "engine_why",
    "rules",
]


class ExportRefused(Exception):
    """One encounter cannot be sent as it stands; the message says what to fix."""


@dataclass
class Transaction:
    """One FT1 / CSV row / ChargeItem: a charge of an accepted line, or a credit of a charge."""

    kind: str  # "CG" or "CD"
    transaction_id: str
    sendable: Sendable
    line: EffectiveLine | None = None  # the accepted line of a charge
    reverses: LedgerEntry | None = None  # the standing charge a credit reverses


@dataclass
class Batch:
    """One encounter's part of an export: what changed since billing last heard of it."""

    encounter: Encounter
    run: ChargeRun
    lines: list[EffectiveLine]
    transactions: list[Transaction] = field(default_factory=list)


def is_hcpcs_level2(code: str) -> bool:
    return code[:1].isalpha()


def hl7_coding_system(code: str) -> str:
    return "HCPCS" if is_hcpcs_level2(code) else "C4"


def fhir_system(code: str) -> str:
    return HCPCS_SYSTEM if is_hcpcs_level2(code) else CPT_SYSTEM


def _zone(encounter: Encounter) -> ZoneInfo:
    try:
        return ZoneInfo(encounter.timezone)
    except (ValueError, KeyError) as exc:
        raise ExportRefused(f"the encounter's time zone {encounter.timezone!r} is unknown") from exc


def hl7_ts(value: datetime, zone: ZoneInfo) -> str:
    """HL7 DTM with the zone offset: 2026-03-02 01:21 New York -> 20260302012100-0500."""
    return value.astimezone(zone).strftime("%Y%m%d%H%M%S%z")


@dataclass(frozen=True)
class PersonName:
    """A person's name as HL7 v2's XCN carries it: family (XCN-2), given (XCN-3), prefix
    (XCN-6, "Dr"), degree (XCN-7, "MD")."""

    family: str
    given: str = ""
    prefix: str = ""
    degree: str = ""


# Titles written before a name and degrees written after it (XCN-6 prefix, XCN-7 degree, HL7 v2.5
# §2.A.88): "Dr. Ada Lovelace" is Lovelace^Ada with prefix Dr, never family Lovelace, given "Dr.
# Ada" (QA). Matched without case and without the trailing dot; sent as spelled here.
NAME_PREFIXES = {"dr": "Dr", "doctor": "Dr", "prof": "Prof", "professor": "Prof"}
NAME_DEGREES = {
    d.replace("-", "").lower(): d
    for d in ("MD", "DO", "NP", "PA", "PA-C", "APRN", "CNS", "CRNA", "DNP", "PhD", "PharmD", "RN")
}


def _name_word(word: str) -> str:
    return word.strip(" .,").replace(".", "").replace("-", "").lower()


def _is_degree(word: str, *, after_comma: bool) -> bool:
    """A degree as written after a name: "MD", "M.D.", "PhD", or any spelling after a comma
    ("Ada Lovelace, md"). "Ana Do" keeps her family name: a degree in other case needs a comma."""
    key = _name_word(word)
    if key not in NAME_DEGREES:
        return False
    bare = word.strip(" .,").replace(".", "")
    return after_comma or bare.isupper() or bare in (NAME_DEGREES[key], key.upper())


def person_name_parts(name: str) -> PersonName:
    """A person named as people write it ("Amara Okafor", "Dr. Ada Lovelace", "Ada Lovelace,
    MD", "Prof. Grace Hopper PhD"): titles before the name go to the prefix, degrees after it to
    the degree (several joined by a space), the last word left is the family name, the words
    before it the given name."""
    words = name.split()
    prefixes: list[str] = []
    while len(words) > 1 and _name_word(words[0]) in NAME_PREFIXES:
        prefixes.append(NAME_PREFIXES[_name_word(words.pop(0))])
    degrees: list[str] = []
    while len(words) > 1 and _is_degree(words[-1], after_comma=words[-2].endswith(",")):
        degrees.insert(0, NAME_DEGREES[_name_word(words.pop())])
    words = [w.strip(",") for w in words if w.strip(",")]
    if not words:
        return PersonName(name.strip())
    return PersonName(words[-1], " ".join(words[:-1]), " ".join(prefixes), " ".join(degrees))


def _patient_name_parts(name: str) -> tuple[str, str]:
    """A patient as registration and ADT keep the name, "Family, Given Middle" (as the FHIR
    Patient reads it); a name without a comma is sent whole as the family name, never split
    at a guess (walk20: "Lopez, Maria" went to billing as family "Maria", given "Lopez,")."""
    family, _, given = name.partition(",")
    return " ".join(family.split()) or name.strip(), " ".join(given.split())


def sendable(
    line: EffectiveLine, detail: dict[str, Any] | None = None, ndc_exact: Fraction | None = None
) -> Sendable:
    """The line as billing receives it; `detail` is what coding/claim.py adds (price, ...),
    `ndc_exact` the exact NDC quantity its `ndc_quantity` is rounded from (`claim.ndc_exact`),
    under the rule exports use now (`claim.NDC_ROUNDING`)."""
    return Sendable(
        line.code,
        tuple(line.modifiers),
        line.units,
        line.date,
        tuple(line.administrations),
        dict(detail or {}),
        ndc_exact=ndc_exact,
        ndc_rounding=claim.NDC_ROUNDING,
    )


# --- HL7 text -------------------------------------------------------------------------------

_HL7_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def hl7_escape(value: str, *, label: str) -> str:
    """`value` as HL7 v2 text: the escape character first, then the four delimiters.

    A control character (CR would end the segment) or a line/paragraph separator is refused:
    the field would not reach billing as the nurse or coder wrote it."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise ExportRefused(f"{label} contains a control character ({name}): {value!r}")
    for raw, escaped in _HL7_ESCAPES:
        value = value.replace(raw, escaped)
    return value


def hl7_unescape(value: str) -> str:
    """The text an escaped HL7 value stands for (for reading back)."""
    out, i = [], 0
    table = {"E": "\\", "F": "|", "S": "^", "T": "&", "R": "~"}
    while i < len(value):
        if value[i] == "\\" and i + 2 < len(value) and value[i + 2] == "\\":
            if value[i + 1] in table:
                out.append(table[value[i + 1]])
                i += 3
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _put(target: Any, attribute: str, value: str, *, label: str, text: bool = True) -> None:
    """Set one HL7 element; a value HL7 cannot carry whole refuses the encounter."""
    escaped = hl7_escape(value, label=label) if text else value
    try:
        setattr(target, attribute, escaped)
    except Exception as exc:  # hl7apy: MaxLengthReached, MaxChildLimitReached, ...
        raise ExportRefused(f"{label} cannot be sent in HL7 ({value!r}): {exc}") from exc


# --- CSV ----------------------------------------------------------------------------------


def csv_rows(batch: Batch, *, export_id: int) -> list[dict[str, Any]]:
    encounter, patient = batch.encounter, batch.encounter.patient
    rows = []
    for n, tx in enumerate(batch.transactions, start=1):
        line = tx.line
        original = (line.original if line is not None else None) or {}
        correction = line.correction if line is not None else None
        s = tx.sendable
        d = s.detail
        rows.append(
            {
                "export": export_id,
                "encounter": encounter.pk,
                "account_number": encounter.account_number,
                "mrn": patient.mrn,
                "patient": patient.name,
                "unit": encounter.unit,
                "transaction": tx.kind,
                "transaction_id": tx.transaction_id,
                "line": n,
                "date_of_service": s.date.isoformat(),
                "code": s.code,
                "units": s.units,
                "modifiers": " ".join(s.modifiers),
                "revenue_code": d.get("revenue_code", ""),
                "description": d.get("description", ""),
                "unit_price": d.get("unit_price", ""),
                "amount": d.get("amount", ""),
                "ndc": d.get("ndc", ""),
                "ndc_unit": d.get("ndc_unit", ""),
                "ndc_quantity": d.get("ndc_quantity", ""),
                "diagnoses": " ".join(d.get("diagnoses", [])),
                "ordering_provider": d.get("ordered_by", {}).get("name", ""),
                "ordering_npi": d.get("ordered_by", {}).get("npi", ""),
                "performed_by": d.get("performed_by", {}).get("id", ""),
                "administrations": " ".join(s.administrations),
                "source": line.source if line is not None else "credit",
                "corrected": "yes" if correction is not None else "no",
                "correction_reason": correction.reason if correction else "",
                "corrected_by": correction.by.get_username() if correction else "",
                "original_code": original.get("code", ""),
                "original_units": original.get("units", ""),
                "original_modifiers": " ".join(original.get("modifiers", [])),
                "why": line.why if line is not None else _credit_why(tx, batch.encounter),
                "engine_why": line.engine_why if line is not None else "",
                "rules": " ".join(line.rules) if line is not None else "",
            }
        )
    return rows


def _credit_why(tx: Transaction, encounter: Encounter) -> str:
    assert tx.reverses is not None
    why = f"reverses {tx.transaction_id} sent in export {tx.reverses.export_id}"
    if encounter.account_number and tx.reverses.account_number != encounter.account_number:
        # Sent before registration entered the account number: charged again under it.
        why += f" without account number {encounter.account_number} (entered since)"
    return why


def csv_render(rows: list[dict[str, Any]]) -> str:
    return csv_dicts_write(CSV_COLUMNS, rows)


# --- HL7 v2 DFT^P03 -----------------------------------------------------------------------


def hl7_message(batch: Batch, *, control_id: str, batch_id: str, at: datetime) -> Message:
    """One DFT^P03 per encounter: MSH, EVN, PID, PV1, then one FT1 per transaction."""
    encounter, patient = batch.encounter, batch.encounter.patient
    zone = _zone(encounter)
    msg = Message("DFT_P03", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    msg.msh.msh_3.hd_1 = SENDING_APPLICATION
    msg.msh.msh_5.hd_1 = RECEIVING_APPLICATION
    msg.msh.msh_7.ts_1 = hl7_ts(at, zone)
    msg.msh.msh_9.msg_1 = "DFT"
    msg.msh.msh_9.msg_2 = "P03"
    msg.msh.msh_9.msg_3 = "DFT_P03"
    msg.msh.msh_10 = control_id
    msg.msh.msh_11.pt_1 = "P"
    msg.msh.msh_12.vid_1 = HL7_VERSION
    msg.msh.msh_18 = "UNICODE UTF-8"
    msg.evn.evn_1 = "P03"
    msg.evn.evn_2.ts_1 = hl7_ts(at, zone)
    msg.pid.pid_1 = "1"
    _put(msg.pid.pid_3, "cx_1", patient.mrn, label="MRN (PID-3)")
    msg.pid.pid_3.cx_5 = "MR"
    family, given = _patient_name_parts(patient.name)
    _put(msg.pid.pid_5.xpn_1, "fn_1", family, label="patient family name (PID-5.1)")
    if given:
        _put(msg.pid.pid_5, "xpn_2", given, label="patient given name (PID-5.2)")
    if patient.birth_date:
        msg.pid.pid_7.ts_1 = patient.birth_date.strftime("%Y%m%d")
    if encounter.account_number:
        _put(msg.pid.pid_18, "cx_1", encounter.account_number, label="account number (PID-18)")
    msg.pv1.pv1_2 = "O"  # outpatient
    _put(msg.pv1.pv1_3, "pl_1", encounter.unit, label="unit (PV1-3.1)")
    _put(
        msg.pv1.pv1_19,
        "cx_1",
        encounter.account_number or str(encounter.pk),
        label="visit number (PV1-19)",
    )
    for n, tx in enumerate(batch.transactions, start=1):
        s = tx.sendable
        group = msg.add_group("DFT_P03_FINANCIAL")
        ft1 = group.ft1
        ft1.ft1_1 = str(n)
        _put(ft1, "ft1_2", tx.transaction_id, label="transaction id (FT1-2)")
        ft1.ft1_3 = batch_id
        ft1.ft1_4.dr_1.ts_1 = s.date.strftime("%Y%m%d")
        ft1.ft1_5.ts_1 = hl7_ts(at, zone)
        ft1.ft1_6 = tx.kind
        _put(ft1.ft1_7, "ce_1", s.code, label="code (FT1-7)")
        ft1.ft1_7.ce_3 = hl7_coding_system(s.code)
        d = s.detail
        if d.get("revenue_code"):
            # The charge master's description and the UB-04 revenue code (FT1 of v2.5 has no
            # revenue code field: it goes as the transaction code's alternate, system NUBC).
            _put(ft1.ft1_7, "ce_2", d["description"], label="description (FT1-7.2)")
            _put(ft1.ft1_7, "ce_4", d["revenue_code"], label="revenue code (FT1-7.4)")
            ft1.ft1_7.ce_6 = "NUBC"
        _put(ft1, "ft1_10", str(s.units), label="quantity (FT1-10)", text=False)
        if d.get("amount"):
            ft1.ft1_11.cp_1.mo_1 = d["amount"]
            ft1.ft1_11.cp_1.mo_2 = CURRENCY
            ft1.ft1_12.cp_1.mo_1 = d["unit_price"]
            ft1.ft1_12.cp_1.mo_2 = CURRENCY
        _put(ft1.ft1_13, "ce_1", encounter.unit, label="department (FT1-13)")
        _put(ft1.ft1_25, "ce_1", s.code, label="procedure code (FT1-25)")
        ft1.ft1_25.ce_3 = hl7_coding_system(s.code)
        for modifier in s.modifiers:
            field_ = ft1.add_field("FT1_26")
            _put(field_, "ce_1", modifier, label="modifier (FT1-26)")
            field_.ce_3 = hl7_coding_system(modifier)
        _hl7_people(ft1, d)
        if d.get("ndc"):
            # FT1-29 the NDC; the 837I's N4 data (NDC, unit, quantity) in the UB-04 form
            # "N4<ndc><unit><quantity>" as a note on the transaction.
            ft1.ft1_29.cne_1 = d["ndc"]
            ft1.ft1_29.cne_3 = "NDC"
            nte = group.add_segment("NTE")
            nte.nte_1 = "1"
            nte.nte_3 = f"N4{d['ndc']}{d['ndc_unit']}{d['ndc_quantity']}"
    for n, code in enumerate(_batch_diagnoses(batch), start=1):
        dg1 = msg.add_segment("DG1")
        dg1.dg1_1 = str(n)
        _put(dg1.dg1_3, "ce_1", code, label="diagnosis (DG1-3)")
        dg1.dg1_3.ce_3 = "I10C"
        dg1.dg1_6 = "F"
    try:
        valid = msg.validate()  # raises on a structural error in STRICT mode
    except Exception as exc:
        raise ExportRefused(f"the DFT^P03 message did not validate: {exc}") from exc
    if not valid:
        raise ExportRefused("the DFT^P03 message did not validate")
    return msg


def _batch_diagnoses(batch: Batch) -> list[str]:
    out: list[str] = []
    for tx in batch.transactions:
        for code in tx.sendable.detail.get("diagnoses", []):
            if code not in out:
                out.append(code)
    return out


def _hl7_people(ft1: Any, d: dict[str, Any]) -> None:
    """FT1-19 diagnoses, FT1-20 performed by (the nurse), FT1-21 ordered by (NPI)."""
    for code in d.get("diagnoses", []):
        field_ = ft1.add_field("FT1_19")
        _put(field_, "ce_1", code, label="diagnosis (FT1-19)")
        field_.ce_3 = "I10C"
    performer = d.get("performed_by")
    if performer:
        _put(ft1.ft1_20, "xcn_1", performer["id"], label="performed by (FT1-20.1)")
        _put_xcn_name(ft1.ft1_20, performer["name"], label="performed by (FT1-20)")
    orderer = d.get("ordered_by")
    if orderer:
        if orderer.get("npi"):
            ft1.ft1_21.xcn_1 = orderer["npi"]
            ft1.ft1_21.xcn_9.hd_1 = "NPI"
            ft1.ft1_21.xcn_13 = "NPI"
        _put_xcn_name(ft1.ft1_21, orderer["name"], label="ordered by (FT1-21)")


def _put_xcn_name(xcn: Any, name: str, *, label: str) -> None:
    """A person's name in an XCN: family (2), given (3), prefix (6), degree (7)."""
    parts = person_name_parts(name)
    _put(xcn.xcn_2, "fn_1", parts.family, label=f"{label[:-1]}.2)")
    if parts.given:
        _put(xcn, "xcn_3", parts.given, label=f"{label[:-1]}.3)")
    if parts.prefix:
        _put(xcn, "xcn_6", parts.prefix, label=f"{label[:-1]}.6)")
    if parts.degree:
        _put(xcn, "xcn_7", parts.degree, label=f"{label[:-1]}.7)")


# --- FHIR R4 ChargeItem -------------------------------------------------------------------


def _fhir_parse(model: Any, data: dict[str, Any]) -> Any:
    parse = getattr(model, "model_validate", None) or model.parse_obj
    return parse(data)


def _fhir_dict(resource: Any) -> dict[str, Any]:
    dump = getattr(resource, "model_dump_json", None)
    text = dump(exclude_none=True) if dump is not None else resource.json(exclude_none=True)
    result: dict[str, Any] = json.loads(text)
    return result


def charge_item(batch: Batch, tx: Transaction) -> Any:
    encounter, patient = batch.encounter, batch.encounter.patient
    s = tx.sendable
    context: dict[str, Any] = {"reference": f"Encounter/{encounter.pk}"}
    if encounter.account_number:
        context["identifier"] = {"system": ACCOUNT_SYSTEM, "value": encounter.account_number}
    data: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": tx.transaction_id,
        "identifier": [{"system": LINE_SYSTEM, "value": tx.transaction_id}],
        "status": "billable" if tx.kind == "CG" else "entered-in-error",
        "code": {"coding": [{"system": fhir_system(s.code), "code": s.code}]},
        "subject": {
            "reference": f"Patient/{patient.pk}",
            "identifier": {"system": MRN_SYSTEM, "value": patient.mrn},
            "display": patient.name,
        },
        "context": context,
        "occurrenceDateTime": s.date.isoformat(),
        "quantity": {"value": s.units},
        # The administrations the line covers, by their record ids (mar/record.py).
        "service": [{"reference": f"MedicationAdministration/{a}"} for a in s.administrations],
    }
    if tx.line is not None:
        data["note"] = [{"text": tx.line.why}]
        if tx.line.correction is not None:
            data["overrideReason"] = tx.line.correction.reason
    else:
        data["note"] = [{"text": _credit_why(tx, batch.encounter)}]
    extensions: list[dict[str, Any]] = [
        {"url": MODIFIER_EXTENSION, "valueCoding": {"system": fhir_system(m), "code": m}}
        for m in s.modifiers
    ]
    d = s.detail
    if d.get("amount"):
        # R4's ChargeItem has no price of its own (R5's totalPriceComponent): the line's total
        # is priceOverride, the charge master's unit price and revenue code are extensions.
        data["priceOverride"] = {"value": Decimal(d["amount"]), "currency": CURRENCY}
        extensions.append(
            {
                "url": UNIT_PRICE_EXTENSION,
                "valueMoney": {"value": Decimal(d["unit_price"]), "currency": CURRENCY},
            }
        )
        extensions.append(
            {
                "url": REVENUE_EXTENSION,
                "valueCoding": {
                    "system": REVENUE_SYSTEM,
                    "code": d["revenue_code"],
                    "display": d["description"],
                },
            }
        )
    if d.get("ndc"):
        data["productCodeableConcept"] = {"coding": [{"system": NDC_SYSTEM, "code": d["ndc"]}]}
        extensions.append(
            {
                "url": NDC_QUANTITY_EXTENSION,
                "valueQuantity": {
                    "value": Decimal(d["ndc_quantity"]),
                    "unit": d["ndc_unit"],
                    "system": N4_UNIT_SYSTEM,
                    "code": d["ndc_unit"],
                },
            }
        )
    if d.get("diagnoses"):
        data["reason"] = [
            {"coding": [{"system": ICD10_SYSTEM, "code": code}]} for code in d["diagnoses"]
        ]
    performers = []
    if d.get("performed_by"):
        performers.append(
            {
                "function": {"coding": [{"system": PARTICIPATION_SYSTEM, "code": "PRF"}]},
                "actor": {
                    "identifier": {"system": USER_SYSTEM, "value": d["performed_by"]["id"]},
                    "display": d["performed_by"]["name"],
                },
            }
        )
    if d.get("ordered_by"):
        actor: dict[str, Any] = {"display": d["ordered_by"]["name"]}
        if d["ordered_by"].get("npi"):
            actor["identifier"] = {"system": NPI_SYSTEM, "value": d["ordered_by"]["npi"]}
        performers.append(
            {
                "function": {"coding": [{"system": PROVIDER_ROLE_SYSTEM, "code": "OP"}]},
                "actor": actor,
            }
        )
    if performers:
        data["performer"] = performers
    if extensions:
        data["extension"] = extensions
    try:
        return _fhir_parse(ChargeItem, data)
    except Exception as exc:  # pydantic's ValidationError, whichever major version
        raise ExportRefused(f"the FHIR ChargeItem {tx.transaction_id} is not valid: {exc}") from exc


def fhir_render(entries: list[dict[str, Any]], *, at: datetime) -> str:
    bundle = _fhir_parse(
        Bundle,
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": timezone.localtime(at).isoformat(),
            "entry": entries,
        },
    )
    return json.dumps(_fhir_dict(bundle), indent=2)


def fhir_entries(batch: Batch) -> list[dict[str, Any]]:
    entries = []
    for tx in batch.transactions:
        item = charge_item(batch, tx)
        entries.append(
            {
                "fullUrl": f"urn:infusion-mar:ChargeItem/{tx.transaction_id}",
                "resource": _fhir_dict(item),
            }
        )
    return entries


# --- the export itself --------------------------------------------------------------------


@dataclass
class ExportOutcome:
    export: Export | None
    refused: list[str] = field(default_factory=list)  # "patient (encounter n): why"
    blocked: list[str] = field(default_factory=list)  # open edits
    unchanged: list[str] = field(default_factory=list)  # nothing to send: billing already has it

    @property
    def skipped(self) -> list[str]:
        return self.blocked + self.refused


def _plan(batch: Batch) -> None:
    """The batch's transactions: credits of standing charges with no identical accepted line,
    then charges of accepted lines with no identical standing charge."""
    for line in batch.lines:
        if line.units > MAX_UNITS:
            raise ExportRefused(
                f"{line.code} has {line.units} units: more than {MAX_UNITS} on one line"
            )
    # The run's formulary facts: a billed line's NDC is the one its run was made with.
    facts = record_facts(batch.encounter, run=batch.run)
    details = claim_details(batch.encounter, batch.lines, run=batch.run, facts=facts)
    desired = [
        sendable(line, detail, ndc_exact(line, facts))
        for line, detail in zip(batch.lines, details, strict=True)
    ]
    # A charge billed without the account number entered since is credited and sent again
    # under it (coding/ledger.py `sent_without_account`): the bill carries the number.
    difference = ledger_difference(
        standing_charges(batch.encounter.pk),
        desired,
        account_number=batch.encounter.account_number,
    )
    for entry in difference.credits:
        batch.transactions.append(
            Transaction("CD", entry.transaction_id, Sendable.of_entry(entry), reverses=entry)
        )
    number = next_transaction_number(batch.encounter.pk)
    for offset, index in enumerate(difference.new):
        batch.transactions.append(
            Transaction(
                "CG",
                f"E{batch.encounter.pk}-{number + offset}",
                desired[index],
                line=batch.lines[index],
            )
        )


def _who(batch: Batch) -> str:
    return f"{batch.encounter.patient.name} (encounter {batch.encounter.pk})"


@transaction.atomic
def export_create(*, user: AbstractBaseUser) -> ExportOutcome:
    """Export every accepted item with no blocking edit: what changed since billing last heard.

    The items are locked (skip locked: one being exported by another coder right now is left to
    that export). An encounter that cannot be sent (a field HL7 cannot carry, an invalid FHIR
    resource) is refused by name with why and stays accepted; the others go. Sent encounters
    are marked EXPORTED and their runs get exported_at; their transactions go to the ledger.
    """
    items = list(
        ReviewItem.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=ReviewItem.State.ACCEPTED, run__isnull=False)
        .select_related("encounter__patient", "run")
        .prefetch_related(
            "run__lines",
            "run__corrections__by",
            "run__corrections__decided_by",
            "run__edit_overrides",
        )
        .order_by("pk")
    )
    outcome = ExportOutcome(export=None)
    at = timezone.now()
    export = Export(created_by=user, csv_text="", hl7_text="", fhir_json="", created_at=at)
    export.save()
    batch_id = f"X{export.pk}"
    rows: list[dict[str, Any]] = []
    messages: list[str] = []
    entries: list[dict[str, Any]] = []
    sent: list[Batch] = []
    done: list[Batch] = []
    for item in items:
        run = item.run
        assert run is not None
        lines = effective_lines(run)
        batch = Batch(item.encounter, run, lines)
        blocking = charge_edits_for_run(run, lines).blocking
        if blocking:
            outcome.blocked.append(
                f"{_who(batch)}: "
                + "; ".join(f"{e.finding.rule} {e.finding.message}" for e in blocking)
            )
            continue
        try:
            with transaction.atomic():  # a refused encounter leaves nothing behind
                _plan(batch)
                if not batch.transactions:
                    outcome.unchanged.append(_who(batch))
                    done.append(batch)
                    continue
                batch_rows = csv_rows(batch, export_id=export.pk)
                message = hl7_message(
                    batch,
                    control_id=f"X{export.pk}E{batch.encounter.pk}",
                    batch_id=batch_id,
                    at=at,
                ).to_er7()
                batch_entries = fhir_entries(batch)
                csv_render(batch_rows)  # every cell writable
        except ExportRefused as exc:
            outcome.refused.append(f"{_who(batch)}: {exc}")
            continue
        rows.extend(batch_rows)
        messages.append(message)
        entries.extend(batch_entries)
        sent.append(batch)
    if not sent and not done:
        reasons = outcome.skipped
        raise ValidationError(
            "Nothing to export: no accepted charges that can be sent."
            + (" " + " | ".join(reasons) if reasons else "")
        )
    if sent:
        export.csv_text = csv_render(rows)
        export.hl7_text = "\n".join(messages) + "\n"
        export.fhir_json = fhir_render(entries, at=at)
        export.save(update_fields=["csv_text", "hl7_text", "fhir_json"])
        export.runs.set([b.run for b in sent])
        for batch in sent:
            _ledger_write(batch, export=export, at=at)
        outcome.export = export
    else:
        export.delete()  # nothing was sent: no empty export on the list
    run_ids = [b.run.pk for b in sent + done]
    ChargeRun.objects.filter(pk__in=run_ids).update(exported_at=at)
    ReviewItem.objects.filter(run_id__in=run_ids, state=ReviewItem.State.ACCEPTED).update(
        state=ReviewItem.State.EXPORTED, updated_at=at
    )
    return outcome


def _ledger_write(batch: Batch, *, export: Export, at: datetime) -> None:
    for tx in batch.transactions:
        s = tx.sendable
        LedgerEntry.objects.create(
            encounter=batch.encounter,
            export=export,
            run=batch.run,
            kind=tx.kind,
            transaction_id=tx.transaction_id,
            reverses=tx.reverses,
            code=s.code,
            modifiers=list(s.modifiers),
            units=s.units,
            date=s.date,
            administrations=list(s.administrations),
            detail=s.detail,
            ndc_rounding=s.ndc_rounding,  # a credit's: the rule of the charge it reverses
            account_number=batch.encounter.account_number,
            at=at,
        )


def ledger_sum(encounter_id: int) -> dict[tuple[str, tuple[str, ...], date], int]:
    """Units per (code, modifiers, date) standing at billing: charges minus credits."""
    total: dict[tuple[str, tuple[str, ...], date], int] = {}
    for entry in LedgerEntry.objects.filter(encounter_id=encounter_id):
        key = (entry.code, tuple(entry.modifiers), entry.date)
        sign = 1 if entry.kind == LedgerEntry.Kind.CHARGE else -1
        total[key] = total.get(key, 0) + sign * entry.units
    return {k: v for k, v in total.items() if v}


EXPORT_FORMATS = {
    "csv": ("csv_text", "text/csv", "csv"),
    "hl7": ("hl7_text", "x-application/hl7-v2+er7", "hl7"),
    "fhir": ("fhir_json", "application/fhir+json", "json"),
}
