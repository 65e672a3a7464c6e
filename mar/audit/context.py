"""Who did it: the pghistory context (user, URL or task) attached to every audited change.

The request context is pghistory's own middleware (HistoryMiddleware: the user and the URL, kept
up to date when the user changes during the request, e.g. at sign-in), with the HTTP method
added. pghistory prefixes each write statement with set_config() calls, which only PostgreSQL
understands; with SQLite (bin/demo) there is no trigger to read them, so nothing is attached.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pghistory
import pghistory.middleware
from django.db import connection
from django.http import HttpRequest, HttpResponse


def history_context(**metadata: Any) -> contextlib.AbstractContextManager[Any]:
    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    return pghistory.context(**metadata)


class HistoryMiddleware(pghistory.middleware.HistoryMiddleware):  # type: ignore[misc]
    """pghistory's middleware, on PostgreSQL only, with the method in the context."""

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_context(request), "method": request.method}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if connection.vendor != "postgresql":
            return self.get_response(request)  # type: ignore[no-any-return]
        return super().__call__(request)  # type: ignore[no-any-return]
