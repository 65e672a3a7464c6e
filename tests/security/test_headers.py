"""Security headers and the content security policy on every kind of response."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def csp_directives(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.mark.parametrize("path", ["/accounts/login/", "/healthz", "/no-such-page/"])
def test_anonymous_responses_carry_the_policy(client: Client, path: str) -> None:
    response = client.get(path)
    directives = csp_directives(response)
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_pages_with_patient_data_are_not_cached(client_as) -> None:  # type: ignore[no-untyped-def]
    response = client_as("nurse").get("/", follow=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers


def test_the_login_page_has_no_inline_script_or_style(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert "<script>" not in html and "<style" not in html and "style=" not in html
    assert "includeIndicatorStyles" in html  # htmx would otherwise inject a <style>
