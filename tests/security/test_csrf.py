"""Every POST URL refuses a request without the CSRF token (htmx ones included), and takes it
with the token htmx sends (the X-CSRFToken header from <body hx-headers>)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.security.conftest import World
from tests.security.test_permissions import APP_ROUTES, EXPECTED, TOKEN_AUTHENTICATED, arguments
from tests.security.urlwalk import Route

pytestmark = pytest.mark.django_db

POST_ROUTES = [
    r
    for r in APP_ROUTES
    if "POST" in EXPECTED.get(r.name, ("POST",))[0].split() and r.name not in TOKEN_AUTHENTICATED
]


def signed_in_client(route: Route, world: World) -> Client:
    client = Client(enforce_csrf_checks=True)
    allowed = EXPECTED[route.name][1]
    who = next((r for r in ("nurse", "pharmacist", "coder", "admin") if r in allowed), None)
    if who is not None and route.name not in ("login",):
        client.force_login(world.users[who])
    return client


def token(client: Client) -> str:
    # Any page the client may see carries the token in <body hx-headers>.
    html = client.get("/accounts/login/").content.decode()
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html) or re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.mark.parametrize("route", POST_ROUTES, ids=lambda r: r.name)
def test_a_post_without_the_token_is_refused(route: Route, world: World) -> None:
    path = route.path(arguments(route, world))
    client = signed_in_client(route, world)
    plain = client.post(path, {})
    htmx = client.post(path, {}, headers={"HX-Request": "true"})
    assert plain.status_code == 403, f"POST {path} without a token: {plain.status_code}"
    assert htmx.status_code == 403, f"htmx POST {path} without a token: {htmx.status_code}"
    assert b"CSRF" in plain.content


@pytest.mark.parametrize("route", POST_ROUTES, ids=lambda r: r.name)
def test_a_post_with_the_htmx_header_token_gets_through(route: Route, world: World) -> None:
    path = route.path(arguments(route, world))
    client = signed_in_client(route, world)
    response = client.post(path, {}, headers={"HX-Request": "true", "X-CSRFToken": token(client)})
    assert response.status_code != 403 or b"CSRF" not in response.content
    assert response.status_code < 500


def test_every_post_url_is_covered() -> None:
    assert {r.name for r in POST_ROUTES} >= {"mar:encounter_sign", "coding:accept", "login"}
