"""A calculated dose checked against the visit's measures (QA, clinical safety: carboplatin
"AUC 5" and teprotumumab "10 mg/kg" verified, started and charted as 450 mg and 700 mg on a chart
with no height, weight or creatinine, and nobody warned).

`dosing.dose_needs` reads the dose text: per kg needs a weight; per m² (BSA) a height and a
weight; by AUC (Calvert, Cockcroft-Gault for the GFR) a creatinine, a weight, the age and the sex.
`safety.calculated_dose_note` says, in amber and without stopping anything, what this visit has
not recorded (at the pharmacist's verification and in the nurse's Start box), and says nothing
once it is recorded or for a fixed dose."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from mar import roles
from mar.chart_cards import CACHE
from mar.dosing import AGE, AUC, CREATININE, HEIGHT, PER_KG, PER_M2, SEX, WEIGHT, dose_needs
from mar.models import DrugClass, Order
from mar.pharmacy.services import order_return, order_verify
from mar.services import measures, safety
from tests import factories

AUC_NEEDS = (CREATININE, WEIGHT, AGE, SEX)


@pytest.mark.parametrize(
    ("text", "needs"),
    [
        ("10 mg/kg", (WEIGHT,)),
        ("10mg/kg", (WEIGHT,)),
        ("10 MG/KG", (WEIGHT,)),
        ("15 mcg/kg/min", (WEIGHT,)),
        ("100 units/kg", (WEIGHT,)),
        ("0.4 g/kg", (WEIGHT,)),
        ("0,4 g / kg", (WEIGHT,)),
        ("1 mg per kg", (WEIGHT,)),
        ("20 mL/kg bolus", (WEIGHT,)),
        ("AUC 5", AUC_NEEDS),
        ("auc=6", AUC_NEEDS),
        ("AUC5", AUC_NEEDS),
        ("target AUC of 4.5", AUC_NEEDS),
        ("carboplatin AUC: 2 weekly", AUC_NEEDS),
        ("75 mg/m2", (HEIGHT, WEIGHT)),
        ("75 mg/m²", (HEIGHT, WEIGHT)),
        ("75mg/m^2", (HEIGHT, WEIGHT)),
        ("75 mg per m2", (HEIGHT, WEIGHT)),
        ("75 mg/sq m", (HEIGHT, WEIGHT)),
        ("400 mg/BSA", (HEIGHT, WEIGHT)),
        ("1000 mg/m2/day", (HEIGHT, WEIGHT)),
        ("1000 mL", None),
        ("8 mg", None),
        ("1 g", None),
        ("per protocol", None),
        ("", None),
        ("2 mg/mL", None),
        ("500 mg/m", None),
        ("bauc 5", None),
    ],
)
def test_the_inputs_a_dose_text_needs(text: str, needs: tuple[str, ...] | None) -> None:
    found = dose_needs(text)
    assert (found.needs if found else None) == needs


@given(
    number=st.decimals(min_value=Decimal("0.1"), max_value=Decimal(2000), places=1),
    unit=st.sampled_from(["mg", "mcg", "units", "g", "mL", "µg", "IU"]),
    per=st.sampled_from(["/", " / ", " per "]),
    space=st.sampled_from(["", " "]),
    basis=st.sampled_from(
        [("kg", PER_KG), ("m2", PER_M2), ("m²", PER_M2), ("M2", PER_M2), ("KG", PER_KG)]
    ),
    after=st.sampled_from(["", " IV", "/day", " over 30 min", "/h"]),
)
def test_a_dose_per_kg_or_per_m2_is_read_however_it_is_spelled(
    number, unit, per, space, basis, after
) -> None:
    written, kind = basis
    text = f"{number}{space}{unit}{per}{written}{after}"
    found = dose_needs(text)
    assert found is not None and found.bases == (kind,), text
    assert found.needs == ((WEIGHT,) if kind == PER_KG else (HEIGHT, WEIGHT))


@given(
    number=st.decimals(min_value=Decimal(1), max_value=Decimal(8), places=1),
    auc=st.sampled_from(["AUC", "auc", "Auc"]),
    between=st.sampled_from([" ", "", "=", " = ", ": ", " of "]),
)
def test_an_auc_dose_is_read_however_it_is_spelled(number, auc, between) -> None:
    found = dose_needs(f"{auc}{between}{number}")
    assert found is not None and found.bases == (AUC,) and found.needs == AUC_NEEDS


@given(
    number=st.decimals(min_value=Decimal("0.1"), max_value=Decimal(5000), places=1),
    unit=st.sampled_from(["mg", "mcg", "g", "mL", "units", "mEq", "mmol", "mL/h", "mg/mL"]),
)
def test_a_fixed_dose_needs_nothing(number, unit) -> None:
    assert dose_needs(f"{number} {unit}") is None


def test_the_structured_basis_counts_when_the_text_says_none() -> None:
    found = dose_needs("per protocol", basis=PER_KG, written="10 mg/kg")
    assert found is not None and found.needs == (WEIGHT,) and found.written == "10 mg/kg"
    assert dose_needs("per protocol", basis="") is None


# --- the note: safety.calculated_dose_note ------------------------------------------------


def chart_measures(encounter, user, **values: str) -> None:
    for kind, value in values.items():
        measures.measure_chart(
            encounter=encounter, kind=kind, value=Decimal(value), method="measured",
            measured_at=timezone.now() - timedelta(minutes=5), user=user,
        )  # fmt: skip


def registered_encounter(**patient: object):
    today = timezone.now().date()
    fields: dict[str, object] = {"sex": "F", "birth_date": date(today.year - 60, 1, 1)}
    fields.update(patient)
    return factories.encounter_create(
        patient=factories.patient_create(**fields), arrived_at=timezone.now()
    )


def order_of(encounter, drug: str, dose: str, **fields: object) -> Order:
    return factories.order_create(
        encounter, factories.drug_get(drug, DrugClass.CHEMO), dose=dose, **fields
    )


def note(order: Order) -> str:
    return safety.calculated_dose_note(order, measures.encounter_measures(order.encounter))


@pytest.mark.django_db
def test_an_auc_dose_without_creatinine_or_weight_is_noted_and_not_once_recorded(
    nurse_user,
) -> None:
    encounter = registered_encounter()
    order = order_of(encounter, "carboplatin", "AUC 5")
    assert note(order) == (
        "Calculated dose (AUC 5): no creatinine or weight recorded on this visit to check it "
        "against."
    )
    chart_measures(encounter, nurse_user, weight_kg="70")
    assert note(order) == (
        "Calculated dose (AUC 5): no creatinine recorded on this visit to check it against."
    )
    chart_measures(encounter, nurse_user, creatinine_mg_dl="1.0")
    assert note(order) == ""


@pytest.mark.django_db
def test_an_auc_dose_names_the_registrations_missing_date_of_birth_and_sex(nurse_user) -> None:
    encounter = registered_encounter(sex="", birth_date=None)
    order = order_of(encounter, "carboplatin", "AUC 5")
    assert note(order) == (
        "Calculated dose (AUC 5): no creatinine or weight recorded on this visit, and no date "
        "of birth or sex on the registration, to check it against."
    )
    chart_measures(encounter, nurse_user, weight_kg="70", creatinine_mg_dl="1.0")
    assert note(order) == (
        "Calculated dose (AUC 5): no date of birth or sex on the registration to check it against."
    )


@pytest.mark.django_db
def test_a_dose_per_kg_needs_only_a_weight(nurse_user) -> None:
    encounter = registered_encounter(sex="", birth_date=None)  # not needed per kg
    order = order_of(encounter, "teprotumumab", "10 mg/kg")
    assert note(order) == (
        "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against."
    )
    chart_measures(encounter, nurse_user, weight_kg="70")
    assert note(order) == ""


@pytest.mark.django_db
def test_a_dose_per_m2_needs_a_height_and_a_weight(nurse_user) -> None:
    encounter = registered_encounter()
    order = order_of(encounter, "paclitaxel", "175 mg/m²")
    assert note(order) == (
        "Calculated dose (175 mg/m²): no height or weight recorded on this visit to check it "
        "against."
    )
    chart_measures(encounter, nurse_user, height_cm="170")
    assert "no weight recorded" in note(order)
    chart_measures(encounter, nurse_user, weight_kg="70")
    assert note(order) == ""


@pytest.mark.django_db
def test_a_structured_basis_with_plain_text_is_noted_too() -> None:
    encounter = registered_encounter()
    order = order_of(
        encounter, "carboplatin", "per protocol", dose_basis="auc", dose_value=Decimal(5)
    )
    assert note(order).startswith("Calculated dose (AUC 5): no creatinine or weight")


@pytest.mark.django_db
def test_a_fixed_dose_has_no_note() -> None:
    encounter = registered_encounter(sex="", birth_date=None)
    order = factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION), dose="1000 mL"
    )
    assert note(order) == ""


# --- where it is shown ---------------------------------------------------------------------

NOTE_AUC = (
    "Calculated dose (AUC 5): no creatinine or weight recorded on this visit to check it against."
)


def review(client, order: Order) -> str:
    response = client.get(reverse("pharmacy:order_review", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_pharmacists_verify_screen_shows_the_note_in_amber_until_measures_are_recorded(
    client_as, nurse_user
) -> None:
    encounter = registered_encounter()
    order = order_of(encounter, "carboplatin", "AUC 5")
    pharmacist = client_as(roles.PHARMACIST)
    html = review(pharmacist, order)
    found = re.search(
        r'<p class="alert alert-warning" data-testid="review-dose-measures-note">', html
    )
    assert found is not None and NOTE_AUC in html
    assert 'data-testid="verify"' in html  # a warning: Verify is still offered
    chart_measures(encounter, nurse_user, weight_kg="70", creatinine_mg_dl="1.0")
    html = review(pharmacist, order)
    assert 'data-testid="review-dose-measures-note"' not in html
    assert "Calculated dose" not in html


@pytest.mark.django_db
def test_the_verify_screen_of_a_fixed_dose_has_no_note(client_as) -> None:
    encounter = registered_encounter()
    order = factories.order_create(
        encounter, factories.drug_get("ondansetron"), dose="8 mg", indication="R11.2"
    )
    assert 'data-testid="review-dose-measures-note"' not in review(
        client_as(roles.PHARMACIST), order
    )


def order_row(page: str, order: Order) -> str:
    start = page.index(f'<div class="order-row" id="order-{order.pk}"')
    end = page.find('<div class="order-row"', start + 1)
    return page[start : end if end != -1 else None]


@pytest.mark.django_db
def test_the_nurses_start_box_shows_the_note_until_measures_are_recorded(
    client_as, nurse_user
) -> None:
    """Through the chart's measures form (the nurse records them, the chart drawn again): the
    kept order row (mar/chart_cards.py) follows, the note in its info dict and so in its key."""
    caches[CACHE].clear()
    encounter = registered_encounter()
    factories.site_create(encounter, placed_at=timezone.now() - timedelta(minutes=30))
    order = order_of(encounter, "teprotumumab", "10 mg/kg")
    nurse = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    row = order_row(nurse.get(url).content.decode(), order)
    assert (
        '<div class="alert alert-warning py-2 mb-2" data-testid="dose-measures-note">'
        "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against.</div>"
    ) in row
    assert 'data-testid="start"' in row and 'data-testid="start" disabled' not in row
    response = nurse.post(
        reverse("mar:measure_add", args=[encounter.pk]),
        {"m-kind": "weight_kg", "m-value": "70", "m-method": "measured"},
    )
    assert response.status_code in (200, 302)
    assert measures.encounter_measures(encounter).weight is not None
    row = order_row(nurse.get(url).content.decode(), order)
    assert 'data-testid="dose-measures-note"' not in row


@pytest.mark.django_db
def test_a_start_is_not_stopped_by_the_note(nurse_user) -> None:
    """A warning, not a block: the start's checks say nothing of the measures."""
    encounter = registered_encounter()
    order = order_of(encounter, "carboplatin", "AUC 5")
    order = Order.objects.select_related("encounter__patient", "drug").get(pk=order.pk)
    problems = safety.start_problems(order, safety.StartChecks(), user=nurse_user)
    assert not any("Calculated dose" in m for ms in problems.values() for m in ms)


@pytest.mark.django_db
def test_the_verify_screen_does_not_call_a_dose_written_per_kg_a_fixed_dose(client_as) -> None:
    """Written "10 mg/kg" with no structured basis: nothing is calculated, and it says why."""
    order = order_of(registered_encounter(), "teprotumumab", "10 mg/kg")
    html = review(client_as(roles.PHARMACIST), order)
    assert "A fixed dose" not in html
    assert (
        "Written as a calculated dose (10 mg/kg), with no dose basis entered: work the amount "
        "out from the measures."
    ) in html


# --- the pharmacist's queue rows -------------------------------------------------------------

NOTE_PER_KG = "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against."


def queue(client) -> str:
    response = client.get(reverse("pharmacy:orders"))
    assert response.status_code == 200
    return response.content.decode()


def queue_row(page: str, order: Order) -> str:
    start = page.index(f'<tr id="order-{order.pk}"')
    return page[start:].split("</tr>", 1)[0]


@pytest.mark.django_db
def test_the_queue_row_shows_the_note_in_amber_until_measures_are_recorded(
    client_as, nurse_user
) -> None:
    """The row the pharmacist verifies from without opening the order warns as the review
    page does (QA: verified from the queue's row with no weight on the chart, and no warning)."""
    encounter = registered_encounter(sex="", birth_date=None)
    order = order_of(encounter, "teprotumumab", "10 mg/kg")
    fixed = factories.order_create(
        encounter, factories.drug_get("ondansetron"), dose="8 mg", indication="R11.2"
    )
    pharmacist = client_as(roles.PHARMACIST)
    page = queue(pharmacist)
    row = queue_row(page, order)
    assert (
        '<div class="small text-warning-emphasis fw-semibold" '
        f'data-testid="order-dose-measures-note">{NOTE_PER_KG}</div>'
    ) in row
    assert 'data-testid="order-verify"' in row  # a warning: Verify is still offered
    assert "Calculated dose" not in queue_row(page, fixed)
    chart_measures(encounter, nurse_user, weight_kg="70")
    assert "Calculated dose" not in queue(pharmacist)


@pytest.mark.django_db
def test_each_row_has_its_own_visits_note(client_as, nurse_user) -> None:
    """Two visits, one with the weight and one without: only the one without is noted; an AUC
    dose names what its own visit lacks."""
    weighed, unweighed, auc_visit = (registered_encounter() for _ in range(3))
    chart_measures(weighed, nurse_user, weight_kg="70")
    chart_measures(auc_visit, nurse_user, weight_kg="70")
    done = order_of(weighed, "teprotumumab", "10 mg/kg")
    noted = order_of(unweighed, "teprotumumab", "10 mg/kg")
    auc = order_of(auc_visit, "carboplatin", "AUC 5")
    page = queue(client_as(roles.PHARMACIST))
    assert "Calculated dose" not in queue_row(page, done)
    assert NOTE_PER_KG in queue_row(page, noted)
    assert (
        "Calculated dose (AUC 5): no creatinine recorded on this visit to check it against."
    ) in queue_row(page, auc)


@pytest.mark.django_db
def test_a_returned_row_shows_the_note_and_a_verified_one_does_not(
    client_as, pharmacist_user
) -> None:
    """A returned order still has its Verify, so its row warns; a verified one is past it."""
    returned = order_of(registered_encounter(), "teprotumumab", "10 mg/kg")
    order_return(order=returned, reason="dose to confirm with the prescriber", user=pharmacist_user)
    verified = order_of(registered_encounter(), "teprotumumab", "10 mg/kg")
    order_verify(order=verified, user=pharmacist_user)
    page = queue(client_as(roles.PHARMACIST))
    assert NOTE_PER_KG in queue_row(page, returned)
    assert "Calculated dose" not in queue_row(page, verified)


@pytest.mark.django_db
def test_a_row_drawn_again_after_a_refused_return_keeps_the_note(client_as) -> None:
    """htmx: a return sent without its reason answers with the row again, note and all."""
    order = order_of(registered_encounter(), "teprotumumab", "10 mg/kg")
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_return", args=[order.pk]), {"reason": " "}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert NOTE_PER_KG in response.content.decode()
