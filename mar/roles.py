"""The roles (Django groups, created by migrations 0002 and 0007) and the check views use."""

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from mar.prepared import prepared

NURSE = "nurse"
PHARMACIST = "pharmacist"
CODER = "coder"
ADMIN = "admin"
# The unit clerk (or a charge nurse given the role too): registers patients, opens visits and
# enters orders (mar/registration/).
CLERK = "clerk"
ROLES = (NURSE, PHARMACIST, CODER, ADMIN, CLERK)

# When a user holds several roles, the start page and the nav show the first of these
# (a charge nurse who is also a clerk starts on the board and reaches registration from the nav).
_PRECEDENCE = (ADMIN, PHARMACIST, CODER, NURSE, CLERK)


@prepared
def groups_of(user_id: int) -> QuerySet[Group]:
    """A user's groups: read on every request a view checks a role, its SQL compiled once
    (mar/prepared.py, issue 19)."""
    return Group.objects.filter(user__id=user_id)


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached: set[str] | None = getattr(user, "_mar_roles", None)
    if cached is None:
        cached = roles_read(user, [group.name for group in groups_of(user.pk)])
    return cached


def roles_read(user: AbstractBaseUser, group_names: Iterable[str]) -> set[str]:
    """The roles of a signed-in `user` whose groups (`group_names`, all of them) were read: by
    `user_roles`, or by a view in its own statement (the live checklist's GET reads them with
    the encounter, issue 19). Kept on the user for the request, as `user_roles` keeps them."""
    roles = set(group_names)
    if user.is_superuser:  # type: ignore[attr-defined]
        roles.add(ADMIN)
    user._mar_roles = roles  # type: ignore[attr-defined]
    return roles


def user_role(user: AbstractBaseUser | AnonymousUser) -> str | None:
    roles = user_roles(user)
    for role in _PRECEDENCE:
        if role in roles:
            return role
    return None


def user_has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    held = user_roles(user)
    if ADMIN in held:
        return True
    return any(role in held for role in roles)


def user_is(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """Whether `user` holds `role` itself, not through an administrator's access to every page:
    a clinical act asks the profession (a chemotherapy's independent double check is by a second
    nurse; an administrator who is not one may open the nurse's pages, not co-sign them)."""
    return role in user_roles(user)  # user_has_role lets ADMIN through every role; this does not


def role_required(
    *roles: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Allow the view to users holding one of `roles` (admins always); others get 403.

    Anonymous users never get here: LoginRequiredMiddleware sends them to the login page.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown {'role' if len(unknown) == 1 else 'roles'}: {sorted(unknown)}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not user_has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
