"""Every main page, as each role, in real Chromium under the content security policy: no
violation reported in the console (no inline script or style, nothing from elsewhere)."""

from __future__ import annotations

import pytest

from tests import factories
from tests.browser.conftest import ARTIFACTS
from tests.security.conftest import World, world_create
from tests.security.test_permissions import APP_ROUTES, EXPECTED, arguments

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROLES = ("nurse", "pharmacist", "coder", "admin")


def main_pages(role: str, world: World) -> list[str]:
    paths = []
    for route in APP_ROUTES:
        methods, allowed, _kind = EXPECTED.get(route.name, ("", frozenset(), ""))
        if "GET" in methods.split() and role in allowed and route.name not in ("healthz",):
            paths.append(route.path(arguments(route, world)))
    return paths


@pytest.fixture
def sample_world(role_users) -> World:
    return world_create(role_users)


def test_no_page_violates_the_content_security_policy(
    browser_page, live_server, sample_world
) -> None:
    page, world = browser_page, sample_world
    problems: list[str] = []
    current = {"url": ""}

    def on_console(message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            problems.append(f"{current['url']}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{current['url']}: JS error {error}"))
    seen = 0
    for role in ROLES:
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", world.users[role].username)
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        for path in main_pages(role, world):
            current["url"] = f"{path} as {role}"
            head = page.request.get(f"{live_server.url}{path}")
            if not head.headers.get("content-type", "").startswith("text/html"):
                continue  # a download (CSV, export): no page to render
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status < 400, current["url"]
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            page.wait_for_load_state("networkidle")
            seen += 1
            policy = response.headers.get("content-security-policy", "")
            directives = [part.strip() for part in policy.split(";")]  # any order (django-csp)
            assert "default-src 'self'" in directives and "script-src 'self'" in directives
        page.screenshot(path=str(ARTIFACTS / f"csp-{role}.png"), full_page=True)
    assert seen >= 10
    assert not problems, "\n".join(problems)

    # The control: an inline style is refused and the refusal reaches this listener.
    current["url"] = "control"
    page.evaluate(
        "() => { const s = document.createElement('style');"
        " s.textContent = 'body { color: red }'; document.head.appendChild(s); }"
    )
    page.wait_for_timeout(500)
    assert any(problem.startswith("control:") for problem in problems)
