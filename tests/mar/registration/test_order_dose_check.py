"""The dose and unit checks of order entry (QA: ondansetron 4 g IV, vancomycin 1000 mL IV and
sodium chloride 0.9% 1000 mg at 250 mcg/min were all entered with no warning, and the
pharmacist's queue showed them with a plain Verify).

DOSE-UNIT (the dose's unit is of the kind the drug is dosed in), DOSE-RATE (the rate's unit fits
the drug) and DOSE-MAX (above the formulary's maximum single dose) are warnings a person confirms
(`dose_confirm`, recorded as a SafetyOverride of kind "dose": who and when), never a refusal;
an interface's order is entered unasked and flagged to the pharmacist, as is a confirmed one."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from mar import roles
from mar.demo import demo_max_doses_ensure
from mar.models import Drug, DrugClass, EntryMethod, Order, Route, SafetyOverride
from mar.pharmacy.services import drug_max_dose_set
from mar.registration.services import OrderEntry, order_dose_problems, order_enter
from mar.services import dose_check
from tests import factories
from tests.mar.registration.test_views import field_error

pytestmark = pytest.mark.django_db


def drug(name: str, billing_unit: str, drug_class: str = DrugClass.THERAPEUTIC, **more) -> Drug:
    amount, unit = billing_unit.split()
    fields = {
        "drug_class": drug_class,
        "billing_unit_amount": Decimal(amount),
        "billing_unit": unit,
        **more,
    }
    found, _ = Drug.objects.update_or_create(name=name, defaults=fields)
    return found


def ondansetron() -> Drug:
    return drug("ondansetron", "1 mg", max_dose_amount=Decimal(16), max_dose_unit="mg")


def vancomycin() -> Drug:
    return drug("vancomycin", "500 mg", max_dose_amount=Decimal(3), max_dose_unit="g")


def saline() -> Drug:
    return drug("sodium chloride 0.9%", "1000 mL", DrugClass.HYDRATION)


def entry(of: Drug, value: str, unit: str, **fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": of,
        "dose_value": Decimal(value),
        "dose_unit": unit,
        "route": Route.IV,
        "indication": "R11.2",
        "ordering_provider": "Dr Who",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.VERBAL,
    }
    values.update(fields)
    return OrderEntry(**values)


# --- the checks (service) -------------------------------------------------------------------


def test_dose_max_warns_above_the_formularys_maximum_converting_the_unit() -> None:
    problems = order_dose_problems(entry(ondansetron(), "4", "g"))
    assert problems["dose_value"] == [
        "4 g is above the formulary's maximum single dose of 16 mg for ondansetron. "
        "Check with the prescriber."
    ]
    assert "dose_confirm" in problems
    assert order_dose_problems(entry(ondansetron(), "16", "mg")) == {}
    assert order_dose_problems(entry(ondansetron(), "16000", "mcg")) == {}


def test_dose_max_is_not_compared_for_a_calculated_dose_or_without_a_maximum() -> None:
    assert order_dose_problems(entry(ondansetron(), "40", "mg", dose_basis="per_kg")) == {}
    assert order_dose_problems(entry(drug("dexamethasone", "1 mg"), "400", "mg")) == {}


def test_dose_unit_warns_a_mass_billed_drug_dosed_by_volume_without_concentration() -> None:
    problems = order_dose_problems(entry(vancomycin(), "1000", "mL"))
    assert problems["dose_unit"] == [
        "vancomycin is dosed as a mass (mg, g or mcg) (billed per 500 mg): a dose in mL gives "
        "no amount of drug without its concentration. Give the dose as the amount of drug."
    ]
    assert "dose_value" not in problems  # mL cannot be compared with the maximum in g


def test_dose_unit_warns_a_hydration_fluid_dosed_by_mass() -> None:
    problems = order_dose_problems(entry(saline(), "1000", "mg"))
    assert problems["dose_unit"] == [
        "sodium chloride 0.9% is a hydration fluid, dosed as a volume (mL or L): a dose in mg "
        "is a mass (mg, g or mcg). Check the unit."
    ]


def test_dose_unit_warns_units_for_a_mass_drug_and_accepts_the_drugs_kind() -> None:
    assert "dose_unit" in order_dose_problems(entry(ondansetron(), "4", "units"))
    assert order_dose_problems(entry(saline(), "1", "L")) == {}
    assert order_dose_problems(entry(drug("heparin", "10 units"), "5000", "units")) == {}


def test_dose_unit_is_not_checked_for_a_drug_without_a_billing_unit_or_an_auc() -> None:
    untyped, _ = Drug.objects.get_or_create(name="novelumab")
    assert order_dose_problems(entry(untyped, "10", "mL")) == {}
    assert order_dose_problems(entry(drug("carboplatin", "50 mg"), "5", "", dose_basis="auc")) == {}


def test_dose_rate_warns_a_fluid_at_a_mass_rate() -> None:
    problems = order_dose_problems(
        entry(saline(), "1000", "mL", rate_value=Decimal(250), rate_unit="mcg/min")
    )
    assert problems["rate_unit"] == [
        "sodium chloride 0.9% is a hydration fluid: its rate is a volume over time (mL/h), "
        "not mcg/min. Check the rate's unit."
    ]
    assert "dose_unit" not in problems


def test_dose_rate_accepts_a_drug_by_volume_or_its_own_kind_and_warns_another() -> None:
    bag = {"rate_value": Decimal(100)}
    assert order_dose_problems(entry(vancomycin(), "1", "g", rate_unit="mL/h", **bag)) == {}
    assert order_dose_problems(entry(vancomycin(), "1", "g", rate_unit="mg/h", **bag)) == {}
    problems = order_dose_problems(entry(vancomycin(), "1", "g", rate_unit="units/h", **bag))
    assert list(problems) == ["rate_unit", "dose_confirm"]


def test_the_qa_orders_each_warn_and_are_not_entered_unconfirmed(clerk_user) -> None:
    encounter = factories.encounter_create()
    for unconfirmed in (
        entry(ondansetron(), "4", "g"),
        entry(vancomycin(), "1000", "mL", duration_minutes=60),
        entry(saline(), "1000", "mg", rate_value=Decimal(250), rate_unit="mcg/min"),
    ):
        with pytest.raises(ValidationError) as exc:
            order_enter(encounter=encounter, entry=unconfirmed, user=clerk_user)
        assert "dose_confirm" in exc.value.message_dict
    assert not Order.objects.filter(encounter=encounter).exists()


def test_confirmed_it_is_entered_and_the_confirm_recorded_with_who_and_what(clerk_user) -> None:
    encounter = factories.encounter_create()
    order = order_enter(
        encounter=encounter,
        entry=entry(ondansetron(), "4", "g", dose_confirmed=True),
        user=clerk_user,
    )
    confirm = SafetyOverride.objects.get(order=order)
    assert confirm.kind == SafetyOverride.Kind.DOSE and confirm.by == clerk_user
    assert confirm.message.startswith("At order entry: 4 g is above the formulary's maximum")


def test_an_order_without_warning_records_no_confirm_even_ticked(clerk_user) -> None:
    order = order_enter(
        encounter=factories.encounter_create(),
        entry=entry(ondansetron(), "8", "mg", dose_confirmed=True),
        user=clerk_user,
    )
    assert not order.overrides.exists()


def test_an_interface_order_is_entered_unasked_and_flagged_for_the_pharmacist() -> None:
    order = order_enter(
        encounter=factories.encounter_create(),
        entry=entry(ondansetron(), "4", "g", entry_method=EntryMethod.ELECTRONIC),
        user=None,
    )
    assert not order.overrides.exists()
    assert dose_check.order_dose_warnings(order) == [
        "4 g is above the formulary's maximum single dose of 16 mg for ondansetron. "
        "Check with the prescriber."
    ]


# --- the clerk's form (view) ----------------------------------------------------------------

FORM = {
    "drug": "ondansetron",
    "dose_value": "4",
    "dose_unit": "g",
    "dose_basis": "",
    "route": "iv",
    "duration_minutes": "15",
    "rate_value": "",
    "rate_unit": "mL/h",
    "indication": "R11.2",
    "ordering_provider": "Dr. Amara Okafor",
    "ordering_provider_npi": "1234567893",
    "entry_method": "written",
}


def test_the_clerk_sees_the_warning_beside_the_dose_with_what_was_typed_kept(client_as) -> None:
    ondansetron()
    encounter = factories.encounter_create()
    url = reverse("registration:order_new", args=[encounter.pk])
    response = client_as(roles.CLERK).post(url, {**FORM, "entry_key": "1" * 32})
    assert response.status_code == 200
    html = response.content.decode()
    assert "maximum single dose of 16 mg for ondansetron" in field_error(html, "dose_value")
    assert "Check with the prescriber" in field_error(html, "dose_confirm")
    assert 'type="checkbox" name="dose_confirm"' in html
    assert 'name="dose_value" value="4"' in html and 'value="g" selected' in html
    assert not Order.objects.filter(encounter=encounter).exists()


def test_the_confirm_box_enters_it_and_says_the_pharmacist_sees_it(client_as) -> None:
    ondansetron()
    encounter = factories.encounter_create()
    url = reverse("registration:order_new", args=[encounter.pk])
    client = client_as(roles.CLERK)
    posted = {**FORM, "entry_key": "2" * 32, "dose_confirm": "on"}
    response = client.post(url, posted, follow=True)
    order = Order.objects.get(encounter=encounter)
    assert order.dose == "4 g"
    assert "The dose/unit warning you confirmed goes with it" in response.content.decode()
    assert order.overrides.get().kind == SafetyOverride.Kind.DOSE


def test_the_confirm_box_is_hidden_when_nothing_warns(client_as) -> None:
    ondansetron()
    encounter = factories.encounter_create()
    html = (
        client_as(roles.CLERK)
        .get(reverse("registration:order_new", args=[encounter.pk]))
        .content.decode()
    )
    assert 'type="hidden" name="dose_confirm"' in html


# --- the pharmacist ---------------------------------------------------------------------------


def test_the_queue_flags_a_confirmed_order_with_who_and_the_review_page_says_it(
    client_as, clerk_user
) -> None:
    order = order_enter(
        encounter=factories.encounter_create(),
        entry=entry(vancomycin(), "1000", "mL", dose_confirmed=True),
        user=clerk_user,
    )
    plain = order_enter(
        encounter=factories.encounter_create(),
        entry=entry(ondansetron(), "8", "mg"),
        user=clerk_user,
    )
    client = client_as(roles.PHARMACIST)
    html = client.get(reverse("pharmacy:orders")).content.decode()
    row = html.split(f'id="order-{order.pk}"')[1].split("</tr>")[0]
    assert 'data-dose-check="1"' in html.split(f'id="order-{order.pk}"')[1][:80]
    assert "Check dose" in row and "without its concentration" in row
    assert "Confirmed at order entry by <strong>clerk1</strong>" in row
    assert "✓ Verify: dose checked" in row
    plain_row = html.split(f'id="order-{plain.pk}"')[1].split("</tr>")[0]
    assert "Check dose" not in plain_row
    review = client.get(reverse("pharmacy:order_review", args=[order.pk])).content.decode()
    assert 'data-testid="review-dose-check"' in review and "clerk1" in review


def test_the_queue_flags_an_interface_order_as_confirmed_by_no_one(client_as) -> None:
    order = order_enter(
        encounter=factories.encounter_create(),
        entry=entry(saline(), "1000", "mg", entry_method=EntryMethod.ELECTRONIC),
        user=None,
    )
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = html.split(f'id="order-{order.pk}"')[1].split("</tr>")[0]
    assert "hydration fluid" in row and "no one confirmed it at entry" in row


# --- the formulary's maximum (pharmacist) -----------------------------------------------------


def test_the_pharmacist_sets_the_maximum_audited_and_it_warns_from_then(pharmacist_user) -> None:
    saved = drug_max_dose_set(
        drug=drug("morphine", "10 mg"), amount=Decimal(10), unit="mg", user=pharmacist_user
    )
    assert dose_check.max_dose_label(saved) == "10 mg"
    assert "dose_value" in order_dose_problems(entry(saved, "15", "mg"))
    drug_max_dose_set(drug=saved, amount=None, unit="", user=pharmacist_user)
    assert order_dose_problems(entry(Drug.objects.get(pk=saved.pk), "15", "mg")) == {}


def test_a_maximum_of_another_kind_or_unchanged_is_refused_beside_the_field(
    pharmacist_user,
) -> None:
    with pytest.raises(ValidationError) as exc:
        drug_max_dose_set(drug=saline(), amount=Decimal(5), unit="mg", user=pharmacist_user)
    assert "hydration fluid" in exc.value.message_dict["max_dose_unit"][0]
    with pytest.raises(ValidationError) as exc:
        drug_max_dose_set(drug=ondansetron(), amount=Decimal(16), unit="mg", user=pharmacist_user)
    assert "Nothing to change" in exc.value.message_dict["max_dose_amount"][0]


def test_the_drug_page_form_sets_it_and_says_a_refusal_beside_the_field(client_as) -> None:
    found = ondansetron()
    url = reverse("pharmacy:drug_max_dose", args=[found.pk])
    client = client_as(roles.PHARMACIST)
    refused = client.post(url, {"max_dose_amount": "-1", "max_dose_unit": "mg"})
    assert refused.status_code == 400
    assert "above zero" in field_error(refused.content.decode(), "max_dose_amount")
    assert 'value="-1"' in refused.content.decode()
    assert client.post(url, {"max_dose_amount": "24", "max_dose_unit": "mg"}).status_code == 302
    page = client.get(reverse("pharmacy:drug", args=[found.pk])).content.decode()
    assert 'data-testid="drug-max-dose">24 mg' in page


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_a_pharmacist_sets_the_maximum(client_as, role) -> None:
    found = ondansetron()
    url = reverse("pharmacy:drug_max_dose", args=[found.pk])
    assert (
        client_as(role).post(url, {"max_dose_amount": "1", "max_dose_unit": "mg"}).status_code
        == 403
    )
    assert Drug.objects.get(pk=found.pk).max_dose_amount == Decimal(16)


def test_the_maximum_takes_only_posts_with_the_csrf_token(pharmacist_user) -> None:
    found = ondansetron()
    url = reverse("pharmacy:drug_max_dose", args=[found.pk])
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    assert client.post(url, {"max_dose_amount": "1", "max_dose_unit": "mg"}).status_code == 403


def test_the_demo_gives_the_demo_drugs_their_maximum_keeping_a_pharmacists_own() -> None:
    """The demo command calls it (tests/config/test_demo_on_sqlite.py runs the command)."""
    drug("ondansetron", "1 mg")
    drug("vancomycin", "500 mg", max_dose_amount=Decimal(2), max_dose_unit="g")
    demo_max_doses_ensure()
    assert dose_check.max_dose_label(Drug.objects.get(name="ondansetron")) == "16 mg"
    assert dose_check.max_dose_label(Drug.objects.get(name="vancomycin")) == "2 g"
