"""Export accepted charges to billing: CSV, HL7 v2.5 DFT^P03 and FHIR R4 ChargeItem.

Messages and resources are built with maintained libraries (hl7apy, fhir.resources) and
validated by them before they leave; nothing is assembled by string concatenation. Lines are the
ones the coder accepted (coding/review.py: effective_lines), with the engine's original kept in
the CSV beside any correction.

FHIR: fhir.resources 6.4, whose models are R4 (4.0.1), validates every ChargeItem and the Bundle.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from fhir.resources.bundle import Bundle
from fhir.resources.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from coding.models import ChargeRun, Export, ReviewItem
from coding.review import EffectiveLine, charge_edits_for_run, effective_lines
from mar.models import Encounter

HL7_VERSION = "2.5"
SENDING_APPLICATION = "INFUSIONMAR"
RECEIVING_APPLICATION = "BILLING"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "urn:oid:2.16.840.1.113883.6.285"
MODIFIER_EXTENSION = "https://infusion-mar.example/fhir/StructureDefinition/charge-modifier"
CSV_COLUMNS = [
    "encounter",
    "mrn",
    "patient",
    "unit",
    "line",
    "date_of_service",
    "code",
    "units",
    "modifiers",
    "administrations",
    "source",
    "corrected",
    "correction_reason",
    "original_code",
    "original_units",
    "original_modifiers",
    "why",
]


@dataclass
class Batch:
    """One encounter's accepted charges."""

    encounter: Encounter
    run: ChargeRun
    lines: list[EffectiveLine]


def is_hcpcs_level2(code: str) -> bool:
    return code[:1].isalpha()


def hl7_coding_system(code: str) -> str:
    return "HCPCS" if is_hcpcs_level2(code) else "C4"


def fhir_system(code: str) -> str:
    return HCPCS_SYSTEM if is_hcpcs_level2(code) else CPT_SYSTEM


def _hl7_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def _name_parts(name: str) -> tuple[str, str]:
    given, _, family = name.strip().rpartition(" ")
    return family or name, given


# --- CSV ----------------------------------------------------------------------------------


def csv_render(batches: list[Batch]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for batch in batches:
        patient = batch.encounter.patient
        for n, line in enumerate(batch.lines, start=1):
            original = line.original or {}
            writer.writerow(
                {
                    "encounter": batch.encounter.pk,
                    "mrn": patient.mrn,
                    "patient": patient.name,
                    "unit": batch.encounter.unit,
                    "line": n,
                    "date_of_service": line.date.isoformat(),
                    "code": line.code,
                    "units": line.units,
                    "modifiers": " ".join(line.modifiers),
                    "administrations": " ".join(line.administrations),
                    "source": line.source,
                    "corrected": "yes" if line.correction is not None else "no",
                    "correction_reason": line.correction.reason if line.correction else "",
                    "original_code": original.get("code", ""),
                    "original_units": original.get("units", ""),
                    "original_modifiers": " ".join(original.get("modifiers", [])),
                    "why": line.why,
                }
            )
    return out.getvalue()


# --- HL7 v2 DFT^P03 -----------------------------------------------------------------------


def hl7_message(batch: Batch, *, control_id: str, at: datetime) -> Message:
    """One DFT^P03 per encounter: MSH, EVN, PID, PV1, then one FT1 per line."""
    encounter, patient = batch.encounter, batch.encounter.patient
    msg = Message("DFT_P03", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    msg.msh.msh_3.hd_1 = SENDING_APPLICATION
    msg.msh.msh_5.hd_1 = RECEIVING_APPLICATION
    msg.msh.msh_7.ts_1 = _hl7_ts(at)
    msg.msh.msh_9.msg_1 = "DFT"
    msg.msh.msh_9.msg_2 = "P03"
    msg.msh.msh_9.msg_3 = "DFT_P03"
    msg.msh.msh_10 = control_id
    msg.msh.msh_11.pt_1 = "P"
    msg.msh.msh_12.vid_1 = HL7_VERSION
    msg.evn.evn_1 = "P03"
    msg.evn.evn_2.ts_1 = _hl7_ts(at)
    msg.pid.pid_1 = "1"
    msg.pid.pid_3.cx_1 = patient.mrn
    msg.pid.pid_3.cx_5 = "MR"
    family, given = _name_parts(patient.name)
    msg.pid.pid_5.xpn_1.fn_1 = family
    if given:
        msg.pid.pid_5.xpn_2 = given
    if patient.birth_date:
        msg.pid.pid_7.ts_1 = patient.birth_date.strftime("%Y%m%d")
    msg.pv1.pv1_2 = "O"  # outpatient
    msg.pv1.pv1_3.pl_1 = encounter.unit[:20]
    msg.pv1.pv1_19.cx_1 = str(encounter.pk)
    for n, line in enumerate(batch.lines, start=1):
        ft1 = msg.add_group("DFT_P03_FINANCIAL").ft1
        ft1.ft1_1 = str(n)
        ft1.ft1_2 = f"{batch.run.pk}-{n}"
        ft1.ft1_4.dr_1.ts_1 = line.date.strftime("%Y%m%d")
        ft1.ft1_5.ts_1 = _hl7_ts(at)
        ft1.ft1_6 = "CG"
        ft1.ft1_7.ce_1 = line.code
        ft1.ft1_7.ce_3 = hl7_coding_system(line.code)
        ft1.ft1_10 = str(line.units)
        ft1.ft1_25.ce_1 = line.code
        ft1.ft1_25.ce_3 = hl7_coding_system(line.code)
        for modifier in line.modifiers:
            field = ft1.add_field("FT1_26")
            field.ce_1 = modifier
            field.ce_3 = hl7_coding_system(modifier)
    if not msg.validate():  # raises on a structural error in STRICT mode
        raise ValueError("DFT^P03 message did not validate")
    return msg


def hl7_render(batches: list[Batch], *, export_id: int, at: datetime) -> str:
    """The batch's messages, segments ended by CR, one message per line of the file."""
    messages = [
        hl7_message(batch, control_id=f"X{export_id}E{batch.encounter.pk}", at=at).to_er7()
        for batch in batches
    ]
    return "\n".join(messages) + ("\n" if messages else "")


# --- FHIR R4 ChargeItem -------------------------------------------------------------------


def charge_item(batch: Batch, n: int, line: EffectiveLine) -> ChargeItem:
    encounter, patient = batch.encounter, batch.encounter.patient
    data: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": f"run{batch.run.pk}-line{n}",
        "identifier": [{"system": "urn:infusion-mar:charge-line", "value": f"{batch.run.pk}-{n}"}],
        "status": "billable",
        "code": {"coding": [{"system": fhir_system(line.code), "code": line.code}]},
        "subject": {"reference": f"Patient/{patient.pk}", "display": patient.name},
        "context": {"reference": f"Encounter/{encounter.pk}"},
        "occurrenceDateTime": line.date.isoformat(),
        "quantity": {"value": line.units},
        # The administrations the line covers, by their record ids (coding/extract.py).
        "service": [{"reference": f"MedicationAdministration/{a}"} for a in line.administrations],
        "note": [{"text": line.why}],
    }
    if line.modifiers:
        data["extension"] = [
            {
                "url": MODIFIER_EXTENSION,
                "valueCoding": {"system": fhir_system(m), "code": m},
            }
            for m in line.modifiers
        ]
    if line.correction is not None:
        data["overrideReason"] = line.correction.reason
    return ChargeItem.parse_obj(data)


def fhir_render(batches: list[Batch], *, at: datetime) -> str:
    entries = []
    for batch in batches:
        for n, line in enumerate(batch.lines, start=1):
            item = charge_item(batch, n, line)
            entries.append(
                {
                    "fullUrl": f"urn:infusion-mar:ChargeItem/{item.id}",
                    "resource": json.loads(item.json(exclude_none=True)),
                }
            )
    bundle = Bundle.parse_obj(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": at.isoformat(),
            "entry": entries,
        }
    )
    return json.dumps(json.loads(bundle.json(exclude_none=True)), indent=2)


# --- the export itself --------------------------------------------------------------------


@transaction.atomic
def export_create(*, user: AbstractBaseUser) -> tuple[Export, list[str]]:
    """Export every accepted item with no blocking edit; returns (export, skipped notes).

    The items are locked (skip locked: one being exported by another coder right now is left to
    that export), marked EXPORTED, and their runs get exported_at: a class change no longer
    regenerates them.
    """
    items = list(
        ReviewItem.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=ReviewItem.State.ACCEPTED, run__isnull=False)
        .select_related("encounter__patient", "run")
        .prefetch_related("run__lines", "run__corrections__by", "run__edit_overrides")
        .order_by("pk")
    )
    batches: list[Batch] = []
    skipped: list[str] = []
    for item in items:
        run = item.run
        assert run is not None
        lines = effective_lines(run)
        blocking = charge_edits_for_run(run, lines).blocking
        if blocking:
            skipped.append(
                f"{item.encounter.patient.name}: "
                + "; ".join(f"{e.finding.rule} {e.finding.message}" for e in blocking)
            )
            continue
        batches.append(Batch(item.encounter, run, lines))
    if not batches:
        raise ValidationError("Nothing to export: no accepted charges without open edits.")
    at = timezone.now()
    export = Export.objects.create(created_by=user, csv_text="", hl7_text="", fhir_json="")
    export.csv_text = csv_render(batches)
    export.hl7_text = hl7_render(batches, export_id=export.pk, at=at)
    export.fhir_json = fhir_render(batches, at=at)
    export.save(update_fields=["csv_text", "hl7_text", "fhir_json"])
    export.runs.set([b.run for b in batches])
    run_ids = [b.run.pk for b in batches]
    ChargeRun.objects.filter(pk__in=run_ids).update(exported_at=at)
    ReviewItem.objects.filter(run_id__in=run_ids, state=ReviewItem.State.ACCEPTED).update(
        state=ReviewItem.State.EXPORTED, updated_at=at
    )
    return export, skipped


EXPORT_FORMATS = {
    "csv": ("csv_text", "text/csv", "csv"),
    "hl7": ("hl7_text", "x-application/hl7-v2+er7", "hl7"),
    "fhir": ("fhir_json", "application/fhir+json", "json"),
}
