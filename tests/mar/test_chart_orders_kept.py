"""The chart's order rows kept drawn while what they show is unchanged (mar/chart_cards.py,
`orders_draw`, issue 19).

A kept row must never say anything other than the row drawn afresh: after what changes an order's
row (the pharmacist verifying it, returning it to the prescriber and withdrawing the return; the
nurse marking it not given or undoing that; the patient's allergies recorded; a dose calculated
per kg, per m² or by AUC and the measures it needs recorded, its note changing or going; the
sites the Start form offers; a start moving it to the orders given; the signature) as well as
every change of the cards' machine, the chart page drawn with rows kept is the page drawn with
the cache cleared and the page drawn with nothing kept, byte for byte but the CSRF tokens and the
Start forms' keys. Each drawn Start form still carries a key of its own: a key kept from an
earlier load would make a later start return the first one's administration.
"""

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from mar import chart_cards
from mar.chart_cards import CACHE
from mar.models import DrugClass, Encounter, Order
from mar.pharmacy.services import order_return, order_return_withdraw, order_verify
from mar.services import charting, measures
from tests import factories
from tests.mar.test_chart_cards import Chart
from tests.mar.test_chart_life_properties import Refused as CardRefused

pytestmark = pytest.mark.django_db

Refused = (*CardRefused, ValidationError)

KEY = re.compile(r'value="([0-9a-f]{32})" id="id_o(\d+)-request_key"')


def order_rows(page: str) -> list[str]:
    return re.findall(r'<div class="order-row".*?(?=<div class="order-row"|</section>)', page, re.S)


class ChartOrders(Chart):
    """The cards' machine with what changes an order's row."""

    @rule(which=st.integers(0, 1))
    def pharmacist_verifies(self, which: int) -> None:
        try:
            order_verify(order=self._order(which), user=self.pharmacist, allergy_reason="known")
        except Refused:
            pass

    @rule(which=st.integers(0, 1))
    def pharmacist_returns(self, which: int) -> None:
        try:
            order_return(order=self._order(which), reason="dose too high", user=self.pharmacist)
        except Refused:
            pass

    @rule(which=st.integers(0, 1))
    def pharmacist_withdraws_the_return(self, which: int) -> None:
        try:
            order_return_withdraw(
                order=self._order(which), reason="prescriber confirmed", user=self.pharmacist
            )
        except Refused:
            pass

    @rule(which=st.integers(0, 1), disposition=st.sampled_from(["", "held", "refused"]))
    def not_given(self, which: int, disposition: str) -> None:
        try:
            charting.order_disposition_set(
                order=self._order(which), disposition=disposition,
                reason="patient declined" if disposition else "", user=self.nurse,
                addendum_why="told after the visit" if self.signed else "",
            )  # fmt: skip
        except Refused:
            pass

    @rule(allergies=st.sampled_from(["", "penicillin (hives)", "sulfa"]))
    def allergies_recorded(self, allergies: str) -> None:
        patient = self.encounter.patient
        patient.allergies = allergies
        patient.save(update_fields=["allergies"])

    @precondition(lambda self: not self.signed)  # the ordering system's change, before signing
    @rule(which=st.integers(0, 1), dose=st.sampled_from(["8 mg", "10 mg/kg", "AUC 5", "75 mg/m²"]))
    def dose_rewritten(self, which: int, dose: str) -> None:
        """A dose calculated per kg, per m² or by AUC: its row's note says the measures this
        visit has not recorded (safety.calculated_dose_note)."""
        Order.objects.filter(pk=self.orders[which].pk).update(dose=dose)

    @rule(
        kind=st.sampled_from(["weight_kg", "height_cm", "creatinine_mg_dl"]),
        sex=st.sampled_from(["", "F"]),
    )
    def measure_recorded(self, kind: str, sex: str) -> None:
        """A measure charted (the note on the rows of calculated doses changes or goes), or the
        patient's sex recorded or not (an AUC's Cockcroft-Gault needs it)."""
        patient = self.encounter.patient
        patient.sex, patient.birth_date = sex, date(1960, 1, 1)
        patient.save(update_fields=["sex", "birth_date"])
        value = {"weight_kg": "70", "height_cm": "170", "creatinine_mg_dl": "1.0"}[kind]
        encounter = Encounter.objects.get(pk=self.encounter.pk)  # signed since: refused
        try:
            measures.measure_chart(
                encounter=encounter, kind=kind, value=Decimal(value),
                measured_at=min(self.clock, timezone.now()), method="measured", user=self.nurse,
            )  # fmt: skip
        except Refused:
            pass

    @precondition(lambda self: not self.signed)
    @rule()
    def site_added(self) -> None:
        factories.site_create(self.encounter, placed_at=self.clock)

    def _order(self, which: int) -> Order:
        return Order.objects.select_related("encounter__patient", "drug").get(
            pk=self.orders[which].pk
        )


def test_a_kept_order_row_is_the_row_drawn_afresh_after_any_change() -> None:
    run_state_machine_as_test(
        ChartOrders,
        settings=settings(
            max_examples=10,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_each_kept_start_form_carries_a_key_of_its_own(client_as) -> None:
    """A row kept from an earlier load is sent with this load's key (a double tap of one form
    starts one administration; two loads must never share a key)."""
    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    hydration = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    factories.order_create(encounter, hydration, indication="E86.0", dose="1000 mL")
    factories.order_create(encounter, factories.drug_get(f"testdrug-{uuid.uuid4().hex[:8]}"))
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    first = client.get(url).content.decode()
    with mock_render() as render:
        second = client.get(url).content.decode()
    assert render.call_count == 0  # both rows kept
    keys_first, keys_second = KEY.findall(first), KEY.findall(second)
    assert len(keys_first) == len(keys_second) == 2
    assert not {k for k, _ in keys_first} & {k for k, _ in keys_second}
    assert len({k for k, _ in keys_second}) == 2


def test_a_returned_order_shows_on_its_kept_row(client_as) -> None:
    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    order = factories.order_create(encounter, factories.drug_get(f"testdrug-{uuid.uuid4().hex}"))
    pharmacist = factories.user_create(username=f"rph-{uuid.uuid4().hex}", role="pharmacist")
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    assert "Returned by pharmacy" not in client.get(url).content.decode()
    order_return(order=order, reason="dose too high", user=pharmacist)
    page = client.get(url).content.decode()
    (row,) = order_rows(page)
    assert "Returned by pharmacy:</strong> dose too high" in row
    assert 'data-testid="start" disabled' in row


def mock_render():
    from unittest import mock

    return mock.patch.object(chart_cards, "_draw_order", wraps=chart_cards._draw_order)


def test_a_kept_order_row_builds_none_of_its_forms(client_as) -> None:
    """What keeping a row saves: its Start form and its "not given" form (each a deep copy of
    its fields) are not built when the row is kept (mar/lazy_forms.py)."""
    from unittest import mock

    from mar import chart_context
    from mar.forms import DispositionForm, StartForm

    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    factories.site_create(encounter, placed_at=now - timedelta(hours=1))
    factories.order_create(encounter, factories.drug_get(f"testdrug-{uuid.uuid4().hex[:8]}"))
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    built = {}
    for load in ("first", "again"):
        with (
            mock.patch.object(chart_context, "StartForm", wraps=StartForm) as start,
            mock.patch.object(chart_context, "DispositionForm", wraps=DispositionForm) as dform,
        ):
            assert client.get(url).status_code == 200
        built[load] = (start.call_count, dform.call_count)
    assert built == {"first": (1, 1), "again": (0, 0)}
