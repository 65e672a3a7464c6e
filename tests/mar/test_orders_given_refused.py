"""A start of an order given before sits under the folded "Orders already given" (give again). When
it is refused by one of the start's safety checks (chemotherapy without the second nurse's double
check, a high-alert order not verified without an emergency reason), the chart is drawn with that
section open, so the refusal beside the check is in front of the nurse, also on a plain post
(no htmx) where the whole page is drawn again."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from mar.models import Administration
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

GIVEN = re.compile(r'<details class="mt-1" id="orders-given"( open)?>')


def start_data(html: str, order_pk: int) -> dict[str, str]:
    data = {f"o{order_pk}-method": "infusion"}
    for name in ("request_key", "order_revision"):
        found = re.search(rf'name="o{order_pk}-{name}" value="([^"]*)"', html)
        assert found is not None, f"the start form carries {name}"
        data[f"o{order_pk}-{name}"] = found[1]
    return data


@pytest.mark.parametrize("htmx", [False, True], ids=["plain post", "htmx"])
def test_a_give_again_refused_by_a_safety_check_draws_orders_already_given_open(htmx) -> None:
    encounter, adm = running_visit()  # carboplatin, given (running), not verified
    client = Client()
    client.force_login(factories.user_create(username="nurse-g", role="nurse"))
    url = reverse("mar:encounter", args=[encounter.pk])
    html = client.get(url).content.decode()
    assert GIVEN.search(html)[1] is None  # folded while nothing is refused
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(
        reverse("mar:order_start", args=[encounter.pk, adm.order_id]),
        start_data(html, adm.order_id),
        headers=headers,
    )
    page = response.content.decode()
    found = GIVEN.search(page)
    assert found is not None and found[1] == " open", "the refusal is not folded away"
    assert "Chemotherapy needs an independent double check" in page  # said beside the check
    assert Administration.objects.filter(order_id=adm.order_id).count() == 1  # not started
