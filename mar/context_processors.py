from django.conf import settings
from django.http import HttpRequest

from mar.roles import user_role, user_roles


def role(request: HttpRequest) -> dict[str, object]:
    """The signed-in user's role, for the nav, and all the roles held (a charge nurse who is
    also a clerk sees the board and registration); whether the audit trail and the
    signed-record guard run (PostgreSQL only: the SQLite demo says on every page they do not)."""
    return {
        "user_role": user_role(request.user),
        "user_roles": user_roles(request.user),
        "audit_trail": settings.AUDIT_TRAIL,
    }
