"""An order not given (bedside issue, item 5): the nurse documents it as not given, held or
refused with a reason (who and when recorded, audit history kept); the bridge hands it to the
engine's record as the order's "disposition" and "disposition_reason"; the checklist's DOC-6
item jumps to the field; an IV-push order starts as a push."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse

from mar import roles
from mar.audit.models import EVENTS
from mar.chart_context import _order_anchor
from mar.forms import ordered_method
from mar.models import Addendum, Administration, Order
from mar.record import record_dict_from_encounter
from mar.services import charting
from mar.services.charting import ChartError
from mar.services.signature import signature_store
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def held_order(encounter):
    return factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_an_order_held_with_a_reason_is_recorded_with_who_and_when_and_reaches_the_record(
    nurse_user,
) -> None:
    encounter, _adm = running_visit()
    order = held_order(encounter)
    charting.order_disposition_set(
        order=order, disposition="held", reason=" nausea settled ", user=nurse_user
    )
    order.refresh_from_db()
    assert (order.disposition, order.disposition_reason) == ("held", "nausea settled")
    assert order.disposition_by == nurse_user and order.disposition_at is not None
    record_order = next(
        o for o in record_dict_from_encounter(encounter)["orders"] if o["id"] == f"O{order.pk}"
    )
    assert record_order["disposition"] == "held"
    assert record_order["disposition_reason"] == "nausea settled"
    events = EVENTS[Order].objects.filter(pgh_obj_id=order.pk).order_by("pgh_id")
    assert [e.disposition for e in events] == ["", "held"]


def test_a_disposition_needs_a_reason_and_can_be_undone(nurse_user) -> None:
    encounter, _adm = running_visit()
    order = held_order(encounter)
    with pytest.raises(ChartError) as refused:
        charting.order_disposition_set(
            order=order, disposition="refused", reason="  ", user=nurse_user
        )
    assert "reason" in refused.value.errors
    charting.order_disposition_set(
        order=order, disposition="refused", reason="patient declined", user=nurse_user
    )
    charting.order_disposition_set(order=order, disposition="", reason="", user=nurse_user)
    order.refresh_from_db()
    assert (order.disposition, order.disposition_reason, order.disposition_by) == ("", "", None)
    assert "disposition" not in next(
        o for o in record_dict_from_encounter(encounter)["orders"] if o["id"] == f"O{order.pk}"
    )


def test_on_a_signed_record_a_disposition_is_an_addendum(nurse_user) -> None:
    encounter, adm = running_visit()
    order = held_order(encounter)
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start)
    charting.order_disposition_set(
        order=order, disposition="not_given", reason="ran out of time", user=nurse_user
    )
    signature_store(encounter=encounter, user=nurse_user)
    with pytest.raises(ChartError):
        charting.order_disposition_set(
            order=order, disposition="held", reason="held for BP", user=nurse_user
        )
    charting.order_disposition_set(
        order=order,
        disposition="held",
        reason="held for BP",
        user=nurse_user,
        addendum_why="wrong word charted",
    )
    addendum = Addendum.objects.get(encounter=encounter)
    assert "Not given (ran out of time) -> Held (held for BP)" in addendum.what


def test_the_view_charts_it_with_htmx_and_refuses_a_missing_reason_beside_the_field(
    client_as,
) -> None:
    encounter, _adm = running_visit()
    order = held_order(encounter)
    client = client_as(roles.NURSE)
    url = reverse("mar:order_disposition", args=[encounter.pk, order.pk])
    html = client.post(url, {f"d{order.pk}-disposition": "held"}, **HX).content.decode()
    assert f'id="id_d{order.pk}-reason"' in html and "Say why it was not given" in html
    order.refresh_from_db()
    assert order.disposition == ""
    html = client.post(
        url, {f"d{order.pk}-disposition": "held", f"d{order.pk}-reason": "BP 80/50"}, **HX
    ).content.decode()
    assert 'data-testid="order-disposition"' in html and "BP 80/50" in html
    assert "ondansetron: held charted." in html
    order.refresh_from_db()
    assert order.disposition == "held"


def test_a_doc6_item_jumps_to_the_orders_disposition_or_reason_field() -> None:
    record = SimpleNamespace(orders=[SimpleNamespace(id="O7"), SimpleNamespace(id="O12")])
    assert _order_anchor(record, "orders[1].disposition") == "id_d12-disposition"
    assert _order_anchor(record, "orders[0].disposition_reason") == "id_d7-reason"
    assert _order_anchor(record, "orders[5].disposition") == ""
    assert _order_anchor(record, "stop") == ""


@pytest.mark.parametrize(
    ("dose", "route", "extra", "method"),
    [
        ("8 mg IV push", "iv", {}, "push"),
        ("10 mg IVP", "iv", {}, "push"),
        ("4 mg bolus", "iv", {"duration_minutes": 15}, "push"),
        ("175 mg/m2", "iv", {"duration_minutes": 180}, "infusion"),
        ("1000 mL", "iv", {"rate_value": Decimal(250), "rate_unit": "mL/h"}, "infusion"),
        ("1000 mL", "iv", {"purpose": Order.Purpose.HYDRATION}, "infusion"),
        ("40 mg", "sq", {}, "injection"),
        ("10 mg", "im", {}, "injection"),
        # The order does not say: not guessed, the nurse chooses (QA: ondansetron 4 mg IV).
        ("4 mg", "iv", {}, ""),
        ("175 mg/m2", "iv", {}, ""),
    ],
)
def test_the_start_preselects_the_method_only_when_the_order_says_it(
    dose: str, route: str, extra: dict[str, object], method: str
) -> None:
    assert ordered_method(Order(dose=dose, route=route, **extra)) == method


def test_the_order_row_preselects_push_and_shows_the_ordered_duration_and_rate(client_as) -> None:
    encounter, _adm = running_visit()
    push = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg IV push")
    timed = held_order(encounter)
    Order.objects.filter(pk=timed.pk).update(duration_minutes=30, rate_value=100, rate_unit="mL/h")
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    html = html.decode()
    select = html[html.index(f'name="o{push.pk}-method"') :]
    assert '<option value="push" selected>' in select[: select.index("</select>")]
    assert "over 30 min · at 100 mL/h" in html


def test_the_not_given_form_is_built_only_where_it_is_drawn(client_as, nurse_user) -> None:
    """Issue 19: "Not given / held / refused" is offered on an order not given, or one so marked;
    an order given has no such form, and none is built for it. What the page draws is unchanged."""
    from mar.chart_context import chart_context
    from mar.forms import DispositionForm

    encounter, adm = running_visit()
    pending = held_order(encounter)
    marked = held_order(encounter)
    charting.order_disposition_set(
        order=marked, disposition="held", reason="asked", user=nurse_user
    )
    built = {order.pk: dform for order, _given, _form, dform in chart_context(encounter)["orders"]}
    assert built[adm.order_id] is None
    # offered (built at its first read: a row kept drawn builds none, mar/lazy_forms.py)
    assert isinstance(built[pending.pk]._made(), DispositionForm)
    assert isinstance(built[marked.pk]._made(), DispositionForm)
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    html = page.content.decode()
    assert f'id="order-{pending.pk}-not-given"' in html
    assert f'id="order-{marked.pk}-not-given"' in html
    assert f'id="order-{adm.order_id}-not-given"' not in html
