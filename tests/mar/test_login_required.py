"""Every page needs a login; only the sign-in endpoints and the health check do not.

The FHIR API is for other systems: it takes a bearer token, never a session, so an anonymous
call is refused with 401 (an OperationOutcome), not sent to a sign-in page.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# The sign-in dialog over a page whose session ended posts to session_resume: like the login
# page it must answer a signed-out user (it says who is signed in, never any record data).
# FHIR's CapabilityStatement is public by the FHIR RESTful API (a client reads it before it
# has a token); it holds no patient data.
# The favicon is the browser's own request, before any sign-in: an icon, nothing else.
PUBLIC = {"login", "healthz", "session_resume", "fhir:metadata", "favicon"}


def named_routes(resolver: URLResolver, prefix: str = "", args: tuple[str, ...] = ()) -> dict:
    """Every named route, with the names of the arguments its path takes."""
    routes: dict[str, tuple[str, ...]] = {}
    for pattern in resolver.url_patterns:
        converters = tuple(getattr(pattern.pattern, "converters", {}))
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            ns = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            routes.update(named_routes(pattern, ns, args + converters))
        elif isinstance(pattern, URLPattern) and pattern.name:
            routes[prefix + pattern.name] = args + converters
    return routes


ARGUMENTS = named_routes(get_resolver())


def url_for(name: str) -> str:
    """The route with 1 for each argument: the login check comes before any lookup."""
    return reverse(name, kwargs={arg: 1 for arg in ARGUMENTS[name]})


TOKEN_ONLY = sorted(name for name in ARGUMENTS if name.startswith("fhir:") and name not in PUBLIC)
ROUTES = sorted(set(ARGUMENTS) - PUBLIC - set(TOKEN_ONLY))


@pytest.mark.django_db
@pytest.mark.parametrize("name", ROUTES)
def test_it_sends_anonymous_users_to_login(client, name: str) -> None:
    for method in (client.get, client.post):
        response = method(url_for(name))
        assert response.status_code == 302, (name, method)
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("name", TOKEN_ONLY)
def test_the_fhir_api_refuses_a_call_without_a_token(client, name: str) -> None:
    # The method the route takes answers 401; the other is not allowed (405); never data.
    statuses = {client.get(url_for(name)).status_code, client.post(url_for(name)).status_code}
    assert statuses == {401, 405}, (name, statuses)


@pytest.mark.django_db
def test_session_resume_tells_a_signed_out_user_nothing_but_that(client) -> None:
    body = client.get(reverse("session_resume")).json()
    assert body["ok"] is False
    assert body["username"] == ""
    assert set(body) == {"ok", "username", "csrf_token"}


@pytest.mark.django_db
def test_admin_needs_a_login(client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.django_db
def test_login_page_and_health_check_are_public(client) -> None:
    assert client.get(reverse("login")).status_code == 200
    health = client.get(reverse("healthz"))
    assert health.status_code == 200
    assert health.content == b"ok"


def test_there_are_routes_to_check() -> None:
    assert {"home", "mar:board", "coding:worklist", "pharmacy:worklist"} <= set(ROUTES)
    assert TOKEN_ONLY
