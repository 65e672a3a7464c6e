"""The allergy match shown where each decision is made, from the one matcher
(mar/services/safety.py `allergy_conflicts`):

- the clerk's (or nurse's) order entry warns beside the drug and enters it only with a reason
  (a SafetyOverride "allergy" of the order, by who entered it), as order-entry systems do: an
  alert overridden with a reason;
- the pharmacist's queue row and review page say it in red, and Verify needs a reason;
- the nurse's Start asks for a reason (it did; now with the drug's allergy classes).

QA: "penicillin (rash)" and piperacillin-tazobactam 3.375 g IV went through all three silently,
the drug having no allergy classes."""

from datetime import timedelta
from decimal import Decimal
from html import escape

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Drug, Order, SafetyOverride
from mar.pharmacy.formulary import formulary_load_csv
from mar.pharmacy.services import order_verify
from mar.registration.services import OrderEntry, order_enter
from mar.services import safety
from mar.services.charting import ChartError
from tests import factories
from tests.mar.pharmacy.queue_helpers import row_of
from tests.mar.registration.test_views import ORDER, field_error

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
WARNING = "Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class)."


@pytest.fixture
def zosyn() -> Drug:
    """The starter formulary's piperacillin-tazobactam, with its allergy classes."""
    formulary_load_csv()
    return Drug.objects.get(name="piperacillin-tazobactam")


@pytest.fixture
def visit():
    patient = factories.patient_create(allergies="penicillin (rash)")
    return factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=1)
    )


@pytest.fixture
def order(visit, zosyn) -> Order:
    return factories.order_create(visit, zosyn, dose="3.375 g", indication="J18.9")


ZOSYN_ORDER = {
    **ORDER,
    "drug": "piperacillin-tazobactam",
    "dose_value": "3.375",
    "dose_unit": "g",
    "dose_basis": "",
    "duration_minutes": "30",
    "indication": "J18.9",
}


# --- the one matcher ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allergies", "said"),
    [
        ("penicillin (rash)", [WARNING.removeprefix("Allergy: ").removesuffix(".")]),
        ("Beta-lactams", ["Beta-lactams matches piperacillin-tazobactam (beta-lactam class)"]),
        ("Zosyn (hives)", ["Zosyn (hives) matches piperacillin-tazobactam (as Zosyn)"]),
        ("piperacillin", ["piperacillin matches piperacillin-tazobactam"]),
        ("latex; sulfa", []),
        ("NKDA", []),
    ],
)
def test_the_match_says_the_allergy_the_drug_and_what_of_it_matched(zosyn, allergies, said) -> None:
    assert [m.said for m in safety.allergy_conflicts(allergies, zosyn)] == said


def test_a_cephalosporin_matches_its_own_class_not_a_penicillin_allergy() -> None:
    """Only the classes the drug is in: a penicillin allergy is not a cefazolin one here (the
    cross-reactivity is the prescriber's and pharmacist's call, not a class of cefazolin)."""
    formulary_load_csv()
    cefazolin = Drug.objects.get(name="cefazolin")
    assert safety.allergy_conflicts("penicillin", cefazolin) == []
    assert [m.said for m in safety.allergy_conflicts("cephalosporins", cefazolin)] == [
        "cephalosporins matches cefazolin (cephalosporin class)"
    ]


# --- order entry ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.CLERK, roles.NURSE])
def test_order_entry_warns_beside_the_drug_and_keeps_what_was_typed(
    client_as, visit, zosyn, role
) -> None:
    url = reverse("registration:order_new", args=[visit.pk])
    response = client_as(role).post(url, ZOSYN_ORDER)
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(WARNING) in field_error(html, "drug")
    assert "Check with the prescriber" in field_error(html, "allergy_reason")
    assert 'type="text" name="allergy_reason"' in html  # asked now, under the warning
    assert 'value="piperacillin-tazobactam"' in html and 'value="3.375"' in html
    assert not Order.objects.exists()


def test_the_reason_field_is_hidden_while_no_allergy_matches(client_as, visit, zosyn) -> None:
    html = (
        client_as(roles.CLERK)
        .get(reverse("registration:order_new", args=[visit.pk]))
        .content.decode()
    )
    assert 'type="hidden" name="allergy_reason"' in html


def test_order_entry_warns_with_the_other_problems_at_once(client_as, visit, zosyn) -> None:
    url = reverse("registration:order_new", args=[visit.pk])
    typed = {**ZOSYN_ORDER, "dose_value": "-1", "ordering_provider_npi": "1234567890"}
    html = client_as(roles.CLERK).post(url, typed).content.decode()
    assert escape(WARNING) in field_error(html, "drug")
    assert field_error(html, "dose_value")
    assert "check digit" in field_error(html, "ordering_provider_npi")
    assert field_error(html, "allergy_reason")


def test_entered_with_a_reason_the_override_goes_with_the_order(
    client_as, visit, zosyn, clerk_user
) -> None:
    url = reverse("registration:order_new", args=[visit.pk])
    typed = {**ZOSYN_ORDER, "allergy_reason": "prescriber confirmed: tolerated it in 2024"}
    response = client_as(roles.CLERK).post(url, typed)
    assert response.status_code == 302
    order = Order.objects.get()
    override = SafetyOverride.objects.get()
    assert (override.kind, override.order, override.by) == ("allergy", order, clerk_user)
    assert override.reason == "prescriber confirmed: tolerated it in 2024"
    assert override.message == f"At order entry: {WARNING}"
    assert override.administration is None
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert "The allergy and your reason go with it to the pharmacist and the nurse." in said[0]


def test_an_order_with_no_allergy_match_is_entered_without_asking(client_as, zosyn) -> None:
    visit = factories.encounter_create(patient=factories.patient_create(allergies="latex"))
    url = reverse("registration:order_new", args=[visit.pk])
    assert client_as(roles.CLERK).post(url, ZOSYN_ORDER).status_code == 302
    assert Order.objects.exists() and not SafetyOverride.objects.exists()


def test_an_interfaces_order_is_not_asked_the_pharmacist_is(visit, zosyn) -> None:
    """HL7/FHIR (no user): nobody to answer at entry; the warning waits at verification."""
    entry = OrderEntry(
        drug=zosyn, dose_value=Decimal("3.375"), dose_unit="g", indication="J18.9",
        ordering_provider="Dr. Amara Okafor",
    )  # fmt: skip
    order_enter(encounter=visit, entry=entry)
    assert Order.objects.exists() and not SafetyOverride.objects.exists()


# --- the pharmacist's queue and review ------------------------------------------------------


def test_the_queue_row_says_the_allergy_in_red_and_asks_the_reason(client_as, order) -> None:
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = row_of(html, order)
    red = '<div class="small text-danger fw-semibold" role="alert" data-testid="order-allergy">'
    assert f"{red}{escape(WARNING)}</div>" in row
    assert 'name="allergy_reason"' in row and "required" in row
    assert "Verify despite the allergy" in row


def test_a_row_without_an_allergy_match_verifies_in_one_click(client_as, zosyn) -> None:
    other = factories.order_create(factories.encounter_create(), zosyn, dose="3.375 g")
    row = row_of(
        client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode(), other
    )
    assert 'data-testid="order-allergy"' not in row and "allergy_reason" not in row


def test_verify_without_the_reason_is_refused_beside_it_htmx(client_as, order) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_verify", args=[order.pk]), {"allergy_reason": "  "}, **HX
    )
    html = response.content.decode()
    assert 'data-testid="order-allergy-refused"' in html
    refused = html.split('data-testid="order-allergy-refused">', 1)[1].split("</div>", 1)[0]
    assert refused.startswith(escape(WARNING)) and "Verify it only with the reason" in refused
    order.refresh_from_db()
    assert order.verified_at is None and not SafetyOverride.objects.exists()


def test_verify_without_the_reason_without_javascript_is_the_queue_again(client_as, order) -> None:
    response = client_as(roles.PHARMACIST).post(reverse("pharmacy:order_verify", args=[order.pk]))
    assert response.status_code == 400
    row = row_of(response.content.decode(), order)
    assert 'data-testid="order-allergy-refused"' in row
    order.refresh_from_db()
    assert order.verified_at is None


def test_verify_with_the_reason_records_the_pharmacists_override(
    client_as, order, pharmacist_user
) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_verify", args=[order.pk]),
        {"allergy_reason": "rash only, prescriber aware, premedicate"},
        **HX,
    )
    assert 'data-testid="order-verify-done"' in response.content.decode()
    order.refresh_from_db()
    assert order.verified_by == pharmacist_user
    override = SafetyOverride.objects.get()
    assert (override.kind, override.by, override.order) == ("allergy", pharmacist_user, order)
    assert override.message == f"At verification: {WARNING}"
    assert override.reason == "rash only, prescriber aware, premedicate"


def test_the_service_refuses_a_verify_without_the_reason(order, pharmacist_user) -> None:
    with pytest.raises(ValidationError) as refused:
        order_verify(order=order, user=pharmacist_user)
    assert refused.value.message_dict["allergy_reason"][0].startswith(WARNING)


def test_the_review_page_warns_and_keeps_the_typed_reason_on_refusal(client_as, order) -> None:
    client = client_as(roles.PHARMACIST)
    review = reverse("pharmacy:order_review", args=[order.pk])
    html = client.get(review).content.decode()
    alert = html.split('data-testid="review-allergy">', 1)[1].split("</p>", 1)[0]
    assert alert.startswith(escape(WARNING))
    assert 'name="allergy_reason"' in html and 'name="origin" value="review"' in html
    too_long = "x" * 2001  # past the limit: refused beside the field, what was typed kept
    response = client.post(
        reverse("pharmacy:order_verify", args=[order.pk]),
        {"origin": "review", "allergy_reason": too_long},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="review-allergy"' in html  # the review page, not the queue
    assert "At most 2000 characters." in html and f'value="{too_long}"' in html
    order.refresh_from_db()
    assert order.verified_at is None


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_a_pharmacist_verifies_past_the_warning(client_as, order, role) -> None:
    response = client_as(role).post(
        reverse("pharmacy:order_verify", args=[order.pk]), {"allergy_reason": "fine"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.verified_at is None and not SafetyOverride.objects.exists()


# --- the nurse's start ----------------------------------------------------------------------


def test_the_start_asks_a_reason_for_the_drugs_allergy_class(order, nurse_user) -> None:
    start = {"order": order, "site": None, "start": timezone.now(), "method": "infusion"}
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(**start, user=nurse_user, checks=safety.StartChecks())
    assert refused.value.errors["allergy_reason"] == [
        f"{WARNING} Give the reason to start it anyway."
    ]
    adm = safety.administration_start_checked(
        **start, user=nurse_user, checks=safety.StartChecks(allergy_reason="prescriber at bedside")
    )
    override = SafetyOverride.objects.get(administration=adm)
    assert (override.kind, override.message) == ("allergy", WARNING)


def test_the_chart_refuses_the_start_beside_the_allergy_reason(client_as, order) -> None:
    response = client_as(roles.NURSE).post(
        reverse("mar:order_start", args=[order.encounter_id, order.pk]),
        {f"o{order.pk}-method": "infusion"},
        **HX,
    )
    assert escape(f"{WARNING} Give the reason to start it anyway.") in response.content.decode()
    assert not order.administrations.exists()


def test_the_charts_start_box_says_the_class_the_drug_matched_through(client_as, order) -> None:
    """QA: the nurse's Start box said "penicillin (rash) matches piperacillin-tazobactam" without
    "(penicillin class)", which the clerk's and the pharmacist's screens say: one sentence now."""
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[order.encounter_id]))
    box = html.content.decode()
    box = box[box.index('data-testid="allergy-warning"') :]
    box = box[: box.index("</div>")]
    assert escape(WARNING.removeprefix("Allergy: ")) in box
