"""Records as FHIR R4 resources, each validated with fhir.resources before it is served.

Ids are the database keys, except MedicationAdministration, whose id is the administration's
record id ("A12"), the one ChargeItem.service names; ChargeItem ids are "run<run>-line<n>" as in
the charge export (coding/exports.py), whose builder is reused.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.medicationadministration import (
    MedicationAdministration as FhirMedicationAdministration,
)
from fhir.resources.R4B.medicationrequest import MedicationRequest as FhirMedicationRequest
from fhir.resources.R4B.patient import Patient as FhirPatient

from coding.claim import claim_details
from coding.exports import Batch, Transaction, charge_item, fhir_system, sendable
from coding.fhir.models_compat import as_json, validated
from coding.models import ChargeRun
from coding.review import effective_lines
from mar.models import Administration, DoseBasis, Encounter, Order, Patient
from mar.record import administration_record_id

MRN_SYSTEM = "urn:infusion-mar:mrn"
ACCOUNT_SYSTEM = "urn:infusion-mar:account"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
GENDER = {"F": "female", "M": "male", "O": "other", "U": "unknown"}
ROUTE_TEXT = {
    "iv": "Intravenous",
    "sq": "Subcutaneous",
    "im": "Intramuscular",
    "ia": "Intra-arterial",
    "intralesional": "Intralesional",
    "intrathecal": "Intrathecal",
    "intracavitary": "Intracavitary",
}
UNIT_SUFFIX = {DoseBasis.PER_M2: "/m2", DoseBasis.PER_KG: "/kg"}


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def _meta(updated: datetime | None) -> dict[str, Any]:
    return {"lastUpdated": _instant(updated)} if updated else {}


def patient_resource(patient: Patient) -> dict[str, Any]:
    family, _, given = patient.name.partition(",")
    name: dict[str, Any] = {"text": patient.name}
    if given.strip():
        name.update({"family": family.strip(), "given": given.split()})
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": _meta(patient.updated_at),
        "identifier": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                        }
                    ]
                },
                "system": MRN_SYSTEM,
                "value": patient.mrn,
            }
        ],
        "name": [name],
    }
    if patient.sex:
        data["gender"] = GENDER[patient.sex]
    if patient.birth_date:
        data["birthDate"] = patient.birth_date.isoformat()
    return validated(FhirPatient, data)


def encounter_resource(encounter: Encounter) -> dict[str, Any]:
    period = {"start": _instant(encounter.arrived_at), "end": _instant(encounter.discharged_at)}
    data: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(encounter.pk),
        "meta": _meta(encounter.updated_at),
        "status": "finished" if encounter.is_signed else "in-progress",
        "class": {
            "system": ACT_CODE_SYSTEM,
            "code": "EMER" if "emergency" in encounter.unit.lower() else "AMB",
        },
        "type": [{"text": encounter.get_setting_display()}],
        "subject": {"reference": f"Patient/{encounter.patient_id}"},
        "period": {k: v for k, v in period.items() if v},
        "location": [
            {
                "location": {
                    "display": " ".join(p for p in (encounter.unit, encounter.location_label) if p)
                }
            }
        ],
    }
    if encounter.account_number:
        data["identifier"] = [{"system": ACCOUNT_SYSTEM, "value": encounter.account_number}]
    if encounter.attending:
        data["participant"] = [
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "ATND",
                            }
                        ]
                    }
                ],
                "individual": {"display": encounter.attending},
            }
        ]
    if not data["period"]:
        del data["period"]
    return validated(FhirEncounter, data)


def _medication(drug: Any) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": drug.name}
    if drug.hcpcs_code:
        concept["coding"] = [
            {"system": fhir_system(drug.hcpcs_code), "code": drug.hcpcs_code, "display": drug.name}
        ]
    return concept


def medication_request_resource(order: Order) -> dict[str, Any]:
    dosage: dict[str, Any] = {
        "text": " ".join(p for p in (order.dose, order.get_route_display()) if p),
        "route": {"text": ROUTE_TEXT.get(order.route, order.route)},
    }
    dose_and_rate: dict[str, Any] = {}
    if order.dose_value is not None:
        unit = "AUC" if order.dose_basis == DoseBasis.AUC else order.dose_unit
        unit += UNIT_SUFFIX.get(order.dose_basis, "")  # type: ignore[call-overload]
        dose_and_rate["doseQuantity"] = {"value": _number(order.dose_value), "unit": unit}
    if order.rate_value is not None:
        dose_and_rate["rateQuantity"] = {
            "value": _number(order.rate_value),
            "unit": order.rate_unit,
        }
    if dose_and_rate:
        dosage["doseAndRate"] = [dose_and_rate]
    if order.duration_minutes:
        dosage["timing"] = {"repeat": {"duration": order.duration_minutes, "durationUnit": "min"}}
    requester: dict[str, Any] = {"display": order.ordering_provider or "unknown"}
    if order.ordering_provider_npi:
        requester["identifier"] = {"system": NPI_SYSTEM, "value": order.ordering_provider_npi}
    data: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": str(order.pk),
        "meta": _meta(order.updated_at),
        "status": order_status(order),
        "intent": "order",
        "medicationCodeableConcept": _medication(order.drug),
        "subject": {"reference": f"Patient/{order.encounter.patient_id}"},
        "encounter": {"reference": f"Encounter/{order.encounter_id}"},
        "authoredOn": _instant(order.created_at),
        "requester": requester,
        "dosageInstruction": [dosage],
    }
    if order.indication_code or order.indication:
        reason: dict[str, Any] = {"text": order.indication or order.indication_code}
        if order.indication_code:
            reason["coding"] = [{"system": ICD10_SYSTEM, "code": order.indication_code}]
        data["reasonCode"] = [reason]
    if order.entered_by_id:
        data["recorder"] = {"display": order.entered_by.get_username()}  # type: ignore[union-attr]
    if order.disposition and order.disposition_reason:
        data["statusReason"] = {"text": order.disposition_reason}
    return validated(FhirMedicationRequest, data)


def order_status(order: Order) -> str:
    """FHIR R4 MedicationRequest.status: an order documented not given or refused is
    `cancelled` (withdrawn before any administration), one held is `on-hold` while the visit is
    charted (`cancelled` once signed: it was never given); otherwise `active` while charted and
    `completed` once the record is signed."""
    signed = order.encounter.is_signed
    if order.disposition == Order.Disposition.HELD and not signed:
        return "on-hold"
    if order.disposition:
        return "cancelled"
    return "completed" if signed else "active"


def _charted_rate(adm: Administration) -> tuple[Decimal, str] | None:
    """The rate the administration ran at, as charted: the last rate change (titration), else the
    rate it was started at, else the order's rate; None when none was charted or ordered."""
    changes = list(adm.rate_changes.all())  # ordered by time; prefetched by the search
    if changes:
        return changes[-1].rate_ml_h, "mL/h"
    if adm.rate_ml_h is not None:
        return adm.rate_ml_h, "mL/h"
    order = adm.order
    if order is not None and order.rate_value is not None:
        return order.rate_value, order.rate_unit or "mL/h"
    return None


def administration_status(adm: Administration) -> str:
    """FHIR R4 MedicationAdministration.status: a push or an injection is given at its moment
    (completed); an infusion is completed once stopped, in-progress while the record is charted,
    and `unknown` on a signed record that never charted its stop (the signature's RAC-7 error,
    acknowledged: nobody knows when it ended)."""
    if adm.method != Administration.Method.INFUSION or adm.stop is not None:
        return "completed"
    return "unknown" if adm.encounter.is_signed else "in-progress"


def medication_administration_resource(adm: Administration) -> dict[str, Any]:
    period = {"start": _instant(adm.start)}
    if adm.stop:
        period["end"] = _instant(adm.stop)
    dosage: dict[str, Any] = {
        "route": {"text": ROUTE_TEXT.get(adm.route, adm.route)},
        "method": {"text": adm.get_method_display()},
    }
    if adm.dose_value is not None:
        dosage["dose"] = {"value": _number(adm.dose_value), "unit": adm.dose_unit}
    rate = _charted_rate(adm)
    if rate is not None:
        dosage["rateQuantity"] = {"value": _number(rate[0]), "unit": rate[1]}
    if adm.site_id:
        dosage["site"] = {"text": str(adm.site)}
    data: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": administration_record_id(adm.pk),
        "meta": _meta(adm.updated_at),
        "status": administration_status(adm),
        "medicationCodeableConcept": _medication(adm.drug),
        "subject": {"reference": f"Patient/{adm.encounter.patient_id}"},
        "context": {"reference": f"Encounter/{adm.encounter_id}"},
        "effectivePeriod": period,
        "dosage": dosage,
    }
    if adm.created_by_id:
        data["performer"] = [{"actor": {"display": adm.created_by.get_username()}}]  # type: ignore[union-attr]
    if adm.order_id:
        data["request"] = {"reference": f"MedicationRequest/{adm.order_id}"}
    return validated(FhirMedicationAdministration, data)


def charge_item_resources(run: ChargeRun) -> list[dict[str, Any]]:
    """The run's lines as the coder left them (corrections applied), each built as the export
    builds a charge (coding/exports.py: charge_item), with the id "run<run>-line<n>"."""
    batch = Batch(run.encounter, run, effective_lines(run))
    out = []
    details = claim_details(run.encounter, batch.lines, run=run)
    for n, (line, detail) in enumerate(zip(batch.lines, details, strict=True), start=1):
        tx = Transaction("CG", f"run{run.pk}-line{n}", sendable(line, detail), line=line)
        resource = as_json(charge_item(batch, tx))
        resource["meta"] = {"lastUpdated": _instant(run.created_at)}
        out.append(resource)
    return out
