"""Who did it: the pghistory context (user, URL or task) attached to every audited change.

pghistory prefixes each write statement with set_config() calls, which only PostgreSQL
understands; with SQLite (bin/demo) there is no trigger to read them, so nothing is attached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pghistory
from django.db import connection
from django.http import HttpRequest, HttpResponse


def history_context(**metadata: Any) -> contextlib.AbstractContextManager[Any]:
    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    return pghistory.context(**metadata)


class HistoryContextMiddleware:
    """Attach the signed-in user and the URL to every change a request makes (PostgreSQL only)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return self.get_response(request)
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        with history_context(user=user_id, url=request.path, method=request.method):
            return self.get_response(request)
