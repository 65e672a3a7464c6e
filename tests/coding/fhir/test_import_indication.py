"""A Bundle whose MedicationRequest gives a category (C50.9) as its reason: the visit is imported
whole, the order kept with its code, and the coder's review says it is not billable (CLAIM-DX)."""

import pytest
from django.urls import reverse

from mar.models import Encounter, Order
from tests import factories
from tests.coding.fhir.bundles import chemo_visit_bundle

pytestmark = pytest.mark.django_db

BASE = "/fhir/R4/"


def test_an_order_with_a_category_is_imported_and_the_coder_sees_it(
    importer, client_as, django_capture_on_commit_callbacks
) -> None:
    factories.drug_get("sodium chloride 0.9%", "hydration")
    factories.drug_get("ondansetron")
    factories.drug_get("paclitaxel", "chemo")
    bundle = chemo_visit_bundle()
    chemo = bundle["entry"][4]["resource"]
    assert chemo["medicationCodeableConcept"] == {"text": "paclitaxel"}
    chemo["reasonCode"][0]["coding"][0]["code"] = "C50.9"
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.post(BASE, bundle)
    assert response.status_code == 200, response.json()
    encounter = Encounter.objects.get(account_number="EXT-V-501")
    assert Order.objects.get(encounter=encounter, drug__name="paclitaxel").indication_code == (
        "C50.9"
    )
    page = client_as("coder").get(reverse("coding:encounter_charges", args=[encounter.pk]))
    text = page.content.decode()
    assert "CLAIM-DX" in text
    assert "the order for paclitaxel: indication C50.9 is not a billable ICD-10-CM code" in text
