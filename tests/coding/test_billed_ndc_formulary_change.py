"""A formulary change after export never strips or changes the NDC of a drug line already
billed (coding/claim.py: a run's drug lines carry the NDC facts the run was made with,
`ChargeRun.formulary_snapshot`).

A pharmacist changes paclitaxel's HCPCS code, or lists the package scanned at the bedside, after
the run went to billing: the run is flagged, not regenerated. Its drug lines keep the NDC (N4
unit and quantity) they were billed with: on the review page, in a re-export after the coder
reopens and accepts again (nothing re-sent), and in the credit and the new charge of a line she
corrects; the exports parsed back (CSV, HL7 with hl7apy, FHIR with the R4B models). A new run
(an addendum) takes the formulary as it is then, and the review page shows where the next
export would change a billed line's NDC. A run stored before the runs kept their NDC facts
reads today's formulary, as every run did.
"""

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from coding.chargemaster import charge_master_load, charge_master_parse
from coding.exports import NDC_QUANTITY_EXTENSION, NDC_SYSTEM, export_create
from coding.ledger import Sendable, ndc_changes
from coding.models import ChargeRun, ClassChangeAfterExport, Export, LedgerEntry, ReviewItem
from coding.review import charge_line_correct, review_accept, review_reopen
from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration, Drug, DrugNdc, Encounter, Order
from mar.pharmacy.services import drug_ndc_add, drug_ndc_prefer, drug_save
from tests import factories
from tests.coding.review_helpers import addendum_for_test, paclitaxel_billable
from tests.coding.test_billed_lines_reference_data import HEADER, bill, sent
from tests.coding.test_claim_lines import PREFERRED, VALID_NPI, nurse_named, review_page_rows

pytestmark = pytest.mark.django_db

UNLISTED = "00703321801"  # a package of paclitaxel the formulary did not list at signing
PRICES = (
    "96360,0260,Hydration,185\n96361,0260,Hydration add-on,55\n96375,0260,IV push sequential,65\n"
    "96413,0335,Chemo IV up to 1 h,540\n96415,0335,Chemo IV add-on,110\n"
    "J9267,0636,paclitaxel 1 mg,40\nJ9264,0636,paclitaxel protein-bound 1 mg,12\n"
)
# Paclitaxel's lines as billed: 300 mg given and 20 mg wasted (JW), J9267 per 1 mg, the
# preferred NDC at 0.1667 mL per mg.
GIVEN = ("J9267", "", PREFERRED, "ML", "50.01")
WASTED = ("J9267", "JW", PREFERRED, "ML", "3.334")


def visit(*, scanned: str = "") -> Encounter:
    """The claim-lines visit (tests/coding/test_claim_lines.py): paclitaxel billable with one
    package listed, the preferred one; `scanned` the NDC charted at the bedside. Signed, its
    first run made."""
    nurse = nurse_named()
    encounter = factories.chemo_encounter_create()
    drug = paclitaxel_billable(encounter=encounter, waste=Decimal(20))
    DrugNdc.objects.create(
        drug=drug, ndc=PREFERRED, unit="ML", units_per_billing_unit=Decimal("0.1667"),
        preferred=True,
    )  # fmt: skip
    Administration.objects.filter(encounter=encounter, drug=drug).update(ndc=scanned)
    Order.objects.filter(encounter=encounter, drug=drug).update(
        ordering_provider="Ana Ortiz", ordering_provider_npi=VALID_NPI
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    charge_run_generate(encounter_id=encounter.pk)
    return encounter


@pytest.fixture
def priced() -> None:
    charge_master_load(rows=charge_master_parse(HEADER + PRICES))  # from the beginning


def billed_visit(coder: User, *, scanned: str = "") -> Encounter:
    encounter = visit(scanned=scanned)
    assert sent(bill(coder, encounter))
    assert drug_charges(encounter) == [GIVEN, WASTED]
    return encounter


def drug_charges(encounter: Encounter) -> list[tuple[str, str, str, str, str]]:
    """The drug lines billing holds: (code, modifiers, NDC, N4 unit, quantity)."""
    return sorted(
        (
            e.code,
            " ".join(e.modifiers),
            e.detail.get("ndc", ""),
            e.detail.get("ndc_unit", ""),
            e.detail.get("ndc_quantity", ""),
        )
        for e in LedgerEntry.objects.filter(encounter=encounter, kind="CG", reversed_by=None)
        if e.code.startswith("J")
    )


def recode_paclitaxel(pharmacist: User, hcpcs: str = "J9264") -> None:
    """The pharmacist changes paclitaxel's HCPCS code through the drug's form (its billing unit
    and container as they were)."""
    drug = Drug.objects.get(name="paclitaxel")
    drug_save(
        drug=drug, name=drug.name, synonyms=drug.synonyms, hcpcs=hcpcs, billing_unit="1 mg",
        note=drug.class_note, user=pharmacist, container=drug.container,
        reason="HCPCS code restated",
    )  # fmt: skip


def flagged(encounter: Encounter) -> ChargeRun:
    """The encounter's current run: still the one exported, flagged for the coder."""
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert run.exported_at is not None
    assert ClassChangeAfterExport.objects.filter(run=run, state="open").exists()
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
    return run


def reopen_and_accept(coder: User, encounter: Encounter, correct=None) -> None:
    """The coder takes the exported charges back ("Correct after billing"), makes `correct` (a
    function of the item), and accepts again."""
    item = review_reopen(item=ReviewItem.objects.get(encounter=encounter), user=coder)
    if correct is not None:
        correct(item)
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder)


def export_drug_transactions(export: Export) -> dict[str, list[tuple[str, ...]]]:
    """Each drug transaction of the export as each format carries it, parsed back: (CG/CD,
    code, modifiers, units, NDC, N4 unit, quantity). CSV columns; HL7 FT1-6/7/10/26/29 and the
    N4 note (hl7apy, strict); FHIR ChargeItem status, code, quantity, product and the NDC
    quantity extension (the R4B models)."""
    rows = [
        (r["transaction"], r["code"], r["modifiers"], r["units"], r["ndc"], r["ndc_unit"],
         r["ndc_quantity"])
        for r in csv.DictReader(io.StringIO(export.csv_text))
        if r["code"].startswith("J")
    ]  # fmt: skip
    hl7 = []
    message = parse_message(  # one encounter: one message
        export.hl7_text.strip().replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT
    )
    for group in (g for g in message.children if g.name == "DFT_P03_FINANCIAL"):
        ft1 = group.ft1
        code = ft1.ft1_7.ce_1.to_er7()
        if not code.startswith("J"):
            continue
        mods = " ".join(f.ce_1.to_er7() for f in ft1.children if f.name == "FT1_26")
        notes = [s.nte_3.to_er7() for s in group.children if s.name == "NTE"]
        ndc, unit, quantity = "", "", ""
        if notes:
            [n4] = notes
            assert n4.startswith("N4") and n4[2:13] == ft1.ft1_29.cne_1.to_er7()
            ndc, unit, quantity = n4[2:13], n4[13:15], n4[15:]
        hl7.append((ft1.ft1_6.to_er7(), code, mods, ft1.ft1_10.to_er7(), ndc, unit, quantity))
    fhir = []
    bundle = Bundle.model_validate(json.loads(export.fhir_json))
    for entry in bundle.entry:
        item = ChargeItem.model_validate(entry.resource.model_dump())
        code = item.code.coding[0].code
        if not code.startswith("J"):
            continue
        extensions = item.extension or []
        mods = " ".join(e.valueCoding.code for e in extensions if "modifier" in e.url)
        ndc, unit, quantity = "", "", ""
        if item.productCodeableConcept is not None:
            [coding] = item.productCodeableConcept.coding
            assert coding.system == NDC_SYSTEM
            [amount] = [e.valueQuantity for e in extensions if e.url == NDC_QUANTITY_EXTENSION]
            ndc, unit, quantity = coding.code, amount.code, f"{amount.value}"
        kind = "CG" if item.status == "billable" else "CD"
        fhir.append((kind, code, mods, f"{item.quantity.value}", ndc, unit, quantity))
    return {"csv": sorted(rows), "hl7": sorted(hl7), "fhir": sorted(fhir)}


def same_in_every_format(export: Export) -> list[tuple[str, ...]]:
    parsed = export_drug_transactions(export)
    assert parsed["csv"] == parsed["hl7"] == parsed["fhir"], parsed
    return parsed["csv"]


# --- the run already billed, its drug's HCPCS code changed by the pharmacist ---------------


def test_the_review_page_still_shows_the_billed_ndc_after_the_drugs_code_changed(
    priced, coder_user, pharmacist_user, client_as
) -> None:
    """Was: once paclitaxel's code was no longer J9267, its J9267 lines matched no drug of the
    record: the page showed them with no NDC, and no finding said so."""
    encounter = billed_visit(coder_user)
    recode_paclitaxel(pharmacist_user)
    flagged(encounter)
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    assert page.status_code == 200
    rows = review_page_rows(client_as(roles.CODER), encounter)
    assert f"NDC {PREFERRED} 50.01 ML" in rows["J9267"]
    assert "no NDC" not in rows["J9267"]
    assert not [f for f in page.context["claim_findings"] if f.rule == "CLAIM-NDC"]


def test_reopened_and_accepted_again_the_billed_drug_lines_are_not_re_sent(
    priced, coder_user, pharmacist_user
) -> None:
    """Was: the next export credited both J9267 lines and charged them again without an NDC."""
    encounter = billed_visit(coder_user)
    recode_paclitaxel(pharmacist_user)
    flagged(encounter)
    reopen_and_accept(coder_user, encounter)
    outcome = export_create(user=coder_user)
    assert outcome.export is None and outcome.unchanged  # nothing sent, marked exported
    assert drug_charges(encounter) == [GIVEN, WASTED]


def test_a_drug_line_corrected_after_the_code_changed_is_credited_and_charged_with_its_ndc(
    priced, coder_user, pharmacist_user
) -> None:
    """The coder corrects the given line (300 to 250 units) after the pharmacist's change: the
    credit reverses the charge as it was sent, NDC and all, and the new charge carries the same
    NDC, its quantity for 250 units (0.1667 mL x 250 = 41.675), in every format."""
    encounter = billed_visit(coder_user)
    charge = LedgerEntry.objects.get(encounter=encounter, code="J9267", modifiers=[])
    recode_paclitaxel(pharmacist_user)

    def correct(item: ReviewItem) -> None:
        line = flagged(encounter).lines.get(code="J9267", modifiers=[])
        charge_line_correct(
            item=item, user=coder_user, action="change", line=line, code="J9267", units=250,
            reason="250 mg given, per the pump",
        )  # fmt: skip

    reopen_and_accept(coder_user, encounter, correct)
    export = export_create(user=coder_user).export
    assert export is not None
    assert same_in_every_format(export) == [
        ("CD", "J9267", "", "300", PREFERRED, "ML", "50.01"),
        ("CG", "J9267", "", "250", PREFERRED, "ML", "41.675"),
    ]
    credit = LedgerEntry.objects.get(export=export, kind="CD")
    assert credit.reverses == charge and credit.detail == charge.detail
    assert drug_charges(encounter) == [("J9267", "", PREFERRED, "ML", "41.675"), WASTED]


# --- the run already billed, the package scanned listed afterwards -------------------------


def test_a_scanned_package_listed_after_export_does_not_change_the_billed_ndc(
    priced, coder_user, pharmacist_user, client_as
) -> None:
    """The nurse scanned a package the formulary did not list: the line went with the
    preferred NDC. The pharmacist lists that package after the export: the run is flagged, its
    lines keep the NDC billed. Was: the page and a re-export after reopening switched the billed
    line to the package now listed, credit and new charge."""
    encounter = billed_visit(coder_user, scanned=UNLISTED)
    drug_ndc_add(drug=Drug.objects.get(name="paclitaxel"), ndc=UNLISTED, unit="ML")
    flagged(encounter)
    rows = review_page_rows(client_as(roles.CODER), encounter)
    assert f"NDC {PREFERRED} 50.01 ML" in rows["J9267"]
    reopen_and_accept(coder_user, encounter)
    assert export_create(user=coder_user).export is None
    assert drug_charges(encounter) == [GIVEN, WASTED]


def test_an_ndc_edited_in_the_admin_after_export_changes_nothing_billed(priced, coder_user) -> None:
    """The package's NDC units per billing unit changed in the admin (no pharmacist's service,
    so no flag): the billed lines keep the quantity they were sent with."""
    encounter = billed_visit(coder_user)
    DrugNdc.objects.filter(ndc=PREFERRED).update(units_per_billing_unit=Decimal("0.2"))
    reopen_and_accept(coder_user, encounter)
    assert export_create(user=coder_user).export is None
    assert drug_charges(encounter) == [GIVEN, WASTED]


# --- a new run takes the formulary as it is then --------------------------------------------


def test_a_new_run_after_the_code_changed_bills_the_new_code_with_its_ndc(
    priced, coder_user, pharmacist_user, client_as
) -> None:
    """An addendum after the pharmacist's change: the new run's drug lines have the new code
    and the NDC; the review page lists the credits of the J9267 charges with the NDC they were
    sent with and the new J9264 charges with theirs; the export sends exactly that."""
    encounter = billed_visit(coder_user)
    recode_paclitaxel(pharmacist_user)
    addendum_for_test(encounter, coder_user)
    push = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    Administration.objects.filter(pk=push.pk).update(stop=push.stop + timedelta(minutes=1))
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = page.content.decode()
    assert f"J9267 ×300 03-02 · NDC {PREFERRED} 50.01 ML" in html
    assert f"J9264 x300 03-02 · NDC {PREFERRED} 50.01 ML" in html
    assert 'data-testid="ndc-change"' not in html  # another code, the same NDC
    export = bill(coder_user, encounter).export
    assert export is not None
    assert same_in_every_format(export) == [
        ("CD", "J9267", "", "300", PREFERRED, "ML", "50.01"),
        ("CD", "J9267", "JW", "20", PREFERRED, "ML", "3.334"),
        ("CG", "J9264", "", "300", PREFERRED, "ML", "50.01"),
        ("CG", "J9264", "JW", "20", PREFERRED, "ML", "3.334"),
    ]


def test_the_review_page_says_where_the_next_export_changes_a_billed_lines_ndc(
    priced, coder_user, pharmacist_user, client_as
) -> None:
    """The scanned package listed after export, then an addendum: the new run groups the dose
    under the package scanned, so the next export credits the line billed with the preferred
    NDC and charges it with the scanned one. The review page says so, line by line, before the
    coder accepts."""
    encounter = billed_visit(coder_user, scanned=UNLISTED)
    drug_ndc_add(drug=Drug.objects.get(name="paclitaxel"), ndc=UNLISTED, unit="ML")
    addendum_for_test(encounter, coder_user)
    push = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    Administration.objects.filter(pk=push.pk).update(stop=push.stop + timedelta(minutes=1))
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = page.content.decode()
    said = [
        f"J9267 ×300 03-02: billed {PREFERRED} 50.01 ML, sent now {UNLISTED} 300 ML",
        f"J9267-JW ×20 03-02: billed {PREFERRED} 3.334 ML, sent now {UNLISTED} 20 ML",
    ]
    assert page.context["billing_difference"]["ndc_changes"] == [
        f"NDC changes on {s}" for s in said
    ]
    assert html.count('data-testid="ndc-change"') == 2
    assert all(f"NDC changes on {s}" in html for s in said)
    export = bill(coder_user, encounter).export
    assert export is not None
    assert same_in_every_format(export) == [
        ("CD", "J9267", "", "300", PREFERRED, "ML", "50.01"),
        ("CD", "J9267", "JW", "20", PREFERRED, "ML", "3.334"),
        ("CG", "J9267", "", "300", UNLISTED, "ML", "300"),
        ("CG", "J9267", "JW", "20", UNLISTED, "ML", "20"),
    ]


# --- what the pharmacist's NDC changes do to a run, and runs stored before ----------------


def test_another_preferred_ndc_after_export_neither_flags_nor_changes_the_billed_run(
    priced, coder_user, pharmacist_user
) -> None:
    """A billed line keeps the NDC it was billed with while the drug lists it: a new preferred
    package changes nothing the run's lines carry, so the exported run is not flagged (no
    review asked for nothing) and no run is made."""
    encounter = billed_visit(coder_user)
    other = drug_ndc_add(drug=Drug.objects.get(name="paclitaxel"), ndc=UNLISTED, unit="ML")
    drug_ndc_prefer(ndc=other, user=pharmacist_user)
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
    assert not ClassChangeAfterExport.objects.filter(run=run).exists()
    reopen_and_accept(coder_user, encounter)
    assert export_create(user=coder_user).export is None


def test_a_run_keeps_what_its_claim_reads_of_the_formulary(priced) -> None:
    """The run's formulary snapshot, made with it: per administration the drug, its HCPCS code
    and billing unit, and for paclitaxel the NDC its drug lines carry with its N4 unit and NDC
    units per billing unit."""
    encounter = visit()
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    paclitaxel = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
    ondansetron = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    assert run.formulary_snapshot[f"A{paclitaxel.pk}"] == {
        "drug": "paclitaxel", "hcpcs": "J9267", "billing_unit": "1 mg",
        "ndc": PREFERRED, "ndc_unit": "ML", "ndc_per_unit": "0.1667",
    }  # fmt: skip
    assert run.formulary_snapshot[f"A{ondansetron.pk}"] == {
        "drug": "ondansetron", "hcpcs": "", "billing_unit": "",
    }  # fmt: skip


def test_a_run_stored_before_runs_kept_their_formulary_facts_reads_todays_formulary(
    priced, pharmacist_user, client_as
) -> None:
    """Migration coding 0016 leaves the runs stored before it without a formulary snapshot:
    their lines read the formulary as it is (here the package preferred since), as every run
    did; making the run again from the same record and billing data adds no run for it."""
    encounter = visit()
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    ChargeRun.objects.filter(pk=run.pk).update(formulary_snapshot=None)
    other = drug_ndc_add(drug=Drug.objects.get(name="paclitaxel"), ndc=UNLISTED, unit="ML")
    DrugNdc.objects.filter(drug=other.drug).update(preferred=False)
    DrugNdc.objects.filter(pk=other.pk).update(preferred=True)  # the admin: no refresh
    rows = review_page_rows(client_as(roles.CODER), encounter)
    assert f"NDC {UNLISTED} 300 ML" in rows["J9267"]
    again, created = charge_run_generate(encounter_id=encounter.pk)
    assert (again.pk, created) == (run.pk, False)


def test_what_the_review_page_calls_an_ndc_change_of_a_billed_line() -> None:
    """`ledger.ndc_changes`: a credit and a new charge of the same service (date, modifiers,
    administrations) whose NDC or N4 unit differ, or whose quantity differs for the same units;
    not the same NDC with a quantity for other units, nor a credit with nothing in its place."""
    day = date(2026, 3, 2)
    billed = {"ndc": PREFERRED, "ndc_unit": "ML", "ndc_quantity": "50.01"}

    def credit(units: int = 300, modifiers: list[str] | None = None) -> LedgerEntry:
        return LedgerEntry(
            code="J9267", modifiers=modifiers or [], units=units, date=day,
            administrations=["A1"], detail=billed, transaction_id="E1-1",
        )  # fmt: skip

    def charge(units: int = 300, **detail: str) -> Sendable:
        return Sendable("J9264", (), units, day, ("A1",), detail)

    assert ndc_changes([credit()], [charge(**billed)]) == []  # another code, the same NDC
    assert ndc_changes([credit()], [charge(250, **{**billed, "ndc_quantity": "41.675"})]) == []
    assert ndc_changes([credit()], [charge(**{**billed, "ndc_quantity": "60"})]) == [
        f"NDC changes on J9267 ×300 03-02 (sent now as J9264 ×300): billed {PREFERRED} 50.01 ML,"
        f" sent now {PREFERRED} 60 ML"
    ]
    assert ndc_changes([credit()], [charge()]) == [
        f"NDC changes on J9267 ×300 03-02 (sent now as J9264 ×300): billed {PREFERRED} 50.01 ML,"
        " sent now without an NDC"
    ]
    # QA: J7040 x2 (the coder's, no NDC) credited for the engine's J7030 x1 with an NDC: the
    # line sent in its place is named, so J7040 does not read as sent again.
    bag = LedgerEntry(
        code="J7040", modifiers=[], units=2, date=day, administrations=["A1"], detail={},
        transaction_id="E1-2",
    )  # fmt: skip
    now = Sendable("J7030", (), 1, day, ("A1",), {"ndc": "99999000910", "ndc_unit": "ML",
                                                  "ndc_quantity": "1000"})  # fmt: skip
    assert ndc_changes([bag], [now]) == [
        "NDC changes on J7040 ×2 03-02 (sent now as J7030 ×1): billed without an NDC, sent now "
        "99999000910 1000 ML"
    ]
    assert ndc_changes([credit(modifiers=["JW"])], [charge()]) == []  # another service
