"""A transaction Bundle as another EHR's MAR would send one: a chemotherapy visit."""

from __future__ import annotations

from typing import Any

NPI = "http://hl7.org/fhir/sid/us-npi"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def chemo_visit_bundle(
    *, mrn: str = "EXT-501", account: str = "EXT-V-501", day: str = "2026-03-02"
) -> dict[str, Any]:
    def at(hhmm: str) -> str:
        return f"{day}T{hhmm}:00-05:00"

    def request(
        ref: str, drug: str, dose: float, unit: str, icd: str, **extra: Any
    ) -> dict[str, Any]:
        dosage: dict[str, Any] = {
            "route": {
                "coding": [{"system": "http://snomed.info/sct", "code": "47625008"}],
                "text": "Intravenous",
            },
            "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            **extra,
        }
        return {
            "fullUrl": f"urn:uuid:{ref}",
            "resource": {
                "resourceType": "MedicationRequest",
                "status": "completed",
                "intent": "order",
                "medicationCodeableConcept": {"text": drug},
                "subject": {"reference": "urn:uuid:patient"},
                "encounter": {"reference": "urn:uuid:encounter"},
                "requester": {
                    "display": "Dr. Amara Okafor",
                    "identifier": {"system": NPI, "value": "1234567893"},
                },
                "reasonCode": [{"coding": [{"system": ICD10, "code": icd}]}],
                "dosageInstruction": [dosage],
            },
            "request": {"method": "POST", "url": "MedicationRequest"},
        }

    def given(
        ref: str, order: str, start: str, end: str, method: str, dose: float, unit: str
    ) -> dict[str, Any]:
        return {
            "fullUrl": f"urn:uuid:{ref}",
            "resource": {
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "medicationCodeableConcept": {"text": "see request"},
                "subject": {"reference": "urn:uuid:patient"},
                "context": {"reference": "urn:uuid:encounter"},
                "request": {"reference": f"urn:uuid:{order}"},
                "effectivePeriod": {"start": at(start), "end": at(end)},
                "performer": [{"actor": {"display": "RN Jo Park"}}],
                "dosage": {
                    "site": {"text": "left forearm peripheral IV"},
                    "route": {"text": "Intravenous"},
                    "method": {"text": method},
                    "dose": {"value": dose, "unit": unit},
                },
            },
            "request": {"method": "POST", "url": "MedicationAdministration"},
        }

    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:patient",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": mrn}],
                    "name": [{"family": "Okoye", "given": ["Chidi"]}],
                    "gender": "male",
                    "birthDate": "1957-08-21",
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:encounter",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "AMB",
                    },
                    "identifier": [{"system": "urn:infusion-mar:account", "value": account}],
                    "subject": {"reference": "urn:uuid:patient"},
                    "period": {"start": at("07:50"), "end": at("12:30")},
                    "location": [{"location": {"display": "Infusion Center"}}],
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            request("fluid", "sodium chloride 0.9%", 1000, "mL", "E86.0"),
            request("antiemetic", "ondansetron", 8, "mg", "R11.2"),
            request(
                "chemo",
                "paclitaxel",
                175,
                "mg/m2",
                "C50.911",
                timing={"repeat": {"duration": 180, "durationUnit": "min"}},
            ),
            given("g1", "fluid", "08:00", "09:00", "infusion", 1000, "mL"),
            given("g2", "antiemetic", "09:05", "09:07", "IV push", 8, "mg"),
            given("g3", "chemo", "09:15", "12:15", "infusion", 300, "mg"),
        ],
    }
