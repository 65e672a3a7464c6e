"""Who did it: the pghistory context (user, URL or task) attached to every audited change.

The request context is pghistory's own middleware (HistoryMiddleware: the user and the URL, kept
up to date when the user changes during the request, e.g. at sign-in), with the HTTP method
added. pghistory prefixes each write statement with set_config() calls, which only PostgreSQL
understands; with SQLite (bin/demo) there is no trigger to read them, so nothing is attached.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pghistory
import pghistory.middleware
import pghistory.runtime
from django.db import connection
from django.http import HttpRequest, HttpResponse


def history_context(**metadata: Any) -> contextlib.AbstractContextManager[Any]:
    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    return pghistory.context(**metadata)


@contextlib.contextmanager
def history_context_apart(**metadata: Any) -> Iterator[None]:
    """The changes made inside go under a context of their own, starting with the current
    context's metadata (the request's user, URL and method) and `metadata`.

    pghistory groups every `history_context` entered while another is open (the request's) under
    that one, whose metadata each of them overwrites, for all its changes: in a request making
    many changes (the formulary import) one service's context (`drug_retire`'s action and
    reason) would be read on every other change of the request, and the last reason on every
    retirement. Inside this, the service's context stays with its own changes, and the outer
    context's metadata is left as it was. (pghistory 3.9 keeps the open context in
    `pghistory.runtime._tracker`; tests/mar/pharmacy/test_formulary_retired.py checks this.)
    """
    if connection.vendor != "postgresql":
        yield
        return
    tracker = pghistory.runtime._tracker
    outer = getattr(tracker, "value", None)
    if outer is None:
        with pghistory.context(**metadata):
            yield
        return
    tracker.value = pghistory.runtime.Context(
        id=uuid.uuid4(), metadata={**outer.metadata, **metadata}
    )
    try:
        yield
    finally:
        tracker.value = outer


class HistoryMiddleware(pghistory.middleware.HistoryMiddleware):  # type: ignore[misc]
    """pghistory's middleware, on PostgreSQL only, with the method in the context."""

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_context(request), "method": request.method}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if connection.vendor != "postgresql":
            return self.get_response(request)  # type: ignore[no-any-return]
        return super().__call__(request)  # type: ignore[no-any-return]
