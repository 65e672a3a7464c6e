"""Correcting a package's description, NDC unit and units per billing unit from the drug's page
(mar.pharmacy.services.drug_ndc_update, pharmacy:drug_ndc_update).

Before, nothing but retiring the package and adding it again changed them (the admin shows an
NDC read-only). The NDC itself stays: another NDC is another package. Checked as a package
added is, a reason required, audited with the old and new values, and the drug lines brought up
to date as after any change of the drug's NDCs: a signed record not yet billed is charged again,
an exported run is flagged for the coder, never replaced."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from coding.chargemaster import charge_master_load, charge_master_parse
from coding.models import ChargeRun, ClassChangeAfterExport
from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug, DrugNdc
from mar.pharmacy.services import drug_ndc_add, drug_ndc_retire, drug_ndc_update
from tests import factories
from tests.coding.test_billed_lines_reference_data import HEADER
from tests.coding.test_billed_ndc_formulary_change import (
    GIVEN,
    PREFERRED,
    PRICES,
    WASTED,
    billed_visit,
    drug_charges,
    flagged,
    visit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def drug() -> Drug:
    return factories.drug_get("mesna", "therapeutic")


@pytest.fixture
def vial(drug) -> DrugNdc:
    return DrugNdc.objects.create(
        drug=drug,
        ndc="00409488802",
        package_description="10 mL vial",
        unit="ML",
        units_per_billing_unit=Decimal("0.5"),
        preferred=True,
    )


def fresh(ndc: DrugNdc) -> DrugNdc:
    return DrugNdc.objects.get(pk=ndc.pk)


def stored(ndc: DrugNdc) -> tuple:
    return (
        DrugNdc.objects.filter(pk=ndc.pk)
        .values_list("ndc", "package_description", "unit", "units_per_billing_unit")
        .get()
    )


def correct(ndc: DrugNdc, user, **typed):
    values = {
        "package_description": ndc.package_description,
        "unit": ndc.unit,
        "units_per_billing_unit": ndc.units_per_billing_unit,
        "reason": "label read again",
    }
    values.update(typed)
    return drug_ndc_update(ndc=ndc, user=user, **values)


def edit_url(ndc: DrugNdc) -> str:
    return reverse("pharmacy:drug_ndc_update", args=[ndc.pk])


def posted(ndc: DrugNdc, **typed: str) -> dict[str, str]:
    """What the row's form posts (prefix e<pk>), the package as it is but for `typed`."""
    values = {
        "package_description": ndc.package_description,
        "unit": ndc.unit,
        "units_per_billing_unit": ndc.units_per_billing_unit_text,
        "reason": "label read again",
    }
    values.update(typed)
    return {f"e{ndc.pk}-{name}": value for name, value in values.items()}


def row_of(html: str, ndc: DrugNdc) -> str:
    return html[html.index(f'id="ndc-{ndc.pk}"') :].split("</tr>")[0]


# --- the service ----------------------------------------------------------------------------


def test_a_correction_changes_the_description_unit_and_units_per_billing_unit_not_the_ndc(
    vial, pharmacist_user
) -> None:
    done = correct(
        vial,
        pharmacist_user,
        package_description="  20 mL   vial ",
        unit="UN",
        units_per_billing_unit=Decimal("2"),
    )
    assert stored(vial) == ("00409488802", "20 mL vial", "UN", Decimal("2"))
    assert done.changes == {
        "package_description": ("10 mL vial", "20 mL vial"),
        "unit": ("ML", "UN"),
        "units_per_billing_unit": ("0.5", "2"),
    }
    assert fresh(vial).preferred and fresh(vial).active  # nothing else moves


def test_a_retired_package_is_corrected_too_and_stays_retired(vial, pharmacist_user) -> None:
    """What was given from a retired package still bills it: its facts can be corrected."""
    drug_ndc_retire(ndc=vial, reason="No longer stocked", user=pharmacist_user)
    correct(fresh(vial), pharmacist_user, units_per_billing_unit=Decimal("0.4"))
    vial = fresh(vial)
    assert (vial.active, vial.retired_reason, vial.units_per_billing_unit) == (
        False,
        "No longer stocked",
        Decimal("0.4"),
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_needs_a_reason_and_changes_nothing_without_one(
    vial, pharmacist_user, reason
) -> None:
    before = stored(vial)
    with pytest.raises(ValidationError) as refused:
        correct(vial, pharmacist_user, unit="UN", reason=reason)
    assert "Say why the package is corrected" in refused.value.message_dict["reason"][0]
    assert stored(vial) == before


def test_a_correction_is_checked_as_a_package_added_is_every_problem_at_once(
    vial, pharmacist_user
) -> None:
    """The add's checks (`_ndc_fields_check`), each said on its field, with the reason's."""
    before = stored(vial)
    with pytest.raises(ValidationError) as refused:
        correct(
            vial,
            pharmacist_user,
            package_description="x" * 201,
            unit="XX",
            units_per_billing_unit=Decimal("0"),
            reason="",
        )
    problems = refused.value.message_dict
    assert set(problems) == {"package_description", "unit", "units_per_billing_unit", "reason"}
    assert problems["units_per_billing_unit"] == ["A number above zero (blank: 1)."]
    assert problems["unit"][0].startswith("The NDC unit is one of UN, ML")
    assert stored(vial) == before
    # The same words as adding a package with them.
    with pytest.raises(ValidationError) as added:
        drug_ndc_add(
            drug=vial.drug, ndc="00409488899", unit="XX", units_per_billing_unit=Decimal("-1")
        )
    assert added.value.message_dict["unit"] == problems["unit"]
    assert added.value.message_dict["units_per_billing_unit"] == problems["units_per_billing_unit"]


def test_a_correction_that_changes_nothing_is_refused(vial, pharmacist_user) -> None:
    with pytest.raises(ValidationError, match="Nothing to correct"):
        correct(vial, pharmacist_user, package_description=" 10 mL  vial ")
    blank = DrugNdc.objects.create(drug=vial.drug, ndc="00409488810")
    with pytest.raises(ValidationError, match="Nothing to correct"):  # blank is 1
        correct(blank, pharmacist_user, units_per_billing_unit=Decimal("1.0000"))


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_correction_is_in_the_audit_trail_with_who_old_and_new_and_the_reason(
    vial, pharmacist_user
) -> None:
    correct(
        vial,
        pharmacist_user,
        unit="UN",
        units_per_billing_unit=Decimal("2"),
        reason="Label: 1 vial per 2 mg",
    )
    event = EVENTS[DrugNdc].objects.get(pgh_obj_id=vial.pk, pgh_label="update")
    context = event.pgh_context.metadata
    assert context["action"] == "drug_ndc_update"
    assert context["user"] == pharmacist_user.pk
    assert context["reason"] == "Label: 1 vial per 2 mg"
    assert context["changes"] == {"unit": ["ML", "UN"], "units_per_billing_unit": ["0.5", "2"]}
    assert (event.unit, event.units_per_billing_unit) == ("UN", Decimal("2"))
    assert event.pgh_context.created_at is not None  # when


# --- the charges ----------------------------------------------------------------------------


@pytest.fixture
def priced() -> None:
    """The claim-lines visit's charge master (tests/coding/test_billed_ndc_formulary_change)."""
    charge_master_load(rows=charge_master_parse(HEADER + PRICES))


def paclitaxel_given_line(run: ChargeRun) -> dict:
    """The claim detail of the current run's J9267 line without a modifier (300 mg given)."""
    from coding.claim import claim_details
    from coding.review import effective_lines

    lines = [line for line in effective_lines(run) if line.code == "J9267"]
    details = claim_details(run.encounter, lines, run=run)
    [detail] = [d for line, d in zip(lines, details, strict=True) if not line.modifiers]
    return detail


def test_a_signed_record_not_yet_billed_is_charged_again_with_the_corrected_units(
    priced, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """Paclitaxel 300 mg billed per 1 mg with its preferred package at 0.1667 mL per mg: the
    line carries 50.01 ML. The pharmacist corrects the package to 0.2 mL per mg: the signed
    record, never exported, is charged again and its line carries 60 ML, the run's reason
    saying who corrected what and why."""
    encounter = visit()
    before = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert paclitaxel_given_line(before)["ndc_quantity"] == "50.01"
    with django_capture_on_commit_callbacks(execute=True):
        done = correct(
            DrugNdc.objects.get(ndc=PREFERRED),
            pharmacist_user,
            units_per_billing_unit=Decimal("0.2"),
            reason="6 mg/mL: 1 mg is 0.2 mL after dilution",
        )
    assert done.regenerated == [encounter.pk] and done.flagged == []
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert run.pk != before.pk and run.trigger == ChargeRun.Trigger.BILLING_CHANGE
    line = paclitaxel_given_line(run)
    assert (line["ndc"], line["ndc_unit"], line["ndc_quantity"]) == (PREFERRED, "ML", "60")
    assert "corrected by pharm1" in run.reason
    assert "NDC units per billing unit 0.1667 -> 0.2" in run.reason


def test_an_exported_run_is_flagged_for_the_coder_not_replaced(
    priced, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """The run already went to billing: no new run, no task; the run is flagged for the coder
    (the flag says what the correction changed) and billing holds the lines as they were sent."""
    encounter = billed_visit(coder_user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        done = correct(
            DrugNdc.objects.get(ndc=PREFERRED),
            pharmacist_user,
            unit="UN",
            units_per_billing_unit=Decimal("0.0033"),
        )
    assert callbacks == []
    run = flagged(encounter)  # current, exported, the only run, its reason flagged
    assert done.flagged == [run.pk] and done.regenerated == []
    flag = ClassChangeAfterExport.objects.get(run=run, state="open")
    changed = {c["field"]: (c["billed"], c["now"]) for c in flag.changes}
    assert changed["ndc_unit"] == ("ML", "UN")  # what the coder is shown, billed -> now
    assert "NDC unit ML -> UN" in flag.reason and "pharm1" in flag.reason
    assert drug_charges(encounter) == [GIVEN, WASTED]


def test_a_description_corrected_alone_charges_nothing_again(
    priced, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """A claim carries no package description: nothing is stale."""
    encounter = visit()
    before = ChargeRun.objects.get(encounter=encounter, is_current=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        correct(DrugNdc.objects.get(ndc=PREFERRED), pharmacist_user, package_description="vial")
    assert callbacks == []
    assert ChargeRun.objects.get(encounter=encounter, is_current=True).pk == before.pk


# --- the drug's page ------------------------------------------------------------------------


def test_the_pharmacist_sees_a_correct_form_on_each_ndc_showing_it_as_it_is(
    client_as, vial, pharmacist_user
) -> None:
    retired = DrugNdc.objects.create(
        drug=vial.drug, ndc="00409488810", unit="UN", active=False, package_description="bag"
    )
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[vial.drug_id]))
    html = html.content.decode()
    row = row_of(html, vial)
    assert 'data-testid="ndc-edit-form"' in row and edit_url(vial) in row
    assert f'name="e{vial.pk}-package_description" value="10 mL vial"' in row
    assert f'name="e{vial.pk}-units_per_billing_unit" value="0.5"' in row
    assert '<option value="ML" selected>' in row
    assert f'name="e{vial.pk}-ndc"' not in row  # the NDC stays
    assert '<details class="ndc-edit">' in row  # folded until opened
    assert 'data-testid="ndc-edit-form"' in row_of(html, retired)


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_read_the_page_without_the_correct_form(client_as, vial, role) -> None:
    html = client_as(role).get(reverse("pharmacy:drug", args=[vial.drug_id])).content.decode()
    assert "10 mL vial" in html
    assert 'data-testid="ndc-edit-form"' not in html


def test_a_pharmacist_corrects_a_package_from_the_drugs_page(
    client_as, vial, pharmacist_user
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(
        edit_url(vial), posted(vial, unit="UN", units_per_billing_unit="2", reason="Label")
    )
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('pharmacy:drug', args=[vial.drug_id])}#ndcs"
    assert stored(vial) == ("00409488802", "10 mL vial", "UN", Decimal("2"))
    page = client.get(response["Location"]).content.decode()
    assert "NDC 00409-4888-02 corrected: NDC unit ML → UN; NDC units per billing unit 0.5 → 2." in (
        page
    )
    row = row_of(page, vial)
    assert "<td>UN</td><td>2</td>" in row


def test_a_posted_ndc_number_is_ignored_the_ndc_stays(client_as, vial) -> None:
    data = posted(vial, unit="UN")
    data[f"e{vial.pk}-ndc"] = "00409488899"
    assert client_as(roles.PHARMACIST).post(edit_url(vial), data).status_code == 302
    assert stored(vial)[:3] == ("00409488802", "10 mL vial", "UN")


def test_bad_input_is_said_beside_each_field_in_that_row_with_what_was_typed_kept(
    client_as, vial
) -> None:
    response = client_as(roles.PHARMACIST).post(
        edit_url(vial),
        posted(vial, package_description="20 mL vial", units_per_billing_unit="0", reason=" "),
    )
    assert response.status_code == 400
    row = row_of(response.content.decode(), vial)
    assert '<details class="ndc-edit" open>' in row
    assert "A number above zero (blank: 1)." in row
    assert "Say why the package is corrected" in row
    assert f'name="e{vial.pk}-package_description" value="20 mL vial"' in row
    assert f'name="e{vial.pk}-units_per_billing_unit" value="0"' in row
    assert stored(vial) == ("00409488802", "10 mL vial", "ML", Decimal("0.5"))


def test_a_form_refusal_keeps_what_was_typed_too(client_as, vial) -> None:
    """Refused by the form (not a number, a reason too long) before the service: the same."""
    typed = "y" * 2001
    response = client_as(roles.PHARMACIST).post(
        edit_url(vial), posted(vial, units_per_billing_unit="two", reason=typed)
    )
    assert response.status_code == 400
    row = row_of(response.content.decode(), vial)
    assert f'value="{typed}"' in row and "Enter a number." in row
    assert f'name="e{vial.pk}-units_per_billing_unit" value="two"' in row
    assert fresh(vial).units_per_billing_unit == Decimal("0.5")


def test_a_correction_that_changes_nothing_is_said_on_the_form(client_as, vial) -> None:
    response = client_as(roles.PHARMACIST).post(edit_url(vial), posted(vial))
    assert response.status_code == 400
    row = row_of(response.content.decode(), vial)
    assert "Nothing to correct: NDC 00409-4888-02" in row


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_nurses_coders_and_clerks_cannot_correct_a_package(client_as, vial, role) -> None:
    response = client_as(role).post(edit_url(vial), posted(vial, unit="UN"))
    assert response.status_code == 403
    assert stored(vial)[2] == "ML"


def test_an_anonymous_visitor_is_sent_to_sign_in(client, vial) -> None:
    response = client.post(edit_url(vial), posted(vial, unit="UN"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert stored(vial)[2] == "ML"


def test_the_correction_takes_only_posts(client_as, vial) -> None:
    assert client_as(roles.PHARMACIST).get(edit_url(vial)).status_code == 405


def test_the_correction_needs_the_csrf_token(pharmacist_user, vial) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    assert client.post(edit_url(vial), posted(vial, unit="UN")).status_code == 403
    assert stored(vial)[2] == "ML"
