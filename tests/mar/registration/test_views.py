"""The clerk's screens over HTTP: register, open a visit, enter an order, errors beside fields."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from mar.audit.models import EVENTS
from mar.models import Encounter, Order, Patient, Payer
from tests import factories

pytestmark = pytest.mark.django_db


def field_error(html: str, field: str) -> str:
    """The error text shown beside `field` (crispy renders it right after the input)."""
    match = re.search(rf'id="error_\d+_id_{field}"[^>]*>\s*<strong>(.*?)</strong>', html, re.S)
    assert match, f"no error beside {field}"
    return match.group(1)


PATIENT = {
    "mrn": "A-2001",
    "name": "Chen, Wei",
    "birth_date": "1958-11-23",
    "sex": "M",
    "allergies": "NKDA",
}


def test_the_clerk_starts_on_registration(client_as) -> None:
    response = client_as("clerk").get("/")
    assert response.headers["Location"] == reverse("registration:home")


def test_it_registers_then_finds_the_patient(client_as) -> None:
    client = client_as("clerk")
    response = client.post(reverse("registration:patient_new"), PATIENT)
    patient = Patient.objects.get(mrn="A-2001")
    assert response.headers["Location"] == reverse("registration:patient", args=[patient.pk])
    found = client.get(reverse("registration:home"), {"q": "chen"}).content.decode()
    assert "A-2001" in found


def test_an_mrn_already_registered_shows_beside_the_mrn(client_as) -> None:
    factories.patient_create(mrn="A-2001", name="Someone, Else")
    response = client_as("clerk").post(reverse("registration:patient_new"), PATIENT)
    assert response.status_code == 200
    assert "already registered" in field_error(response.content.decode(), "mrn")
    assert Patient.objects.filter(mrn="A-2001").count() == 1


def test_every_problem_of_a_registration_shows_at_once_beside_its_field(client_as) -> None:
    """A sex not chosen (the form's), a birth date in the future and an MRN already registered
    (the service's) on one submission: all three shown together, and what was typed kept."""
    factories.patient_create(mrn="A-2001", name="Someone, Else")
    typed = {**PATIENT, "sex": "", "birth_date": "2099-01-01"}
    response = client_as("clerk").post(reverse("registration:patient_new"), typed)
    html = response.content.decode()
    assert "already registered: Someone, Else" in field_error(html, "mrn")
    assert "in the future" in field_error(html, "birth_date")
    assert "Choose the sex" in field_error(html, "sex")
    assert 'value="Chen, Wei"' in html and "NKDA" in html
    assert Patient.objects.filter(mrn="A-2001").count() == 1


def test_an_empty_registration_is_told_what_is_missing(client_as) -> None:
    """An empty POST (every field cleared) is a submission: each required field says what to
    enter, in words, not "This field is required." (walk19)."""
    response = client_as("clerk").post(reverse("registration:patient_new"), {})
    html = response.content.decode()
    for field, words in (
        ("mrn", "Enter the MRN on the wristband."),
        ("name", "Enter the patient's name"),
        ("birth_date", "Enter the birth date."),
        ("sex", "Choose the sex (Unknown when it is not known)."),
    ):
        assert words in field_error(html, field).replace("&#x27;", "'")
    assert "This field is required." not in html


def test_the_service_refuses_a_taken_mrn_with_the_other_problems() -> None:
    """patient_register (also HL7 and FHIR's way in) names every problem in one refusal."""
    from django.core.exceptions import ValidationError

    from mar.registration.services import patient_register

    factories.patient_create(mrn="A-2001", name="Someone, Else")
    with pytest.raises(ValidationError) as refused:
        patient_register(mrn="a-2001", name="Chen, Wei", birth_date=None, sex="Q")
    assert set(refused.value.message_dict) == {"mrn", "sex"}


def test_a_missing_birth_date_shows_beside_it(client_as) -> None:
    response = client_as("clerk").post(
        reverse("registration:patient_new"), {**PATIENT, "birth_date": "23/11/58"}
    )
    assert field_error(response.content.decode(), "birth_date")


VISIT = {
    "unit": "Infusion Center",
    "location_label": "4",
    "setting": "facility",
    "attending": "Dr. Okafor",
    "arrived_at": "2026-03-02T08:00",
    "account_number": "V-1001",
    "payer": "",
}


def test_it_opens_a_visit_and_refuses_the_same_one_twice(client_as) -> None:
    patient = factories.patient_create()
    payer = Payer.objects.create(name="Medicare Part B", financial_class="medicare")
    client = client_as("clerk")
    url = reverse("registration:visit_new", args=[patient.pk])
    first = client.post(url, {**VISIT, "payer": payer.pk})
    encounter = Encounter.objects.get(patient=patient)
    assert first.headers["Location"] == reverse("registration:visit", args=[encounter.pk])
    assert (encounter.location_label, encounter.attending) == ("4", "Dr. Okafor")
    assert (encounter.account_number, encounter.payer) == ("V-1001", payer)
    again = client.post(url, {**VISIT, "account_number": ""})
    assert "Already open" in field_error(again.content.decode(), "arrived_at")
    same_account = client.post(url, {**VISIT, "arrived_at": "2026-03-02T13:00"})
    assert "already in use" in field_error(same_account.content.decode(), "account_number")
    assert Encounter.objects.filter(patient=patient).count() == 1


def test_a_second_visit_while_one_is_in_progress_needs_a_reason(client_as, clerk_user) -> None:
    """A patient with a visit in progress: the desk is told (which visit, where, since when)
    and the second visit is opened only with a reason, kept in the audit trail with the new
    visit (QA: it opened without a word, and the board's scan went to its empty chart). With
    the first signed, nothing is asked."""
    patient = factories.patient_create()
    first = factories.encounter_create(patient=patient, unit="Infusion Center")
    client = client_as("clerk")
    url = reverse("registration:visit_new", args=[patient.pk])
    page = client.get(url).content.decode()
    assert 'data-testid="visit-in-progress"' in page and f"Visit {first.pk} of this" in page
    assert 'name="second_visit_why"' in page
    typed = {**VISIT, "arrived_at": "2026-03-02T11:00", "account_number": "V-2"}
    refused = client.post(url, typed)
    assert f"Visit {first.pk} of this patient is in progress: say why" in field_error(
        refused.content.decode(), "second_visit_why"
    )
    assert 'value="V-2"' in refused.content.decode()  # what was typed stays
    assert Encounter.objects.filter(patient=patient).count() == 1
    why = "Left for imaging; the ED visit is a separate encounter"
    opened = client.post(url, {**typed, "second_visit_why": why})
    assert opened.status_code == 302
    second = Encounter.objects.get(patient=patient, account_number="V-2")
    if connection.vendor == "postgresql":  # pghistory's context is PostgreSQL's
        event = EVENTS[Encounter].objects.get(pgh_obj_id=second.pk, pgh_label="insert")
        assert event.pgh_context.metadata["why"] == why
        assert event.pgh_context.metadata["user"] == clerk_user.pk
    Encounter.objects.filter(patient=patient).update(status=Encounter.Status.SIGNED)
    page = client.get(url).content.decode()
    assert "visit-in-progress" not in page and 'name="second_visit_why"' not in page


def test_a_visits_unit_is_offered_spelled_as_known_and_a_new_one_is_said(client_as) -> None:
    """The units visits were in are offered as the unit is typed; one typed in another case or
    with other spaces is saved as visits spell it (a typo of case would split the board and the
    coders' unit filter); a unit no visit was in is kept, and the clerk is told it is new."""
    factories.encounter_create(unit="Infusion Center")
    factories.encounter_create(unit="Emergency Department")
    client = client_as("clerk")
    patient = factories.patient_create(mrn="U-100")
    url = reverse("registration:visit_new", args=[patient.pk])
    page = client.get(url).content.decode()
    assert 'list="known-units"' in page
    assert '<option value="Emergency Department"><option value="Infusion Center">' in page
    response = client.post(url, {**VISIT, "unit": "  infusion   CENTER ", "account_number": ""})
    assert response.status_code == 302
    assert Encounter.objects.get(patient=patient).unit == "Infusion Center"
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert not any("new unit" in m for m in said)
    other = factories.patient_create(mrn="U-101")
    response = client.post(
        reverse("registration:visit_new", args=[other.pk]),
        {**VISIT, "unit": "Oncology Day Unit", "account_number": ""},
    )
    assert Encounter.objects.get(patient=other).unit == "Oncology Day Unit"
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(m.startswith("Oncology Day Unit is a new unit") for m in said)


ORDER = {
    "drug": "oxaliplatin",
    "dose_value": "85",
    "dose_unit": "mg",
    "dose_basis": "per_m2",
    "route": "iv",
    "duration_minutes": "120",
    "rate_value": "",
    "rate_unit": "mL/h",
    "indication": "C18.9 Malignant neoplasm of colon, unspecified",
    "ordering_provider": "Dr. Amara Okafor",
    "ordering_provider_npi": "1234567893",
    "entry_method": "written",
}


def test_a_nurse_enters_a_written_order_for_pharmacy_to_verify(client_as, nurse_user) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    client = client_as("nurse")
    response = client.post(reverse("registration:order_new", args=[encounter.pk]), ORDER)
    assert response.status_code == 302
    order = Order.objects.get(encounter=encounter)
    assert (order.dose, order.entered_by, order.entry_method) == ("85 mg/m²", nurse_user, "written")
    queue = client_as("pharmacist").get(reverse("pharmacy:orders")).content.decode()
    assert "oxaliplatin" in queue


def test_an_order_entered_from_the_chart_goes_back_to_the_charts_orders(client_as) -> None:
    """ "Enter a written or verbal order" on the bedside chart (?from=chart): entered, or
    cancelled, the nurse is back on the chart's orders; from the registration desk's visit page,
    back there (QA walkthrough: the nurse landed on the registration page)."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    client = client_as("nurse")
    chart = reverse("mar:encounter", args=[encounter.pk])
    assert f'{reverse("registration:order_new", args=[encounter.pk])}?from=chart"' in (
        client.get(chart).content.decode()
    )
    url = reverse("registration:order_new", args=[encounter.pk])
    page = client.get(url, {"from": "chart"}).content.decode()
    assert f'action="{url}?from=chart"' in page and f'href="{chart}#orders">Cancel' in page
    response = client.post(f"{url}?from=chart", ORDER)
    assert response.status_code == 302 and response.headers["Location"] == f"{chart}#orders"
    response = client.post(url, {**ORDER, "dose_value": "90"})
    assert response.headers["Location"] == reverse("registration:visit", args=[encounter.pk])


def test_order_errors_show_beside_their_fields_all_at_once(client_as) -> None:
    """The form's refusal (a dose below zero) and the service's (a drug not in the formulary,
    an indication that is no ICD-10-CM code, an NPI with a wrong check digit) on one
    submission: all four beside their fields together."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    bad = {**ORDER, "drug": "oxali", "indication": "qwerty", "dose_value": "-3"}
    bad["ordering_provider_npi"] = "1234567890"
    response = client_as("clerk").post(reverse("registration:order_new", args=[encounter.pk]), bad)
    html = response.content.decode()
    assert field_error(html, "dose_value")
    assert "did you mean: oxaliplatin" in field_error(html, "drug")
    assert "No ICD-10-CM code matches" in field_error(html, "indication")
    assert "check digit" in field_error(html, "ordering_provider_npi")
    assert not Order.objects.exists()
    fixed = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]), {**bad, "dose_value": "85"}
    )
    html = fixed.content.decode()
    assert "did you mean: oxaliplatin" in field_error(html, "drug")
    assert "No ICD-10-CM code matches" in field_error(html, "indication")
    assert "check digit" in field_error(html, "ordering_provider_npi")


def test_an_ordering_providers_name_longer_than_a_signed_name_is_said_beside_it_and_kept(
    client_as,
) -> None:
    """QA: a 200-character run typed as the ordering provider made the visit page 4,358 px wide.
    Typed by a person, the name is at most PROVIDER_NAME_MAX characters, said beside the field
    with what was typed kept; an interface's order is stored as sent (its ordering system's)."""
    from mar.registration.services import PROVIDER_NAME_MAX

    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    typed = "X" * 200
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]),
        {**ORDER, "ordering_provider": typed},
    )
    html = response.content.decode()
    said = field_error(html, "ordering_provider")
    assert f"At most {PROVIDER_NAME_MAX} characters" in said and "This one has 200." in said
    assert f'value="{typed}"' in html
    assert not Order.objects.exists()
    fine = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]),
        {**ORDER, "ordering_provider": "Dr. Ada Lovelace, MD"},
    )
    assert fine.status_code == 302 and Order.objects.get().ordering_provider == (
        "Dr. Ada Lovelace, MD"
    )


def test_the_search_endpoints_answer_options(client_as) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    client = client_as("nurse")
    drugs = client.get(reverse("registration:drug_options"), {"drug": "oxal"}).content.decode()
    assert '<option value="oxaliplatin">' in drugs
    codes = client.get(reverse("registration:icd10_options"), {"indication": "colon"})
    assert 'value="C18.9 Malignant neoplasm of colon, unspecified"' in codes.content.decode()


def test_the_chart_links_to_order_entry_while_open(client_as) -> None:
    encounter = factories.chemo_encounter_create()
    html = client_as("nurse").get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert reverse("registration:order_new", args=[encounter.pk]) in html


def test_a_drug_name_typed_with_a_typing_error_is_offered_the_formulary_name(client_as) -> None:
    # "carboplatinn" is in no name, so the search found nothing and the clerk was told to ask
    # pharmacy to add a drug the formulary has.
    factories.drug_get("carboplatin", "chemo")
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]), {**ORDER, "drug": "carboplatinn"}
    )
    error = field_error(response.content.decode(), "drug")
    assert "did you mean: carboplatin?" in error
    assert "ask pharmacy" not in error
    assert not Order.objects.exists()


def test_a_name_like_nothing_in_the_formulary_is_sent_to_pharmacy(client_as) -> None:
    factories.drug_get("carboplatin", "chemo")
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]), {**ORDER, "drug": "zzyzx"}
    )
    assert "is not in the formulary: ask pharmacy to add it" in field_error(
        response.content.decode(), "drug"
    )


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("dose_value", "0", "The dose is a number above zero."),
        ("rate_value", "0", "The rate is a number above zero."),
        ("duration_minutes", "0", "The duration is 1 minute to 7 days."),
    ],
)
def test_a_zero_dose_rate_or_duration_is_said_in_the_orders_own_words(
    client_as, field, typed, said
) -> None:
    # Not Django's "Ensure this value is greater than or equal to 0.0001."
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]), {**ORDER, field: typed}
    )
    error = field_error(response.content.decode(), field)
    assert said in error and "Ensure this value" not in error


HYDRATION_ORDER = {
    **ORDER,
    "drug": "sodium chloride 0.9%",
    "dose_value": "1000",
    "dose_unit": "mL",
    "dose_basis": "",
    "duration_minutes": "",
    "rate_value": "250",
    "rate_unit": "mL/h",
    "indication": "E86.0 Dehydration",
}


def test_a_hydration_order_entered_on_the_form_makes_its_infusion_chargeable(client_as) -> None:
    """RAC-1: a fluid's infusion given for hydration is charged only against a hydration order
    (the order's purpose). The order form asks the purpose: entered as hydration, the
    infusion of that order raises no RAC-1; entered without it (as before the form asked,
    QA: such an order could never be charged), RAC-1 says it is missing. A purpose the form
    does not offer is refused beside the field."""
    from mar.chart_context import evaluate

    factories.drug_get("sodium chloride 0.9%", "hydration")
    url = "registration:order_new"
    page = client_as("clerk").get(reverse(url, args=[factories.encounter_create().pk]))
    assert 'name="purpose"' in page.content.decode()

    def rac1_after(purpose: str) -> list[str]:
        encounter = factories.encounter_create()
        response = client_as("nurse").post(
            reverse(url, args=[encounter.pk]), {**HYDRATION_ORDER, "purpose": purpose}
        )
        assert response.status_code == 302
        order = Order.objects.get(encounter=encounter)
        assert order.purpose == purpose
        site = factories.site_create(encounter)
        start = factories.MORNING + timedelta(minutes=30)
        factories.administration_create(
            encounter, order, site=site, start=start, stop=start + timedelta(minutes=90),
            purpose="hydration",
        )  # fmt: skip
        _record, result, error = evaluate(encounter, start + timedelta(hours=3))
        assert result is not None, error
        return [f.message for f in result.findings if f.rule == "RAC-1"]

    assert rac1_after("hydration") == []
    assert rac1_after("") != []
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse(url, args=[encounter.pk]), {**HYDRATION_ORDER, "purpose": "vehicle"}
    )
    assert "vehicle" in field_error(response.content.decode(), "purpose")
    assert not Order.objects.filter(encounter=encounter).exists()


def test_hydration_is_not_a_purpose_of_a_drug_tagged_otherwise(client_as) -> None:
    """RAC-1: hydration is a fluid given for its own sake. QA: dexamethasone ordered with purpose
    "Hydration" was accepted, shown as "(hydration)" on the chart and the coder's record, and not
    on the pharmacist's queue. Refused beside the purpose, what was typed kept; a fluid, or a drug
    not yet tagged (it may be a fluid: the pharmacist tags it), is still ordered for hydration."""
    factories.drug_get("dexamethasone", "therapeutic")
    factories.drug_get("sodium chloride 0.9%", "hydration")
    factories.drug_get("plasma-lyte a", None)
    url = "registration:order_new"
    encounter = factories.encounter_create()
    typed = {**ORDER, "drug": "dexamethasone", "dose_value": "10", "dose_unit": "mg",
             "dose_basis": "", "purpose": "hydration"}  # fmt: skip
    response = client_as("clerk").post(reverse(url, args=[encounter.pk]), typed)
    html = response.content.decode()
    error = field_error(html, "purpose")
    assert "fluid given for its own sake" in error and "therapeutic" in error
    assert not Order.objects.filter(encounter=encounter).exists()
    assert 'value="dexamethasone"' in html  # what she typed stays
    for fluid in ("sodium chloride 0.9%", "plasma-lyte a"):
        ordered = client_as("clerk").post(
            reverse(url, args=[encounter.pk]),
            {**HYDRATION_ORDER, "drug": fluid, "purpose": "hydration"},
        )
        assert ordered.status_code == 302, fluid
    assert Order.objects.filter(encounter=encounter, purpose="hydration").count() == 2
