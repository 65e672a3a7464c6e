"""Every page needs a login; only the login page and the health check do not."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

PUBLIC = {"login", "healthz"}


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


ROUTES = sorted(set(ARGUMENTS) - PUBLIC)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ROUTES)
def test_it_sends_anonymous_users_to_login(client, name: str) -> None:
    for method in (client.get, client.post):
        response = method(url_for(name))
        assert response.status_code == 302, (name, method)
        assert response["Location"].startswith(reverse("login"))


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
