"""Security headers and the content security policy on every kind of response."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def csp_directives(response) -> dict[str, str]:
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
    assert "camera=(self)" in response.headers["Permissions-Policy"]


def test_pages_with_patient_data_are_not_cached(client_as) -> None:
    response = client_as("nurse").get("/", follow=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers


def test_the_login_page_has_no_inline_script_or_style(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert "<script>" not in html and "<style" not in html and "style=" not in html
    assert "includeIndicatorStyles" in html  # htmx would otherwise inject a <style>


def test_production_keeps_the_policy_lockout_and_history() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="production",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
        ALLOWED_HOSTS="mar.example.org",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything",
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.MIDDLEWARE.index('csp.middleware.CSPMiddleware') == 1, "
        "s.AUTHENTICATION_BACKENDS[0], "
        "'mar.audit.context.HistoryMiddleware' in s.MIDDLEWARE, "
        "hasattr(s, 'CONTENT_SECURITY_POLICY_REPORT_ONLY'), s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_HTTPONLY, 'config.security.LoopbackOnlyMiddleware' in s.MIDDLEWARE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "True", "mar.audit.lockout.LockoutBackend", "True", "False", "True", "True", "False",
    ]  # fmt: skip


def test_django_sends_the_headers_it_owns_once(client: Client) -> None:
    """X-Content-Type-Options, Referrer-Policy, COOP come from Django's SecurityMiddleware
    (settings), the policy from django-csp: each header once, no home-made duplicate."""
    response = client.get("/accounts/login/")
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    raw = [name.lower() for name, _ in response.items()]
    for header in ("content-security-policy", "x-content-type-options", "referrer-policy"):
        assert raw.count(header) == 1


def test_report_only_sends_the_same_policy_as_report_only() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", CSP_REPORT_ONLY="1")
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(hasattr(s, 'CONTENT_SECURITY_POLICY'), "
        "s.CONTENT_SECURITY_POLICY_REPORT_ONLY['DIRECTIVES']['script-src'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "[\"'self'\"]"]
