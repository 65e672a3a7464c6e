"""A dose per body surface is shown "m²" with its superscript on every screen (QA walkthrough: the
pharmacist's list said "175 mg/m2" where the order form said "per m²"): one display helper,
`mar.dosing.dose_shown` (the `dose_shown` filter in both template engines). What is stored and
what the record gives the engine and the exports stay as the order came ("175 mg/m2" from an
interface or the demo)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.dosing import dose_shown
from mar.models import BarcodeScan, DrugClass
from mar.record import record_from_encounter
from mar.registration.forms import OrderEntryForm
from tests import factories


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("175 mg/m2", "175 mg/m²"),
        ("75 mg/M2", "75 mg/m²"),
        ("75mg/m^2", "75mg/m²"),
        ("75 mg per sq m", "75 mg per m²"),
        ("2 mg/m2/h", "2 mg/m²/h"),
        ("85 mg/m²", "85 mg/m²"),
        ("AUC 5", "AUC 5"),
        ("8 mg", "8 mg"),
        ("10 mg/kg", "10 mg/kg"),
        ("1000 mL", "1000 mL"),
        ("per protocol", "per protocol"),
        ("", ""),
    ],
)
def test_a_dose_per_square_metre_is_shown_with_the_superscript(written: str, shown: str) -> None:
    assert dose_shown(written) == shown


def test_the_order_form_says_per_m2_with_the_superscript_too() -> None:
    labels = [str(label) for _value, label in OrderEntryForm().fields["dose_basis"].choices]
    assert "per m²" in labels


@pytest.mark.django_db
def test_every_screen_shows_m2_and_the_record_keeps_the_dose_as_it_came(client_as) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now())
    order = factories.order_create(
        encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="175 mg/m2"
    )
    # A drug scan matched to the order keeps its message as it was said (`str(order)`: the
    # order's text); the chart's scan panel shows it with m² too.
    nurse = factories.user_create(username="nurse-m2", role="nurse")
    scan = BarcodeScan.objects.create(
        encounter=encounter,
        kind=BarcodeScan.Kind.DRUG,
        raw="399999004106",
        result=BarcodeScan.Result.MATCH,
        message=f"Matches the order {order}: NDC 99999-0004-10.",
        order=order,
        by=nurse,
    )
    screens = [
        (roles.PHARMACIST, reverse("pharmacy:orders")),
        (roles.PHARMACIST, reverse("pharmacy:order_review", args=[order.pk])),
        (roles.NURSE, reverse("mar:encounter", args=[encounter.pk])),
        (roles.CLERK, reverse("registration:visit", args=[encounter.pk])),
    ]
    for role, url in screens:
        html = client_as(role).get(url).content.decode()
        assert "175 mg/m²" in html, url
        assert "mg/m2" not in html, url
    order.refresh_from_db()
    scan.refresh_from_db()
    assert order.dose == "175 mg/m2" and "paclitaxel 175 mg/m2:" in scan.message
    (ordered,) = [o for o in record_from_encounter(encounter).orders if o.id == f"O{order.pk}"]
    assert ordered.dose == "175 mg/m2"
