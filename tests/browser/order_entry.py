"""The order-entry browser tests' shared opening: a visit ready for orders, and its order form
opened by the clerk."""

from datetime import timedelta

from django.utils import timezone

from mar.models import Encounter, Patient
from mar.pharmacy.formulary import formulary_load_csv
from mar.registration.icd10 import code_list
from tests import factories
from tests.browser.conftest import sign_in


def order_entry_visit(patient: Patient | None = None) -> Encounter:
    """A visit that arrived an hour ago (of `patient`, else the factory's), the formulary and the
    ICD-10-CM list loaded afresh, and a clerk to enter its orders."""
    code_list.cache_clear()
    formulary_load_csv()
    factories.user_create(username="clerk", role="clerk")
    fields: dict[str, object] = {"arrived_at": timezone.now() - timedelta(hours=1)}
    if patient is not None:
        fields["patient"] = patient
    return factories.encounter_create(**fields)


def order_form_opened(page, live_server, visit: Encounter) -> str:
    """Signed in as the clerk, the visit's order form opened and loaded; returns its address."""
    sign_in(page, live_server, "clerk")
    url = f"{live_server.url}/registration/visits/{visit.pk}/orders/new/"
    page.goto(url)
    page.wait_for_load_state("load")
    return url
