"""Sign-in lockout, throttled by account and by address.

- LOCKOUT_FAILURES failed sign-ins for one username from one address within
  LOCKOUT_WINDOW_SECONDS lock that pair out until the window has passed;
- LOCKOUT_ADDRESS_FAILURES failed sign-ins from one address, whatever the usernames, lock that
  address out the same way (one device guessing many accounts).

A username alone is never locked: anyone can type any nurse's name, so a lock by username would
let anyone lock her out.

The client's address: REMOTE_ADDR, or, behind the TLS proxy, the last hop of
LOCKOUT_CLIENT_IP_HEADER (HTTP_X_FORWARDED_FOR: the one the proxy appended, which a client
cannot forge). Production defaults to that header, since it runs behind the proxy (README,
Deployment); a request there without the header has no known client, so its sign-in is refused
("the proxy does not pass the client's address") instead of counting every device as the proxy,
which would let anyone lock any nurse out everywhere. Serving production without a proxy: set
LOCKOUT_CLIENT_IP_HEADER to an empty string.

Failures are rows in the database (audit.LoginFailure), so every web process sees the same
count and the lockout survives a Redis outage. Atomic: an attempt is recorded *before* the
password is checked (insert, then count), so of any number of parallel attempts only those whose
row is within the limit are tried; a success deletes its row and clears the pair's failures.
Rows older than the window are pruned on every failure, so the table holds one window's worth.
The lockout is enforced by an authentication backend placed first in AUTHENTICATION_BACKENDS, so
it covers every sign-in form (the app's and the admin's).

Why not django-axes: its one failure limit applies to every lockout parameter alike, so "5 per
account and address, 20 per address" needs a handler of our own on top of its tables; these
rows, in the audited app, do it in a few queries and keep the history in one place.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from mar.audit.models import LoginFailure

NO_CLIENT_ADDRESS = "no-client-address"


class ClientAddressUnknown(PermissionDenied):
    """Behind the proxy without its client-address header: nobody can be signed in safely."""


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or the last hop of LOCKOUT_CLIENT_IP_HEADER when set.

    Raises ClientAddressUnknown when the header is configured but missing or empty."""
    if request is None:
        return None
    header = getattr(settings, "LOCKOUT_CLIENT_IP_HEADER", "")
    if header:
        hops = [hop.strip() for hop in request.META.get(header, "").split(",") if hop.strip()]
        if not hops:
            raise ClientAddressUnknown(NO_CLIENT_ADDRESS)
        return hops[-1][:45]
    return request.META.get("REMOTE_ADDR") or None


def _window_start() -> Any:
    return timezone.now() - timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS)


def _counts(*, username: str, ip: str | None) -> tuple[int, int]:
    """Failures in the window for (username, ip) and for ip alone."""
    recent = LoginFailure.objects.filter(at__gte=_window_start(), ip=ip)
    pair = recent.filter(username=username[:150]).count()
    address = recent.count() if ip is not None else 0
    return pair, address


def login_is_locked(*, username: str, ip: str | None, pending: int = 0) -> bool:
    """`pending`: this attempt's own row, already counted (see LockoutBackend)."""
    pair, address = _counts(username=username, ip=ip)
    return (
        pair - pending >= settings.LOCKOUT_FAILURES
        or address - pending >= settings.LOCKOUT_ADDRESS_FAILURES
    )


def login_failure_record(*, username: str, ip: str | None) -> LoginFailure:
    LoginFailure.objects.filter(at__lt=_window_start()).delete()  # prune
    return LoginFailure.objects.create(username=username[:150], ip=ip)


def login_failures_clear(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.filter(Q(username=username[:150]) & Q(ip=ip)).delete()


class LockoutBackend:
    """Refuses every sign-in attempt for a locked-out pair or address; authenticates nobody.

    The attempt's row is written first (kept on request._lockout_attempt): it becomes the
    failure when the password is wrong, and is deleted with the pair's failures on success
    (mar/audit/signals.py). Deliberately not a BaseBackend: without get_user() it is never the
    backend a session is bound to.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, **kwargs: Any
    ) -> None:
        if username is None:
            return None
        ip = client_ip(request)  # may raise ClientAddressUnknown: refused, nothing counted
        attempt = login_failure_record(username=username, ip=ip)
        if request is not None:
            request._lockout_attempt = attempt  # type: ignore[attr-defined]
        # Insert, then count: parallel attempts each see the rows committed before them.
        pair, address = _counts(username=username, ip=ip)
        if pair > settings.LOCKOUT_FAILURES or address > settings.LOCKOUT_ADDRESS_FAILURES:
            # PermissionDenied stops authenticate() here: no later backend checks the password.
            raise PermissionDenied("locked out")
        return None
