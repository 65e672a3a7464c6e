"""Exports parsed back with the libraries that read them: csv, hl7apy, fhir.resources."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from fhir.resources.R4B import __fhir_version__ as FHIR_VERSION
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from coding.exports import export_create
from coding.models import ChargeRun, MueLimit, ReviewItem
from coding.review import charge_line_correct, effective_lines, review_accept, review_claim
from mar.models import Patient
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


def accepted(coder, **kwargs):
    encounter, run, item = reviewed(**kwargs)
    review_claim(user=coder, item_id=item.pk)
    return encounter, run, item


@pytest.fixture
def exported(coder_user):
    """Two accepted encounters, one with a coder's correction and drug lines (JW waste)."""
    first, run1, item1 = accepted(coder_user, billable=True, waste=Decimal(20))
    charge_line_correct(
        item=item1, user=coder_user, line=run1.lines.get(code="96415"), action="change",
        code="96415", units=1, modifiers=["59"], reason="pump log: 1 h 20 min",
    )  # fmt: skip
    review_accept(item=item1, user=coder_user)
    second, run2, item2 = accepted(coder_user)
    review_accept(item=item2, user=coder_user)
    outcome = export_create(user=coder_user)
    export, skipped = outcome.export, outcome.skipped
    return {
        "export": export,
        "skipped": skipped,
        "batches": [
            (first, effective_lines(ChargeRun.objects.get(pk=run1.pk))),
            (second, effective_lines(ChargeRun.objects.get(pk=run2.pk))),
        ],
    }


def test_exporting_marks_items_exported_and_sets_the_runs_exported_at(exported) -> None:
    assert exported["skipped"] == []
    for encounter, _ in exported["batches"]:
        item = ReviewItem.objects.get(encounter=encounter)
        assert item.state == ReviewItem.State.EXPORTED
        assert item.run.exported_at is not None
    assert exported["export"].runs.count() == 2


def test_nothing_accepted_means_no_export(coder_user) -> None:
    reviewed()
    with pytest.raises(ValidationError):
        export_create(user=coder_user)


def test_the_csv_has_one_row_per_line_with_the_original_beside_a_correction(exported) -> None:
    rows = list(csv.DictReader(io.StringIO(exported["export"].csv_text)))
    expected = [(e, line) for e, lines in exported["batches"] for line in lines]
    assert len(rows) == len(expected)
    for row, (encounter, line) in zip(rows, expected, strict=True):
        assert row["encounter"] == str(encounter.pk)
        assert row["mrn"] == encounter.patient.mrn
        assert row["code"] == line.code
        assert row["units"] == str(line.units)
        assert row["modifiers"].split() == list(line.modifiers)
        assert row["administrations"].split() == list(line.administrations)
        assert row["date_of_service"] == line.date.isoformat()
    corrected = [row for row in rows if row["corrected"] == "yes"]
    assert len(corrected) == 1
    assert corrected[0]["units"] == "1" and corrected[0]["modifiers"] == "59"
    assert corrected[0]["original_units"] == "2"
    assert corrected[0]["correction_reason"] == "pump log: 1 h 20 min"
    jw = [row for row in rows if row["modifiers"] == "JW"]
    assert [(r["code"], r["units"]) for r in jw] == [("J9267", "20")]


def test_one_dft_p03_per_encounter_with_an_ft1_per_line(exported) -> None:
    messages = [m for m in exported["export"].hl7_text.split("\n") if m]
    assert len(messages) == len(exported["batches"])
    for text, (encounter, lines) in zip(messages, exported["batches"], strict=True):
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        assert msg.validate()
        assert msg.msh.msh_9.msg_1.value == "DFT"
        assert msg.msh.msh_9.msg_2.value == "P03"
        assert msg.msh.msh_12.vid_1.value == "2.5"
        assert msg.msh.msh_3.hd_1.value == "INFUSIONMAR"
        assert msg.evn.evn_1.value == "P03"
        assert msg.pid.pid_3.cx_1.value == encounter.patient.mrn
        assert msg.pv1.pv1_19.cx_1.value == (encounter.account_number or str(encounter.pk))
        segments = [group.ft1 for group in msg.dft_p03_financial]
        assert len(segments) == len(lines)
        for n, (ft1, line) in enumerate(zip(segments, lines, strict=True), start=1):
            assert ft1.ft1_1.value == str(n)
            assert ft1.ft1_4.dr_1.ts_1.to_er7() == line.date.strftime("%Y%m%d")
            assert ft1.ft1_6.value == "CG"
            assert ft1.ft1_7.ce_1.value == line.code
            assert ft1.ft1_10.value == str(line.units)
            assert ft1.ft1_25.ce_1.value == line.code
            expected_system = "HCPCS" if line.code[0].isalpha() else "C4"
            assert ft1.ft1_25.ce_3.value == expected_system
            modifiers = [field.ce_1.value for field in ft1.children if field.name == "FT1_26"]
            assert modifiers == list(line.modifiers)


def test_ft1_26_names_each_modifiers_coding_system_cpt_c4_or_hcpcs(coder_user) -> None:
    """QA: FT1-26 sent JW, JZ, 59 and XU all as "C4". HL7 table 0396: the numeric modifiers
    (59, 25, 76) are CPT's, "C4"; JW, JZ, XE, XS, XP, XU and the other Level II modifiers are
    HCPCS's, "HCPCS" — the same systems FT1-7 and FT1-25 give the code itself."""
    encounter, run, item = accepted(coder_user, billable=True, waste=Decimal(20))
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
        code="96415", units=1, modifiers=["XU"], reason="pump log: 1 h 20 min",
    )  # fmt: skip
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96413"), action="change",
        code="96413", units=1, modifiers=["59", "KX"], reason="second site, charted",
    )  # fmt: skip
    review_accept(item=item, user=coder_user)
    (text,) = [m for m in export_create(user=coder_user).export.hl7_text.split("\n") if m]
    msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert msg.validate()
    sent: dict[str, tuple[str, str]] = {}
    for group in msg.dft_p03_financial:
        ft1 = group.ft1
        code_system = ft1.ft1_25.ce_3.value
        assert ft1.ft1_7.ce_3.value == code_system
        assert code_system == ("HCPCS" if ft1.ft1_25.ce_1.value[0].isalpha() else "C4")
        for field_ in (f for f in ft1.children if f.name == "FT1_26"):
            sent[field_.ce_1.value] = (ft1.ft1_25.ce_1.value, field_.ce_3.value)
    assert sent["59"] == ("96413", "C4")
    assert sent["KX"] == ("96413", "HCPCS")
    assert sent["XU"] == ("96415", "HCPCS")
    assert sent["JW"] == ("J9267", "HCPCS")


def test_pid_5_sends_the_patient_as_registered_family_then_given(coder_user) -> None:
    """Registration and ADT keep "Family, Given Middle"; PID-5 is family ^ given (walk20: the
    export sent "Maria^Lopez,", splitting at the last space as for a nurse's name). A name
    without a comma goes whole as the family name."""
    encounter, _, item = accepted(coder_user)
    Patient.objects.filter(pk=encounter.patient_id).update(name="Lopez, Maria  Ann")
    review_accept(item=item, user=coder_user)
    second, _, item2 = accepted(coder_user)
    Patient.objects.filter(pk=second.patient_id).update(name="Madonna")
    review_accept(item=item2, user=coder_user)
    export = export_create(user=coder_user).export
    names = {}
    for text in (m for m in export.hl7_text.split("\n") if m):
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        names[msg.pid.pid_3.cx_1.value] = msg.pid.pid_5.to_er7()
    assert names == {encounter.patient.mrn: "Lopez^Maria Ann", second.patient.mrn: "Madonna"}


# The elements FHIR R4 (4.0.1) defines for a Bundle, its entry and a ChargeItem
# (hl7.org/fhir/R4/bundle.html, chargeitem.html). The R4B models validate the JSON; these lists
# check it uses nothing R4 lacks, so an R4 receiver reads it as it is.
R4_BUNDLE = {"resourceType", "id", "meta", "implicitRules", "language", "identifier", "type",
             "timestamp", "total", "link", "entry", "signature"}  # fmt: skip
R4_BUNDLE_ENTRY = {"id", "extension", "link", "fullUrl", "resource", "search", "request",
                   "response"}  # fmt: skip
R4_CHARGE_ITEM = {
    "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
    "modifierExtension", "identifier", "definitionUri", "definitionCanonical", "status", "partOf",
    "code", "subject", "context", "occurrenceDateTime", "occurrencePeriod", "occurrenceTiming",
    "performer", "performingOrganization", "requestingOrganization", "costCenter", "quantity",
    "bodysite", "factorOverride", "priceOverride", "overrideReason", "enterer", "enteredDate",
    "reason", "service", "productReference", "productCodeableConcept", "account", "note",
    "supportingInformation",
}  # fmt: skip
R4_CHARGE_ITEM_STATUS = {"planned", "billable", "not-billable", "aborted", "billed",
                         "entered-in-error", "unknown"}  # fmt: skip


def test_fhir_export_uses_only_r4_elements(exported) -> None:
    """fhir.resources 8 (pydantic 2) has R4B models, not R4: the JSON must still be R4."""
    raw = json.loads(exported["export"].fhir_json)
    assert set(raw) <= R4_BUNDLE
    assert raw["entry"]
    for entry in raw["entry"]:
        assert set(entry) <= R4_BUNDLE_ENTRY
        resource = entry["resource"]
        assert set(resource) <= R4_CHARGE_ITEM
        assert resource["status"] in R4_CHARGE_ITEM_STATUS
        # R4: overrideReason is a string (R5 made it a CodeableConcept).
        assert isinstance(resource.get("overrideReason", ""), str)
        ChargeItem.model_validate(resource)


def test_fhir_charge_items_validate_and_link_their_administrations(exported) -> None:
    assert FHIR_VERSION == "4.3.0"  # FHIR R4B models, R4-compatible for these resources
    bundle = Bundle.model_validate(json.loads(exported["export"].fhir_json))
    assert bundle.type == "collection"
    expected = [(e, line) for e, lines in exported["batches"] for line in lines]
    assert len(bundle.entry) == len(expected)
    for entry, (encounter, line) in zip(bundle.entry, expected, strict=True):
        item = ChargeItem.model_validate(json.loads(entry.resource.model_dump_json()))
        assert item.status == "billable"
        assert item.code.coding[0].code == line.code
        assert item.subject.reference == f"Patient/{encounter.patient.pk}"
        assert item.context.reference == f"Encounter/{encounter.pk}"
        assert float(item.quantity.value) == line.units
        assert str(item.occurrenceDateTime) == line.date.isoformat()
        services = [ref.reference for ref in item.service or []]
        assert services == [f"MedicationAdministration/{a}" for a in line.administrations]
        modifiers = [ext.valueCoding.code for ext in item.extension or []]
        assert modifiers == list(line.modifiers)
        if line.correction is not None:
            assert item.overrideReason == line.correction.reason


def test_accepted_charges_with_an_open_edit_are_not_exported(coder_user) -> None:
    _, _, item = accepted(coder_user)
    review_accept(item=item, user=coder_user)
    MueLimit.objects.create(code="96415", limit=1)  # the limit arrives after acceptance
    clean, _, clean_item = accepted(coder_user)
    MueLimit.objects.filter(code="96415").delete()
    review_accept(item=clean_item, user=coder_user)
    MueLimit.objects.create(code="96415", limit=1)
    with pytest.raises(ValidationError):
        export_create(user=coder_user)
    item.refresh_from_db()
    assert item.state == ReviewItem.State.ACCEPTED and item.run.exported_at is None
