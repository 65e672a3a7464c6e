from django.conf import settings
from django.http import HttpRequest

from mar.roles import user_role


def role(request: HttpRequest) -> dict[str, str | bool | None]:
    """The signed-in user's role, for the nav; whether the audit trail and the signed-record
    guard run (PostgreSQL only: the SQLite demo says on every page that they do not)."""
    return {"user_role": user_role(request.user), "audit_trail": settings.AUDIT_TRAIL}
