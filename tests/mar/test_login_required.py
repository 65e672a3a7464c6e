"""Every page needs a login; only the login page and the health check do not."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

PUBLIC = {"login", "healthz"}


def named_routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    names = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            ns = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names += named_routes(pattern, ns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.append(prefix + pattern.name)
    return names


def url_for(name: str) -> str:
    try:
        return reverse(name)
    except Exception:
        return reverse(name, kwargs={"pk": 1})


ROUTES = sorted(set(named_routes(get_resolver())) - PUBLIC)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ROUTES)
def test_it_sends_anonymous_users_to_login(client, name: str) -> None:  # type: ignore[no-untyped-def]
    for method in (client.get, client.post):
        response = method(url_for(name))
        assert response.status_code == 302, (name, method)
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_admin_needs_a_login(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.django_db
def test_login_page_and_health_check_are_public(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("login")).status_code == 200
    health = client.get(reverse("healthz"))
    assert health.status_code == 200
    assert health.content == b"ok"


def test_there_are_routes_to_check() -> None:
    assert {"home", "mar:board", "coding:worklist", "pharmacy:worklist"} <= set(ROUTES)
