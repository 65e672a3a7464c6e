"""The formulary CSV and a drug's retirement: the export's retired_on and retired_reason
columns, the import retiring an active drug through `drug_retire` (as its page does), a retired
drug staying retired and named in the summary, an older file without the columns unchanged."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug
from mar.pharmacy.formulary import formulary_rows_read
from mar.pharmacy.services import (
    FormularyImportError,
    drug_retire,
    formulary_export,
    formulary_import,
)
from tests import factories

pytestmark = pytest.mark.django_db

DrugEvent = EVENTS[Drug]
OLD_HEADER = "name,synonyms,class,hcpcs,billing_unit,note\n"
HEADER = "name,synonyms,class,hcpcs,billing_unit,note,container,retired_on,retired_reason\n"
REASON = "No longer stocked: replaced by granisetron"
ONDANSETRON = "ondansetron,Zofran,therapeutic,J2405,1 mg,antiemetic,"
MESNA = "mesna,Mesnex,therapeutic,J9209,200 mg,chemoprotectant,"


@pytest.fixture
def ondansetron() -> Drug:
    drug = factories.drug_get("ondansetron", "therapeutic")
    Drug.objects.filter(pk=drug.pk).update(
        synonyms="Zofran",
        hcpcs_code="J2405",
        billing_unit_amount=1,
        billing_unit="mg",
        class_note="antiemetic",
    )
    return fresh(drug)


@pytest.fixture
def mesna() -> Drug:
    drug = factories.drug_get("mesna", "therapeutic")
    Drug.objects.filter(pk=drug.pk).update(
        synonyms="Mesnex",
        hcpcs_code="J9209",
        billing_unit_amount=200,
        billing_unit="mg",
        class_note="chemoprotectant",
    )
    return fresh(drug)


def fresh(drug: Drug) -> Drug:
    return Drug.objects.get(pk=drug.pk)


def today() -> str:
    return timezone.localdate().isoformat()


def exported_rows() -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in csv.DictReader(io.StringIO(formulary_export(), newline=""))}


def refused(user, text: str) -> list[str]:
    with pytest.raises(FormularyImportError) as caught:
        formulary_import(data=text.encode(), user=user)
    return [str(error) for error in caught.value.errors]


# --- the export -----------------------------------------------------------------------------


def test_export_adds_retired_on_and_retired_reason_after_the_existing_columns(
    ondansetron,
) -> None:
    header = formulary_export().splitlines()[0]
    assert header == ",".join(f'"{name}"' for name in HEADER.strip().split(","))


def test_export_marks_a_retired_drug_with_its_date_and_reason_and_leaves_an_active_one_blank(
    ondansetron, mesna, pharmacist_user
) -> None:
    drug_retire(drug=ondansetron, reason=REASON, user=pharmacist_user)
    rows = exported_rows()
    day = timezone.localdate(fresh(ondansetron).retired_at).isoformat()
    assert (rows["ondansetron"]["retired_on"], rows["ondansetron"]["retired_reason"]) == (
        day,
        REASON,
    )
    assert (rows["mesna"]["retired_on"], rows["mesna"]["retired_reason"]) == ("", "")


# --- the import retires an active drug --------------------------------------------------------


def test_import_retires_an_active_drug_with_its_reason_and_who_and_when_like_the_page(
    ondansetron, mesna, pharmacist_user
) -> None:
    before = timezone.now()
    summary = formulary_import(
        data=HEADER + ONDANSETRON + f",{today()},{REASON}\n" + MESNA + ",,\n",
        user=pharmacist_user,
    )
    drug = fresh(ondansetron)
    assert (drug.active, drug.retired_by, drug.retired_reason) == (False, pharmacist_user, REASON)
    assert drug.retired_at is not None and drug.retired_at >= before
    assert fresh(mesna).active
    assert (summary.updated, summary.unchanged) == (1, 1)
    assert summary.retired == ("ondansetron",)
    assert summary.notes == ["Retired today: ondansetron."]


def test_import_retires_as_of_the_import_not_the_date_written(ondansetron, pharmacist_user) -> None:
    """The page's rule: a retirement takes effect when it is made (never back-dated: a FHIR
    order written in between would otherwise turn into a refused one)."""
    last_week = (timezone.localdate() - timedelta(days=7)).isoformat()
    formulary_import(data=HEADER + ONDANSETRON + f",{last_week},{REASON}\n", user=pharmacist_user)
    assert timezone.localdate(fresh(ondansetron).retired_at).isoformat() == today()


def test_import_adds_a_new_drug_marked_retired_as_a_retired_drug(pharmacist_user) -> None:
    summary = formulary_import(
        data=HEADER + ONDANSETRON + f",{today()},{REASON}\n", user=pharmacist_user
    )
    drug = Drug.objects.get(name="ondansetron")
    assert (drug.active, drug.retired_by, drug.retired_reason) == (False, pharmacist_user, REASON)
    assert (summary.created, summary.retired) == (1, ("ondansetron",))


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_retirement_by_import_is_in_the_audit_trail_as_the_pages_is(
    client_as, ondansetron, mesna, pharmacist_user
) -> None:
    client = client_as(roles.PHARMACIST)
    client.post(reverse("pharmacy:drug_retire", args=[mesna.pk]), {"reason": REASON})
    page = client.post(
        reverse("pharmacy:formulary_import"),
        {"file": upload(HEADER + ONDANSETRON + f",{today()},{REASON}\n")},
    )
    assert page.status_code == 302

    by_page, by_import = (
        DrugEvent.objects.get(pgh_obj_id=drug.pk, pgh_context__metadata__action="drug_retire")
        for drug in (mesna, ondansetron)
    )
    for event in (by_page, by_import):
        assert (event.active, event.retired_reason, event.retired_by_id) == (
            False,
            REASON,
            pharmacist_user.pk,
        )
        assert event.pgh_context.metadata["reason"] == REASON
        assert event.pgh_context.metadata["user"] == pharmacist_user.pk
    assert by_import.pgh_context.metadata["url"] == reverse("pharmacy:formulary_import")


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_an_import_retiring_drugs_keeps_each_reason_to_its_drug_in_the_audit_trail(
    client_as, ondansetron, mesna, pharmacist_user
) -> None:
    """One request, several changes: each retirement's context (action, reason) stays with its
    own drug's event; the import's other changes are not labelled a retirement."""
    Drug.objects.create(name="granisetron")
    text = (
        HEADER
        + "granisetron,,,,,,,"
        + f"{today()},Recalled\n"
        + MESNA.replace("J9209", "J9210")  # a billing change, no retirement
        + ",,\n"
        + ONDANSETRON
        + f",{today()},{REASON}\n"
    )
    page = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:formulary_import"),
        {"file": upload(text), "reason": "CMS quarterly HCPCS update"},
    )
    assert page.status_code == 302
    reasons = {
        event.pgh_obj.name: event.pgh_context.metadata["reason"]
        for event in DrugEvent.objects.filter(pgh_context__metadata__action="drug_retire")
    }
    assert reasons == {"granisetron": "Recalled", "ondansetron": REASON}
    # The billing change keeps its own context: the import's one reason, with its line.
    (hcpcs_change,) = DrugEvent.objects.filter(pgh_obj_id=mesna.pk, hcpcs_code="J9210")
    assert hcpcs_change.pgh_context.metadata["action"] == "drug_billing_update"
    assert hcpcs_change.pgh_context.metadata["reason"] == (
        "CMS quarterly HCPCS update (imported, line 3)"
    )
    assert hcpcs_change.pgh_context.metadata["user"] == pharmacist_user.pk


# --- rows refused, each with its line and column ---------------------------------------------


def test_import_refuses_a_date_without_a_reason_naming_the_row_and_column(
    ondansetron, mesna, pharmacist_user
) -> None:
    text = HEADER + MESNA + ",,\n" + ONDANSETRON + f",{today()},\n"
    assert refused(pharmacist_user, text) == [
        f"line 3: retired_reason is empty: say why the drug is retired (retired_on {today()}), "
        "as on its page"
    ]
    assert fresh(ondansetron).active


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            f",{REASON}",
            "line 2: retired_on is empty but retired_reason is given: write the date the drug "
            "is retired (YYYY-MM-DD), or leave both empty for an active drug",
        ),
        (
            f"12/6/2026,{REASON}",
            "line 2: retired_on must be a date like 2026-12-06 (YYYY-MM-DD), not '12/6/2026'",
        ),
        (
            f"2026-02-30,{REASON}",
            "line 2: retired_on must be a date like 2026-12-06 (YYYY-MM-DD), not '2026-02-30'",
        ),
    ],
)
def test_import_refuses_a_reason_without_a_date_or_a_bad_date_naming_the_row_and_column(
    ondansetron, pharmacist_user, cells, message
) -> None:
    assert refused(pharmacist_user, HEADER + ONDANSETRON + f",{cells}\n") == [message]
    assert fresh(ondansetron).active


def test_import_refuses_a_retirement_dated_in_the_future(ondansetron, pharmacist_user) -> None:
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    errors = refused(pharmacist_user, HEADER + ONDANSETRON + f",{tomorrow},{REASON}\n")
    assert errors == [
        f"line 2: retired_on {tomorrow} is in the future: an import retires a drug when it is "
        "imported (retire it on its page on the day)"
    ]
    assert fresh(ondansetron).active


def test_import_refuses_a_reason_longer_than_the_pages_limit(ondansetron, pharmacist_user) -> None:
    errors = refused(pharmacist_user, HEADER + ONDANSETRON + f",{today()},{'x' * 2001}\n")
    assert errors == ["line 2: retired_reason is longer than 2000 characters"]
    assert fresh(ondansetron).active


def test_import_refuses_one_retirement_column_without_the_other_on_line_1(
    pharmacist_user,
) -> None:
    text = OLD_HEADER.strip() + ",retired_on\n" + ONDANSETRON.rstrip(",") + f",{today()}\n"
    assert refused(pharmacist_user, text) == [
        "line 1: column retired_on without retired_reason: the retirement columns go together "
        "(both, or neither)"
    ]


def test_a_bad_retirement_row_refuses_the_whole_file(ondansetron, pharmacist_user) -> None:
    text = (
        HEADER
        + ONDANSETRON
        + f",{today()},{REASON}\n"  # good: would retire
        + MESNA
        + f",{today()},\n"  # bad: no reason
    )
    assert refused(pharmacist_user, text)[0].startswith("line 3: retired_reason is empty")
    assert fresh(ondansetron).active
    assert not Drug.objects.filter(name="mesna").exists()


# --- a retired drug stays retired -------------------------------------------------------------


def test_a_retired_drug_with_empty_retirement_columns_stays_retired_and_the_summary_names_it(
    ondansetron, pharmacist_user
) -> None:
    drug_retire(drug=ondansetron, reason=REASON, user=pharmacist_user)
    retired_at = fresh(ondansetron).retired_at
    summary = formulary_import(data=HEADER + ONDANSETRON + ",,\n", user=pharmacist_user)
    drug = fresh(ondansetron)
    assert (drug.active, drug.retired_at, drug.retired_reason) == (False, retired_at, REASON)
    assert summary.stays_retired == ("ondansetron",)
    assert summary.notes == ["ondansetron stays retired: reactivate it on its page."]


def test_the_import_page_says_which_retired_drug_stays_retired(
    client_as, ondansetron, mesna, pharmacist_user
) -> None:
    drug_retire(drug=ondansetron, reason=REASON, user=pharmacist_user)
    page = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:formulary_import"),
        {"file": upload(HEADER + ONDANSETRON + ",,\n" + MESNA + ",,\n")},
        follow=True,
    )
    assert (
        "Imported: 0 new, 0 updated (0 reclassified), 2 unchanged. "
        "ondansetron stays retired: reactivate it on its page."
    ) in page.content.decode()
    assert not fresh(ondansetron).active


def test_a_retired_drug_whose_row_states_another_retirement_keeps_the_recorded_one(
    ondansetron, pharmacist_user
) -> None:
    drug_retire(drug=ondansetron, reason=REASON, user=pharmacist_user)
    summary = formulary_import(
        data=HEADER + ONDANSETRON + f",{today()},Recalled\n", user=pharmacist_user
    )
    assert fresh(ondansetron).retired_reason == REASON
    assert summary.retirement_kept == ("ondansetron",)
    assert summary.notes == [
        "ondansetron stays retired as recorded: an import does not change a retirement "
        "(reactivate it on its page, then retire it again)."
    ]


def test_a_file_without_the_retirement_columns_imports_as_before(
    ondansetron, mesna, pharmacist_user
) -> None:
    drug_retire(drug=ondansetron, reason=REASON, user=pharmacist_user)
    text = OLD_HEADER + ONDANSETRON.rstrip(",") + "\n" + MESNA.rstrip(",") + "\n"
    rows, errors = formulary_rows_read(text)
    assert not errors
    assert [(row.retirement_said, row.retired_on) for row in rows] == [(False, None)] * 2
    summary = formulary_import(data=text, user=pharmacist_user)
    assert (summary.updated, summary.unchanged, summary.notes) == (0, 2, [])
    assert not fresh(ondansetron).active and fresh(ondansetron).retired_reason == REASON
    assert fresh(mesna).active


# --- export then import -----------------------------------------------------------------------


def test_export_then_import_of_a_formulary_with_a_retired_drug_changes_nothing(
    ondansetron, mesna, pharmacist_user
) -> None:
    drug_retire(drug=ondansetron, reason=REASON, user=pharmacist_user)
    exported = formulary_export()
    before = list(Drug.objects.order_by("pk").values())
    summary = formulary_import(data=exported, user=pharmacist_user)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 2)
    assert summary.notes == []
    assert list(Drug.objects.order_by("pk").values()) == before
    assert formulary_export() == exported


def test_a_retirement_reason_starting_with_equals_is_exported_safely_and_read_back_as_typed(
    ondansetron, pharmacist_user
) -> None:
    reason = '=HYPERLINK("http://evil.example","recalled")'
    drug_retire(drug=ondansetron, reason=reason, user=pharmacist_user)
    exported = formulary_export()
    assert exported_rows()["ondansetron"]["retired_reason"] == "'" + reason
    rows, errors = formulary_rows_read(exported)
    assert not errors and rows[0].retired_reason == reason
    summary = formulary_import(data=exported, user=pharmacist_user)
    assert (summary.unchanged, summary.notes) == (1, [])  # the same retirement, not another

    # A drug new to the formulary: added retired, with the reason as typed.
    formulary_import(data=exported.replace('"ondansetron"', '"palonosetron"'), user=pharmacist_user)
    assert Drug.objects.get(name="palonosetron").retired_reason == reason


def upload(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("formulary.csv", text.encode(), content_type="text/csv")
