"""A maximum single dose (the fixed one, pharmacy:drug_max_dose, and by body size,
pharmacy:drug_max_dose_by_body) is removed only on purpose: a unit chosen with the amount left
empty is refused beside the amount, the maximum kept (QA: "16 mg → (none)", removed unawares);
the amount and unit both empty remove it, and the message after says it was removed."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from mar import roles
from mar.models import Drug
from mar.pharmacy.services import (
    MAX_DOSE_AMOUNT_MISSING,
    drug_max_dose_by_body_set,
    drug_max_dose_set,
)
from mar.services import dose_check
from tests.mar.registration.test_order_dose_check import drug, ondansetron
from tests.mar.registration.test_views import field_error

pytestmark = pytest.mark.django_db


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def vancomycin_by_body() -> Drug:
    return drug(
        "vancomycin",
        "500 mg",
        max_dose_per_kg_amount=Decimal(20),
        max_dose_per_kg_unit="mg",
        max_dose_per_m2_amount=Decimal(800),
        max_dose_per_m2_unit="mg",
    )


# --- the fixed maximum -------------------------------------------------------------------


def test_a_unit_with_no_amount_is_refused_beside_the_amount_and_the_maximum_kept(
    client_as,
) -> None:
    found = ondansetron()
    client = client_as(roles.PHARMACIST)
    refused = client.post(
        reverse("pharmacy:drug_max_dose", args=[found.pk]),
        {"max_dose_amount": "", "max_dose_unit": "mg"},
    )
    assert refused.status_code == 400
    assert MAX_DOSE_AMOUNT_MISSING in field_error(refused.content.decode(), "max_dose_amount")
    assert '<option value="mg" selected>' in refused.content.decode()  # what was chosen stays
    assert dose_check.max_dose_label(Drug.objects.get(pk=found.pk)) == "16 mg"
    assert said(refused) == []


def test_the_amount_and_unit_both_empty_remove_it_and_say_so(client_as) -> None:
    found = ondansetron()
    client = client_as(roles.PHARMACIST)
    removed = client.post(
        reverse("pharmacy:drug_max_dose", args=[found.pk]),
        {"max_dose_amount": "", "max_dose_unit": ""},
    )
    assert removed.status_code == 302 and removed.url.endswith("#max-dose")
    assert dose_check.max_dose_label(Drug.objects.get(pk=found.pk)) == ""
    (message,) = said(removed)
    assert "16 mg removed" in message and "no maximum is kept" in message
    assert "(none)" not in message
    # Removed already: both empty again is "nothing to change", beside the amount.
    again = client.post(
        reverse("pharmacy:drug_max_dose", args=[found.pk]),
        {"max_dose_amount": "", "max_dose_unit": ""},
    )
    assert "Nothing to change" in field_error(again.content.decode(), "max_dose_amount")


def test_a_changed_maximum_is_said_from_and_to(client_as) -> None:
    found = ondansetron()
    changed = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_max_dose", args=[found.pk]),
        {"max_dose_amount": "24", "max_dose_unit": "mg"},
    )
    assert said(changed) == ["Maximum single dose of ondansetron: 16 mg → 24 mg."]


def test_the_service_refuses_a_unit_with_no_amount_too(pharmacist_user) -> None:
    """The service decides, whatever way in: a unit alone is not read as "none"."""
    with pytest.raises(ValidationError) as exc:
        drug_max_dose_set(drug=ondansetron(), amount=None, unit="mg", user=pharmacist_user)
    assert exc.value.message_dict == {"max_dose_amount": [MAX_DOSE_AMOUNT_MISSING]}
    drug_max_dose_set(drug=ondansetron(), amount=None, unit=" ", user=pharmacist_user)
    assert dose_check.max_dose_label(Drug.objects.get(name="ondansetron")) == ""


# --- by body size --------------------------------------------------------------------------


@pytest.mark.parametrize("per", ["per_kg", "per_m2"])
def test_by_body_a_unit_with_no_amount_is_refused_beside_that_amount(client_as, per) -> None:
    found = vancomycin_by_body()
    posted = {
        "max_dose_per_kg_amount": "20",
        "max_dose_per_kg_unit": "mg",
        "max_dose_per_m2_amount": "800",
        "max_dose_per_m2_unit": "mg",
        f"max_dose_{per}_amount": "",
    }
    refused = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_max_dose_by_body", args=[found.pk]), posted
    )
    assert refused.status_code == 400
    html = refused.content.decode()
    assert MAX_DOSE_AMOUNT_MISSING in field_error(html, f"max_dose_{per}_amount")
    found.refresh_from_db()
    assert dose_check.max_doses_label(found) == "20 mg/kg; 800 mg/m²"


def test_by_body_both_empty_remove_that_one_and_say_so(client_as) -> None:
    found = vancomycin_by_body()
    removed = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_max_dose_by_body", args=[found.pk]),
        {
            "max_dose_per_kg_amount": "",
            "max_dose_per_kg_unit": "",
            "max_dose_per_m2_amount": "800",
            "max_dose_per_m2_unit": "mg",
        },
    )
    assert removed.status_code == 302
    found.refresh_from_db()
    assert dose_check.max_doses_label(found) == "800 mg/m²"
    (message,) = said(removed)
    assert "per kg: 20 mg/kg removed" in message and "Now: 800 mg/m²" in message


def test_by_body_the_service_refuses_each_unit_with_no_amount(pharmacist_user) -> None:
    with pytest.raises(ValidationError) as exc:
        drug_max_dose_by_body_set(
            drug=vancomycin_by_body(),
            per_kg_amount=None,
            per_kg_unit="mg",
            per_m2_amount=None,
            per_m2_unit="mg",
            user=pharmacist_user,
        )
    assert exc.value.message_dict == {
        "max_dose_per_kg_amount": [MAX_DOSE_AMOUNT_MISSING],
        "max_dose_per_m2_amount": [MAX_DOSE_AMOUNT_MISSING],
    }


def test_the_drug_page_shows_each_maximum_as_written_not_stored(client_as) -> None:
    # Stored with four decimals (Decimal("16.0000")): the fields show 16, 20 and 800, as the
    # label above them says them (QA: "3.0000" and "35.0000" in the pharmacist's fields).
    found = vancomycin_by_body()
    Drug.objects.filter(pk=found.pk).update(max_dose_amount=Decimal("2.5000"), max_dose_unit="g")
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[found.pk]))
    html = page.content.decode()
    for name, shown in (
        ("max_dose_amount", "2.5"),
        ("max_dose_per_kg_amount", "20"),
        ("max_dose_per_m2_amount", "800"),
    ):
        assert f'name="{name}" value="{shown}"' in html, name
