"""The pharmacist's pages read a fixed number of queries however long their lists grow."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.pharmacy.services import drug_class_change, order_verify
from mar.services.measures import measure_chart
from tests import factories

pytestmark = pytest.mark.django_db


def add_items(n: int, pharmacist) -> None:
    """n untagged drugs with orders, n tagged drugs with a class change, n verified and n
    unverified orders."""
    for i in range(n):
        untagged = factories.drug_get(f"untagged {n}-{i}", None)
        tagged = factories.drug_get(f"tagged {n}-{i}", "therapeutic")
        drug_class_change(drug=tagged, to_class="chemo", reason="r", user=pharmacist)
        encounter = factories.encounter_create()
        factories.order_create(encounter, untagged)
        order_verify(order=factories.order_create(encounter, tagged), user=pharmacist)


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["pharmacy:worklist", "pharmacy:formulary", "pharmacy:orders"])
def test_the_page_has_a_fixed_number_of_queries(client_as, pharmacist_user, name: str) -> None:
    client = client_as(roles.PHARMACIST)
    add_items(1, pharmacist_user)
    client.get(reverse(name))  # the session's first push of its idle expiry (config/session.py)
    few = queries(client, reverse(name))
    add_items(6, pharmacist_user)
    assert queries(client, reverse(name)) == few


def add_calculated_orders(n: int, nurse) -> None:
    """n visits with a dose per kg and no weight, n with an AUC dose and a weight only, n with a
    dose per m² and both its measures: each row's note reads its own visit's measures."""
    for i in range(n):
        drug = factories.drug_get(f"calculated {n}-{i}", "chemo")
        factories.order_create(factories.encounter_create(), drug, dose="10 mg/kg")
        weighed = factories.encounter_create()
        measure(weighed, nurse, weight_kg="70")
        factories.order_create(weighed, drug, dose="AUC 5")
        measured = factories.encounter_create()
        measure(measured, nurse, height_cm="170", weight_kg="70")
        factories.order_create(measured, drug, dose="175 mg/m2")


def measure(encounter, user, **values: str) -> None:
    for kind, value in values.items():
        measure_chart(
            encounter=encounter, kind=kind, value=Decimal(value), method="measured",
            measured_at=timezone.now() - timedelta(minutes=5), user=user,
        )  # fmt: skip


def test_the_queue_reads_the_rows_measures_in_one_query_however_many_rows_need_them(
    client_as, nurse_user
) -> None:
    """A calculated dose's note on each row (safety.calculated_dose_notes): every listed visit's
    measures are read in one statement, not one a row."""
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:orders")
    add_calculated_orders(1, nurse_user)
    client.get(url)  # the session's first push of its idle expiry (config/session.py)
    few = queries(client, url)
    add_calculated_orders(6, nurse_user)
    html = client.get(url).content.decode()
    assert html.count('data-testid="order-dose-measures-note"') == 14  # per kg and AUC, 7 each
    assert queries(client, url) == few


def test_a_queue_without_calculated_doses_reads_no_measures(client_as, pharmacist_user) -> None:
    """Fixed doses only: nothing to check, no statement for the measures."""
    client = client_as(roles.PHARMACIST)
    add_items(2, pharmacist_user)
    client.get(reverse("pharmacy:orders"))
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("pharmacy:orders"))
    assert not any("mar_patientmeasure" in q["sql"] for q in captured.captured_queries)
