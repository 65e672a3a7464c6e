"""A drug's first class needs its evidence (QA: "Chemotherapy / highly complex" tagged from the
worklist with the Evidence box empty stored "First classification." as the reason). A class
decides how every visit using the drug is billed (chemotherapy or therapeutic codes), so what it
rests on (a compendium reference, the FDA label's mechanism) is required wherever a class is
first set: the worklist and the drug's page (`drug_classify`), a new drug's form (`drug_save`),
the formulary CSV import (`formulary_import`: the row is refused, with its line). The rule is the
services'; the forms say it beside the field, with what was typed kept."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from mar import roles
from mar.models import Drug, DrugClassChange, Encounter
from mar.pharmacy.services import (
    EVIDENCE_MISSING,
    FormularyImportError,
    drug_classify,
    drug_save,
    formulary_import,
)
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
EVIDENCE = "NCCN Compendium 2A; FDA label: alkylating agent"
HEADER = "name,synonyms,class,hcpcs,billing_unit,note\n"


def untagged() -> Drug:
    return factories.drug_get("bendamustine", None)


def assert_still_untagged(drug: Drug) -> None:
    drug.refresh_from_db()
    assert drug.drug_class is None and drug.class_tagged_by is None
    assert not DrugClassChange.objects.filter(drug=drug).exists()


# --- the service ----------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   \n "])
def test_a_first_class_without_evidence_is_refused_on_the_evidence(note, pharmacist_user) -> None:
    drug = untagged()
    with pytest.raises(ValidationError) as caught:
        drug_classify(drug=drug, drug_class="chemo", user=pharmacist_user, note=note)
    assert caught.value.message_dict == {"note": [EVIDENCE_MISSING]}
    assert EVIDENCE_MISSING.startswith("Say what the class rests on: ")
    assert_still_untagged(drug)


def test_a_first_class_keeps_its_evidence_as_the_reason_and_the_note(pharmacist_user) -> None:
    drug = untagged()
    change = drug_classify(
        drug=drug, drug_class="chemo", user=pharmacist_user, note=f" {EVIDENCE} "
    )
    drug.refresh_from_db()
    assert (drug.drug_class, drug.class_note) == ("chemo", EVIDENCE)
    assert change.reason == EVIDENCE
    assert not DrugClassChange.objects.filter(reason="First classification.").exists()


def test_a_new_drug_tagged_at_once_needs_its_evidence(pharmacist_user) -> None:
    fields = {"synonyms": "", "hcpcs": "", "billing_unit": "", "user": pharmacist_user}
    with pytest.raises(ValidationError) as caught:
        drug_save(drug=None, name="bendamustine", note=" ", drug_class="chemo", **fields)
    assert caught.value.message_dict["note"] == [EVIDENCE_MISSING]
    assert not Drug.objects.filter(name="bendamustine").exists()
    # Untagged (decided later from the worklist): no evidence needed yet.
    assert drug_save(drug=None, name="bendamustine", note="", **fields).drug_class is None
    tagged = drug_save(drug=None, name="carmustine", note=EVIDENCE, drug_class="chemo", **fields)
    assert DrugClassChange.objects.get(drug=tagged).reason == EVIDENCE


# --- the worklist and the drug's page ---------------------------------------------------------


def test_the_worklist_refuses_a_tag_without_evidence_beside_the_field_and_keeps_the_class(
    client_as,
) -> None:
    drug = untagged()
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug_class", args=[drug.pk])
    refused = client.post(
        url, {"drug_class": "chemo", "reason": "  ", "origin": "worklist"}, **HTMX
    )
    html = refused.content.decode()
    assert refused.status_code == 200  # htmx swaps it in: the form is there again, live
    assert 'data-testid="untagged-drug"' in html and 'data-testid="tagged-drug"' not in html
    assert 'data-testid="reason-error"' in html and escape(EVIDENCE_MISSING) in html
    assert '<option value="chemo" selected>' in html  # the class chosen is kept
    assert 'aria-invalid="true"' in html
    assert_still_untagged(drug)
    done = client.post(
        url, {"drug_class": "chemo", "reason": EVIDENCE, "origin": "worklist"}, **HTMX
    )
    assert 'data-testid="tagged-drug"' in done.content.decode()
    assert DrugClassChange.objects.get(drug=drug).reason == EVIDENCE


def test_a_refused_tag_keeps_the_cards_usage_line(client_as) -> None:
    """The card refused comes back as the worklist drew it: how many orders name the drug and
    how many signed visits wait for its charges stay (QA: the refused render lost the line)."""
    drug = untagged()
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=3))
    order = factories.order_create(encounter, drug)
    start = timezone.now() - timedelta(hours=2)
    factories.administration_create(
        encounter, order, site=None, start=start, stop=start + timedelta(hours=1)
    )
    Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
    line = '<div>1 order · <span class="text-danger">1 signed encounter waiting for charges</span>'
    client = client_as(roles.PHARMACIST)
    assert line in client.get(reverse("pharmacy:worklist")).content.decode()
    refused = client.post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo", "reason": "", "origin": "worklist"},
        **HTMX,
    )
    html = refused.content.decode()
    assert 'data-testid="reason-error"' in html  # refused, beside the field
    assert line in html
    assert_still_untagged(drug)


def test_the_worklist_offers_the_drugs_evidence_note_when_it_has_one(client_as) -> None:
    drug = untagged()
    drug.class_note = EVIDENCE
    drug.save(update_fields=["class_note"])
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:worklist")).content.decode()
    assert f'value="{EVIDENCE}"' in html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx-formulary-row", "no-js-drug-page"])
def test_tagging_from_the_formulary_or_the_drugs_page_needs_the_evidence(client_as, htmx) -> None:
    drug = untagged()
    client = client_as(roles.PHARMACIST)
    origin = "formulary" if htmx else "drug"
    response = client.post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo_hormonal", "reason": "", "origin": origin},
        **(HTMX if htmx else {}),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert escape(EVIDENCE_MISSING) in html
    assert '<option value="chemo_hormonal" selected>' in html
    if not htmx:
        assert response.context["form"].errors["reason"] == [EVIDENCE_MISSING]
    assert_still_untagged(drug)


def test_the_new_drug_form_refuses_a_class_without_evidence_and_keeps_what_was_typed(
    client_as,
) -> None:
    client = client_as(roles.PHARMACIST)
    typed = {"name": "bendamustine", "synonyms": "Treanda", "hcpcs": "J9033",
             "billing_unit": "1 mg", "container": "", "note": "",
             "drug_class": "chemo"}  # fmt: skip
    response = client.post(reverse("pharmacy:drug_new"), typed)
    assert response.status_code == 200
    assert response.context["form"].errors["note"] == [EVIDENCE_MISSING]
    html = response.content.decode()
    assert 'value="Treanda"' in html and 'value="J9033"' in html
    assert '<option value="chemo" selected>' in html
    assert not Drug.objects.filter(name="bendamustine").exists()


# --- the CSV import ---------------------------------------------------------------------------


def test_an_import_refuses_a_first_class_without_evidence_row_by_row(pharmacist_user) -> None:
    """A new drug with a class, and an untagged drug the file tags, need their evidence in the
    note column; a row that leaves the class empty, or keeps the drug's class, does not."""
    factories.drug_get("teprotumumab", None)
    factories.drug_get("mesna", "therapeutic")
    data = HEADER + (
        "bendamustine,,chemo,J9033,1 mg,\n"
        "teprotumumab,,therapeutic,,,\n"
        "mesna,,therapeutic,,,\n"
        "carmustine,,chemo,,,FDA label: nitrosourea\n"
        "zoledronic acid,,,,,\n"
    )
    with pytest.raises(FormularyImportError) as caught:
        formulary_import(data=data, user=pharmacist_user)
    said = [str(error) for error in caught.value.errors]
    assert said == [
        "line 2: bendamustine is given its first class (chemo) with the note column empty: "
        + EVIDENCE_MISSING,
        "line 3: teprotumumab is given its first class (therapeutic) with the note column "
        "empty: " + EVIDENCE_MISSING,
    ]
    assert not Drug.objects.filter(name__in=["bendamustine", "carmustine"]).exists()
    assert Drug.objects.get(name="teprotumumab").drug_class is None


def test_an_import_with_the_evidence_records_it_as_the_first_classifications_reason(
    pharmacist_user,
) -> None:
    factories.drug_get("teprotumumab", None)
    data = HEADER + (
        "bendamustine,,chemo,J9033,1 mg,NCCN Compendium 2A\n"
        "teprotumumab,,therapeutic,,,FDA label: IGF-1R antibody\n"
    )
    formulary_import(data=data, user=pharmacist_user)
    reasons = dict(DrugClassChange.objects.values_list("drug__name", "reason"))
    assert reasons == {
        "bendamustine": "CSV import, line 2: NCCN Compendium 2A",
        "teprotumumab": "CSV import, line 3: FDA label: IGF-1R antibody",
    }


def test_the_import_page_lists_the_row_without_evidence_and_imports_nothing(client_as) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = HEADER + "bendamustine,,chemo,J9033,1 mg,\n"
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:formulary_import"),
        {"file": SimpleUploadedFile("formulary.csv", data.encode(), content_type="text/csv")},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="import-errors"' in html
    assert (
        "line 2: bendamustine is given its first class (chemo) with the note column empty" in html
    )
    assert not Drug.objects.filter(name="bendamustine").exists()
