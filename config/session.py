"""Sessions on shared tablets: idle sign-off that background polls do not postpone, and answers
to htmx requests that a page can handle when the session has ended.

- `IdleSessionMiddleware` (in place of Django's SessionMiddleware): a request a person makes
  pushes the idle expiry on, at most once every SESSION_PUSH_SECONDS (60: the session row is
  written once a minute of activity, not on every request; the idle sign-off comes 29-30 minutes
  after the last request), except background requests (the chart's 60-second checklist refresh,
  the charges poll), which send `X-MAR-Background: 1`: a chart left open on a tablet reaches the
  idle sign-off (SESSION_IDLE_SECONDS) all the same.
- `HtmxLoginRequiredMiddleware` (in place of LoginRequiredMiddleware): an htmx request without
  a session gets `401` with `X-Session-Expired: 1`, never the sign-in page to swap into a card;
  static/js/session.js then opens a sign-in dialog over the page and re-sends what was unsaved.
  A plain form posted without a session goes to the sign-in page with `next` the page the form
  was on (its Referer, same host), not the POST-only address (a 405 after signing in), and the
  sign-in page says the form was not sent (`not_sent_message`). The pages' plain forms ask
  first (`data-session-check`), so that is a page without JavaScript: what was typed is kept
  on the server for the same user and put back into the form after signing in, for her to
  check and send (`config/form_refill.py`).
- Neither refusal (401 + X-Session-Expired, 403 + X-CSRF-Refresh) nor `session_resume`'s GET
  sets or deletes the session cookie: a slow request's answer, arriving after she signed in
  again from the dialog, would otherwise delete (or replace) the new session's cookie and sign
  her out at once.
- `csrf_failure`: an htmx request refused for its CSRF token gets the same 401 when the session
  has ended, or `403` with `X-CSRF-Refresh: 1` when only the token is stale (signed in again in
  another tab): the page fetches a fresh one (`session_resume`) and sends again. A plain request
  gets Django's page, as before.
- `session_resume` (`/accounts/resume/`, no login needed): GET gives a fresh CSRF token (and
  whether and who is signed in); POST signs in again (the sign-in form's lockout applies) and
  answers with the new token, which signing in rotates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import resolve_url
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.form_refill import STASH_MAX_CHARS, Stashed, form_stash_keep
from mar.audit.forms import SignInForm

BACKGROUND_HEADER = "X-MAR-Background"
EXPIRED_HEADER = "X-Session-Expired"
CSRF_REFRESH_HEADER = "X-CSRF-Refresh"


def is_background(request: HttpRequest) -> bool:
    """A request the page made by itself (a poll), not one the person made."""
    return request.headers.get(BACKGROUND_HEADER) == "1" and request.method == "GET"


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def session_expired() -> HttpResponse:
    response = HttpResponse("Signed out: sign in again.", status=401, content_type="text/plain")
    response[EXPIRED_HEADER] = "1"
    return response


PUSHED_KEY = "_idle_pushed_at"


class IdleSessionMiddleware(SessionMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None:
            return response
        if is_background(request) and not session.modified:
            # Neither the stored expiry nor the cookie's is pushed on by a poll.
            response.headers.setdefault("Vary", "Cookie")
            return response
        if not session.is_empty():
            now = int(time.time())
            pushed = session.get(PUSHED_KEY)
            if not isinstance(pushed, int) or now - pushed >= settings.SESSION_PUSH_SECONDS:
                session[PUSHED_KEY] = now  # modified: saved with a new idle expiry
        response = super().process_response(request, response)
        if leaves_session_cookie(response):
            # Django deletes the cookie of a session that has ended; a slow request's 401,
            # answered after she signed in again from the dialog, deleted the new session's
            # cookie: the next save was refused and the sign-in box opened again. The ended
            # session's cookie left in the browser names no session; signing in replaces it.
            response.cookies.pop(settings.SESSION_COOKIE_NAME, None)
        return response


COOKIE_UNTOUCHED = "mar_session_cookie_untouched"


def leaves_session_cookie(response: HttpResponse) -> bool:
    """An answer the page reads itself, that may arrive after she signed in again: a refusal
    (401 + X-Session-Expired, 403 + X-CSRF-Refresh) or the dialog's question (`session_resume`
    GET). It neither sets nor deletes the session cookie."""
    return (
        response.has_header(EXPIRED_HEADER)
        or response.has_header(CSRF_REFRESH_HEADER)
        or getattr(response, COOKIE_UNTOUCHED, False)
    )


class HtmxLoginRequiredMiddleware(LoginRequiredMiddleware):
    def handle_no_permission(
        self, request: HttpRequest, view_func: Callable[..., Any]
    ) -> HttpResponse:
        if is_htmx(request) or is_background(request):
            return session_expired()
        if request.method not in ("GET", "HEAD"):
            # A form posted after the session ended (a coder's correction): signing in leads
            # back to the page the form was on, never to the POST-only address (a 405). The
            # pages' plain forms ask first (data-session-check, static/js/session.js), so this
            # is a page without JavaScript (or its check unanswered): what was typed is kept
            # on the server for the same user (config/form_refill.py) and put back into the
            # form when she is back on its page; the sign-in page says so, or why it was not
            # kept (QA: a bare "Sign in" page, then the form empty, and nothing said).
            stashed = form_stash_keep(request)
            messages.warning(request, not_sent_message(stashed))
            return redirect_to_login(
                stashed.page or resolve_url(settings.LOGIN_REDIRECT_URL),
                resolve_url(self.get_login_url(view_func)),
                self.get_redirect_field_name(view_func),
            )
        return super().handle_no_permission(request, view_func)  # type: ignore[no-any-return]


def not_sent_message(stashed: Stashed) -> str:
    """What the sign-in page says to a form posted without a session: it was not sent, and
    whether what was typed waits on its page."""
    text = (
        "You were signed out (idle too long, or signed out elsewhere) before this form was "
        "sent: nothing of it was saved. "
    )
    if stashed.why == "kept":
        text += (
            "What you typed is kept for 15 minutes: sign in again as the same user and you go "
            "back to its page with it filled in, to check it and send it yourself."
        )
    else:
        if stashed.why == "too_long":
            text += (
                f"What you typed was too long to keep (more than {STASH_MAX_CHARS:,} characters). "
            )
        elif stashed.why == "no_owner":
            text += (
                "Who was signed in is not known on this browser, so what you typed is not kept. "
            )
        text += (
            "Sign in: you go back to its page, where what you typed is no longer filled in; "
            "type it again and send it."
        )
    if stashed.files:
        text += " A file you chose is not kept either (a browser cannot keep it): choose it again."
    return text


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if not is_htmx(request):
        return django_csrf_failure(request, reason)
    match = request.resolver_match
    needs_login = match is None or getattr(match.func, "login_required", True)
    if not request.user.is_authenticated:
        return session_expired() if needs_login else django_csrf_failure(request, reason)
    response = HttpResponse(
        "The page's security token is out of date: it is being refreshed.",
        status=403,
        content_type="text/plain",
    )
    response[CSRF_REFRESH_HEADER] = "1"
    return response


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def session_resume(request: HttpRequest) -> HttpResponse:
    """Sign in again from the dialog over a page whose session ended (JSON answers)."""
    if request.method == "POST":
        form = SignInForm(request, data=request.POST)
        if not form.is_valid():
            errors = [str(e) for e in form.non_field_errors()] or ["Enter your password."]
            return JsonResponse({"ok": False, "errors": errors}, status=400)
        login(request, form.get_user())
    user = request.user
    response = JsonResponse(
        {
            "ok": user.is_authenticated,
            "username": user.get_username() if user.is_authenticated else "",
            "csrf_token": get_token(request),
        }
    )
    if request.method == "GET":
        # The question a plain form asks before it goes (data-session-check), answered late.
        setattr(response, COOKIE_UNTOUCHED, True)
    return response
