"""Sign-in lockout: LOCKOUT_FAILURES failed sign-ins for one username from one address within
LOCKOUT_WINDOW_SECONDS lock that pair out until the window has passed.

Failures are rows in the database (audit.LoginFailure), so every web process sees the same
count and the lockout survives a Redis outage. A success clears the pair's failures. The
lockout is enforced by an authentication backend placed first in AUTHENTICATION_BACKENDS, so it
covers every sign-in form (the app's and the admin's); a locked-out user sees the same
"incorrect username or password" message as any failure, plus the lockout note from the form.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone

from mar.audit.models import LoginFailure


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or the last hop of LOCKOUT_CLIENT_IP_HEADER (e.g.
    HTTP_X_FORWARDED_FOR) when set: the one our own proxy appended, which a client cannot forge."""
    if request is None:
        return None
    header = getattr(settings, "LOCKOUT_CLIENT_IP_HEADER", "")
    if header and request.META.get(header):
        hops = [hop.strip() for hop in request.META[header].split(",") if hop.strip()]
        if hops:
            return hops[-1][:45]
    return request.META.get("REMOTE_ADDR") or None


def login_is_locked(*, username: str, ip: str | None) -> bool:
    since = timezone.now() - timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS)
    failures = LoginFailure.objects.filter(username=username[:150], ip=ip, at__gte=since)
    return failures.count() >= settings.LOCKOUT_FAILURES


def login_failure_record(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username[:150], ip=ip)


def login_failures_clear(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.filter(username=username[:150], ip=ip).delete()


class LockoutBackend:
    """Refuses every sign-in attempt for a locked-out username and address; authenticates nobody.

    Deliberately not a BaseBackend: without get_user() it is never the backend a session
    is bound to (Client.force_login and login() pick the first backend that has one).
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, **kwargs: Any
    ) -> None:
        if username is not None and login_is_locked(username=username, ip=client_ip(request)):
            # PermissionDenied stops authenticate() here: no later backend checks the password.
            raise PermissionDenied("locked out")
        return None
