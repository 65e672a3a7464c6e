from django.http import HttpRequest

from mar.roles import user_role, user_roles


def role(request: HttpRequest) -> dict[str, object]:
    """The signed-in user's role, for the nav, and all the roles held (a charge nurse who is
    also a clerk sees the board and registration)."""
    return {"user_role": user_role(request.user), "user_roles": user_roles(request.user)}
