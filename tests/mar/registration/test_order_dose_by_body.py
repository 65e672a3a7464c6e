"""DOSE-MAX by body size (mar/services/dose_check.py): the pharmacist keeps a drug's maximum
single dose per kg of body weight and per m² of body surface area (Mosteller) beside, or instead
of, the fixed one; an order's fixed dose is compared with the maximum × the weight (BSA)
recorded for the visit, the basis said ("1,200 mg is above 35 mg/kg × 30 kg = 1,050 mg"), and
entered only when confirmed, as any dose warning. With no weight (height) recorded for the visit
the maximum cannot be checked: said beside the dose (a note, not a warning to confirm) and
flagged on the pharmacist's queue. Amounts are compared whatever mass unit each is written in
(mcg/mg/g); a weight in lb is converted to kg."""

from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from coding.engine.drug_units import UnitMismatch
from mar import roles
from mar.audit.models import EVENTS
from mar.demo import demo_max_doses_ensure
from mar.models import DoseBasis, Drug, DrugClass, Order, SafetyOverride
from mar.pharmacy.services import drug_max_dose_by_body_set
from mar.registration.services import order_dose_problems, order_enter, visit_body
from mar.services import dose_check, measures
from mar.services.dose_check import Body, max_dose_unchecked, max_dose_warning, weight_in_kg
from tests import factories
from tests.mar.registration.test_order_dose_check import FORM, drug, entry, saline
from tests.mar.registration.test_order_dose_live import live, said_beside
from tests.mar.registration.test_views import field_error

# --- the check (pure: drugs not saved) --------------------------------------------------------


def per_kg(amount: str, unit: str = "mg", **more: object) -> Drug:
    return Drug(
        name="vancomycin",
        drug_class=DrugClass.THERAPEUTIC,
        billing_unit="mg",
        max_dose_per_kg_amount=Decimal(amount),
        max_dose_per_kg_unit=unit,
        **more,
    )


def per_m2(amount: str, unit: str = "mg") -> Drug:
    return Drug(
        name="doxorubicin",
        drug_class=DrugClass.CHEMO,
        billing_unit="mg",
        max_dose_per_m2_amount=Decimal(amount),
        max_dose_per_m2_unit=unit,
    )


KG70 = Body(weight_kg=Decimal(70))


def test_a_dose_exactly_at_the_maximum_per_kg_is_not_warned() -> None:
    assert max_dose_warning(per_kg("15"), Decimal(1050), "mg", "", KG70) == ""


def test_a_dose_just_above_the_maximum_per_kg_is_warned_with_its_basis() -> None:
    words = max_dose_warning(per_kg("15"), Decimal("1050.1"), "mg", "", KG70)
    assert words.startswith("1,050.1 mg is above 15 mg/kg × 70 kg = 1,050 mg,")
    assert "maximum single dose of vancomycin" in words and "Check with the prescriber" in words
    big = max_dose_warning(per_kg("15"), Decimal(1200), "mg", "", KG70)
    assert big.startswith("1,200 mg is above 15 mg/kg × 70 kg = 1,050 mg")


def test_with_no_weight_recorded_the_maximum_per_kg_is_said_not_checked() -> None:
    drug = per_kg("15")
    assert max_dose_warning(drug, Decimal(5000), "mg", "", Body()) == ""
    assert max_dose_warning(drug, Decimal(5000), "mg", "", None) == ""
    assert max_dose_unchecked(drug, Decimal(5000), "mg", "", None) == (
        "No weight recorded for this visit: the maximum of 15 mg/kg cannot be checked."
    )
    assert max_dose_unchecked(drug, Decimal(5000), "mg", "", KG70) == ""
    # No maximum by body size kept: nothing to say.
    assert max_dose_unchecked(Drug(name="x", billing_unit="mg"), Decimal(1), "mg", "", None) == ""


def test_a_weight_in_lb_is_converted_to_kg() -> None:
    assert weight_in_kg(Decimal("154.32"), "lb").quantize(Decimal("0.01")) == Decimal("70.00")
    assert weight_in_kg(Decimal(70), "kg") == Decimal(70)
    assert weight_in_kg(Decimal(3500), "g") == Decimal("3.5")
    with pytest.raises(UnitMismatch):
        weight_in_kg(Decimal(11), "st")
    # 154 lb is 69.85 kg, not 154 kg: 1,050 mg is above 15 mg/kg of it.
    in_lb = Body(weight_kg=weight_in_kg(Decimal(154), "LB"))
    words = max_dose_warning(per_kg("15"), Decimal(1050), "mg", "", in_lb)
    assert "15 mg/kg × 69.85322498 kg = 1,047.7983747 mg" in words
    assert max_dose_warning(per_kg("15"), Decimal(1047), "mg", "", in_lb) == ""


def test_mcg_mg_and_g_are_converted_both_ways() -> None:
    ondansetron = per_kg("0.15")  # 0.15 mg/kg × 10 kg = 1.5 mg
    child = Body(weight_kg=Decimal(10))
    assert max_dose_warning(ondansetron, Decimal(1500), "mcg", "", child) == ""
    assert max_dose_warning(ondansetron, Decimal("0.0015"), "g", "", child) == ""
    words = max_dose_warning(ondansetron, Decimal(1501), "mcg", "", child)
    assert words.startswith("1,501 mcg is above 0.15 mg/kg × 10 kg = 1.5 mg")
    fentanyl = per_kg("2", "mcg")  # 2 mcg/kg × 70 kg = 140 mcg
    assert max_dose_warning(fentanyl, Decimal("0.14"), "mg", "", KG70) == ""
    assert "= 140 mcg" in max_dose_warning(fentanyl, Decimal("0.15"), "mg", "", KG70)


def test_a_dose_in_another_kind_of_unit_is_not_compared() -> None:
    # A volume cannot be compared with a mass per kg: DOSE-UNIT says that instead.
    assert max_dose_warning(per_kg("15"), Decimal(5000), "mL", "", KG70) == ""


def test_the_maximum_per_m2_uses_the_mosteller_bsa_and_says_what_is_missing() -> None:
    doxorubicin = per_m2("75")  # 180 cm, 80 kg: sqrt(180 × 80 / 3600) = 2 m² → 150 mg
    body = Body(weight_kg=Decimal(80), height_cm=Decimal(180))
    assert body.bsa == Decimal("2.00")
    assert max_dose_warning(doxorubicin, Decimal(150), "mg", "", body) == ""
    words = max_dose_warning(doxorubicin, Decimal(151), "mg", "", body)
    assert words.startswith("151 mg is above 75 mg/m² × 2 m² (BSA, Mosteller) = 150 mg")
    no_height = Body(weight_kg=Decimal(80))
    assert max_dose_warning(doxorubicin, Decimal(900), "mg", "", no_height) == ""
    assert max_dose_unchecked(doxorubicin, Decimal(900), "mg", "", no_height) == (
        "No height recorded for this visit: the maximum of 75 mg/m² (body surface area) "
        "cannot be checked."
    )
    assert "No height or weight recorded" in max_dose_unchecked(
        doxorubicin, Decimal(900), "mg", "", None
    )


def test_a_fixed_and_a_maximum_per_kg_are_both_checked() -> None:
    ondansetron = per_kg("0.15", max_dose_amount=Decimal(16), max_dose_unit="mg")
    ondansetron.name = "ondansetron"
    adult = KG70  # 0.15 mg/kg × 70 kg = 10.5 mg, under 16 mg
    only_kg = max_dose_warning(ondansetron, Decimal(12), "mg", "", adult)
    assert "= 10.5 mg" in only_kg and "16 mg" not in only_kg
    both = max_dose_warning(ondansetron, Decimal(20), "mg", "", adult)
    assert "maximum single dose of 16 mg for ondansetron" in both and "= 10.5 mg" in both
    # With no weight, the fixed maximum still holds; the one per kg is said not checked.
    assert "16 mg" in max_dose_warning(ondansetron, Decimal(20), "mg", "", None)
    assert max_dose_warning(ondansetron, Decimal(12), "mg", "", None) == ""


def test_a_dose_ordered_per_kg_is_compared_with_the_maximum_per_kg_as_written() -> None:
    drug = per_kg("15")
    assert max_dose_warning(drug, Decimal(15), "mg", DoseBasis.PER_KG, None) == ""
    words = max_dose_warning(drug, Decimal(20), "mg", DoseBasis.PER_KG, None)
    assert words.startswith("20 mg/kg is above the formulary's maximum single dose of 15 mg/kg")
    assert max_dose_warning(drug, Decimal(15001), "mcg", DoseBasis.PER_KG, None) != ""
    # Nothing to say missing: the weight cancels out.
    assert max_dose_unchecked(drug, Decimal(20), "mg", DoseBasis.PER_KG, None) == ""
    # Another basis (per m² against a maximum per kg, an AUC) is not compared.
    assert max_dose_warning(drug, Decimal(900), "mg", DoseBasis.PER_M2, KG70) == ""
    assert max_dose_warning(drug, Decimal(9), "", DoseBasis.AUC, KG70) == ""


_MASS = {"mcg": Decimal(1), "mg": Decimal(1000), "g": Decimal(1_000_000)}


@given(
    dose_mcg=st.decimals(min_value=Decimal(1), max_value=Decimal(10_000_000), places=0),
    weight=st.decimals(min_value=Decimal("0.5"), max_value=Decimal(400), places=2),
    height=st.decimals(min_value=Decimal(30), max_value=Decimal(250), places=2),
    limit=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(500), places=3),
    limit_unit=st.sampled_from(sorted(_MASS)),
    fixed=st.none() | st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5000), places=2),
    written=st.sampled_from(sorted(_MASS)),
    other=st.sampled_from(sorted(_MASS)),
)
def test_the_verdict_does_not_depend_on_the_unit_the_same_dose_is_written_in(
    dose_mcg, weight, height, limit, limit_unit, fixed, written, other
) -> None:
    drug = Drug(
        name="x",
        billing_unit="mg",
        max_dose_amount=fixed,
        max_dose_unit="mg" if fixed is not None else "",
        max_dose_per_kg_amount=limit,
        max_dose_per_kg_unit=limit_unit,
        max_dose_per_m2_amount=limit * 30,
        max_dose_per_m2_unit=limit_unit,
    )
    body = Body(weight_kg=weight, height_cm=height)

    def verdict(unit: str) -> tuple[bool, int]:
        words = max_dose_warning(drug, dose_mcg / _MASS[unit], unit, "", body)
        return bool(words), words.count("Check with the prescriber")

    assert verdict(written) == verdict(other)
    # And the same as comparing in mcg by hand, for the maximum per kg.
    above = dose_mcg > limit * _MASS[limit_unit] * weight
    words = max_dose_warning(drug, dose_mcg / _MASS[written], written, "", body)
    assert (f"/kg × {weight.normalize():,f} kg" in words) == above


# --- order entry (service and views) ------------------------------------------------------------


def _vancomycin() -> Drug:
    """35 mg/kg (the demo's), and 3 g at most whatever the weight."""
    return drug(
        "vancomycin",
        "500 mg",
        max_dose_amount=Decimal(3),
        max_dose_unit="g",
        max_dose_per_kg_amount=Decimal(35),
        max_dose_per_kg_unit="mg",
    )


def _visit(user, **measured: str):
    encounter = factories.encounter_create()
    for kind, value in measured.items():
        measures.measure_chart(
            encounter=encounter, kind=kind, value=Decimal(value), method="measured",
            measured_at=timezone.now() - timedelta(minutes=5), user=user,
        )  # fmt: skip
    return encounter


VANCOMYCIN_FORM = {**FORM, "drug": "vancomycin", "dose_value": "1200", "dose_unit": "mg"}


@pytest.mark.django_db
def test_the_visits_charted_weight_is_the_one_checked(nurse_user, clerk_user) -> None:
    vancomycin = _vancomycin()
    encounter = _visit(nurse_user, weight_kg="30")
    body = visit_body(encounter, vancomycin)
    assert body == Body(weight_kg=Decimal("30.00"))
    # A drug with no maximum by body size reads no measures.
    assert visit_body(encounter, saline()) is None
    problems = order_dose_problems(entry(vancomycin, "1200", "mg"), body)
    assert problems["dose_value"] == [
        "1,200 mg is above 35 mg/kg × 30 kg = 1,050 mg, the formulary's maximum single dose of "
        "vancomycin for the weight recorded. Check with the prescriber."
    ]
    with pytest.raises(ValidationError) as refused:
        order_enter(encounter=encounter, entry=entry(vancomycin, "1200", "mg"), user=clerk_user)
    assert "35 mg/kg × 30 kg" in refused.value.message_dict["dose_value"][0]
    order = order_enter(
        encounter=encounter,
        entry=entry(vancomycin, "1200", "mg", dose_confirmed=True),
        user=clerk_user,
    )
    confirmed = order.overrides.get(kind=SafetyOverride.Kind.DOSE)
    assert "35 mg/kg × 30 kg = 1,050 mg" in confirmed.message


@pytest.mark.django_db
def test_the_clerk_is_warned_with_the_basis_and_enters_it_once_confirmed(
    client_as, nurse_user
) -> None:
    _vancomycin()
    encounter = _visit(nurse_user, weight_kg="30")
    url = reverse("registration:order_new", args=[encounter.pk])
    client = client_as(roles.CLERK)
    refused = client.post(url, {**VANCOMYCIN_FORM, "entry_key": "a" * 32})
    html = refused.content.decode()
    assert "1,200 mg is above 35 mg/kg × 30 kg = 1,050 mg" in unescape(
        field_error(html, "dose_value")
    )
    assert 'type="checkbox" name="dose_confirm"' in html
    assert 'name="dose_value" value="1200"' in html
    assert not Order.objects.filter(encounter=encounter).exists()
    entered = client.post(
        url, {**VANCOMYCIN_FORM, "entry_key": "b" * 32, "dose_confirm": "on"}, follow=True
    )
    assert "The dose/unit warning you confirmed goes with it" in entered.content.decode()
    order = Order.objects.get(encounter=encounter)
    assert order.overrides.get().kind == SafetyOverride.Kind.DOSE
    # Within the maximum for the weight: entered with nothing asked.
    client.post(url, {**VANCOMYCIN_FORM, "dose_value": "1000", "entry_key": "c" * 32})
    assert Order.objects.filter(encounter=encounter, dose_value=1000).exists()


@pytest.mark.django_db
def test_with_no_weight_the_order_is_entered_saying_it_cannot_be_checked_and_the_queue_flags_it(
    client_as,
) -> None:
    _vancomycin()
    encounter = factories.encounter_create()
    url = reverse("registration:order_new", args=[encounter.pk])
    entered = client_as(roles.CLERK).post(
        url, {**VANCOMYCIN_FORM, "entry_key": "d" * 32}, follow=True
    )
    page = unescape(entered.content.decode())
    assert "No weight recorded for this visit: the maximum of 35 mg/kg cannot be checked." in page
    order = Order.objects.get(encounter=encounter)
    assert not order.overrides.exists()  # a note: nothing was asked to confirm
    pharmacist = client_as(roles.PHARMACIST)
    html = unescape(pharmacist.get(reverse("pharmacy:orders")).content.decode())
    row = html.split(f'id="order-{order.pk}"')[1].split("</tr>")[0]
    assert 'data-dose-check="1"' in html.split(f'id="order-{order.pk}"')[1][:120]
    assert "Dose not checked" in row and "No weight recorded for this visit" in row
    assert "Check dose" not in row
    review = unescape(
        pharmacist.get(reverse("pharmacy:order_review", args=[order.pk])).content.decode()
    )
    assert 'data-testid="review-dose-unchecked"' in review and "35 mg/kg" in review


@pytest.mark.django_db
def test_a_refused_form_says_the_maximum_not_checked_beside_the_dose(client_as) -> None:
    _vancomycin()
    encounter = factories.encounter_create()
    url = reverse("registration:order_new", args=[encounter.pk])
    typed = {**VANCOMYCIN_FORM, "indication": "", "entry_key": "e" * 32}
    html = unescape(client_as(roles.CLERK).post(url, typed).content.decode())
    slot = html.split('data-testid="dose_value-dose-check">')[1].split("</div></div>")[0]
    assert "No weight recorded for this visit: the maximum of 35 mg/kg cannot be checked." in slot
    assert 'data-testid="dose-note"' in slot
    assert 'type="hidden" name="dose_confirm"' in html  # not asked: a note


@pytest.mark.django_db
def test_the_live_check_says_the_basis_or_the_missing_weight_beside_the_dose(
    client_as, nurse_user
) -> None:
    _vancomycin()
    client = client_as(roles.NURSE)
    weighed = _visit(nurse_user, weight_kg="30")
    said = said_beside(live(client, weighed, VANCOMYCIN_FORM).content.decode())
    assert "1,200 mg is above 35 mg/kg × 30 kg = 1,050 mg" in said["dose_value"]
    unweighed = factories.encounter_create()
    html = live(client, unweighed, VANCOMYCIN_FORM).content.decode()
    said = said_beside(html)
    assert said["dose_value"] == (
        "No weight recorded for this visit: the maximum of 35 mg/kg cannot be checked."
    )
    assert 'type="hidden" name="dose_confirm"' in html  # a note asks no box


# --- the pharmacist's form ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_pharmacist_sets_the_maximum_by_body_size_audited(pharmacist_user) -> None:
    vancomycin = drug("vancomycin", "500 mg")
    saved = drug_max_dose_by_body_set(
        drug=vancomycin,
        per_kg_amount=Decimal(35),
        per_kg_unit="mg",
        per_m2_amount=None,
        per_m2_unit="",  # none (a unit with no amount is refused: test_max_dose_removal.py)
        user=pharmacist_user,
    )
    assert dose_check.max_doses_label(saved) == "35 mg/kg"
    assert saved.max_dose_per_m2_unit == ""
    event = EVENTS[Drug].objects.filter(pgh_obj_id=saved.pk, pgh_label="update").last()
    context = event.pgh_context.metadata
    assert context["action"] == "drug_max_dose_by_body_set"
    assert context["user"] == pharmacist_user.pk
    assert context["changes"] == {"max_dose_per_kg": ["", "35 mg/kg"]}
    assert event.max_dose_per_kg_amount == Decimal(35)
    with pytest.raises(ValidationError) as unchanged:
        drug_max_dose_by_body_set(
            drug=saved, per_kg_amount=Decimal(35), per_kg_unit="mg",
            per_m2_amount=None, per_m2_unit="", user=pharmacist_user,
        )  # fmt: skip
    assert "Nothing to change" in unchanged.value.message_dict["max_dose_per_kg_amount"][0]


KG, M2 = "max_dose_per_kg", "max_dose_per_m2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "field", "said"),
    [
        ({f"{KG}_amount": "-1", f"{KG}_unit": "mg"}, f"{KG}_amount", "above zero"),
        ({f"{KG}_amount": "abc", f"{KG}_unit": "mg"}, f"{KG}_amount", "is a number"),
        ({f"{KG}_amount": "15", f"{KG}_unit": ""}, f"{KG}_unit", "Choose the unit"),
        ({f"{M2}_amount": "0", f"{M2}_unit": "mg"}, f"{M2}_amount", "above zero"),
        ({f"{M2}_amount": "2", f"{M2}_unit": "mL"}, f"{M2}_unit", "without its concentration"),
    ],
)
def test_bad_input_is_said_beside_the_field_with_what_was_typed_kept(
    client_as, typed, field, said
) -> None:
    found = drug("vancomycin", "500 mg")
    url = reverse("pharmacy:drug_max_dose_by_body", args=[found.pk])
    refused = client_as(roles.PHARMACIST).post(url, typed)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert said in field_error(html, field)
    for name, value in typed.items():
        if value and name.endswith("amount"):
            assert f'name="{name}" value="{value}"' in html
    found.refresh_from_db()
    assert dose_check.max_doses_label(found) == ""


@pytest.mark.django_db
def test_the_drug_page_form_sets_it_and_shows_it(client_as) -> None:
    found = drug("doxorubicin", "10 mg", DrugClass.CHEMO)
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug_max_dose_by_body", args=[found.pk])
    posted = {"max_dose_per_m2_amount": "75", "max_dose_per_m2_unit": "mg"}
    assert client.post(url, posted).status_code == 302
    page = client.get(reverse("pharmacy:drug", args=[found.pk])).content.decode()
    assert 'data-testid="drug-max-dose-by-body">75 mg/m²' in page
    # A hydration fluid's maximum in mg is refused, as the fixed one is.
    fluid = saline()
    refused = client.post(
        reverse("pharmacy:drug_max_dose_by_body", args=[fluid.pk]),
        {"max_dose_per_kg_amount": "5", "max_dose_per_kg_unit": "mg"},
    )
    assert "hydration fluid" in field_error(refused.content.decode(), "max_dose_per_kg_unit")


@pytest.mark.django_db
@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_a_pharmacist_sets_the_maximum_by_body_size(client_as, role) -> None:
    found = drug("vancomycin", "500 mg")
    url = reverse("pharmacy:drug_max_dose_by_body", args=[found.pk])
    posted = {"max_dose_per_kg_amount": "1", "max_dose_per_kg_unit": "mg"}
    assert client_as(role).post(url, posted).status_code == 403
    assert Drug.objects.get(pk=found.pk).max_dose_per_kg_amount is None


@pytest.mark.django_db
def test_the_maximum_by_body_size_takes_only_posts_with_the_csrf_token(pharmacist_user) -> None:
    found = drug("vancomycin", "500 mg")
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    url = reverse("pharmacy:drug_max_dose_by_body", args=[found.pk])
    posted = {"max_dose_per_kg_amount": "1", "max_dose_per_kg_unit": "mg"}
    assert client.post(url, posted).status_code == 403


@pytest.mark.django_db
def test_the_demo_gives_maxima_by_body_size_keeping_a_pharmacists_own() -> None:
    drug("ondansetron", "1 mg")
    drug("vancomycin", "500 mg", max_dose_per_kg_amount=Decimal(30), max_dose_per_kg_unit="mg")
    drug("doxorubicin", "10 mg", DrugClass.CHEMO)
    demo_max_doses_ensure()
    assert dose_check.max_doses_label(Drug.objects.get(name="ondansetron")) == "16 mg; 0.15 mg/kg"
    assert dose_check.max_dose_per_kg_label(Drug.objects.get(name="vancomycin")) == "30 mg/kg"
    assert dose_check.max_doses_label(Drug.objects.get(name="doxorubicin")) == "75 mg/m²"
