"""Security settings' small helpers: what neither Django nor django-csp sends, and the guard that
keeps the development mode (DEBUG, public secret key) on the loopback interface.

The content security policy itself is django-csp's (settings.CONTENT_SECURITY_POLICY); Django's
SecurityMiddleware sends X-Content-Type-Options, Referrer-Policy and Cross-Origin-Opener-Policy,
and XFrameOptionsMiddleware X-Frame-Options.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden

PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    """Permissions-Policy on every response; no-store on every signed-in one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            # Patient data: never kept by the browser or a shared proxy once the tab is closed.
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackOnlyMiddleware:
    """Installed only in development with the public default secret key (config/settings.py):
    a request from any other machine is refused, whatever address runserver or gunicorn was
    bound to, because with that key anyone could forge sessions."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_loopback(request.META.get("REMOTE_ADDR")):
            return HttpResponseForbidden(
                "This server runs in development mode (DJANGO_ENV unset: DEBUG and a public "
                "secret key) and answers only on this machine (127.0.0.1). Set "
                "DJANGO_ENV=production, SECRET_KEY and ALLOWED_HOSTS to serve others.",
                content_type="text/plain",
            )
        return self.get_response(request)


ACCEPTED_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}


class RequestTextMiddleware:
    """Refuse, with a 400, what no page can read as text (issue 18, item 5):

    - a form or query string sent in another charset than UTF-8 (charset=utf-16 made Django's
      form parsing raise: a 500 on the login page);
    - a NUL character in any query or form value (PostgreSQL text cannot hold it: a 500 in every
      search, filter and form that reached the database).

    Uploaded files are the importer's to check (mar/pharmacy/formulary.py refuses NUL).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        charset = (
            (request.content_params or {}).get("charset") if request.method == "POST" else None
        )
        if charset and charset.strip().lower() not in ACCEPTED_CHARSETS:
            return HttpResponseBadRequest(
                f"Send forms as UTF-8 (this request said charset={charset[:40]}).",
                content_type="text/plain",
            )
        try:
            values = [
                *request.GET.lists(),
                *(request.POST.lists() if request.method == "POST" else []),
            ]
        except (UnicodeDecodeError, ValueError):
            return HttpResponseBadRequest(
                "The form could not be read as UTF-8 text.", content_type="text/plain"
            )
        for key, items in values:
            if "\x00" in key or any("\x00" in item for item in items):
                return HttpResponseBadRequest(
                    "A NUL character is not accepted in a search or a form.",
                    content_type="text/plain",
                )
        return self.get_response(request)
