"""A plain form posted after the session ended, without JavaScript: what was typed is kept on
the server and put back into the form once the same user has signed in again.

With JavaScript the page asks first (`data-session-check`, static/js/session.js) and nothing
reaches here. Without it the post reaches `HtmxLoginRequiredMiddleware`, which calls
`form_stash_keep`, and then the sign-in page (`config/session.py`). The stash:

- lives in the anonymous session that answer starts (the session row, on the server; the
  browser holds only the session's random key), signed with a timestamp and read back for 15
  minutes at most (`STASH_SECONDS`), one at a time (a second form posted while signed out
  replaces it);
- holds the fields as posted, never a password, the CSRF token nor a file (a file is said to be
  chosen again), and nothing when what was typed is longer than `STASH_MAX_CHARS` characters
  (the sign-in page says it was too long to keep: type it again);
- belongs to the user who was signed in before: the expired session's own user when its row is
  still stored, else the signed cookie `mar_signed_in` set at each sign-in on this browser and
  removed at sign out. Neither known: nothing is kept. Another user signing in drops it unread
  (patient data);
- is taken once: when its owner, signed in, opens the form's page (a plain GET, as the sign-in
  page's `next` leads), `FormRefillMiddleware` puts the values into the form marked
  `data-session-check` that posts where it was posted (`config/html_refill.py`), says so at the
  top of the page, and deletes the stash. The form is never sent by itself: she checks it and
  sends it (a stale post could do an action twice).

Nothing of it is audited: no record changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.views import LogoutView
from django.core import signing
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme

from config.html_refill import form_refill

STASH_KEY = "_form_stash"
STASH_SALT = "config.form_refill.stash"
STASH_SECONDS = 15 * 60
STASH_MAX_CHARS = 32_000
STASH_MAX_FIELDS = 400
WHO_COOKIE = "mar_signed_in"
WHO_SALT = "config.form_refill.who"
NOT_KEPT_NAMES = re.compile(r"pass(word|wd|code)|secret|^csrfmiddlewaretoken$", re.I)
# Pages a form is never put back into (the sign-in pages themselves).
NOT_PAGES = {"login", "logout", "session_resume"}

REFILLED = (
    "You were signed out before this was sent. What you typed is below: check it and send it again."
)
FILE_AGAIN = " A file you chose was not kept (a browser cannot keep it): choose it again."
SECRET_AGAIN = " A password typed in it was not kept: type it again."
PRESS_AGAIN = (
    "You were signed out before this was sent: nothing was done. Press its button again if it "
    "is still to be done."
)
GONE = (
    "You were signed out before a form on this page was sent, and that form is not on the page "
    "now (the record changed meanwhile): what you typed could not be put back. Type it again "
    "if it is still to be done."
)

Why = Literal["kept", "no_owner", "no_page", "too_long"]


@dataclass(frozen=True)
class Stashed:
    why: Why
    page: str | None  # the form's page (where signing in leads), None: unknown
    files: bool  # a file was chosen: never kept


def page_of_form(request: HttpRequest) -> str | None:
    """The path (and query) of the page a form was posted from: its Referer, on this host only,
    and only an address of this app's that is not a sign-in page. None otherwise."""
    referer = request.headers.get("Referer", "")
    if not referer or not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(referer)
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if match.url_name in NOT_PAGES:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _expired_session_user(request: HttpRequest) -> str | None:
    """The user of the session the browser still names, when its row is still stored (the idle
    sign-off leaves it until `clearsessions`)."""
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    store = type(request.session)
    get_model = getattr(store, "get_model_class", None)
    if not key or get_model is None:
        return None
    row = get_model().objects.filter(session_key=key).first()
    if row is None:
        return None
    try:
        data = store().decode(row.session_data)
    except Exception:  # noqa: BLE001 - an unreadable old session names nobody
        return None
    user = data.get(SESSION_KEY)
    return str(user) if user is not None else None


def _cookie_user(request: HttpRequest) -> str | None:
    value = request.get_signed_cookie(WHO_COOKIE, default=None, salt=WHO_SALT)
    return str(value) if value else None


def previous_user(request: HttpRequest) -> str | None:
    """Who was signed in on this browser before the session ended, if known (their pk)."""
    return _expired_session_user(request) or _cookie_user(request)


def form_stash_keep(request: HttpRequest) -> Stashed:
    """Keep what an unauthenticated plain POST carried, for its owner's next sign-in."""
    request.session.pop(STASH_KEY, None)  # one at a time: the last form pressed
    try:
        posted, files = request.POST, bool(request.FILES)
    except (RequestDataTooBig, TooManyFieldsSent):  # past Django's own limits: too long
        return Stashed("too_long", page_of_form(request), False)
    page = page_of_form(request)
    owner = previous_user(request)
    if page is None:
        return Stashed("no_page", None, files)
    if owner is None:
        return Stashed("no_owner", page, files)
    kept: list[tuple[str, list[str]]] = []
    secrets = False
    size = 0
    for name, values in posted.lists():
        if NOT_KEPT_NAMES.search(name):
            secrets = secrets or name != "csrfmiddlewaretoken"
            continue
        kept.append((name, list(values)))
        size += len(name) + sum(len(v) for v in values)
    if size > STASH_MAX_CHARS or len(kept) > STASH_MAX_FIELDS:
        return Stashed("too_long", page, files)
    request.session[STASH_KEY] = signing.dumps(
        {
            "owner": owner,
            "post": request.get_full_path(),
            "page": page,
            "fields": kept,
            "files": files,
            "secrets": secrets,
        },
        salt=STASH_SALT,
        compress=True,
    )
    return Stashed("kept", page, files)


def form_stash_read(request: HttpRequest) -> dict[str, Any] | None:
    """The stash in this session, if any and not older than STASH_SECONDS (else deleted)."""
    value = request.session.get(STASH_KEY)
    if value is None:
        return None
    try:
        stash: dict[str, Any] = signing.loads(value, salt=STASH_SALT, max_age=STASH_SECONDS)
    except signing.BadSignature:  # tampered, or expired (SignatureExpired)
        form_stash_drop(request)
        return None
    return stash


def form_stash_drop(request: HttpRequest) -> None:
    request.session.pop(STASH_KEY, None)


def form_stash_take(request: HttpRequest, *, drawn: bool) -> dict[str, Any] | None:
    """The stash for this request's user at its page, deleted as it is taken; a stash that is
    not theirs is deleted unread (another user signed in on this browser). `drawn`: the page
    answered with its HTML; else (a redirect, an error) the stash waits for the page drawn."""
    user = request.user
    if not user.is_authenticated or STASH_KEY not in request.session:
        return None
    stash = form_stash_read(request)
    if stash is None:
        return None
    if stash["owner"] != str(user.pk):
        form_stash_drop(request)
        return None
    if (
        request.method != "GET"
        or request.headers.get("HX-Request") == "true"
        or request.headers.get("X-MAR-Background") == "1"
    ):
        return None  # a page's own request: the stash waits for the page itself
    if not drawn or request.get_full_path() != stash["page"]:
        return None  # kept (15 minutes) for when she opens its page
    form_stash_drop(request)
    return stash


def _alert(text: str) -> str:
    return (
        f'<div class="alert alert-warning" role="alert" data-testid="refilled">{escape(text)}</div>'
    )


def refilled_page(content: str, stash: dict[str, Any]) -> str:
    """The page with the stash's values in its form and the message at its top."""
    fields = [(name, values) for name, values in stash["fields"]]
    done = form_refill(content, page=stash["page"], post=stash["post"], fields=fields)
    if done is None:
        said, page = GONE, content
    else:
        page = done.page
        said = REFILLED if done.typed_shown or stash["files"] else PRESS_AGAIN
        said += FILE_AGAIN if stash["files"] else ""
        said += SECRET_AGAIN if stash["secrets"] else ""
    marker = '<div id="messages">'
    at = page.find(marker)
    if at < 0:
        return page
    at += len(marker)
    return page[:at] + _alert(said) + page[at:]


class FormRefillMiddleware:
    """Sets who signed in on this browser (`WHO_COOKIE`), and puts a stashed form back into its
    page for its owner (above)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return response
        if _cookie_user(request) != str(user.pk):
            response.set_signed_cookie(
                WHO_COOKIE,
                str(user.pk),
                salt=WHO_SALT,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        drawn = (
            isinstance(response, HttpResponse)
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
        )
        stash = form_stash_take(request, drawn=drawn)
        if stash is None or not isinstance(response, HttpResponse):
            return response
        charset = response.charset or "utf-8"
        response.content = refilled_page(response.content.decode(charset), stash).encode(charset)
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        response["Cache-Control"] = "no-store"  # what was typed: not for the browser's cache
        return response


class SignOutView(LogoutView):
    """Django's sign out, forgetting who signed in on this browser: a form posted from a page
    left open after signing out is kept for nobody."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response.delete_cookie(WHO_COOKIE, samesite="Lax")
        return response
