from django.http import HttpRequest

from mar.roles import user_role


def role(request: HttpRequest) -> dict[str, str | None]:
    """The signed-in user's role, for the nav."""
    return {"user_role": user_role(request.user)}
