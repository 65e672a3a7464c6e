"""`page_of_ids` gives the page Django's Paginator gives, in one statement that reads no more
than the page's end or the count's cap, whatever the list's length (mar/paging.py)."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mar.models import Encounter
from mar.paging import page_of_ids
from tests import factories

pytestmark = pytest.mark.django_db

REQUESTS = [None, "", "1", "2", "3", "4", "7", "8", "99", "0", "-1", "abc", "1.5", " 2"]


def described(page) -> tuple[object, ...]:
    return (
        list(page.object_list),
        page.number,
        page.paginator.count,
        page.paginator.num_pages,
        page.has_next(),
        page.has_previous(),
        page.start_index(),
        page.end_index(),
    )


def test_every_page_is_the_paginators_page() -> None:
    """Same ids in the same order, number, count and links, for a page inside the list, past
    its end, and for numbers that are not page numbers (the first or the last page, as Django
    answers)."""
    for n in range(7):
        factories.encounter_create(location_label=str(n % 3))
    listed = Encounter.objects.order_by("location_label", "-pk")
    for per_page in (1, 2, 3, 7, 8):
        for requested in REQUESTS:
            expected = Paginator(listed.values_list("pk", flat=True), per_page).get_page(requested)
            assert described(page_of_ids(listed, requested, per_page)) == described(expected), (
                per_page,
                requested,
            )


def test_an_empty_list_is_one_empty_page() -> None:
    page = page_of_ids(Encounter.objects.order_by("pk"), "1", 48)
    assert described(page) == ([], 1, 0, 1, False, False, 0, 0)


def test_a_page_and_its_count_are_one_statement() -> None:
    for _ in range(5):
        factories.encounter_create()
    listed = Encounter.objects.order_by("pk")
    with CaptureQueriesContext(connection) as captured:
        page = page_of_ids(listed, "2", 2)
        assert page.paginator.num_pages == 3
        assert page.has_next()
    assert len(captured) == 1


def test_above_the_cap_a_page_reads_no_more_than_the_cap_and_says_there_are_more() -> None:
    """Issue 19: a count of every row grows with the list (the worklist lists every encounter
    ever signed). Above `count_cap` rows the statement stops at the cap (or at the end of the
    page asked, beyond it): the page says "more", each page still has its rows in order and a
    next page while rows follow, and none is out of reach."""
    for n in range(9):
        factories.encounter_create(location_label=str(n))
    listed = Encounter.objects.order_by("location_label", "pk")
    every = list(listed.values_list("pk", flat=True))
    seen: list[int] = []
    number = 1
    while True:
        with CaptureQueriesContext(connection) as captured:
            page = page_of_ids(listed, str(number), 2, count_cap=3)
        [statement] = captured.captured_queries
        assert f"LIMIT {max(3, number * 2) + 1}" in statement["sql"]
        assert "OVER" not in statement["sql"]
        seen += page.object_list
        assert page.paginator.more == (max(3, number * 2) + 1 <= len(every))
        if not page.has_next():
            break
        number += 1
    assert seen == every and number == 5
    assert described(page_of_ids(listed, "1", 2, count_cap=3))[:4] == (every[:2], 1, 4, 2)
    assert page_of_ids(listed, "1", 2, count_cap=3).paginator.more
    # At or under the cap the count is exact, as the Paginator's.
    exact = page_of_ids(listed, "1", 2, count_cap=9)
    assert (exact.paginator.count, exact.paginator.more, exact.paginator.num_pages) == (9, False, 5)
