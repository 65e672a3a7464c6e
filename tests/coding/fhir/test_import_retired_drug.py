"""A FHIR import's MedicationRequest naming a drug retired from the formulary is refused with
the OperationOutcome saying when and why (mar/pharmacy/retired.py), not taken as a new,
untagged drug of the same name."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from mar.models import Drug, Order, Patient
from mar.pharmacy.services import drug_retire
from tests import factories
from tests.coding.fhir.bundles import chemo_visit_bundle

pytestmark = pytest.mark.django_db

BASE = "/fhir/R4/"


def test_a_medication_request_of_a_retired_drug_is_refused_saying_why(
    importer, pharmacist_user
) -> None:
    """The visit (2 March) came after the retirement (1 February): a new order of it."""
    factories.drug_get("sodium chloride 0.9%", "hydration")
    factories.drug_get("paclitaxel", "chemo")
    ondansetron = drug_retire(
        drug=factories.drug_get("ondansetron"), reason="Shortage", user=pharmacist_user
    )
    Drug.objects.filter(pk=ondansetron.pk).update(retired_at=datetime(2026, 2, 1, 12, tzinfo=UTC))
    ondansetron.refresh_from_db()
    response = importer.post(BASE, chemo_visit_bundle())
    assert response.status_code == 400, response.json()
    said = " ".join(i["diagnostics"] for i in response.json()["issue"])
    day = f"{timezone.localdate(ondansetron.retired_at):%Y-%m-%d}"
    assert f"ondansetron is retired from the formulary ({day}, Shortage)" in said
    assert not Patient.objects.filter(mrn="EXT-501").exists() and not Order.objects.exists()
    assert Drug.objects.filter(name__iexact="ondansetron").count() == 1


def test_a_past_visits_order_written_before_the_retirement_is_imported_as_it_was(
    importer, pharmacist_user
) -> None:
    """A visit charted in another system before the drug was retired here (2 March; retired
    today): its order is that record's history, not a new order, and is imported with it."""
    factories.drug_get("sodium chloride 0.9%", "hydration")
    factories.drug_get("paclitaxel", "chemo")
    ondansetron = drug_retire(
        drug=factories.drug_get("ondansetron"), reason="Shortage", user=pharmacist_user
    )
    response = importer.post(BASE, chemo_visit_bundle())
    assert response.status_code in (200, 201), response.json()
    assert Order.objects.filter(drug=ondansetron, encounter__patient__mrn="EXT-501").exists()
    assert Drug.objects.filter(name__iexact="ondansetron").count() == 1
