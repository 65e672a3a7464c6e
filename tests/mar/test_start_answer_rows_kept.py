"""A start's answer draws the orders' rows as the chart page keeps them (mar/chart_cards.py
`orders_draw`, issue 19): the started order's row, given now, is drawn once and kept, so the next
load of the chart builds none of its forms; when the answer sends the whole orders section (the
visit's first order given) the rows unchanged since the last load come from the cache. What the
answer sends must be, byte for byte but the CSRF token and the Start form's key, the row the page
draws afresh, whether it moves to the orders given or is morphed in place (given again).
"""

import re
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from mar import chart_cards, chart_context, roles
from mar.chart_cards import CACHE
from mar.forms import StartForm
from mar.models import DrugClass, Encounter, Order
from tests import factories

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _plain(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'value="[0-9a-f]{32}" id="id_o\d+-request_key"', "", html)


def _row(html: str, order: Order) -> str:
    """The order's row as drawn: its opening tag to the `</div>` that closes it."""
    start = html.index(f'<div class="order-row" id="order-{order.pk}"')
    depth = 0
    for tag in re.finditer(r"<div\b|</div>", html[start:]):
        depth += 1 if tag.group(0) == "<div" else -1
        if depth == 0:
            return html[start : start + tag.end()]
    raise AssertionError(f"the row of order {order.pk} is not closed")


def _fresh_page(client, encounter: Encounter) -> str:
    """The page drawn with nothing kept (nor read from or put into the cache)."""
    with mock.patch.object(chart_cards, "KEEP", False):
        return _plain(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())


def _start(client, encounter: Encounter, order: Order, site) -> str:
    data = {f"o{order.pk}-method": "infusion", f"o{order.pk}-at": "", f"o{order.pk}-site": site.pk}
    url = reverse("mar:order_start", args=[encounter.pk, order.pk])
    response = client.post(url, data, **HX)
    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"
    return response.content.decode()


def _stop_running(encounter: Encounter) -> None:
    for adm in encounter.administrations.filter(stop__isnull=True):
        adm.stop = timezone.now()
        adm.version += 1
        adm.save(update_fields=["stop", "version"])


def test_a_starts_answer_sends_the_row_the_page_draws_and_keeps_it_for_the_next_load(
    client_as,
) -> None:
    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    hydration = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    first = factories.order_create(encounter, hydration, indication="E86.0", dose="1000 mL")
    second = factories.order_create(
        encounter, factories.drug_get(f"testdrug-{uuid.uuid4().hex[:8]}")
    )
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    assert client.get(url).status_code == 200  # the rows drawn and kept

    # The visit's first order given: the section is sent whole; the other row is the kept one.
    with mock.patch.object(chart_cards, "_draw_order", wraps=chart_cards._draw_order) as drawn:
        answer = _plain(_start(client, encounter, first, site))
    assert drawn.call_count == 1  # the started row only: the other came from the cache
    page = _fresh_page(client, encounter)
    for order in (first, second):
        assert _row(answer, order) == _row(page, order)

    # The page loaded next builds no Start form: both rows are kept (the started one by the start).
    with mock.patch.object(chart_context, "StartForm", wraps=StartForm) as built:
        after = client.get(url)
    assert after.status_code == 200 and built.call_count == 0
    _stop_running(encounter)

    # A second order given: its row moves into the orders given, drawn as the page draws it.
    answer = _plain(_start(client, encounter, second, site))
    assert f'<div id="order-{second.pk}" hx-swap-oob="delete"></div>' in answer
    assert _row(answer, second) == _row(_fresh_page(client, encounter), second)
    with mock.patch.object(chart_context, "StartForm", wraps=StartForm) as built:
        client.get(url)
    assert built.call_count == 0  # the moved row was kept by the start

    # Given again: morphed in place, the kept row's opening tag carrying the swap.
    _stop_running(encounter)
    client.get(url)
    answer = _plain(_start(client, encounter, first, site))
    sent = _row(answer, first)
    assert sent.count('hx-swap-oob="morph"') == 1
    assert sent.startswith(
        f'<div class="order-row" id="order-{first.pk}" data-testid="order-row" hx-swap-oob="morph">'
    )
    page_row = _row(_fresh_page(client, encounter), first)
    assert sent.replace(' hx-swap-oob="morph"', "", 1) == page_row


def test_a_chart_with_orders_given_builds_no_start_form_for_its_kept_rows(client_as) -> None:
    """The orders given open when a start given again was refused: asked of the forms the nurse
    sent only (`sent_with_errors`), not by building every given order's Start form and safety
    checks at every load of the chart."""
    from mar import care_forms
    from mar.care_forms import StartChecksForm

    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    hydration = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    order = factories.order_create(encounter, hydration, indication="E86.0", dose="1000 mL")
    client = client_as(roles.NURSE)
    _start(client, encounter, order, site)
    _stop_running(encounter)
    url = reverse("mar:encounter", args=[encounter.pk])
    caches[CACHE].clear()
    assert 'id="orders-given">' in client.get(url).content.decode()  # drawn, folded
    with (
        mock.patch.object(chart_context, "StartForm", wraps=StartForm) as start,
        mock.patch.object(care_forms, "StartChecksForm", wraps=StartChecksForm) as checks,
    ):
        again = client.get(url).content.decode()
    assert (start.call_count, checks.call_count) == (0, 0)
    assert 'id="orders-given">' in again
