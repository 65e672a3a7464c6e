"""How an order is given is not guessed at its start (QA: ondansetron 4 mg IV, an order with no
duration, no rate and no push words, started as an infusion by default and showed "Running").

- The Start form preselects the method only when the order says it (`forms.ordered_method`):
  a duration or a rate -> infusion; "IV push", IVP, bolus -> push; SQ/IM -> injection.
- Otherwise Method shows "Choose: push or infusion", and a start without a choice is refused
  beside the field ("Choose how it is given: push or infusion."), what she typed kept, nothing
  started. The order row says "Not verified by pharmacy" before Start when it is not.
"""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.forms import METHOD_UNSAID
from mar.models import Administration
from tests import factories

pytestmark = pytest.mark.django_db


def _unsaid_order():
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=1))
    site = factories.site_create(encounter, placed_at=now - timedelta(minutes=50))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="4 mg")
    return now, encounter, site, order


def _method_select(html: str, order_pk: int) -> str:
    select = html[html.index(f'name="o{order_pk}-method"') :]
    return select[: select.index("</select>")]


def test_an_order_that_does_not_say_shows_choose_and_not_verified_before_start(
    client_as,
) -> None:
    _now, encounter, _site, order = _unsaid_order()
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    html = html.decode()
    select = _method_select(html, order.pk)
    assert '<option value="" selected>Choose: push or infusion</option>' in select
    assert select.count("selected") == 1  # nothing else preselected
    row = html[html.index(f'id="order-{order.pk}"') :]
    assert row.index('data-testid="order-unverified"') < row.index('data-testid="start"')
    assert "Not verified by pharmacy" in row[: row.index('data-testid="start"')]


def test_a_start_without_a_method_is_refused_beside_method_and_keeps_what_was_typed(
    client_as,
) -> None:
    now, encounter, site, order = _unsaid_order()
    typed = (now - timedelta(minutes=5)).astimezone(encounter.zone).strftime("%Y-%m-%d %H:%M")
    client = client_as(roles.NURSE)
    url = reverse("mar:order_start", args=[encounter.pk, order.pk])
    html = unescape(
        client.post(url, {f"o{order.pk}-site": site.pk, f"o{order.pk}-at": typed}).content.decode()
    )
    assert not Administration.objects.filter(encounter=encounter).exists()
    beside = html[html.index(f'id="error_1_id_o{order.pk}-method"') :][:300]
    assert METHOD_UNSAID in beside
    assert f'value="{typed}"' in html
    site_select = html[html.index(f'name="o{order.pk}-site"') :]
    assert f'<option value="{site.pk}" selected>' in site_select[: site_select.index("</select>")]
    # Chosen, it starts as she chose.
    client.post(
        url, {f"o{order.pk}-method": "push", f"o{order.pk}-site": site.pk, f"o{order.pk}-at": typed}
    )
    adm = Administration.objects.get(encounter=encounter)
    assert adm.method == Administration.Method.PUSH
    assert adm.stop is None and not adm.is_running  # a push is never "Running"


def test_an_order_with_a_duration_still_starts_as_an_infusion_in_one_tap(client_as) -> None:
    _now, encounter, site, order = _unsaid_order()
    order.duration_minutes = 15
    order.save(update_fields=["duration_minutes"])
    client = client_as(roles.NURSE)
    html = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert '<option value="infusion" selected>' in _method_select(html, order.pk)
    client.post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "infusion", f"o{order.pk}-site": site.pk},
    )
    assert Administration.objects.get(encounter=encounter).method == "infusion"
