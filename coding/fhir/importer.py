"""A transaction Bundle from another EHR's MAR, imported and coded.

Patient, Encounter, MedicationRequest and MedicationAdministration entries become records here
through the registration services (mar/registration/services.py): a patient found by MRN or
registered, a visit opened, orders entered (a drug the formulary lacks is added untagged, for
the pharmacist's worklist, as an order naming it does), administrations recorded as charted.
What was not given is not charted: an administration `not-done` documents its order as not
given with the statusReason, one `entered-in-error` is left out (each answered 200 OK with an
informational outcome), and a MedicationRequest `cancelled` or `entered-in-error` is documented
not given; an order an administration of the Bundle gave stays given. The transaction-response
lists the entries in the request's order (FHIR's rule). Each encounter is then marked imported
(read-only in the chart) and signed, and its charges are owed: the checklist findings, the
charges and the coders' worklist follow as for any record. All of the Bundle or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime
from fhir.resources.R4B.bundle import Bundle

from coding.fhir.models_compat import validated, validation_errors
from coding.fhir.resources import ACCOUNT_SYSTEM, ICD10_SYSTEM, NPI_SYSTEM
from mar.models import Administration, Encounter, EntryMethod, Order, Patient, Route
from mar.pharmacy.retired import DrugRetired, drug_retired_check
from mar.pharmacy.services import drug_for_name
from mar.registration.services import (
    OrderEntry,
    administration_import,
    drug_for_code,
    encounter_import_close,
    encounter_open,
    order_enter,
    patient_register,
)
from mar.services.charting import ChartError, order_disposition_set
from mar.validators import CONTROL

ACCEPTED = ("Patient", "Encounter", "MedicationRequest", "MedicationAdministration")
GENDER = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
ROUTES = {
    "intravenous": Route.IV,
    "iv": Route.IV,
    "47625008": Route.IV,
    "subcutaneous": Route.SQ,
    "sc": Route.SQ,
    "sq": Route.SQ,
    "34206005": Route.SQ,
    "intramuscular": Route.IM,
    "im": Route.IM,
    "78421000": Route.IM,
    "intra-arterial": Route.IA,
    "intraarterial": Route.IA,
    "intrathecal": Route.INTRATHECAL,
    "intralesional": Route.INTRALESIONAL,
    "intracavitary": Route.INTRACAVITARY,
}


class BundleRefused(Exception):
    def __init__(self, *issues: str, status: int = 400, code: str = "invalid") -> None:
        super().__init__("; ".join(issues))
        self.issues, self.status, self.code = list(issues), status, code


@dataclass
class EntryResponse:
    """What became of one entry of the Bundle (its transaction-response entry)."""

    location: str
    status: str = "201 Created"
    note: str = ""  # why nothing was created (an OperationOutcome of severity information)


@dataclass
class ImportResult:
    encounters: list[Encounter] = field(default_factory=list)
    # By the index of the Bundle's entry: the response lists them in the request's order.
    responses: dict[int, EntryResponse] = field(default_factory=dict)

    @property
    def locations(self) -> list[str]:
        return [self.responses[i].location for i in sorted(self.responses)]


# MedicationAdministration.status (FHIR R4): what was not given is not charted as given.
NOT_GIVEN = "not-done"  # the order's disposition "not given", with its statusReason
IN_ERROR = "entered-in-error"  # nothing: the other EHR took it back
# MedicationRequest.status of an order withdrawn before it was given: documented not given.
ORDER_WITHDRAWN = ("cancelled", "entered-in-error")


def _at(where: str, value: str | None, *, required: bool = False) -> datetime | None:
    if not value:
        if required:
            raise BundleRefused(f"{where}: required.")
        return None
    moment = parse_datetime(value)
    if moment is None or moment.tzinfo is None:
        raise BundleRefused(f"{where}: {value!r} is not a dateTime with its offset.")
    return moment


def _refusal(where: str, exc: ValidationError) -> BundleRefused:
    if hasattr(exc, "error_dict"):
        return BundleRefused(
            *(f"{where}.{k}: {m}" for k, ms in exc.message_dict.items() for m in ms)
        )
    return BundleRefused(*(f"{where}: {m}" for m in exc.messages))


def _concept_text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    codings = concept.get("coding") or [{}]
    return (
        concept.get("text") or codings[0].get("display") or codings[0].get("code") or ""
    ).strip()


def _route(where: str, concept: dict[str, Any] | None) -> str:
    if not concept:
        return Route.IV
    candidates = [concept.get("text", "")] + [
        c.get(k, "") for c in concept.get("coding", []) for k in ("code", "display")
    ]
    for candidate in candidates:
        route = ROUTES.get(str(candidate).strip().lower())
        if route:
            return route
    raise BundleRefused(
        f"{where}: route {candidates[0] or candidates!r} is not one this MAR records."
    )


def _quantity(where: str, quantity: dict[str, Any] | None) -> tuple[Decimal | None, str]:
    if not quantity or quantity.get("value") is None:
        return None, ""
    try:
        return Decimal(str(quantity["value"])), str(
            quantity.get("unit") or quantity.get("code") or ""
        )
    except InvalidOperation:
        raise BundleRefused(f"{where}: {quantity['value']!r} is not a number.") from None


class _Importer:
    def __init__(self, entries: list[dict[str, Any]], source: str, now: datetime) -> None:
        self.entries, self.source, self.now = entries, source, now
        self.made: dict[str, Any] = {}  # fullUrl or "Type/id" -> record
        self.result = ImportResult()
        self.index = 0  # the entry being imported
        # Orders an administration marked not-done names, with why (the statusReason).
        self.not_done: dict[Order, tuple[int, str]] = {}

    def keys(self, index: int, resource: dict[str, Any]) -> list[str]:
        keys = [f"{resource['resourceType']}/{resource['id']}"] if resource.get("id") else []
        full = self.entries[index].get("fullUrl")
        return [full, *keys] if full else keys

    def target(self, where: str, reference: dict[str, Any] | None, kind: type) -> Any:
        ref = (reference or {}).get("reference", "")
        found = self.made.get(ref)
        if not isinstance(found, kind):
            raise BundleRefused(
                f"{where}: {ref or '(no reference)'} names no {kind.__name__} of this Bundle."
            )
        return found

    def run(self) -> ImportResult:
        for kind in ACCEPTED:
            for index, entry in enumerate(self.entries):
                resource = entry.get("resource") or {}
                if resource.get("resourceType") == kind:
                    where = f"Bundle.entry[{index}].resource"
                    self.index = index
                    record, location = getattr(self, f"import_{kind.lower()}")(where, resource)
                    for key in self.keys(index, resource):
                        self.made[key] = record
                    self.result.responses.setdefault(index, EntryResponse(location))
        self.orders_not_given()
        for encounter in self.result.encounters:
            encounter_import_close(encounter=encounter, source=self.source, now=self.now)
        return self.result

    def orders_not_given(self) -> None:
        """An order an administration marked not-done names is documented as not given, with
        the statusReason (DOC-6 asks no more of it), unless another administration of the
        Bundle gave it (then it was given, and that one is charged)."""
        for order, (index, reason) in self.not_done.items():
            where = f"Bundle.entry[{index}].resource"
            if order.administrations.exists():
                if self.result.responses[index].status != "201 Created":  # an administration's
                    self.result.responses[index].note = (
                        f"{where}: not-done: not charted; its order was given by another "
                        "administration of the Bundle."
                    )
                continue
            try:
                order_disposition_set(
                    order=order, disposition=Order.Disposition.NOT_GIVEN, reason=reason, user=None
                )
            except ChartError as exc:
                raise BundleRefused(
                    *(f"{where}: {m}" for ms in exc.errors.values() for m in ms)
                ) from None

    def import_patient(self, where: str, r: dict[str, Any]) -> tuple[Patient, str]:
        identifiers = r.get("identifier") or []
        mrn_entry = next(
            (
                i
                for i in identifiers
                if any(c.get("code") == "MR" for c in (i.get("type") or {}).get("coding", []))
            ),
            identifiers[0] if identifiers else {},
        )
        mrn = (mrn_entry.get("value") or "").strip()
        if not mrn:
            raise BundleRefused(f"{where}.identifier: the MRN is required.")
        if r.get("gender") and r["gender"] not in GENDER:
            raise BundleRefused(
                f"{where}.gender: {r['gender']!r} is not one of {', '.join(GENDER)}."
            )
        patient = Patient.objects.filter(mrn__iexact=mrn).first()
        if patient is None:
            name = (r.get("name") or [{}])[0]
            text = name.get("text") or ", ".join(
                p for p in (name.get("family", ""), " ".join(name.get("given", []))) if p
            )
            born = parse_date(r["birthDate"]) if r.get("birthDate") else None
            try:
                patient = patient_register(
                    mrn=mrn, name=text, birth_date=born, sex=GENDER.get(r.get("gender", ""), "")
                )
            except ValidationError as exc:
                raise _refusal(where, exc) from None
        return patient, f"Patient/{patient.pk}"

    def import_encounter(self, where: str, r: dict[str, Any]) -> tuple[Encounter, str]:
        patient = self.target(f"{where}.subject", r.get("subject"), Patient)
        period = r.get("period") or {}
        identifiers = r.get("identifier") or []
        account = next(
            (i.get("value", "") for i in identifiers if i.get("system") == ACCOUNT_SYSTEM),
            identifiers[0].get("value", "") if identifiers else "",
        )
        location = ((r.get("location") or [{}])[0].get("location") or {}).get("display", "")
        unit = location or (
            "Emergency Department" if (r.get("class") or {}).get("code") == "EMER" else "Imported"
        )
        office = "office" in " ".join(t.get("text", "") for t in r.get("type", [])).lower()
        try:
            encounter = encounter_open(
                patient=patient,
                unit=unit,
                arrived_at=_at(f"{where}.period.start", period.get("start"), required=True),
                setting=Encounter.Setting.OFFICE if office else Encounter.Setting.FACILITY,
                attending=", ".join(
                    (p.get("individual") or {}).get("display", "") for p in r.get("participant", [])
                )[:200],
                account_number=account,
                now=self.now,
            )
        except ValidationError as exc:
            if "Already open" in str(exc):
                raise BundleRefused(
                    *_refusal(where, exc).issues, status=409, code="duplicate"
                ) from None
            raise _refusal(where, exc) from None
        ended = _at(f"{where}.period.end", period.get("end"))
        if ended is not None and encounter.arrived_at is not None and ended < encounter.arrived_at:
            raise BundleRefused(f"{where}.period.end: the visit ends before it starts.")
        if ended is not None:
            encounter.discharged_at = ended
            encounter.save(update_fields=["discharged_at"])
        self.result.encounters.append(encounter)
        return encounter, f"Encounter/{encounter.pk}"

    def import_medicationrequest(self, where: str, r: dict[str, Any]) -> tuple[Order, str]:
        encounter = self.target(f"{where}.encounter", r.get("encounter"), Encounter)
        concept = r.get("medicationCodeableConcept")
        if not concept:
            raise BundleRefused(
                f"{where}.medicationCodeableConcept: required (no Medication resources)."
            )
        coding = (concept.get("coding") or [{}])[0]
        # When the other system's order was written (else the visit's arrival): one written
        # before a drug's retirement here is that record's history, and is imported as it was.
        authored = parse_datetime(str(r.get("authoredOn") or ""))
        written = authored if authored and authored.tzinfo else encounter.arrived_at
        try:
            drug = drug_retired_check(
                drug_for_code(
                    identifier=coding.get("code", ""),
                    text=_concept_text(concept),
                    system=coding.get("system", ""),
                    retired_ok=True,
                ),
                written_at=written,
            )
        except DrugRetired as exc:  # not a new, untagged drug in its place
            raise _refusal(f"{where}.medicationCodeableConcept", exc) from None
        except ValidationError:
            try:  # untagged: the pharmacist's worklist
                drug = drug_for_name(name=_concept_text(concept))
            except ValidationError as exc:
                raise _refusal(f"{where}.medicationCodeableConcept", exc) from None
        dosage = (r.get("dosageInstruction") or [{}])[0]
        dose_rate = (dosage.get("doseAndRate") or [{}])[0]
        dose, unit = _quantity(
            f"{where}.dosageInstruction[0].doseAndRate[0].doseQuantity",
            dose_rate.get("doseQuantity"),
        )
        rate, rate_unit = _quantity(
            f"{where}.dosageInstruction[0].doseAndRate[0].rateQuantity",
            dose_rate.get("rateQuantity"),
        )
        basis = ""
        for suffix, name in (("/m2", "per_m2"), ("/kg", "per_kg")):
            if unit.lower().endswith(suffix):
                unit, basis = unit[: -len(suffix)], name
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        minutes = None
        if repeat.get("duration") is not None:
            factor = {"min": 1, "h": 60}.get(repeat.get("durationUnit", "min"), 1)
            minutes = int(Decimal(str(repeat["duration"])) * factor)
        reasons = [
            c
            for reason in r.get("reasonCode", [])
            for c in reason.get("coding", [])
            if c.get("system") == ICD10_SYSTEM
        ]
        requester = r.get("requester") or {}
        npi = requester.get("identifier") or {}
        entry = OrderEntry(
            drug=drug,
            dose_value=dose,  # type: ignore[arg-type]
            dose_unit=unit,
            dose_basis=basis,
            route=_route(f"{where}.dosageInstruction[0].route", dosage.get("route")),
            duration_minutes=minutes,
            rate_value=rate,
            rate_unit=rate_unit,
            indication=reasons[0]["code"] if reasons else "",
            ordering_provider=requester.get("display", ""),
            ordering_provider_npi=npi.get("value", "")
            if npi.get("system") in (None, NPI_SYSTEM)
            else "",
            entry_method=EntryMethod.ELECTRONIC,
            complete=False,
        )
        try:
            order = order_enter(encounter=encounter, entry=entry, user=None, written_at=written)
        except ValidationError as exc:
            raise _refusal(where, exc) from None
        if dose is None:  # the other EHR sent no amount: keep its words, not a made-up "1 dose"
            Order.objects.filter(pk=order.pk).update(
                dose=dosage.get("text", "")[:100], dose_value=None, dose_unit=""
            )
        if r.get("status") in ORDER_WITHDRAWN:
            # Cancelled or entered in error there: not to give. Said on the order (unless an
            # administration of the Bundle gave it after all), not left as an order not given.
            reason = _concept_text(r.get("statusReason")) or f"order {r['status']} in {self.source}"
            self.not_done.setdefault(order, (self.index, reason[:500]))
        return order, f"MedicationRequest/{order.pk}"

    def import_medicationadministration(
        self, where: str, r: dict[str, Any]
    ) -> tuple[Administration | Order, str]:
        order = self.target(f"{where}.request", r.get("request"), Order)
        context = r.get("context")
        if context and self.made.get(context.get("reference", "")) not in (order.encounter, None):
            raise BundleRefused(f"{where}.context: not the encounter of its request.")
        status = r.get("status")
        if status in (NOT_GIVEN, IN_ERROR):
            # Not given (or taken back): no administration, so no charge for it.
            location = f"MedicationRequest/{order.pk}"
            if status == IN_ERROR:
                note = f"{where}: entered-in-error: not charted."
            else:
                reason = _concept_text((r.get("statusReason") or [None])[0]) or "not done"
                self.not_done.setdefault(order, (self.index, reason[:500]))
                note = f"{where}: not-done: recorded on its order as not given ({reason})."
            self.result.responses[self.index] = EntryResponse(location, "200 OK", note)
            return order, location
        period = r.get("effectivePeriod") or {}
        start = _at(
            f"{where}.effectivePeriod.start",
            period.get("start") or r.get("effectiveDateTime"),
            required=True,
        )
        stop = _at(f"{where}.effectivePeriod.end", period.get("end"))
        if r.get("effectiveDateTime") and not period:
            stop = start
        dosage = r.get("dosage") or {}
        method_text = _concept_text(dosage.get("method")).lower()
        method = (
            Administration.Method.PUSH
            if "push" in method_text
            else Administration.Method.INJECTION
            if "inject" in method_text
            else Administration.Method.INFUSION
        )
        dose, unit = _quantity(f"{where}.dosage.dose", dosage.get("dose"))
        try:
            adm = administration_import(
                order=order,
                start=start,  # type: ignore[arg-type]
                stop=stop,
                method=method,
                route=_route(f"{where}.dosage.route", dosage.get("route"))
                if dosage.get("route")
                else order.route,
                dose_value=dose,
                dose_unit=unit,
                site_text=_concept_text(dosage.get("site")),
            )
        except ValidationError as exc:
            raise _refusal(where, exc) from None
        return adm, f"MedicationAdministration/A{adm.pk}"


def _control_characters(value: Any, where: str) -> list[str]:
    """Where a string holds a character FHIR's string type forbids (a control character other
    than tab, CR and LF): a NUL would otherwise reach PostgreSQL, which refuses it."""
    if isinstance(value, str):
        return [where] if CONTROL.search(value) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _control_characters(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for n, v in enumerate(value) for p in _control_characters(v, f"{where}[{n}]")]
    return []


def bundle_import(*, bundle: Any, source: str, now: datetime) -> ImportResult:
    """Validate the Bundle with the FHIR models, then import it whole, or refuse it whole."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRefused("The body is not a FHIR Bundle.")
    if bad := _control_characters(bundle, "Bundle"):
        raise BundleRefused(
            *(
                f"{where}: a control character (FHIR strings hold none but tab, CR, LF)."
                for where in bad[:20]
            )
        )
    if bundle.get("type") != "transaction":
        raise BundleRefused("Bundle.type: only a transaction Bundle is accepted.")
    try:
        checked = validated(Bundle, bundle)
    except Exception as exc:  # noqa: BLE001 - the model's ValidationError, whichever pydantic
        raise BundleRefused(*validation_errors(exc)) from None
    entries = checked.get("entry") or []
    if not entries:
        raise BundleRefused("Bundle.entry: the Bundle is empty.")
    for index, entry in enumerate(entries):
        kind = (entry.get("resource") or {}).get("resourceType")
        if kind not in ACCEPTED:
            raise BundleRefused(
                f"Bundle.entry[{index}]: {kind} is not imported (only {', '.join(ACCEPTED)}).",
                code="not-supported",
            )
    with transaction.atomic():
        return _Importer(entries, source, now).run()
