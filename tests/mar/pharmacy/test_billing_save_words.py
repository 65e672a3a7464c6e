"""A pharmacist's save of a drug's billing data says what it means (QA).

1. A HCPCS code the charge master does not price was saved without a word, and the coder's
   worklist later said "<code> is not in the charge master: no revenue code, no price"
   (EDIT-CDM). The pharmacist is now told at save, beside the HCPCS field, as a warning: the
   save goes through (finance keeps the charge master and may load it later), and the drug's
   page says it beside the code while it holds. mar asks coding through the record's port
   (`charge_master_standing`), never importing it.
2. A change to the billing data (HCPCS code, billing unit, container) asks a reason, as a class
   change and a package's correction do: refused beside the field without one (what was typed
   kept), not asked when nothing of it changed nor for a new drug; kept in the audit trail and
   carried to the coder with the charges it brings up to date (the run's "Why this run was
   made", an exported run's flag).
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from coding.chargemaster import (
    ChargeMasterRow,
    charge_master_edits,
    charge_master_for,
    charge_master_load,
    charge_master_parse,
)
from coding.models import ChargeRun, ClassChangeAfterExport
from coding.ports import CodingChargesPort
from mar.audit.models import EVENTS
from mar.models import Drug, DrugNdc
from mar.pharmacy.services import BILLING_REASON_MISSING, hcpcs_charge_master_warning
from mar.ports import ChargeMasterStanding, charges_port
from tests.mar.pharmacy.test_billing import (
    drug_lines,
    edit_posted,
    paclitaxel_visit,
    said,
    save,
)
from tests.mar.pharmacy.test_services import current, sign

pytestmark = pytest.mark.django_db

HEADER = "code,revenue_code,description,unit_price\n"
PRICED = "J9267,0636,paclitaxel 1 mg,40\nJ9268,0636,pentostatin 10 mg,900\n"
NOT_LISTED = "J9999"  # a real-looking code finance has not loaded


@pytest.fixture
def master() -> None:
    """A charge master pricing J9267 and J9268, from the beginning."""
    charge_master_load(rows=charge_master_parse(HEADER + PRICED))


def edit_url(drug: Drug) -> str:
    return reverse("pharmacy:drug_edit", args=[drug.pk])


def page_url(drug: Drug) -> str:
    return reverse("pharmacy:drug", args=[drug.pk])


# --- 1. the charge master's word --------------------------------------------------------------


def test_the_port_answers_whether_a_code_is_in_the_charge_master(master) -> None:
    today = timezone.localdate()
    port = charges_port()
    assert isinstance(port, CodingChargesPort)  # coding's answer, reached through mar's port
    assert port.charge_master_standing(code="J9267", on=today) == ChargeMasterStanding(
        loaded=True, priced=True
    )
    assert port.charge_master_standing(code=NOT_LISTED, on=today) == ChargeMasterStanding(
        loaded=True, priced=False
    )


def test_the_ports_answer_is_the_coders_edit_cdm(master) -> None:
    """Priced by the port exactly when the coder's EDIT-CDM says nothing of a line that day."""

    class Line:
        def __init__(self, code: str, on: date) -> None:
            self.code, self.date, self.administrations = code, on, ("A1",)

    today = timezone.localdate()
    for code in ("J9267", "J9268", NOT_LISTED, "J1100"):
        standing = charges_port().charge_master_standing(code=code, on=today)
        edits = charge_master_edits([Line(code, today)], charge_master_for([code]))
        assert standing.priced == (edits == []), code
        if edits:
            assert edits[0].message.startswith(f"{code} is not in the charge master")


def test_with_no_charge_master_loaded_nothing_is_said_as_the_coders_edit_says_nothing() -> None:
    standing = charges_port().charge_master_standing(code=NOT_LISTED, on=timezone.localdate())
    assert standing == ChargeMasterStanding(loaded=False, priced=False)
    assert hcpcs_charge_master_warning(NOT_LISTED) == ""


def test_a_code_not_in_the_charge_master_is_warned_of_in_words(master) -> None:
    warning = hcpcs_charge_master_warning(" j9999 ")
    assert warning == (
        "J9999 is not in the charge master: its drug lines carry no revenue code and no price, "
        "and the coder's worklist flags them until finance loads it."
    )
    assert hcpcs_charge_master_warning("J9267") == ""
    assert hcpcs_charge_master_warning("") == ""
    assert hcpcs_charge_master_warning("9209") == ""  # not a code: the form's own refusal


def test_a_code_finance_loaded_from_a_later_date_is_warned_of_until_then(master) -> None:
    later = timezone.localdate() + timedelta(days=10)
    charge_master_load(
        rows=[ChargeMasterRow(NOT_LISTED, "0636", "new drug 1 mg", Decimal("5"))],
        replace=False,
        effective_from=later,
    )
    assert hcpcs_charge_master_warning(NOT_LISTED).startswith(
        f"J9999 is not in the charge master until {later:%Y-%m-%d} (finance loaded it from then)"
    )
    assert hcpcs_charge_master_warning(NOT_LISTED, on=later) == ""


def test_a_code_finance_stopped_listing_is_warned_of_since_then(master) -> None:
    today = timezone.localdate()
    charge_master_load(rows=charge_master_parse(HEADER + "J9268,0636,pentostatin,900\n"))
    assert hcpcs_charge_master_warning("J9267") == (
        f"J9267 is no longer in the charge master (not listed since {today:%Y-%m-%d}): its drug "
        "lines carry no revenue code and no price, and the coder's worklist flags them until "
        "finance lists it again."
    )


def test_a_code_not_in_the_charge_master_is_saved_with_a_warning_said_at_save(
    master, client_as
) -> None:
    drug, _ = paclitaxel_visit()
    response = client_as("pharmacist").post(
        edit_url(drug), edit_posted(drug, hcpcs=NOT_LISTED, reason="NDC crosswalk says J9999")
    )
    assert response.status_code == 302  # the save goes through
    drug.refresh_from_db()
    assert drug.hcpcs_code == NOT_LISTED
    assert said(response) == [
        "Saved paclitaxel.",
        "J9999 is not in the charge master: its drug lines carry no revenue code and no price, "
        "and the coder's worklist flags them until finance loads it. Saved all the same: finance "
        "keeps the charge master, and the drug's page says this until the code is loaded.",
    ]
    levels = [m.level_tag for m in get_messages(response.wsgi_request)]
    assert levels == ["success", "warning"]


def test_the_edit_form_says_the_warning_beside_the_hcpcs_field(master, client_as) -> None:
    drug, _ = paclitaxel_visit()
    Drug.objects.filter(pk=drug.pk).update(hcpcs_code=NOT_LISTED)
    page = client_as("pharmacist").get(edit_url(drug)).content.decode()
    field = page.index('name="hcpcs"')
    warning = page.index('data-testid="hcpcs-warning"')
    assert field < warning < page.index('name="billing_unit"')  # beside it, before the next
    assert 'aria-describedby="hcpcs-warning"' in page[page.rindex("<input", 0, field) : warning]
    assert "J9999 is not in the charge master" in page
    assert "Saving keeps the code all the same" in page


def test_a_priced_code_gets_no_warning_on_the_form_or_the_page(master, client_as) -> None:
    drug, _ = paclitaxel_visit()
    client = client_as("pharmacist")
    assert 'data-testid="hcpcs-warning"' not in client.get(edit_url(drug)).content.decode()
    assert 'data-testid="hcpcs-warning"' not in client.get(page_url(drug)).content.decode()


def test_the_drugs_page_says_the_warning_while_it_holds_and_not_after_finance_loads_it(
    master, client_as
) -> None:
    drug, _ = paclitaxel_visit()
    Drug.objects.filter(pk=drug.pk).update(hcpcs_code=NOT_LISTED)
    for role in ("pharmacist", "coder", "nurse"):
        page = client_as(role).get(page_url(drug)).content.decode()
        hcpcs = page[
            page.index('data-testid="drug-hcpcs"') : page.index(
                "</dd>", page.index('data-testid="drug-hcpcs"')
            )
        ]
        assert "J9999 is not in the charge master" in hcpcs, role
    charge_master_load(rows=charge_master_parse(HEADER + PRICED + "J9999,0636,new drug,5\n"))
    page = client_as("pharmacist").get(page_url(drug)).content.decode()
    assert 'data-testid="hcpcs-warning"' not in page


def test_a_new_drug_with_a_code_not_in_the_charge_master_is_warned_of_too(
    master, client_as
) -> None:
    typed = {"name": "newdrugumab", "hcpcs": NOT_LISTED, "billing_unit": "1 mg", "note": ""}
    response = client_as("pharmacist").post(reverse("pharmacy:drug_new"), typed)
    assert response.status_code == 302
    assert Drug.objects.get(name="newdrugumab").hcpcs_code == NOT_LISTED
    assert any("J9999 is not in the charge master" in m for m in said(response))


def test_a_refused_save_says_the_warning_of_the_code_typed(master, client_as) -> None:
    drug, _ = paclitaxel_visit()
    posted = edit_posted(drug, hcpcs=NOT_LISTED, reason="")
    response = client_as("pharmacist").post(edit_url(drug), posted)
    assert response.status_code == 200
    page = response.content.decode()
    assert "J9999 is not in the charge master" in page
    drug.refresh_from_db()
    assert drug.hcpcs_code == "J9267"


# --- 2. the reason --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "changed"),
    [
        ("hcpcs", "J9268", "HCPCS code J9267 → J9268"),
        ("billing_unit", "2 mg", "billing unit 1 mg → 2 mg"),
        (
            "container",
            Drug.Container.MULTI_DOSE,
            "container Single-dose container → Multi-dose container",
        ),
    ],
)
def test_each_billing_field_changed_without_a_reason_is_refused_beside_the_reason(
    pharmacist_user, field: str, value: str, changed: str
) -> None:
    drug, _ = paclitaxel_visit()
    with pytest.raises(ValidationError) as refused:
        save(drug, pharmacist_user, reason="  ", **{field: value})
    assert refused.value.message_dict == {
        "reason": [BILLING_REASON_MISSING.format(changes=changed)]
    }
    drug.refresh_from_db()
    assert (drug.hcpcs_code, drug.billing_unit_label, drug.container) == (
        "J9267",
        "1 mg",
        Drug.Container.SINGLE_DOSE,
    )


def test_a_save_changing_no_billing_data_asks_no_reason(pharmacist_user) -> None:
    drug, _ = paclitaxel_visit()
    # The billing unit as typed differently ("1.0 mg") is the same billing unit.
    saved = save(drug, pharmacist_user, reason="", note="label checked", billing_unit="1.0 mg")
    assert saved.class_note == "label checked"


def test_a_new_drug_asks_no_reason(client_as) -> None:
    client = client_as("pharmacist")
    assert "reason" not in client.get(reverse("pharmacy:drug_new")).context["form"].fields
    typed = {"name": "pemetrexed", "hcpcs": "J9305", "billing_unit": "10 mg", "note": ""}
    assert client.post(reverse("pharmacy:drug_new"), typed).status_code == 302
    assert Drug.objects.get(name="pemetrexed").billing_unit_label == "10 mg"


def test_the_form_refuses_without_a_reason_beside_the_field_keeping_what_was_typed(
    client_as,
) -> None:
    drug, _ = paclitaxel_visit()
    posted = edit_posted(drug, hcpcs="j9268", billing_unit="2 mg", synonyms="Taxol", reason="")
    response = client_as("pharmacist").post(edit_url(drug), posted)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors == {
        "reason": [
            BILLING_REASON_MISSING.format(
                changes="HCPCS code J9267 → J9268; billing unit 1 mg → 2 mg"
            )
        ]
    }
    assert (form["hcpcs"].value(), form["billing_unit"].value(), form["synonyms"].value()) == (
        "j9268",
        "2 mg",
        "Taxol",
    )
    page = response.content.decode()
    reason_input = page.index('name="reason"')
    assert page.index("Say why the billing data changes", reason_input) < page.index(
        'name="note"'
    )  # beside the reason field
    drug.refresh_from_db()
    assert (drug.hcpcs_code, drug.synonyms) == ("J9267", "")


def test_a_reason_typed_is_kept_when_another_field_is_refused(client_as) -> None:
    drug, _ = paclitaxel_visit()
    posted = edit_posted(drug, hcpcs="J9268", billing_unit="2mg", reason="label: per 2 mg")
    response = client_as("pharmacist").post(edit_url(drug), posted)
    form = response.context["form"]
    assert set(form.errors) == {"billing_unit"}
    assert form["reason"].value() == "label: per 2 mg"


def test_a_bad_billing_field_and_no_reason_are_said_at_once(pharmacist_user) -> None:
    drug, _ = paclitaxel_visit()
    with pytest.raises(ValidationError) as refused:
        save(drug, pharmacist_user, hcpcs="9268", reason="")
    assert set(refused.value.message_dict) == {"hcpcs", "reason"}


def test_a_reason_longer_than_the_limit_is_refused(pharmacist_user) -> None:
    drug, _ = paclitaxel_visit()
    with pytest.raises(ValidationError) as refused:
        save(drug, pharmacist_user, hcpcs="J9268", reason="x" * 2001)
    assert refused.value.message_dict == {"reason": ["At most 2000 characters."]}


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_reason_is_in_the_audit_trail_with_who_and_the_old_and_new_values(
    pharmacist_user,
) -> None:
    drug, _ = paclitaxel_visit()
    DrugNdc.objects.create(drug=drug, ndc="99999000901", unit="ML", units_per_billing_unit=1)
    save(drug, pharmacist_user, hcpcs="J9268", billing_unit="2 mg", reason="label restated")
    event = EVENTS[Drug].objects.filter(pgh_obj_id=drug.pk, pgh_label="update").latest("pk")
    context = event.pgh_context.metadata
    assert context["action"] == "drug_billing_update"
    assert context["user"] == pharmacist_user.pk
    assert context["reason"] == "label restated"
    assert context["changes"] == {
        "hcpcs_code": ["J9267", "J9268"],
        "billing_unit": ["1 mg", "2 mg"],
    }
    assert event.hcpcs_code == "J9268"
    # The packages' NDC units scaled with the billing unit: under the same reason.
    scaled = EVENTS[DrugNdc].objects.get(pgh_label="update")
    assert scaled.pgh_context.metadata["reason"] == "label restated"


def test_the_coder_reads_the_reason_where_the_regenerated_run_says_why(
    nurse_user, pharmacist_user, client_as, django_capture_on_commit_callbacks
) -> None:
    """As a class change's reason: in the run's "Why this run was made" on the review page."""
    drug, encounter = paclitaxel_visit()
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        save(drug, pharmacist_user, hcpcs="J9268", reason="CMS crosswalk 2027")
    run = current(encounter)
    assert run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert drug_lines(run)[0][0] == "J9268"
    assert run.reason == (
        f"Billing data of paclitaxel edited by {pharmacist_user.username}: HCPCS code J9267 -> "
        "J9268. Reason: CMS crosswalk 2027"
    )
    page = client_as("coder").get(reverse("coding:encounter_charges", args=[encounter.pk]))
    why = page.content.decode()
    start = why.index('data-testid="run-reason"')
    assert "Reason: CMS crosswalk 2027" in why[start : why.index("</p>", start)]


def test_an_exported_runs_flag_carries_the_reason_to_the_coder(nurse_user, pharmacist_user) -> None:
    drug, encounter = paclitaxel_visit()
    signed = sign(encounter, nurse_user)
    ChargeRun.objects.filter(pk=signed.pk).update(exported_at=timezone.now())
    save(drug, pharmacist_user, container=Drug.Container.MULTI_DOSE, reason="label: multi-dose")
    flag = ClassChangeAfterExport.objects.get(run=signed)
    assert flag.reason.endswith("Reason: label: multi-dose")
