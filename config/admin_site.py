"""The Django admin's sign-in page, for the app's own users.

A signed-in nurse, pharmacist, coder or clerk who opens an admin page (a bookmark, a link
passed on) is sent to the admin's sign-in, which offered to "login to a different account" on a
tablet the next nurse shares: she gets the app's 403 page instead ("Your role does not give
access to this page", with the way to her start page). Anyone not signed in, and admins, get the
admin's own sign-in as before (the lockout applies to it: mar/audit/lockout.py).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


@login_not_required
def admin_sign_in(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_authenticated and not (user.is_active and user.is_staff):  # type: ignore[union-attr]
        raise PermissionDenied
    return admin.site.login(request)
