"""The allergy match shown where each decision is made, from the one matcher
(mar/services/safety.py `allergy_conflicts`):

- the clerk's (or nurse's) order entry warns beside the drug and enters it only with a reason
  (a SafetyOverride "allergy" of the order, by who entered it), as order-entry systems do: an
  alert overridden with a reason;
- the pharmacist's queue row and review page say it in red, and Verify needs a reason;
- the nurse's Start asks for a reason (it did; now with the drug's allergy classes), and shows
  who overrode the warning before her (the clerk at order entry, the pharmacist at
  verification), when and why; so does the pharmacist's queue row;
- a cross-sensitivity (a penicillin allergy and a cephalosporin or a carbapenem, either way:
  `safety.CROSS_SENSITIVITIES`) is warned in its own words, in amber, and asks the same reason
  everywhere the matcher is used.

QA: "penicillin (rash)" and piperacillin-tazobactam 3.375 g IV went through all three silently,
the drug having no allergy classes."""

from datetime import timedelta
from decimal import Decimal
from html import escape

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.clock import date_hhmm
from mar.models import Drug, Order, SafetyOverride
from mar.pharmacy.formulary import formulary_load_csv
from mar.pharmacy.services import order_verify
from mar.registration.services import OrderEntry, order_enter
from mar.services import safety
from mar.services.charting import ChartError
from mar.validators import REASON_IN_WORDS
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


CROSS = (
    "Cross-sensitivity: patient allergic to penicillin class; ceftriaxone is a cephalosporin — "
    "low but real cross-reactivity."
)


@pytest.fixture
def ceftriaxone() -> Drug:
    """The starter formulary's ceftriaxone ("cephalosporin; beta-lactam")."""
    formulary_load_csv()
    return Drug.objects.get(name="ceftriaxone")


@pytest.fixture
def meropenem() -> Drug:
    drug = factories.drug_get("meropenem")
    Drug.objects.filter(pk=drug.pk).update(allergy_classes="carbapenem; beta-lactam")
    drug.refresh_from_db()
    return drug


def test_a_cephalosporin_matches_its_own_class_directly() -> None:
    formulary_load_csv()
    cefazolin = Drug.objects.get(name="cefazolin")
    assert [m.said for m in safety.allergy_conflicts("cephalosporins", cefazolin)] == [
        "cephalosporins matches cefazolin (cephalosporin class)"
    ]


def test_a_penicillin_allergy_warns_of_a_cephalosporin_as_a_cross_sensitivity(
    ceftriaxone,
) -> None:
    """Cross-sensitivity (CROSS_SENSITIVITIES): its own words, never "matches"."""
    patient = factories.patient_create(allergies="penicillin")
    assert safety.allergy_warning(patient, ceftriaxone) == CROSS
    (match,) = safety.allergy_conflicts("penicillin", ceftriaxone)
    assert not match.direct and "matches" not in match.said
    assert safety.allergy_cross_only(CROSS)


def test_the_cross_sensitivity_says_the_reaction_as_recorded(ceftriaxone) -> None:
    patient = factories.patient_create(allergies="Penicillins (anaphylaxis)")
    assert safety.allergy_warning(patient, ceftriaxone) == (
        "Cross-sensitivity: patient allergic to penicillin class (recorded: Penicillins "
        "(anaphylaxis)); ceftriaxone is a cephalosporin — low but real cross-reactivity."
    )


def test_the_cross_sensitivity_is_warned_either_way(zosyn) -> None:
    assert [m.said for m in safety.allergy_conflicts("cephalosporin", zosyn)] == [
        "patient allergic to cephalosporin class; piperacillin-tazobactam is a penicillin — low "
        "but real cross-reactivity"
    ]


def test_a_carbapenem_cross_reacts_with_a_penicillin_allergy_either_way(meropenem, zosyn) -> None:
    assert [m.said for m in safety.allergy_conflicts("penicillin (hives)", meropenem)] == [
        "patient allergic to penicillin class (recorded: penicillin (hives)); meropenem is a "
        "carbapenem — low but real cross-reactivity"
    ]
    assert [m.cross_from for m in safety.allergy_conflicts("carbapenems", zosyn)] == ["carbapenem"]


def test_a_direct_match_is_said_first_and_apart_from_the_cross_sensitivity(ceftriaxone) -> None:
    patient = factories.patient_create(allergies="penicillin; cephalosporins (rash)")
    warning = safety.allergy_warning(patient, ceftriaxone)
    assert warning == (
        "Allergy: cephalosporins (rash) matches ceftriaxone (cephalosporin class). " + CROSS
    )
    assert not safety.allergy_cross_only(warning)  # the higher severity's colour and words


@pytest.mark.parametrize(
    ("allergies", "drug", "classes"),
    [
        # Sulfonamide antibiotic vs non-antibiotic: no cross-reaction (Strom et al. 2003).
        ("sulfonamide antibiotics", "furosemide", "sulfonamide non-antibiotic"),
        ("sulfa", "furosemide", "sulfonamide non-antibiotic"),
        ("penicillin", "vancomycin", "glycopeptide"),  # neither class of a pair
        ("cephalosporin", "meropenem", "carbapenem; beta-lactam"),  # not a pair of the table
    ],
)
def test_no_cross_sensitivity_outside_the_tables_pairs(allergies, drug, classes) -> None:
    given = factories.drug_get(drug)
    Drug.objects.filter(pk=given.pk).update(allergy_classes=classes)
    given.refresh_from_db()
    assert safety.allergy_conflicts(allergies, given) == []


def test_the_table_has_no_sulfonamide_pair_and_the_two_beta_lactam_pairs() -> None:
    pairs = {(pair.one, pair.other) for pair in safety.CROSS_SENSITIVITIES}
    assert pairs == {("penicillin", "cephalosporin"), ("penicillin", "carbapenem")}
    assert not any("sulfonamide" in f"{a} {b}" for a, b in pairs)


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
    assert "Reason to enter it despite the allergy (required)" in html  # QA: was without
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


# --- who overrode, when and why, where the next person decides (QA) --------------------------

ENTRY_REASON = "prescriber confirmed: tolerated it in 2024"
VERIFY_REASON = "rash only, prescriber aware, premedicate"


@pytest.fixture
def overridden(client_as, visit, zosyn, pharmacist_user) -> Order:
    """The clerk entered the order past the warning, the pharmacist verified it past it."""
    url = reverse("registration:order_new", args=[visit.pk])
    client_as(roles.CLERK).post(url, {**ZOSYN_ORDER, "allergy_reason": ENTRY_REASON})
    order = Order.objects.get()
    order_verify(order=order, user=pharmacist_user, allergy_reason=VERIFY_REASON)
    return order


def _said(override: SafetyOverride, stage: str) -> str:
    at = date_hhmm(override.at, override.encounter.zone)
    return (
        f"Overridden {stage} by <strong>{override.by.get_username()}</strong> "
        f'(<span class="text-nowrap">{at}</span>): {escape(override.reason)}'
    )


def _start_box(html: str) -> str:
    box = html[html.index('data-testid="allergy-warning"') :]
    return box[: box.index('name="o')]  # up to the nurse's own reason field


def test_the_start_box_shows_who_overrode_the_allergy_when_and_why(client_as, overridden) -> None:
    entry, verification = SafetyOverride.objects.order_by("at", "pk")
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[overridden.encounter_id]))
    box = _start_box(html.content.decode())
    assert escape(WARNING.removeprefix("Allergy: ")) in box
    lines = box.split('data-testid="allergy-override">')[1:]
    assert [line.split("</li>", 1)[0] for line in lines] == [
        _said(entry, "at order entry"),
        _said(verification, "at verification"),
    ]
    assert (entry.by.get_username(), verification.by.get_username()) == ("clerk1", "pharm1")


def test_the_start_box_shows_an_earlier_starts_override_too(overridden, nurse_user, client_as):
    start = {"order": overridden, "site": None, "start": timezone.now(), "method": "infusion"}
    safety.administration_start_checked(
        **start, user=nurse_user, checks=safety.StartChecks(allergy_reason="second dose, no rash")
    )
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[overridden.encounter_id]))
    box = _start_box(html.content.decode())
    assert "Overridden at a start by <strong>nurse1</strong>" in box
    assert box.index("at order entry") < box.index("at verification") < box.index("at a start")


def test_the_start_box_reads_the_overrides_in_one_statement(client_as, overridden, zosyn) -> None:
    """However many orders warn and overrides there are: one read (none without a warning, the
    chart page's count: tests/mar/test_views_chart.py)."""
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[overridden.encounter_id])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    more = factories.order_create(overridden.encounter, zosyn, dose="3.375 g")
    for reason in ("one", "two"):
        SafetyOverride.objects.create(
            encounter=overridden.encounter, kind="allergy", message=WARNING, reason=reason,
            order=more, by=overridden.entered_by,
        )  # fmt: skip
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count('data-testid="allergy-override"') == 4
    assert len(many) == len(few)


def test_the_queue_row_shows_the_order_entry_override_reason(client_as, visit, zosyn) -> None:
    url = reverse("registration:order_new", args=[visit.pk])
    client_as(roles.CLERK).post(url, {**ZOSYN_ORDER, "allergy_reason": ENTRY_REASON})
    order, entry = Order.objects.get(), SafetyOverride.objects.get()
    row = row_of(
        client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode(), order
    )
    said = row.split('data-testid="order-allergy-override">', 1)[1].split("</div>", 1)[0]
    assert said == _said(entry, "at order entry")
    assert row.index('data-testid="order-allergy"') < row.index("order-allergy-override")


def test_the_verified_row_shows_both_overrides(client_as, overridden) -> None:
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = row_of(html, overridden)
    assert row.count('data-testid="order-allergy-override"') == 2
    assert ENTRY_REASON in row and VERIFY_REASON in row


def test_the_review_page_says_where_each_allergy_override_was_made(client_as, overridden) -> None:
    html = (
        client_as(roles.PHARMACIST)
        .get(reverse("pharmacy:order_review", args=[overridden.pk]))
        .content.decode()
    )
    assert "Allergy at order entry by clerk1" in html
    assert "Allergy at verification by pharm1" in html


# --- cross-sensitivity, everywhere the matcher is used ----------------------------------------


@pytest.fixture
def cross_order(visit, ceftriaxone) -> Order:
    """A penicillin (rash) patient's ceftriaxone: a cross-sensitivity only."""
    return factories.order_create(visit, ceftriaxone, dose="1 g", indication="J18.9")


CROSS_RASH = CROSS.replace("penicillin class;", "penicillin class (recorded: penicillin (rash));")
CEFTRIAXONE_ORDER = {**ZOSYN_ORDER, "drug": "ceftriaxone", "dose_value": "1"}


def test_order_entry_warns_of_a_cross_sensitivity_and_asks_the_reason_in_its_words(
    client_as, visit, ceftriaxone, clerk_user
) -> None:
    url = reverse("registration:order_new", args=[visit.pk])
    client = client_as(roles.CLERK)
    html = client.post(url, CEFTRIAXONE_ORDER).content.decode()
    assert escape(CROSS_RASH) in field_error(html, "drug")
    assert "Reason to enter it despite the cross-sensitivity (required)" in html
    assert not Order.objects.exists()
    assert (
        client.post(url, {**CEFTRIAXONE_ORDER, "allergy_reason": "had it 2023"}).status_code == 302
    )
    override = SafetyOverride.objects.get()
    assert (override.message, override.by) == (f"At order entry: {CROSS_RASH}", clerk_user)
    assert override.kind == SafetyOverride.Kind.CROSS_SENSITIVITY  # its own kind on the report


def test_the_queue_row_says_a_cross_sensitivity_in_amber_and_verify_says_so(
    client_as, cross_order
) -> None:
    row = row_of(
        client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode(), cross_order
    )
    amber = (
        '<div class="small text-warning-emphasis fw-semibold" role="alert" '
        'data-testid="order-allergy" data-cross="1">'
    )
    assert f"{amber}{escape(CROSS_RASH)}</div>" in row
    assert "Verify despite the cross-sensitivity" in row
    assert "Reason to verify despite the cross-sensitivity (required)" in row


def test_verify_of_a_cross_sensitivity_asks_the_reason_too(cross_order, pharmacist_user) -> None:
    with pytest.raises(ValidationError) as refused:
        order_verify(order=cross_order, user=pharmacist_user)
    assert refused.value.message_dict["allergy_reason"][0].startswith(CROSS_RASH)
    order_verify(order=cross_order, user=pharmacist_user, allergy_reason="tolerated 2023")
    override = SafetyOverride.objects.get()
    assert override.message == f"At verification: {CROSS_RASH}"
    assert override.kind == SafetyOverride.Kind.CROSS_SENSITIVITY


def test_the_review_page_says_a_cross_sensitivity_in_amber(client_as, cross_order) -> None:
    html = (
        client_as(roles.PHARMACIST)
        .get(reverse("pharmacy:order_review", args=[cross_order.pk]))
        .content.decode()
    )
    amber = 'class="alert alert-warning fw-semibold" role="alert" data-testid="review-allergy"'
    assert f'{amber} data-cross="1">' in html
    assert "Verify despite the cross-sensitivity" in html


def test_the_start_asks_a_reason_for_a_cross_sensitivity_and_keeps_it(
    cross_order, nurse_user
) -> None:
    start = {"order": cross_order, "site": None, "start": timezone.now(), "method": "infusion"}
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(**start, user=nurse_user, checks=safety.StartChecks())
    assert refused.value.errors["allergy_reason"] == [
        f"{CROSS_RASH} Give the reason to start it anyway."
    ]
    adm = safety.administration_start_checked(
        **start, user=nurse_user, checks=safety.StartChecks(allergy_reason="tolerated 2023")
    )
    override = SafetyOverride.objects.get(administration=adm)
    assert (override.message, override.kind) == (CROSS_RASH, "cross_sensitivity")


def test_the_start_box_says_a_cross_sensitivity_in_amber(client_as, cross_order) -> None:
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[cross_order.encounter_id]))
    page = html.content.decode()
    box = page[page.rindex('<div class="alert', 0, page.index('data-testid="allergy-warning"')) :]
    box = box[: box.index('name="o')]
    assert box.startswith(
        '<div class="alert alert-warning py-2 mb-2" data-testid="allergy-warning" data-cross="1">'
    )
    said = escape(CROSS_RASH.removeprefix("Cross-sensitivity: "))
    assert f"<strong>Cross-sensitivity:</strong> {said}" in box


def test_the_drug_page_shows_the_cross_sensitivity_table_with_the_drugs_pairs(
    client_as, ceftriaxone
) -> None:
    html = (
        client_as(roles.PHARMACIST)
        .get(reverse("pharmacy:drug", args=[ceftriaxone.pk]))
        .content.decode()
    )
    table = html.split('data-testid="cross-sensitivities">', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")[2:]  # past the header
    assert len(rows) == 2
    assert 'data-testid="cross-sensitivity-applies"' in rows[0] and "cephalosporin" in rows[0]
    assert 'data-testid="cross-sensitivity-applies"' not in rows[1] and "carbapenem" in rows[1]


# --- an allergy recorded as a drug's name carries its class (mar/README.md) -------------------

AMOXICILLIN_ZOSYN = (
    "amoxicillin (hives) is a penicillin (by its stem -cillin), as is piperacillin-tazobactam "
    "(penicillin class)"
)


def _matched(allergies: str, drug: Drug) -> list[str]:
    """What the matcher says with the formulary as the callers give it (one read)."""
    names = safety.AllergyNames()
    return [
        m.said for m in safety.allergy_conflicts(allergies, drug, names.for_allergies(allergies))
    ]


def test_a_drug_named_allergy_is_a_direct_match_on_a_drug_of_its_stems_class(zosyn) -> None:
    """Rule: a name carrying -cillin is a penicillin; piperacillin-tazobactam is one too: direct."""
    assert _matched("amoxicillin (hives)", zosyn) == [AMOXICILLIN_ZOSYN]
    patient = factories.patient_create(allergies="amoxicillin (hives)")
    warning = safety.allergy_warning(patient, zosyn)
    assert warning == f"Allergy: {AMOXICILLIN_ZOSYN}."
    assert not safety.allergy_cross_only(warning)  # red, as a class match


@pytest.mark.parametrize("drug", ["cefazolin", "ceftriaxone"])
def test_a_drug_named_allergy_warns_of_its_class_cross_sensitivity(drug) -> None:
    """Rule: amoxicillin (a penicillin by its stem) and a cephalosporin: a cross-sensitivity."""
    formulary_load_csv()
    given = Drug.objects.get(name=drug)
    assert _matched("amoxicillin", given) == [
        f"patient allergic to amoxicillin, a penicillin (by its stem -cillin); {drug} is a "
        "cephalosporin — low but real cross-reactivity"
    ]
    patient = factories.patient_create(allergies="amoxicillin")
    assert safety.allergy_cross_only(safety.allergy_warning(patient, given))


def test_a_formulary_drugs_name_carries_its_classes_direct_on_its_own_class(ceftriaxone) -> None:
    """Rule: ceftriaxone, a cephalosporin in the formulary; cefazolin is one too: direct."""
    cefazolin = Drug.objects.get(name="cefazolin")
    assert _matched("ceftriaxone", cefazolin) == [
        "ceftriaxone is a cephalosporin (in the formulary), as is cefazolin (cephalosporin class)"
    ]


def test_a_formulary_drugs_name_on_a_penicillin_is_the_tables_cross_not_a_beta_lactam_match(
    ceftriaxone, zosyn
) -> None:
    """Rule: both are beta-lactams in the formulary, but the table pairs cephalosporin with
    penicillin: a cross-sensitivity (amber), not a direct match through the broader class."""
    assert _matched("ceftriaxone (rash)", zosyn) == [
        "patient allergic to ceftriaxone (rash), a cephalosporin (in the formulary); "
        "piperacillin-tazobactam is a penicillin — low but real cross-reactivity"
    ]


def test_a_carbapenem_named_allergy_warns_of_a_penicillin_as_a_cross_sensitivity(
    zosyn, meropenem
) -> None:
    """Rule: -penem, a carbapenem (by its stem; meropenem in the formulary too)."""
    assert [m.said for m in safety.allergy_conflicts("ertapenem", zosyn)] == [
        "patient allergic to ertapenem, a carbapenem (by its stem -penem); "
        "piperacillin-tazobactam is a penicillin — low but real cross-reactivity"
    ]
    assert _matched("meropenem", zosyn) == [
        "patient allergic to meropenem, a carbapenem (in the formulary); "
        "piperacillin-tazobactam is a penicillin — low but real cross-reactivity"
    ]


def test_a_formulary_synonym_as_allergy_carries_the_drugs_classes(ceftriaxone, zosyn) -> None:
    """Rule: "Rocephin" is the formulary's ceftriaxone (its synonym): a brand name the formulary
    holds is known, and the sentence says through which drug."""
    cefazolin = Drug.objects.get(name="cefazolin")
    assert _matched("Rocephin (hives)", cefazolin) == [
        "Rocephin (hives) is a cephalosporin (as ceftriaxone in the formulary), as is cefazolin "
        "(cephalosporin class)"
    ]
    # Without the formulary, "Ancef" is cefazolin by the brand table
    # (tests/mar/test_allergy_brands.py).
    (by_brand,) = safety.allergy_conflicts("Ancef", zosyn)
    assert by_brand.carried.generic == "cefazolin" and by_brand.cross_from == "cephalosporin"
    (match,) = safety.allergy_conflicts("Ancef", zosyn, safety.formulary_drugs_read())
    assert (match.cross_from, match.allergy_class, match.carried.drug) == (
        "cephalosporin",
        "penicillin",
        "cefazolin",
    )


@pytest.mark.parametrize("allergies", ["latex", "sulfa", "latex; sulfa", "Tylenol", "NKDA"])
def test_a_name_with_no_stem_and_not_in_the_formulary_warns_of_nothing(zosyn, allergies) -> None:
    """Rule: only the formulary's names, the three stems and the beta-lactam brands
    (safety.BRAND_GENERICS: "Keflex" is cephalexin, tests/mar/test_allergy_brands.py) carry a
    class: "Tylenol" (a brand of none of them, not in the formulary) cannot be known
    (mar/README.md says so)."""
    cefazolin = Drug.objects.get(name="cefazolin")
    assert _matched(allergies, zosyn) == [] and _matched(allergies, cefazolin) == []


@pytest.mark.parametrize(
    ("word", "carried"),
    [
        ("cefalexin", ["cephalosporin"]),
        ("cephalexin", ["cephalosporin"]),
        ("Cefzil", ["cephalosporin"]),
        ("ampicillin-sulbactam", ["penicillin"]),
        ("dicloxacillins", ["penicillin"]),  # a plural's 's'
        ("imipenem-cilastatin", ["carbapenem"]),
        ("ceiling", []),  # starts with ce-, not cef-
        ("decef", []),  # cef inside a word, not at its start
        ("penicillinase", []),  # -cillin inside a word, not at its end
        ("cillin", []),  # the stem alone names no drug
        ("penemix", []),
        ("latex", []),
    ],
)
def test_a_stem_counts_only_at_a_words_start_or_end(word, carried) -> None:
    """Rule: cef-/ceph- at a word's start, -cillin and -penem at its end (USAN stems)."""
    term = safety.allergy_terms(word)[0]
    assert [k.allergy_class for k in safety.allergy_carried(term)] == carried


def test_a_word_merely_containing_the_letters_warns_of_nothing() -> None:
    formulary_load_csv()
    cefazolin = Drug.objects.get(name="cefazolin")
    assert _matched("ceiling tiles dust", cefazolin) == []
    assert [m.said for m in safety.allergy_conflicts("cefalexin", cefazolin)] == [
        "cefalexin is a cephalosporin (by its stem cef-), as is cefazolin (cephalosporin class)"
    ]


def test_the_formulary_drug_of_the_name_says_its_class_before_the_stem(zosyn) -> None:
    """A drug in the formulary with classes: the pharmacist's classes, said as found there."""
    amoxicillin = factories.drug_get("amoxicillin")
    Drug.objects.filter(pk=amoxicillin.pk).update(allergy_classes="penicillin; beta-lactam")
    assert _matched("amoxicillin", zosyn) == [
        "amoxicillin is a penicillin (in the formulary), as is piperacillin-tazobactam "
        "(penicillin class)"
    ]


def test_a_class_recorded_as_such_is_said_as_before(zosyn, ceftriaxone) -> None:
    """ "penicillin" ends in -cillin too: still the class's own words, not the stem's."""
    assert _matched("penicillin (rash)", zosyn) == [WARNING.removeprefix("Allergy: ")[:-1]]
    assert _matched("penicillin", ceftriaxone) == [CROSS.removeprefix(safety.CROSS_PREFIX)[:-1]]


def test_the_formulary_is_read_once_and_only_for_an_allergy(zosyn, ceftriaxone) -> None:
    names = safety.AllergyNames()
    allergic = factories.patient_create(allergies="Rocephin")
    none_known = factories.patient_create(allergies="NKDA")
    with CaptureQueriesContext(connection) as read:
        safety.allergy_warning(none_known, zosyn, names)
        assert len(read) == 0  # no allergy term: nothing read
        for drug in (zosyn, ceftriaxone, zosyn):
            assert safety.allergy_warning(allergic, drug, names)
    assert len(read) == 1


def test_a_pharmacists_class_change_is_read_at_the_next_warning(zosyn) -> None:
    """No cache to go stale: a class the pharmacist gives a drug counts from the next read."""
    patient = factories.patient_create(allergies="morphine (itching)")  # an opioid
    hydromorphone = factories.drug_get("hydromorphone")
    assert safety.allergy_warning(patient, hydromorphone) == ""
    Drug.objects.filter(pk=hydromorphone.pk).update(allergy_classes="opioid")
    hydromorphone.refresh_from_db()
    assert safety.allergy_warning(patient, hydromorphone) == (
        "Allergy: morphine (itching) is an opioid (in the formulary), as is hydromorphone "
        "(opioid class)."
    )


@pytest.fixture
def amoxicillin_order(zosyn) -> Order:
    patient = factories.patient_create(allergies="amoxicillin (hives)")
    visit = factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=1)
    )
    return factories.order_create(visit, zosyn, dose="3.375 g", indication="J18.9")


def test_the_start_box_says_the_class_a_drug_named_allergy_carries(
    client_as, amoxicillin_order, zosyn
) -> None:
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[amoxicillin_order.encounter_id])
    box = _start_box(client.get(url).content.decode())
    assert f"<strong>Allergy:</strong> {escape(AMOXICILLIN_ZOSYN)}" in box
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for _ in range(3):  # more orders warned of: the formulary still read once
        factories.order_create(amoxicillin_order.encounter, zosyn, dose="3.375 g")
    with CaptureQueriesContext(connection) as four:
        html = client.get(url).content.decode()
    assert html.count('data-testid="allergy-warning"') == 4
    assert len(four) == len(one)


def test_the_start_asks_the_reason_for_a_drug_named_allergy(amoxicillin_order, nurse_user) -> None:
    start = {"order": amoxicillin_order, "site": None, "start": timezone.now()}
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(
            **start, method="infusion", user=nurse_user, checks=safety.StartChecks()
        )
    assert refused.value.errors["allergy_reason"] == [
        f"Allergy: {AMOXICILLIN_ZOSYN}. Give the reason to start it anyway."
    ]


def test_order_entry_and_the_queue_warn_of_a_drug_named_allergy(
    client_as, amoxicillin_order, zosyn
) -> None:
    visit = amoxicillin_order.encounter
    html = (
        client_as(roles.CLERK)
        .post(reverse("registration:order_new", args=[visit.pk]), ZOSYN_ORDER)
        .content.decode()
    )
    assert escape(f"Allergy: {AMOXICILLIN_ZOSYN}.") in field_error(html, "drug")
    client = client_as(roles.PHARMACIST)
    page = client.get(reverse("pharmacy:orders")).content.decode()
    assert escape(f"Allergy: {AMOXICILLIN_ZOSYN}.") in row_of(page, amoxicillin_order)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("pharmacy:orders"))
    for _ in range(3):  # more rows warned of: the formulary read once for the page
        factories.order_create(visit, zosyn, dose="3.375 g")
    with CaptureQueriesContext(connection) as four:
        page = client.get(reverse("pharmacy:orders")).content.decode()
    assert page.count(escape(AMOXICILLIN_ZOSYN)) == 4
    assert len(four) == len(one)


@pytest.mark.parametrize("typed", ["x", "ok", "..."])
def test_verify_with_a_reason_not_in_words_is_refused_beside_it_htmx(
    client_as, order, typed
) -> None:
    """The pharmacist's allergy override is a high-impact reason: a few letters at least
    (mar.validators), said beside the field, what was typed kept, nothing verified."""
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_verify", args=[order.pk]), {"allergy_reason": typed}, **HX
    )
    html = response.content.decode()
    assert 'data-testid="order-allergy-refused"' in html and REASON_IN_WORDS in html
    assert f'value="{escape(typed)}"' in html
    order.refresh_from_db()
    assert order.verified_at is None
    assert not SafetyOverride.objects.filter(order=order).exists()
