"""The pharmacist verifies the order as the nurse will give it: the duration or rate the clerk
(or the ordering system) gave is shown beside the dose and route, on the queue's row and on the
order's review page (QA: both said "1 g · IV", the 60 or 120 minutes ordered not shown). One
wording, the chart's (mar/services/safety.py `order_run_text`): 'over 60 min', 'at 125 mL/h'."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Order
from mar.services.safety import order_now_text, order_run_text
from tests import factories
from tests.mar.pharmacy.queue_helpers import row_of

pytestmark = pytest.mark.django_db


def cefazolin_order(**fields: object) -> Order:
    encounter = factories.encounter_create(arrived_at=timezone.now())
    return factories.order_create(
        encounter, factories.drug_get("cefazolin"), dose="1 g", indication="A41.9", **fields
    )


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"duration_minutes": 60}, "over 60 min"),
        ({"duration_minutes": 120}, "over 120 min"),
        ({"rate_value": Decimal("125.0000"), "rate_unit": "mL/h"}, "at 125 mL/h"),
        (
            {"duration_minutes": 30, "rate_value": Decimal("2.5"), "rate_unit": "mg/h"},
            "over 30 min · at 2.5 mg/h",
        ),
        ({}, ""),
    ],
    ids=["60-min", "120-min", "rate", "both", "push"],
)
def test_the_run_is_said_as_the_chart_says_it(fields, said) -> None:
    order = cefazolin_order(**fields)
    assert order_run_text(order) == said
    assert order_now_text(order) == " · ".join(p for p in ("cefazolin 1 g", "IV", said) if p)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"duration_minutes": 60}, "over 60 min"),
        ({"rate_value": Decimal("125"), "rate_unit": "mL/h"}, "at 125 mL/h"),
    ],
    ids=["duration", "rate"],
)
def test_the_queue_row_shows_the_duration_or_rate_beside_the_dose(client_as, fields, said) -> None:
    order = cefazolin_order(**fields)
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = row_of(html, order)
    assert f'1 g · IV · <span class="text-nowrap" data-testid="order-run">{said}</span>' in row
    assert "<th>Dose · route · duration or rate</th>" in html


def test_a_queue_row_with_neither_shows_dose_and_route_only(client_as) -> None:
    order = cefazolin_order()
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = row_of(html, order)
    assert "1 g · IV" in row and 'data-testid="order-run"' not in row


@pytest.mark.parametrize("minutes", [60, 120])
def test_the_review_page_shows_the_duration_ordered(client_as, minutes) -> None:
    order = cefazolin_order(duration_minutes=minutes)
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:order_review", args=[order.pk]))
    html = response.content.decode()
    assert (
        '<tr><th>Duration or rate</th><td data-testid="review-run">'
        f"<strong>over {minutes} min</strong></td></tr>"
    ) in html


def test_the_review_page_says_when_no_duration_or_rate_was_ordered(client_as) -> None:
    order = cefazolin_order()
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:order_review", args=[order.pk]))
    assert (
        '<td data-testid="review-run"><span class="text-body-secondary">none ordered</span></td>'
    ) in response.content.decode()
