"""A confirmed duplicate order is named on the first order too (QA: "A confirmed duplicate order
is named only on the second order, and the clerk's desk visit page doesn't show it"): the
nurse's chart row, the pharmacist's queue row and review page of the first order say a later
order was confirmed as its duplicate (which, who, when); the clerk's visit page says it on both
rows. No statement added: the chart's and the desk's from the read that names the second order
(`safety.duplicate_notes_both`), the pharmacist's in the orders' own statement
(`safety.with_duplicated_by`). A second order cancelled as entered in error names nothing."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Order
from mar.registration.cancelling import order_cancel
from mar.registration.services import order_enter
from mar.services import safety
from tests.mar.registration.test_order_duplicate_confirmed import confirmed, ondansetron

pytestmark = pytest.mark.django_db

__all__ = ["confirmed"]  # the fixture, shared


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def said(html: str, testid: str) -> list[str]:
    return [
        _text(found)
        for found in re.findall(rf'data-testid="{testid}">(.*?)</(?:div|p)>', html, re.S)
    ]


def at(order: Order) -> str:
    return f"{timezone.localtime(order.created_at):%H:%M}"


def test_the_nurses_chart_names_the_later_order_on_the_first_orders_row(
    client_as, confirmed
) -> None:
    first, second = confirmed
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[first.encounter_id]))
    body = html.content.decode()
    assert said(body, "order-duplicated") == [
        f"Duplicated O{second.pk} entered later as its duplicate, confirmed by clerk1 at "
        f"{at(second)}"
    ]
    # On the first order's own row, the second's note on the second's.
    first_row = body[body.index(f'id="order-{first.pk}"') : body.index(f'id="order-{second.pk}"')]
    assert 'data-testid="order-duplicated"' in first_row
    assert 'data-testid="order-duplicate"' not in first_row


def test_the_pharmacists_queue_and_review_name_it_on_the_first_order(client_as, confirmed) -> None:
    first, second = confirmed
    pharmacist = client_as(roles.PHARMACIST)
    html = pharmacist.get(reverse("pharmacy:orders")).content.decode()
    (text,) = said(html, "order-duplicated")
    assert text.startswith(f"Duplicated? A later order, O{second.pk}, was entered as its duplicate")
    assert "confirmed by clerk1 (" in text and "Check it is not duplicate therapy." in text
    assert reverse("pharmacy:order_review", args=[second.pk]) in html
    review = pharmacist.get(reverse("pharmacy:order_review", args=[first.pk])).content.decode()
    (text,) = said(review, "review-duplicated")
    assert f"O{second.pk}" in text and "confirmed by clerk1" in text
    assert "Check it is not duplicate therapy before verifying both." in text
    # The second order's review names its first, not itself as duplicated.
    review = pharmacist.get(reverse("pharmacy:order_review", args=[second.pk])).content.decode()
    assert said(review, "review-duplicated") == []
    assert 'data-testid="review-duplicate"' in review


def test_the_clerks_visit_page_shows_the_duplicate_on_both_rows(client_as, confirmed) -> None:
    first, second = confirmed
    body = (
        client_as(roles.CLERK)
        .get(reverse("registration:visit", args=[first.encounter_id]))
        .content.decode()
    )
    assert said(body, "order-duplicate") == [
        f"Second order beside O{first.pk}, confirmed by clerk1 at {at(second)}: the same drug, "
        f"dose and route (O{first.pk})."
    ]
    assert said(body, "order-duplicated") == [
        f"Duplicated O{second.pk} entered later as its duplicate, confirmed by clerk1 at "
        f"{at(second)}."
    ]
    assert f">O{first.pk}</small>" in body and f">O{second.pk}</small>" in body


def test_a_visit_with_no_duplicate_says_nothing_and_reads_nothing_more(
    clerk_user, client_as, django_assert_num_queries
) -> None:
    from tests import factories

    encounter = factories.encounter_create()
    order = order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    with django_assert_num_queries(0):
        assert safety.duplicate_notes_both([order]) == ({}, {})
    body = client_as(roles.CLERK).get(reverse("registration:visit", args=[encounter.pk]))
    assert "order-duplicate" not in body.content.decode()


def test_both_notes_come_from_one_statement(confirmed, django_assert_num_queries) -> None:
    first, second = confirmed
    orders = list(Order.objects.filter(pk__in=[first.pk, second.pk]))
    with django_assert_num_queries(1):
        second_notes, first_notes = safety.duplicate_notes_both(orders)
    assert list(second_notes) == [second.pk] and list(first_notes) == [first.pk]


def test_a_second_order_cancelled_in_error_no_longer_names_the_first(
    clerk_user, client_as, confirmed
) -> None:
    first, second = confirmed
    order_cancel(order=second, user=clerk_user, reason="Entered twice by mistake at the desk.")
    body = (
        client_as(roles.CLERK)
        .get(reverse("registration:visit", args=[first.encounter_id]))
        .content.decode()
    )
    assert said(body, "order-duplicated") == []
    queue = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    assert said(queue, "order-duplicated") == []
    chart = client_as(roles.NURSE).get(reverse("mar:encounter", args=[first.encounter_id]))
    assert 'data-testid="order-duplicated"' not in chart.content.decode()
