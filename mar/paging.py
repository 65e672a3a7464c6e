"""A page of ids and how many there are, in one statement whose cost does not grow with the list
(issue 19).

Django's Paginator counts the rows (one query), then reads the page (another), each built and
compiled through the ORM on every request: for the board and the coder's worklist, more than
their page's own rows cost. And a count of every row grows with the list: the coder's worklist
lists every encounter ever signed (a count over 98,000 took 28 ms, benchmarks/README.md).

`page_of_ids` reads, in one statement, the ids from the first up to the end of the page asked
for and at most `count_cap` + 1 of them (a `LIMIT`, no count of the rest): the page is sliced
from them, and their number is the count when it is below the cap. Above it the paginator says
`more` (more than `count_cap` rows: the pages say "more than 1,000", "Next" while a row follows),
and a page beyond the cap reads up to its own end. It gives the same Page the Paginator would,
with the same numbers, links and words, whatever the page number asked (a page past the end:
the last page; one that is not a number: the first).
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import QuerySet

COUNT_CAP = 1000  # rows counted exactly; beyond them, "more than COUNT_CAP"


def page_of_ids(
    listed: QuerySet[Any], requested: str | None, per_page: int, *, count_cap: int = COUNT_CAP
) -> Page:
    """The requested page of `listed`'s primary keys (its order kept), with its paginator."""
    try:
        asked = int(requested) if requested is not None else 1
    except ValueError:
        asked = 1
    limit = max(count_cap, max(asked, 1) * per_page) + 1
    ids = list(listed.values_list("pk", flat=True)[:limit])
    paginator = Paginator(listed.values_list("pk", flat=True), per_page)
    paginator.__dict__["count"] = len(ids)  # the cached_property, counted already
    paginator.more = len(ids) == limit  # type: ignore[attr-defined]
    try:
        number = paginator.validate_number(requested)
    except PageNotAnInteger:
        number = 1
    except EmptyPage:
        number = paginator.num_pages
    bottom = (number - 1) * per_page
    return Page(ids[bottom : bottom + per_page], number, paginator)
