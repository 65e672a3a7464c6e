"""The Django admin cannot change the formulary behind the pharmacy's services.

A drug's NDCs, class, billing data, name and retirement change only through
mar/pharmacy/services.py (checked, audited with their reason, the charges that read them
regenerated or flagged: coding/formulary_changes.py). Before, the admin registered `DrugNdc`
(and an inline on the drug) and `Drug` as plain ModelAdmins: an admin changed an NDC's unit or
deleted it, or re-classed a drug, and no charge followed. Now the admin shows them read-only,
pointing to the pharmacist's page, and keeps editable only what no pharmacy page edits (a drug's
high-alert flag; its allergy classes are set on its page: tests/mar/pharmacy/
test_allergy_classes.py)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from mar.models import Drug, DrugClassChange, DrugNdc
from tests import factories
from tests.mar.test_admin import change_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=factories.PASSWORD))
    return client


@pytest.fixture
def drug() -> Drug:
    drug = factories.drug_get("ondansetron")
    Drug.objects.filter(pk=drug.pk).update(
        hcpcs_code="J2405", billing_unit_amount=Decimal("1"), billing_unit="mg"
    )
    drug.refresh_from_db()
    return drug


@pytest.fixture
def ndc(drug) -> DrugNdc:
    return DrugNdc.objects.create(
        drug=drug, ndc="00409488802", unit="ML", package_description="2 mL vial", preferred=True
    )


def as_stored(ndc: DrugNdc) -> tuple:
    return (
        DrugNdc.objects.filter(pk=ndc.pk)
        .values_list(
            "ndc", "unit", "units_per_billing_unit", "package_description", "preferred", "active"
        )
        .first()
    )


def test_the_admin_cannot_change_an_ndc(admin, ndc) -> None:
    before = as_stored(ndc)
    url = f"/admin/mar/drugndc/{ndc.pk}/change/"
    page = admin.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html  # view only
    assert reverse("pharmacy:drug", args=[ndc.drug_id]) in html  # where it is changed
    forged = {
        "drug": ndc.drug_id,
        "ndc": "00409488899",
        "unit": "UN",
        "units_per_billing_unit": "5",
        "package_description": "changed behind pharmacy's back",
        "preferred": "on",
        "active": "on",
    }
    assert admin.post(url, forged).status_code == 403
    assert as_stored(ndc) == before


def test_the_admin_cannot_delete_or_add_an_ndc(admin, ndc, drug) -> None:
    assert admin.post(f"/admin/mar/drugndc/{ndc.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.post(
        "/admin/mar/drugndc/",
        {"action": "delete_selected", "_selected_action": [ndc.pk], "post": "yes"},
    ).status_code in (200, 302)
    assert DrugNdc.objects.filter(pk=ndc.pk).exists()
    added = {"drug": drug.pk, "ndc": "00409488810", "unit": "UN", "active": "on"}
    assert admin.post("/admin/mar/drugndc/add/", added).status_code == 403
    assert not DrugNdc.objects.filter(ndc="00409488810").exists()


def test_the_drugs_admin_page_changes_no_ndc_class_or_billing_data(admin, drug, ndc) -> None:
    """The drug's page posted with its NDC inline, class, HCPCS and retirement changed: none
    of them changes (no DrugClassChange, no charge left reading the old data); the one field
    no pharmacy page edits, high-alert, is still the admin's."""
    before_ndc = as_stored(ndc)
    url = f"/admin/mar/drug/{drug.pk}/change/"
    page = admin.get(url)
    assert reverse("pharmacy:drug", args=[drug.pk]) in page.content.decode()
    data = change_form_data(page)
    data |= {"drug_class": "chemo", "hcpcs_code": "J9999", "name": "renamed", "high_alert": "on"}
    for key in list(data):
        if key.endswith("-units_per_billing_unit"):
            data[key] = "7"
        if key.endswith("-unit"):
            data[key] = "UN"
        if key.endswith("-DELETE"):
            data[key] = "on"
    data["ndcs-TOTAL_FORMS"] = "2"  # and a package added in the inline's blank row
    data |= {"ndcs-1-ndc": "00409488810", "ndcs-1-unit": "UN", "ndcs-1-active": "on"}
    response = admin.post(url, data)
    assert response.status_code == 302
    stored = Drug.objects.get(pk=drug.pk)
    assert (stored.name, stored.drug_class, stored.hcpcs_code) == (
        "ondansetron",
        drug.drug_class,
        "J2405",
    )
    assert stored.high_alert is True
    assert as_stored(ndc) == before_ndc
    assert list(DrugNdc.objects.values_list("ndc", flat=True)) == ["00409488802"]
    assert not DrugClassChange.objects.exists()


def test_the_admin_cannot_add_or_delete_a_drug(admin, drug) -> None:
    assert admin.post("/admin/mar/drug/add/", {"name": "new drug"}).status_code == 403
    assert not Drug.objects.filter(name="new drug").exists()
    assert admin.post(f"/admin/mar/drug/{drug.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Drug.objects.filter(pk=drug.pk).exists()
