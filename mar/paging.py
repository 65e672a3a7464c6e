"""A page of ids and how many there are in all, in one statement (issue 19).

Django's Paginator counts the rows (one query), then reads the page (another), each built and
compiled through the ORM on every request: for the board and the coder's worklist, more than
their page's own rows cost. `page_of_ids` reads the page with the count beside each row
(`COUNT(*) OVER ()`, counted before the LIMIT) and gives the same Page the Paginator would, with
the same numbers, links and words. A page past the end (no row to carry the count) or a page
number that is not one falls back to the Paginator, which answers as it always did: the last
page, or the first.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window


def page_of_ids(listed: QuerySet[Any], requested: str | None, per_page: int) -> Page:
    """The requested page of `listed`'s primary keys (its order kept), with its paginator."""
    try:
        number = int(requested) if requested is not None else 1
    except ValueError:
        number = 0
    if number >= 1:
        start = (number - 1) * per_page
        rows = list(
            listed.annotate(_total=Window(Count("pk"))).values_list("pk", "_total")[
                start : start + per_page
            ]
        )
        if rows:
            paginator = Paginator(listed.values_list("pk", flat=True), per_page)
            paginator.__dict__["count"] = rows[0][1]  # the cached_property, counted already
            return Page([pk for pk, _ in rows], number, paginator)
    return Paginator(listed.values_list("pk", flat=True), per_page).get_page(requested)
