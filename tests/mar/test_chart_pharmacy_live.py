"""A chart learns of a pharmacy return or its withdrawal through its checklist poll (bedside
finding 3). The chart's orders carry the orders it shows returned (`returned_shown`, included in
the checklist's 60-second GET); when the encounter's returned orders are no longer those, the
poll's answer says so (`HX-Trigger: mar:chart-stale`) and static/js/chart.js draws the chart
again, morphed in: a withdrawn return's Start now is offered again without a reload, a new
return's disabled. The poll reads the returned orders in its one statement (PostgreSQL)."""

import json

import pytest
from django.urls import reverse

from mar import roles
from mar.pharmacy.services import order_return, order_return_withdraw
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
REASON = "Dose over the maximum for BSA 1.6 m2: please review"


def _stale(response) -> bool:
    trigger = response.headers.get("HX-Trigger")
    return bool(trigger) and "mar:chart-stale" in json.loads(trigger)


def test_the_chart_says_which_orders_it_shows_returned_and_the_poll_sends_them(
    client_as,
) -> None:
    pharmacist = factories.user_create(username="pharmacist-l", role=roles.PHARMACIST)
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    order_return(order=order, reason=REASON, user=pharmacist)
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    html = page.content.decode()
    assert (
        f'<input type="hidden" id="orders-returned" name="returned_shown" value="{order.pk}"'
        in html
    )
    assert 'hx-include="#orders-returned"' in html


def test_the_poll_says_the_chart_is_stale_when_a_return_is_withdrawn_or_made(client_as) -> None:
    pharmacist = factories.user_create(username="pharmacist-m", role=roles.PHARMACIST)
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    order_return(order=order, reason=REASON, user=pharmacist)
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_checklist", args=[encounter.pk])
    assert not _stale(client.get(url, {"returned_shown": str(order.pk)}, **HX))
    order_return_withdraw(order=order, reason="prescriber confirmed", user=pharmacist)
    withdrawn = client.get(url, {"returned_shown": str(order.pk)}, **HX)
    assert withdrawn.status_code == 200 and _stale(withdrawn)
    assert not _stale(client.get(url, {"returned_shown": ""}, **HX))  # drawn again: current
    order_return(order=order, reason=REASON, user=pharmacist)
    assert _stale(client.get(url, {"returned_shown": ""}, **HX))
    # A poll that does not say (a signed chart, an older page) is not told.
    assert not _stale(client.get(url, **HX))


def test_the_poll_reads_the_returned_orders_without_a_statement_of_its_own(client_as) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("read in the encounter's statement on PostgreSQL only")
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_checklist", args=[encounter.pk])
    client.get(url, **HX)  # the summary stored
    with CaptureQueriesContext(connection) as without:
        client.get(url, **HX)
    with CaptureQueriesContext(connection) as asked:
        client.get(url, {"returned_shown": ""}, **HX)
    assert len(asked) == len(without)
