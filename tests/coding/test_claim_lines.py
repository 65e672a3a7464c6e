"""Claim-ready lines (coding/claim.py): the NDC on drug lines (N4 unit and quantity), the
ICD-10-CM diagnosis from the order's indication, the ordering provider with a checked NPI and
the performing nurse; in the CSV, HL7 (parsed back with hl7apy) and FHIR (the R4B models)."""

import csv
import html
import io
import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from coding.claim import claim_details, claim_findings, record_facts
from coding.exports import (
    ICD10_SYSTEM,
    NDC_QUANTITY_EXTENSION,
    NDC_SYSTEM,
    NPI_SYSTEM,
    export_create,
)
from coding.models import ChargeRun, ReviewItem
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    effective_lines,
    review_accept,
    review_claim,
)
from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration, Drug, DrugNdc, Encounter, Order
from tests import factories
from tests.coding.review_helpers import (
    ONDANSETRON_NDCS,
    addendum_for_test,
    ondansetron_twice,
    paclitaxel_billable,
)

pytestmark = pytest.mark.django_db

VALID_NPI = "1234567893"  # CMS's worked example of the NPI check digit
PREFERRED, SCANNED = "00703321701", "00703321601"


def nurse_named() -> User:
    nurse = factories.user_create(username="rn-lopez", role=roles.NURSE)
    nurse.first_name, nurse.last_name = "Maria", "Lopez"
    nurse.save()
    return nurse


def signed_encounter(
    *, ndcs: bool = True, scan: bool = False, provider: str = "Ana Ortiz"
) -> Encounter:
    """The factory's chemotherapy visit with paclitaxel billable (J9267 per 1 mg, 20 mg
    wasted); the chemo order by a prescriber with a valid NPI, the antiemetic's with a wrong
    check digit and a words-only indication; then signed."""
    nurse = nurse_named()
    encounter = factories.chemo_encounter_create()
    drug = paclitaxel_billable(encounter=encounter, waste=Decimal(20))
    if ndcs:
        DrugNdc.objects.create(
            drug=drug, ndc=PREFERRED, unit="ML", units_per_billing_unit=Decimal("0.1667"),
            preferred=True,
        )  # fmt: skip
        DrugNdc.objects.create(drug=drug, ndc=SCANNED, unit="ML")
    if scan:
        Administration.objects.filter(encounter=encounter, drug=drug).update(ndc=SCANNED)
    Order.objects.filter(encounter=encounter, drug=drug).update(
        ordering_provider=provider, ordering_provider_npi=VALID_NPI
    )
    Order.objects.filter(encounter=encounter, drug__name="ondansetron").update(
        indication="nausea", ordering_provider="Ben Cole", ordering_provider_npi="1234567890"
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    charge_run_generate(encounter_id=encounter.pk)
    return encounter


def details_by_code(encounter: Encounter) -> dict[str, dict]:
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    lines = effective_lines(run)
    return {
        (line.code, line.modifiers): detail
        for line, detail in zip(lines, claim_details(encounter, lines, run=run), strict=True)
    }


def test_a_drug_line_carries_the_preferred_ndc_with_its_n4_unit_and_quantity() -> None:
    encounter = signed_encounter()
    details = details_by_code(encounter)
    given = next(d for (code, mods), d in details.items() if code == "J9267" and "JW" not in mods)
    line = next(
        ln for ln in effective_lines(ChargeRun.objects.get(encounter=encounter, is_current=True))
        if ln.code == "J9267" and "JW" not in ln.modifiers
    )  # fmt: skip
    assert given["ndc"] == PREFERRED
    assert given["ndc_unit"] == "ML"
    assert Decimal(given["ndc_quantity"]) == (Decimal("0.1667") * line.units).quantize(
        Decimal("0.001")
    )
    waste = next(d for (code, mods), d in details.items() if code == "J9267" and "JW" in mods)
    assert (waste["ndc"], waste["ndc_quantity"]) == (PREFERRED, "3.334")  # 20 mg x 0.1667 mL
    assert all("ndc" not in d for (code, _), d in details.items() if code.startswith("96"))


def test_the_ndc_scanned_at_the_bedside_wins_when_the_formulary_lists_it() -> None:
    encounter = signed_encounter(scan=True)
    given = next(d for (code, _), d in details_by_code(encounter).items() if code == "J9267")
    assert (given["ndc"], given["ndc_unit"]) == (SCANNED, "ML")


def test_a_drug_with_no_ndc_in_the_formulary_is_a_claim_finding() -> None:
    encounter = signed_encounter(ndcs=False)
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    findings = claim_findings(encounter, effective_lines(run), run=run)
    assert any(f.rule == "CLAIM-NDC" and f.message.startswith("J9267") for f in findings)


def test_diagnosis_from_the_indication_and_the_order_provider_with_a_checked_npi() -> None:
    encounter = signed_encounter()
    details = details_by_code(encounter)
    chemo = details[("96413", ())]
    assert chemo["diagnoses"] == ["C34.90"]
    assert chemo["ordered_by"] == {"name": "Ana Ortiz", "npi": VALID_NPI}
    assert chemo["performed_by"] == {"name": "Maria Lopez", "id": "rn-lopez"}
    hydration = next(d for (code, _), d in details.items() if code.startswith("9636"))
    assert hydration["diagnoses"] == ["E86.0"]
    push = next(d for (code, _), d in details.items() if code in ("96375", "96374"))
    assert "diagnoses" not in push  # "nausea" is not a code
    assert push["ordered_by"] == {"name": "Ben Cole", "npi": ""}  # wrong check digit: not sent


def test_an_indication_that_is_not_a_code_and_a_bad_npi_are_findings() -> None:
    encounter = signed_encounter()
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    findings = claim_findings(
        encounter, effective_lines(run), run=run, facts=record_facts(encounter, run=run)
    )
    by_rule = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f.message)
    assert by_rule["CLAIM-DX"] == [
        "the order for ondansetron: indication 'nausea' is not an ICD-10-CM code; its lines go "
        "with no diagnosis"
    ]
    assert any("Ben Cole has NPI '1234567890', not a valid NPI" in m for m in by_rule["CLAIM-NPI"])
    assert any("sodium chloride" in m and "no ordering provider" in m for m in by_rule["CLAIM-NPI"])


def test_a_charged_drug_the_formulary_gives_no_hcpcs_code_is_a_claim_finding() -> None:
    """CLAIM-HCPCS: nothing dropped silently. The antiemetic's push is charged (96375) but the
    test formulary gives ondansetron no HCPCS code, so no drug line was made: the coder is told,
    once for the drug. Paclitaxel has its J9267 line; the hydration fluid is left out."""
    encounter = signed_encounter()
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    findings = claim_findings(
        encounter, effective_lines(run), run=run, facts=record_facts(encounter, run=run)
    )
    [missing] = [f for f in findings if f.rule == "CLAIM-HCPCS"]
    assert missing.message.startswith("ondansetron: the formulary gives it no HCPCS code")
    ondansetron = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    assert missing.administrations == (f"A{ondansetron.pk}",)

    # The pharmacist adds the code and billing unit: a new run has the line and no finding.
    drug = Drug.objects.get(name="ondansetron")
    drug.hcpcs_code, drug.billing_unit_amount, drug.billing_unit = "J2405", Decimal(1), "mg"
    drug.save()
    addendum_for_test(encounter)  # the dose charted by addendum: the record is signed
    Administration.objects.filter(pk=ondansetron.pk).update(dose_value=Decimal(8), dose_unit="mg")
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger="manual")
    assert run.lines.filter(code="J2405").exists()
    findings = claim_findings(
        encounter, effective_lines(run), run=run, facts=record_facts(encounter, run=run)
    )
    assert not [f for f in findings if f.rule == "CLAIM-HCPCS"]


def test_the_exports_carry_ndc_diagnoses_and_providers_parsed_back(coder_user) -> None:
    encounter = signed_encounter()
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=item, user=coder_user)
    export = export_create(user=coder_user).export

    rows = {(r["code"], r["modifiers"]): r for r in csv.DictReader(io.StringIO(export.csv_text))}
    chemo = rows[("96413", "")]
    assert (chemo["diagnoses"], chemo["ordering_provider"], chemo["ordering_npi"]) == (
        "C34.90", "Ana Ortiz", VALID_NPI,
    )  # fmt: skip
    assert chemo["performed_by"] == "rn-lopez"
    drug = next(r for (code, mods), r in rows.items() if code == "J9267" and "JW" not in mods)
    assert (drug["ndc"], drug["ndc_unit"]) == (PREFERRED, "ML")

    message = parse_message(
        export.hl7_text.strip().replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT
    )
    groups = [g for g in message.children if g.name == "DFT_P03_FINANCIAL"]
    by_code = {}
    for group in groups:
        mods = tuple(f.ce_1.to_er7() for f in group.ft1.children if f.name == "FT1_26")
        by_code[(group.ft1.ft1_7.ce_1.to_er7(), mods)] = group
    ft1 = by_code[("96413", ())].ft1
    assert [f.ce_1.to_er7() for f in ft1.children if f.name == "FT1_19"] == ["C34.90"]
    assert ft1.ft1_19.ce_3.to_er7() == "I10C"
    assert (ft1.ft1_21.xcn_1.to_er7(), ft1.ft1_21.xcn_2.fn_1.to_er7()) == (VALID_NPI, "Ortiz")
    assert ft1.ft1_21.xcn_13.to_er7() == "NPI"
    assert (ft1.ft1_20.xcn_1.to_er7(), ft1.ft1_20.xcn_2.fn_1.to_er7()) == ("rn-lopez", "Lopez")
    drug_group = next(g for (code, mods), g in by_code.items() if code == "J9267" and not mods)
    assert drug_group.ft1.ft1_29.cne_1.to_er7() == PREFERRED
    assert drug_group.ft1.ft1_29.cne_3.to_er7() == "NDC"
    assert drug_group.nte.nte_3.to_er7() == f"N4{PREFERRED}ML{drug['ndc_quantity']}"
    dg1 = [s for s in message.children if s.name == "DG1"]
    assert {s.dg1_3.ce_1.to_er7() for s in dg1} == {"C34.90", "E86.0"}
    assert [s.dg1_1.to_er7() for s in dg1] == [str(n) for n in range(1, len(dg1) + 1)]

    bundle = Bundle.model_validate(json.loads(export.fhir_json))
    items = [ChargeItem.model_validate(e.resource.model_dump()) for e in bundle.entry]
    chemo_item = next(i for i in items if i.code.coding[0].code == "96413")
    assert [(r.coding[0].system, r.coding[0].code) for r in chemo_item.reason] == [
        (ICD10_SYSTEM, "C34.90")
    ]
    actors = {p.function.coding[0].code: p.actor for p in chemo_item.performer}
    assert (actors["OP"].identifier.system, actors["OP"].identifier.value) == (
        NPI_SYSTEM, VALID_NPI,
    )  # fmt: skip
    assert actors["PRF"].display == "Maria Lopez"
    drug_item = next(
        i for i in items if i.code.coding[0].code == "J9267" and len(i.extension or []) == 1
    )
    assert (drug_item.productCodeableConcept.coding[0].system,
            drug_item.productCodeableConcept.coding[0].code) == (NDC_SYSTEM, PREFERRED)  # fmt: skip
    (quantity,) = [e for e in drug_item.extension if e.url == NDC_QUANTITY_EXTENSION]
    assert (quantity.valueQuantity.code, str(quantity.valueQuantity.value)) == (
        "ML", drug["ndc_quantity"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("written", "family", "given", "prefix", "degree"),
    [
        ("Dr. Ada Lovelace", "Lovelace", "Ada", "Dr", ""),
        ("Dr Ada Lovelace, MD", "Lovelace", "Ada", "Dr", "MD"),
        ("Ada Lovelace M.D.", "Lovelace", "Ada", "", "MD"),
        ("Prof. Grace Brewster Hopper PhD", "Hopper", "Grace Brewster", "Prof", "PhD"),
        ("Ben Cole, np", "Cole", "Ben", "", "NP"),
        ("Kim Lee DO", "Lee", "Kim", "", "DO"),
        ("Sam Park, PA-C", "Park", "Sam", "", "PA-C"),
        ("Ana Do", "Do", "Ana", "", ""),  # a family name, not a degree: no comma, not in capitals
        ("Amara Okafor", "Okafor", "Amara", "", ""),
        ("Okafor", "Okafor", "", "", ""),
    ],
)
def test_a_providers_title_and_degree_are_the_xcn_prefix_and_degree_not_the_given_name(
    written, family, given, prefix, degree
) -> None:
    """QA: "Dr. Ada Lovelace" went to billing as Lovelace^Dr. Ada. HL7 v2 XCN: family name (2),
    given name (3), prefix (6), degree (7)."""
    from coding.exports import PersonName, person_name_parts

    assert person_name_parts(written) == PersonName(family, given, prefix, degree)


def test_the_hl7_export_sends_the_ordering_providers_title_and_degree_in_xcn_6_and_7(
    coder_user,
) -> None:
    """FT1-21 of "Dr. Ada Lovelace, MD", parsed back with hl7apy (strict):
    NPI^Lovelace^Ada^^^Dr^MD (XCN-6 prefix, XCN-7 degree)."""
    encounter = signed_encounter(provider="Dr. Ada Lovelace, MD")
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=item, user=coder_user)
    export = export_create(user=coder_user).export
    message = parse_message(
        export.hl7_text.strip().replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT
    )
    groups = [g for g in message.children if g.name == "DFT_P03_FINANCIAL"]
    chemo = next(g.ft1 for g in groups if g.ft1.ft1_7.ce_1.to_er7() == "96413")
    xcn = chemo.ft1_21
    assert (
        xcn.xcn_1.to_er7(), xcn.xcn_2.fn_1.to_er7(), xcn.xcn_3.to_er7(), xcn.xcn_6.to_er7(),
        xcn.xcn_7.to_er7(),
    ) == (VALID_NPI, "Lovelace", "Ada", "Dr", "MD")  # fmt: skip
    assert xcn.to_er7().startswith(f"{VALID_NPI}^Lovelace^Ada^^^Dr^MD^")
    # The CSV and FHIR keep the name as written.
    assert "Dr. Ada Lovelace, MD" in export.csv_text


def test_the_review_page_shows_ndc_diagnosis_providers_and_the_claim_findings(client_as) -> None:
    encounter = signed_encounter()
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    text = page.content.decode()
    assert f"NDC {PREFERRED}" in text
    assert "Dx C34.90" in text
    assert f"ordered by Ana Ortiz (NPI {VALID_NPI})" in text
    assert "given by Maria Lopez" in text
    assert "CLAIM-DX" in text and "nausea" in text
    assert Drug.objects.get(name="paclitaxel").ndcs.count() == 2


def test_an_administration_given_from_a_retired_ndc_keeps_billing_the_ndc_given(
    pharmacist_user,
) -> None:
    from mar.pharmacy.services import drug_ndc_retire

    encounter = signed_encounter(scan=True)
    drug_ndc_retire(
        ndc=DrugNdc.objects.get(ndc=SCANNED), reason="No longer stocked", user=pharmacist_user
    )
    given = next(d for (code, _), d in details_by_code(encounter).items() if code == "J9267")
    assert (given["ndc"], given["ndc_unit"]) == (SCANNED, "ML")


def test_once_the_preferred_ndc_is_retired_lines_with_no_ndc_scanned_carry_an_active_one(
    pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """The run, not yet exported, carried the preferred NDC (a run's lines carry the NDC it was
    made with): once that package is retired the record is charged again, and the new run's
    line carries the drug's only active package, never the retired one."""
    from mar.pharmacy.services import drug_ndc_retire

    encounter = signed_encounter()
    before = ChargeRun.objects.get(encounter=encounter, is_current=True)
    with django_capture_on_commit_callbacks(execute=True):
        drug_ndc_retire(
            ndc=DrugNdc.objects.get(ndc=PREFERRED), reason="Recalled", user=pharmacist_user
        )
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert run.pk != before.pk and run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert "retired by" in run.reason
    given = next(d for (code, _), d in details_by_code(encounter).items() if code == "J9267")
    assert given["ndc"] == SCANNED  # the drug's only active package, never the retired one


def drug_line_details(encounter: Encounter) -> list[tuple[int, dict]]:
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    lines = [line for line in effective_lines(run) if line.code == "J2405"]
    return [
        (line.units, detail)
        for line, detail in zip(lines, claim_details(encounter, lines, run=run), strict=True)
    ]


def test_a_grouped_drug_line_carries_the_ndc_its_administrations_share() -> None:
    """Both pushes scanned from the package that is not the preferred one: the day's one line
    carries that NDC, its quantity 0.5 mL x the line's 9 units."""
    encounter = ondansetron_twice(scanned=(ONDANSETRON_NDCS[0], ONDANSETRON_NDCS[0]))
    [(units, detail)] = drug_line_details(encounter)
    assert units == 9
    assert (detail["ndc"], detail["ndc_unit"], detail["ndc_quantity"]) == (
        ONDANSETRON_NDCS[0],
        "ML",
        "4.5",
    )


def test_drug_lines_of_two_scanned_packages_carry_each_its_own_ndc() -> None:
    encounter = ondansetron_twice(scanned=ONDANSETRON_NDCS)
    details = drug_line_details(encounter)
    assert sorted((units, d["ndc"], d["ndc_quantity"]) for units, d in details) == [
        (5, ONDANSETRON_NDCS[0], "2.5"),
        (5, ONDANSETRON_NDCS[1], "2.5"),
    ]


def test_a_grouped_drug_line_with_no_scan_carries_the_preferred_ndc() -> None:
    encounter = ondansetron_twice()
    [(units, detail)] = drug_line_details(encounter)
    assert (units, detail["ndc"], detail["ndc_quantity"]) == (9, ONDANSETRON_NDCS[1], "4.5")


def test_a_dose_not_scanned_shares_the_line_of_doses_scanned_with_the_preferred_ndc() -> None:
    """DRUG-DAY-TOTAL: a claim has one line per HCPCS code, date of service and NDC. A push not
    scanned is billed with the drug's preferred NDC, so it joins the push scanned with that
    NDC (one line of ceil(4.5 + 4.5) = 9 units), never a second line with the same NDC."""
    encounter = ondansetron_twice(scanned=("", ONDANSETRON_NDCS[1]))
    [(units, detail)] = drug_line_details(encounter)
    assert (units, detail["ndc"], detail["ndc_quantity"]) == (9, ONDANSETRON_NDCS[1], "4.5")


def test_a_dose_not_scanned_stays_apart_from_a_scan_of_another_package() -> None:
    """The push not scanned carries the preferred NDC; the other was scanned from the second
    package: two lines, each its own NDC (one claim line per NDC)."""
    encounter = ondansetron_twice(scanned=(ONDANSETRON_NDCS[0], ""))
    details = drug_line_details(encounter)
    assert sorted((units, d["ndc"]) for units, d in details) == [
        (5, ONDANSETRON_NDCS[0]),
        (5, ONDANSETRON_NDCS[1]),
    ]
    assert len({d["ndc"] for _, d in details}) == len(details)


# --- a coder's corrected drug line and its NDC ---------------------------------------------


def given_line_corrected(encounter: Encounter, coder: User, *, code: str, units: int) -> None:
    """The coder claims the encounter and corrects paclitaxel's given line (J9267 x300)."""
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder, item_id=item.pk)
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    line = next(ln for ln in run.lines.all() if ln.code == "J9267" and not ln.modifiers)
    assert line.units == 300  # 300 mg given, J9267 per 1 mg
    charge_line_correct(
        item=item, user=coder, action="change", line=line, code=code, units=units,
        reason="Corrected on review",
    )  # fmt: skip


def exported_ndcs(coder: User, encounter: Encounter, code: str) -> dict[str, tuple[str, ...]]:
    """The coder accepts and exports; the line of `code` (no modifier) as each export carries
    its NDC, parsed back: the CSV's columns, HL7's FT1-29 and N4 note (hl7apy, strict), FHIR's
    productCodeableConcept and NDC quantity (the R4B models)."""
    item = ReviewItem.objects.get(encounter=encounter)
    # A dose line corrected to another code leaves the 20 mg wasted (J9267-JW) without its dose
    # line (EDIT-JW-NO-DOSE): overridden here, as a coder would before fixing the waste line.
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    for edit in charge_edits_for_run(run).items:
        if edit.override is None:
            edit_override_create(
                item=item, user=coder, rule=edit.finding.rule, message=edit.finding.message,
                reason="The waste line is corrected to follow its dose line on the next pass",
            )  # fmt: skip
    review_accept(item=item, user=coder)
    export = export_create(user=coder).export
    assert export is not None
    [row] = [
        r for r in csv.DictReader(io.StringIO(export.csv_text))
        if r["code"] == code and not r["modifiers"]
    ]  # fmt: skip
    message = parse_message(
        export.hl7_text.strip().replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT
    )
    [group] = [
        g for g in message.children
        if g.name == "DFT_P03_FINANCIAL" and g.ft1.ft1_7.ce_1.to_er7() == code
        and not [f for f in g.ft1.children if f.name == "FT1_26"]
    ]  # fmt: skip
    notes = [s.nte_3.to_er7() for s in group.children if s.name == "NTE"]
    bundle = Bundle.model_validate(json.loads(export.fhir_json))
    items = [ChargeItem.model_validate(e.resource.model_dump()) for e in bundle.entry]
    [item] = [
        i for i in items
        if i.code.coding[0].code == code
        and not [e for e in i.extension or [] if "modifier" in e.url]
    ]  # fmt: skip
    product = item.productCodeableConcept
    quantities = [e for e in item.extension or [] if e.url == NDC_QUANTITY_EXTENSION]
    return {
        "csv": (row["ndc"], row["ndc_unit"], row["ndc_quantity"]),
        "hl7": (group.ft1.ft1_29.cne_1.to_er7(), *notes),
        "fhir": (
            product.coding[0].code if product is not None else "",
            *(f"{q.valueQuantity.value} {q.valueQuantity.code}" for q in quantities),
        ),
    }


def claim_ndc_findings(encounter: Encounter) -> list[str]:
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    findings = claim_findings(encounter, effective_lines(run), run=run)
    return [f.message for f in findings if f.rule == "CLAIM-NDC"]


def review_page_rows(client: Client, encounter: Encounter) -> dict[str, str]:
    """The review page's charge lines by code, each row's text as read (tags dropped); the
    first line of a code (paclitaxel's given line, before its JW line)."""
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk]))
    rows: dict[str, str] = {}
    for code, row in re.findall(
        r'<tr class="charge-line[^"]*"[^>]*data-code="([^"]+)"[^>]*>(.*?)</tr>',
        page.content.decode(),
        re.S,
    ):
        rows.setdefault(code, " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()))
    return rows


def test_a_drug_line_corrected_in_units_keeps_its_ndc_its_quantity_for_the_new_units(
    coder_user, client_as
) -> None:
    """Units changed on the drug's own code (J9267 x300 to x250): the line keeps the NDC of the
    drug given and its N4 unit; the NDC quantity is the formulary's NDC units per billing unit
    (0.1667 mL per mg) x the corrected units: 41.675 mL, in the service's details, on the
    review page and in every export."""
    encounter = signed_encounter()
    given_line_corrected(encounter, coder_user, code="J9267", units=250)
    detail = details_by_code(encounter)[("J9267", ())]
    assert (detail["ndc"], detail["ndc_unit"], detail["ndc_quantity"]) == (
        PREFERRED, "ML", "41.675",
    )  # fmt: skip
    assert claim_ndc_findings(encounter) == []
    row = review_page_rows(client_as(roles.CODER), encounter)["J9267"]
    assert f"NDC {PREFERRED} 41.675 ML" in row and "no NDC" not in row
    assert exported_ndcs(coder_user, encounter, "J9267") == {
        "csv": (PREFERRED, "ML", "41.675"),
        "hl7": (PREFERRED, f"N4{PREFERRED}ML41.675"),
        "fhir": (PREFERRED, "41.675 ML"),
    }


def test_a_drug_line_corrected_to_an_unclassified_drug_code_keeps_the_ndc_of_the_drug_given(
    coder_user, client_as
) -> None:
    """Paclitaxel's J9267 x300 corrected to J9999 x1 (antineoplastic, not otherwise
    classified): still the line of the paclitaxel given, which the claim names by its NDC. It
    keeps the NDC, its quantity that of the drug given (the generated line's 300 units x 0.1667
    mL = 50.01 mL), not of the unclassified code's one unit (0.167 mL). Was: no NDC at all,
    and nothing said."""
    encounter = signed_encounter()
    given_line_corrected(encounter, coder_user, code="J9999", units=1)
    detail = details_by_code(encounter)[("J9999", ())]
    assert (detail["ndc"], detail["ndc_unit"], detail["ndc_quantity"]) == (
        PREFERRED, "ML", "50.01",
    )  # fmt: skip
    assert claim_ndc_findings(encounter) == []
    row = review_page_rows(client_as(roles.CODER), encounter)["J9999"]
    assert f"NDC {PREFERRED} 50.01 ML" in row and "no NDC" not in row
    assert exported_ndcs(coder_user, encounter, "J9999") == {
        "csv": (PREFERRED, "ML", "50.01"),
        "hl7": (PREFERRED, f"N4{PREFERRED}ML50.01"),
        "fhir": (PREFERRED, "50.01 ML"),
    }


def test_a_drug_line_corrected_to_another_drugs_code_goes_without_an_ndc_and_says_so(
    coder_user, client_as
) -> None:
    """J9267 (paclitaxel) corrected to J9264 (paclitaxel protein-bound, another drug): the NDC
    of the paclitaxel given is not that code's, so the line goes without one. Not silently: a
    CLAIM-NDC finding says why, and the review page says it on the line. Was: the NDC dropped
    with no word anywhere."""
    encounter = signed_encounter()
    given_line_corrected(encounter, coder_user, code="J9264", units=300)
    assert "ndc" not in details_by_code(encounter)[("J9264", ())]
    said = (
        "J9264, corrected from J9267: not paclitaxel's code in the formulary nor an "
        "unclassified drug code, so the line goes without the NDC of the paclitaxel given"
    )
    assert claim_ndc_findings(encounter) == [said]
    rows = review_page_rows(client_as(roles.CODER), encounter)
    assert f"no NDC {said}" in rows["J9264"] and "NDC 0" not in rows["J9264"]
    assert "no NDC" not in rows["96413"]  # an administration's line never had one
    assert exported_ndcs(coder_user, encounter, "J9264") == {
        "csv": ("", "", ""),
        "hl7": ("",),
        "fhir": ("",),
    }
