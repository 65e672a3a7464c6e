"""The formulary CSV import asks one reason when it changes billing data of drugs already in the
formulary (HCPCS code, billing unit, container), as the drug form asks one (`drug_save`): without
it nothing is imported and the changes are listed (before -> after); the file is kept for the
confirm step. With it, each drug's change is audited (`drug_billing_update`, "<reason>
(imported, line N)") and the coder reads it with the charges it brings up to date."""

import hashlib
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug
from mar.pharmacy.services import (
    IMPORT_BILLING_REASON_MISSING,
    ImportReasonNeeded,
    formulary_import,
    formulary_import_billing_changes,
)
from mar.pharmacy.views import IMPORT_KEPT
from mar.validators import REASON_IN_WORDS
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = "name,synonyms,class,hcpcs,billing_unit,note,container\n"
# Line 2: paclitaxel's HCPCS code and billing unit change; line 3: a new drug (asks nothing).
FILE = (
    HEADER
    + "paclitaxel,Taxol,chemo,J9268,2 mg,antineoplastic,single_dose\n"
    + "teprotumumab,Tepezza,therapeutic,J3241,10 mg,IGF-1R antibody,\n"
)
REASON = "CMS quarterly HCPCS update"


@pytest.fixture
def paclitaxel() -> Drug:
    drug = factories.drug_get("paclitaxel", "chemo")
    Drug.objects.filter(pk=drug.pk).update(
        synonyms="Taxol",
        hcpcs_code="J9267",
        billing_unit_amount=Decimal(1),
        billing_unit="mg",
        container="single_dose",
        class_note="antineoplastic",
    )
    drug.refresh_from_db()
    return drug


def upload(text: str, name: str = "formulary.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_an_import_changing_billing_data_without_a_reason_imports_nothing_and_lists_them(
    paclitaxel, pharmacist_user
) -> None:
    with pytest.raises(ImportReasonNeeded) as caught:
        formulary_import(data=FILE, user=pharmacist_user)
    (change,) = caught.value.changes
    assert (change.line, change.name) == (2, "paclitaxel")
    assert change.shown == ["HCPCS code J9267 → J9268", "billing unit 1 mg → 2 mg"]
    assert caught.value.message_dict == {"reason": [IMPORT_BILLING_REASON_MISSING]}
    paclitaxel.refresh_from_db()
    assert (paclitaxel.hcpcs_code, paclitaxel.billing_unit_label) == ("J9267", "1 mg")
    assert not Drug.objects.filter(name="teprotumumab").exists()  # nothing of the file


def test_the_preview_lists_the_same_changes_and_writes_nothing(paclitaxel) -> None:
    (change,) = formulary_import_billing_changes(data=FILE)
    assert (change.line, change.name, change.fields["hcpcs_code"]) == (
        2,
        "paclitaxel",
        ["J9267", "J9268"],
    )
    assert not Drug.objects.filter(name="teprotumumab").exists()


def test_new_drugs_and_unchanged_billing_data_ask_no_reason(paclitaxel, pharmacist_user) -> None:
    same = HEADER + "paclitaxel,Taxol;Onxol,chemo,J9267,1 mg,antineoplastic,single_dose\n"
    summary = formulary_import(data=same + FILE.splitlines()[2] + "\n", user=pharmacist_user)
    assert (summary.created, summary.updated, summary.billing_changed) == (1, 1, ())


def test_with_the_reason_each_change_is_applied_and_said(paclitaxel, pharmacist_user) -> None:
    summary = formulary_import(data=FILE, user=pharmacist_user, billing_reason=f"  {REASON} ")
    paclitaxel.refresh_from_db()
    assert (paclitaxel.hcpcs_code, paclitaxel.billing_unit_label) == ("J9268", "2 mg")
    assert summary.billing_changed == ("paclitaxel",)
    assert "Billing data changed, with your reason: paclitaxel." in summary.notes


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_each_drugs_billing_change_is_audited_with_the_reason_and_its_line(
    paclitaxel, pharmacist_user
) -> None:
    formulary_import(data=FILE, user=pharmacist_user, billing_reason=REASON)
    (event,) = EVENTS[Drug].objects.filter(pgh_obj_id=paclitaxel.pk, hcpcs_code="J9268")
    metadata = event.pgh_context.metadata
    assert metadata["action"] == "drug_billing_update"
    assert metadata["reason"] == f"{REASON} (imported, line 2)"
    assert metadata["changes"]["hcpcs_code"] == ["J9267", "J9268"]
    assert metadata["changes"]["billing_unit"] == ["1 mg", "2 mg"]


# --- the page: upload, then the reason beside its field, the file kept ------------------------


def test_the_page_lists_the_changes_asks_the_reason_and_keeps_the_file(
    client_as, paclitaxel
) -> None:
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:formulary_import")
    page = client.post(url, {"file": upload(FILE)})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Why are these billing data changing?" in text
    assert "HCPCS code J9267 → J9268" in text and "billing unit 1 mg → 2 mg" in text
    assert "Nothing was imported yet" in text
    sha = hashlib.sha256(FILE.encode()).hexdigest()
    assert f'name="kept" value="{sha}"' in text
    assert client.session[IMPORT_KEPT]["sha"] == sha
    paclitaxel.refresh_from_db()
    assert paclitaxel.hcpcs_code == "J9267"

    # Confirmed without a reason, then with one not in words: refused beside the field.
    for typed, said in (("", IMPORT_BILLING_REASON_MISSING), ("x", REASON_IN_WORDS)):
        page = client.post(url, {"kept": sha, "reason": typed})
        assert page.status_code == 400
        assert said.replace("'", "&#x27;") in page.content.decode()
        assert "HCPCS code J9267 → J9268" in page.content.decode()  # still listed
        paclitaxel.refresh_from_db()
        assert paclitaxel.hcpcs_code == "J9267"

    page = client.post(url, {"kept": sha, "reason": REASON})
    assert page.status_code == 302
    paclitaxel.refresh_from_db()
    assert paclitaxel.hcpcs_code == "J9268"
    assert Drug.objects.filter(name="teprotumumab").exists()
    assert IMPORT_KEPT not in client.session


def test_a_confirm_whose_file_is_no_longer_kept_asks_for_it_again(client_as, paclitaxel) -> None:
    client = client_as(roles.PHARMACIST)
    page = client.post(reverse("pharmacy:formulary_import"), {"kept": "0" * 64, "reason": REASON})
    assert page.status_code == 400
    assert "The file chosen before is no longer kept" in page.content.decode()
    paclitaxel.refresh_from_db()
    assert paclitaxel.hcpcs_code == "J9267"


def test_a_file_without_billing_changes_imports_at_once(client_as, paclitaxel) -> None:
    page = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:formulary_import"), {"file": upload(HEADER + FILE.splitlines()[2])}
    )
    assert page.status_code == 302
    assert Drug.objects.filter(name="teprotumumab").exists()
