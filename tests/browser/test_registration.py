"""A clerk registers a patient, opens a visit and enters an order in real Chromium: the
formulary and ICD-10 searches fill the fields' suggestions as she types, a duplicate MRN and a
bad NPI come back beside their fields, and the order waits for pharmacy."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from mar.models import Encounter, Order, Patient
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def error_beside(page, field: str) -> str:
    return page.locator(
        f"#id_{field} ~ .invalid-feedback, #id_{field} + .invalid-feedback"
    ).first.inner_text()


def test_a_clerk_registers_opens_a_visit_and_enters_an_order(browser_page, live_server) -> None:
    page = browser_page
    factories.user_create(username="clerk", role="clerk")
    factories.patient_create(mrn="B-1", name="Taken, Already")
    drug = factories.drug_get("oxaliplatin", "chemo")
    drug.synonyms = "Eloxatin"
    drug.save()
    sign_in(page, live_server, "clerk")
    assert page.url.endswith("/registration/")

    page.fill("#patient-q", "B-1")
    page.click("text=Find")
    page.click("text=Register a new patient")
    page.fill("#id_mrn", "B-1")
    page.fill("#id_name", "Okonkwo, Grace")
    page.fill("#id_birth_date", "1970-05-14")
    page.select_option("#id_sex", "F")
    page.fill("#id_allergies", "carboplatin (rash)")
    page.click("button:has-text('Register')")
    assert "already registered" in error_beside(page, "mrn")
    page.screenshot(path=str(ARTIFACTS / "registration-duplicate-mrn.png"), full_page=True)
    page.fill("#id_mrn", "B-2")
    page.click("button:has-text('Register')")
    page.wait_for_selector("text=Registered Okonkwo, Grace")
    patient = Patient.objects.get(mrn="B-2")
    assert (patient.sex, patient.allergies) == ("F", "carboplatin (rash)")

    page.click("text=Open a visit")
    arrived = (timezone.now() - timedelta(hours=1)).astimezone(ZoneInfo(settings.TIME_ZONE))
    page.fill("#id_location_label", "12")
    page.fill("#id_attending", "Dr. Amara Okafor")
    page.fill("#id_arrived_at", arrived.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_account_number", "V-555")
    page.click("button:has-text('Open the visit')")
    page.wait_for_selector("text=Visit opened")
    encounter = Encounter.objects.get(patient=patient)

    page.click("text=Enter an order")
    # htmx binds the drug field's search when the page has loaded: typed before (a loaded
    # machine, the scripts deferred), the input event finds nothing listening
    page.wait_for_load_state("load")
    page.fill("#id_drug", "elox")
    page.wait_for_selector("#drug-options option", state="attached")
    assert page.eval_on_selector("#drug-options option", "o => o.value") == "oxaliplatin"
    page.fill("#id_drug", "oxaliplatin")
    page.fill("#id_dose_value", "85")
    page.select_option("#id_dose_basis", "per_m2")
    page.fill("#id_duration_minutes", "120")
    page.fill("#id_indication", "sigmoid")
    page.wait_for_selector("#icd10-options option", state="attached")
    suggestion = page.eval_on_selector("#icd10-options option", "o => o.value")
    assert suggestion.startswith("C18.7")
    page.fill("#id_indication", suggestion)
    page.fill("#id_ordering_provider", "Dr. Amara Okafor")
    page.fill("#id_ordering_provider_npi", "1234567890")
    page.select_option("#id_entry_method", "verbal")
    page.click("button:has-text('Enter the order')")
    assert "check digit" in error_beside(page, "ordering_provider_npi")
    page.screenshot(path=str(ARTIFACTS / "registration-order-error.png"), full_page=True)
    page.fill("#id_ordering_provider_npi", "1234567893")
    page.click("button:has-text('Enter the order')")
    page.wait_for_selector("text=waiting for pharmacy")
    page.screenshot(path=str(ARTIFACTS / "registration-visit.png"), full_page=True)
    order = Order.objects.get(encounter=encounter)
    assert (order.dose, order.indication_code, order.entry_method) == (
        "85 mg/m²",
        "C18.7",
        "verbal",
    )
    assert order.verified_by is None
