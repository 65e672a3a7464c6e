"""Order entry checks the drug and the indication as they are chosen or typed (QA: the allergy
match and the ICD-10-CM problems were said only on submit), beside the field, by the submit's own
checks (`order_entry_field_problems`: `order_entry_problems`, the one allergy matcher, the one
ICD-10-CM check); and a code the shipped list lacks (H06.2) is said beside the indication before
the order is entered, not at the top of the next page.

htmx posts the whole form to `registration:order_check` (visit, field) on change (the indication
also after a pause in typing); the answer is the slot's content (registration/_order_field_check
.html). Without JavaScript the submit says the same: the page works without it."""

import re
from datetime import timedelta
from html import escape, unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Drug, Order
from mar.pharmacy.formulary import formulary_load_csv
from mar.registration.icd10 import code_list
from mar.registration.services import order_entry_problems, order_entry_typed
from tests import factories
from tests.mar.registration.test_views import ORDER, field_error

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
CATEGORY_REFUSAL = (
    "C50.9 is a category, not a billable code: choose one of C50.911, C50.912, C50.919."
)
NOT_IN_SAMPLE = "H06.2 is not in the ICD-10-CM list loaded here (a sample of"
ALLERGY = "Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class)."


@pytest.fixture(autouse=True)
def _list_reread():
    code_list.cache_clear()
    yield
    code_list.cache_clear()


@pytest.fixture
def encounter():
    factories.drug_get("oxaliplatin", "chemo")
    return factories.encounter_create()


@pytest.fixture
def allergic_visit():
    """A patient allergic to penicillin, and the starter formulary's piperacillin-tazobactam."""
    formulary_load_csv()
    patient = factories.patient_create(allergies="penicillin (rash)")
    return factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=1)
    )


ZOSYN_ORDER = {
    **ORDER,
    "drug": "piperacillin-tazobactam",
    "dose_value": "3.375",
    "dose_unit": "g",
    "dose_basis": "",
    "duration_minutes": "30",
    "indication": "J18.9",
}


def check(client, encounter, field: str, typed: dict[str, str]) -> str:
    response = client.post(
        reverse("registration:order_check", args=[encounter.pk, field]), typed, **HX
    )
    assert response.status_code == 200
    return response.content.decode()


def refused(html: str) -> list[str]:
    """The messages the check refuses the field with (data-refused: the field marked invalid)."""
    return [unescape(m) for m in re.findall(r"<div[^>]*data-refused[^>]*>(.*?)</div>", html, re.S)]


def slot(html: str, field: str) -> str:
    """The place beside `field` on the order page (what its check fills)."""
    match = re.search(
        rf'<div id="{field}-check"[^>]*>(.*?)</div>\s*</div>', html, re.S
    ) or re.search(rf'<div id="{field}-check"[^>]*>(.*?)$', html, re.S)
    assert match, f"no slot beside {field}"
    return match.group(1)


# --- the indication, as it is typed ---------------------------------------------------------


def test_a_category_is_refused_beside_the_indication_as_it_is_typed(client_as, encounter):
    html = check(client_as(roles.CLERK), encounter, "indication", {**ORDER, "indication": "C50.9"})
    assert refused(html) == [CATEGORY_REFUSAL]


def test_a_code_outside_the_sample_is_said_beside_the_indication_as_it_is_typed(
    client_as, encounter
):
    """Said, not refused (the shipped list is a sample), with the code it was said for: the
    submit then enters the order without stopping to say it again."""
    html = check(client_as(roles.NURSE), encounter, "indication", {**ORDER, "indication": "H06.2"})
    assert refused(html) == []
    assert 'data-testid="indication-note"' in html and NOT_IN_SAMPLE in html
    assert '<input type="hidden" name="indication_noted" value="H06.2">' in html
    assert "Not entered yet" not in html  # nothing was submitted


def test_a_listed_code_and_an_empty_indication_are_said_nothing(client_as, encounter):
    client = client_as(roles.CLERK)
    assert check(client, encounter, "indication", ORDER).strip() == ""
    assert check(client, encounter, "indication", {**ORDER, "indication": ""}).strip() == ""


def test_words_matching_several_codes_are_said_as_the_submit_says_them(client_as, encounter):
    """The live check and the submit are one check: the same words beside the field."""
    typed = {**ORDER, "indication": "breast"}
    html = check(client_as(roles.CLERK), encounter, "indication", typed)
    submitted = order_entry_problems(
        {**typed, "dose_value": 85, "duration_minutes": 120, "rate_value": None},
        patient=encounter.patient,
    )
    assert submitted is not None
    assert refused(html) == submitted.message_dict["indication"]
    assert refused(html)[0].startswith("“breast” matches several codes, choose one:")


# --- the drug, as it is chosen ----------------------------------------------------------------


def test_a_drug_matching_an_allergy_is_warned_of_beside_it_as_it_is_chosen(
    client_as, allergic_visit
):
    """The one matcher's sentence, the reason asked; the reason's field shown at once (swapped
    in out of band), so the clerk can give it before submitting."""
    html = check(client_as(roles.CLERK), allergic_visit, "drug", ZOSYN_ORDER)
    said = refused(html)
    assert said[0] == ALLERGY
    assert said[1].startswith("Check with the prescriber. To enter it anyway, give the reason")
    assert '<div id="allergy-reason-slot" hx-swap-oob="true">' in html
    assert 'type="text" name="allergy_reason"' in html
    assert "Reason to enter it despite the allergy (required)" in html


def test_the_live_allergy_warning_is_the_submits_own(client_as, allergic_visit) -> None:
    """No second matcher: what the check says is what entering the order refuses."""
    html = check(client_as(roles.CLERK), allergic_visit, "drug", ZOSYN_ORDER)
    drug = Drug.objects.get(name="piperacillin-tazobactam")
    entry, _ = order_entry_typed({"drug": drug.name, "indication": "J18.9"})
    submitted = order_entry_problems(
        {"drug": drug.name, "indication": "J18.9"}, patient=allergic_visit.patient
    )
    assert entry.drug == drug and submitted is not None
    assert refused(html) == [
        *submitted.message_dict["drug"],
        *submitted.message_dict["allergy_reason"],
    ]


def test_a_reason_typed_for_another_drug_does_not_silence_a_new_match(client_as, allergic_visit):
    typed = {**ZOSYN_ORDER, "allergy_reason": "prescriber confirmed"}
    html = check(client_as(roles.CLERK), allergic_visit, "drug", typed)
    assert refused(html)[0] == ALLERGY
    assert 'value="prescriber confirmed"' in html  # what was typed kept in the shown field


def test_a_drug_matching_no_allergy_hides_the_reason_keeping_what_was_typed(
    client_as, allergic_visit
):
    typed = {**ZOSYN_ORDER, "drug": "ondansetron", "allergy_reason": "typed before"}
    html = check(client_as(roles.CLERK), allergic_visit, "drug", typed)
    assert refused(html) == []
    assert re.search(r'<input type="hidden" name="allergy_reason" value="typed before"', html)


def test_a_misspelled_drug_is_offered_the_close_names_as_it_is_chosen(client_as, encounter):
    html = check(client_as(roles.CLERK), encounter, "drug", {**ORDER, "drug": "oxaliplatine"})
    assert refused(html) == ["“oxaliplatine” is not a formulary name; did you mean: oxaliplatin?"]


# --- who, how -----------------------------------------------------------------------------------


def test_the_check_is_a_post_of_a_clerk_or_nurse_for_the_two_fields_only(client_as, encounter):
    url = reverse("registration:order_check", args=[encounter.pk, "drug"])
    assert client_as(roles.CLERK).get(url).status_code == 405
    assert client_as(roles.CODER).post(url, ORDER).status_code == 403
    assert client_as(roles.PHARMACIST).post(url, ORDER).status_code == 403
    other = reverse("registration:order_check", args=[encounter.pk, "ordering_provider"])
    assert client_as(roles.CLERK).post(other, ORDER).status_code == 404


def test_the_order_page_checks_the_drug_and_the_indication_as_they_are_typed(client_as, encounter):
    """htmx attributes on each field's group (debounced), the slot beside the field, the
    static script (no inline script: the CSP)."""
    html = (
        client_as(roles.CLERK)
        .get(reverse("registration:order_new", args=[encounter.pk]))
        .content.decode()
    )
    for field, trigger in (
        ("drug", "change delay:250ms"),
        ("indication", "input changed delay:700ms, change"),
    ):
        url = reverse("registration:order_check", args=[encounter.pk, field])
        group = re.search(
            rf'<div\s+class="field-checked"([^>]*hx-target="#{field}-check"[^>]*)>', html
        )
        assert group, field
        attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', group.group(1)))
        assert attributes["hx-post"] == url and attributes["hx-trigger"] == trigger
        assert attributes["hx-disinherit"] == "*"  # the field's suggestions keep their own
        assert f'id="{field}-check"' in html and f'data-field-check="id_{field}"' in html
    assert "js/field_check.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


# --- the indication's note on submit, beside the field --------------------------------------


def test_a_code_outside_the_sample_is_said_beside_the_field_before_it_is_entered(
    client_as, encounter
):
    """QA: H06.2's note was said at the top of the next page, once entered. Now the submit
    stops to say it beside the indication (what was typed kept), and the next submit, the code
    unchanged, enters it with no note at the top."""
    client = client_as(roles.CLERK)
    url = reverse("registration:order_new", args=[encounter.pk])
    typed = {**ORDER, "indication": "H06.2"}
    response = client.post(url, typed)
    assert response.status_code == 200
    html = response.content.decode()
    beside = slot(html, "indication")
    assert NOT_IN_SAMPLE in beside and "Not entered yet" in beside
    assert 'name="indication_noted" value="H06.2"' in beside
    assert 'name="indication" value="H06.2"' in html and 'value="oxaliplatin"' in html
    assert not Order.objects.exists()
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]

    response = client.post(url, {**typed, "indication_noted": "H06.2"})
    assert response.status_code == 302
    assert Order.objects.get(encounter=encounter).indication_code == "H06.2"
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert [tag for tag, _ in said] == ["success"], said  # nothing at the top but done


def test_a_note_seen_live_lets_the_first_submit_enter_the_order(client_as, encounter):
    """The live check put the noted code in the form: the submit enters it at once."""
    response = client_as(roles.NURSE).post(
        reverse("registration:order_new", args=[encounter.pk]),
        {**ORDER, "indication": "h062", "indication_noted": "H06.2"},
    )
    assert response.status_code == 302
    assert Order.objects.get(encounter=encounter).indication_code == "H06.2"


def test_another_code_outside_the_sample_is_said_again(client_as, encounter):
    response = client_as(roles.CLERK).post(
        reverse("registration:order_new", args=[encounter.pk]),
        {**ORDER, "indication": "H06.3", "indication_noted": "H06.2"},
    )
    assert response.status_code == 200
    assert "H06.3 is not in the ICD-10-CM list loaded here" in slot(
        response.content.decode(), "indication"
    )
    assert not Order.objects.exists()


def test_the_note_is_said_with_every_other_problem_at_once(client_as, encounter):
    response = client_as(roles.CLERK).post(
        reverse("registration:order_new", args=[encounter.pk]),
        {**ORDER, "indication": "H06.2", "ordering_provider_npi": "1234567890"},
    )
    html = response.content.decode()
    assert "check digit" in field_error(html, "ordering_provider_npi")
    assert NOT_IN_SAMPLE in slot(html, "indication")
    assert not Order.objects.exists()


def test_a_refused_category_on_submit_is_still_beside_the_field(client_as, encounter):
    """The submit keeps validating: the category refused beside the field, no note."""
    html = (
        client_as(roles.CLERK)
        .post(
            reverse("registration:order_new", args=[encounter.pk]),
            {**ORDER, "indication": "C50.9"},
        )
        .content.decode()
    )
    assert field_error(html, "indication") == escape(CATEGORY_REFUSAL)
    assert "indication-note" not in html
