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


def drag_taller(page, textarea) -> None:
    """Drag the textarea's corner down, as the pharmacist does to see a long reason: Chromium
    writes its new height into the textarea's style attribute (the user's own, not a violation)."""
    textarea.scroll_into_view_if_needed()  # a row with notes may begin below the fold
    box = textarea.bounding_box()
    assert box is not None
    corner_x, corner_y = box["x"] + box["width"] - 3, box["y"] + box["height"] - 3
    page.mouse.move(corner_x, corner_y)
    page.mouse.down()
    page.mouse.move(corner_x, corner_y + 60, steps=5)
    page.mouse.up()
    assert textarea.get_attribute("style"), "the drag resized the textarea"


def test_verify_and_return_answers_on_the_pharmacists_queue_apply_no_inline_style(
    browser_page, live_server
) -> None:
    """The htmx answers swapped into /pharmacy/orders/ (a refused return, a return, a verify, a
    refused withdrawal) apply no inline style (QA walkthrough: the console said "Applying inline
    style violates … Content Security Policy"). htmx's settle copied the old element's style
    attribute onto its new copy with setAttribute: a reason box the pharmacist had made taller."""
    from playwright.sync_api import expect

    from tests.browser.conftest import sign_in
    from tests.mar.chart_helpers import running_visit

    pharmacist = factories.user_create(username="pharmacist-csp", role="pharmacist")
    encounter, _adm = running_visit()
    verified, returned = (
        factories.order_create(encounter, factories.drug_get(name), dose="8 mg")
        for name in ("ondansetron", "famotidine")
    )
    page = browser_page
    problems: list[str] = []
    step = {"name": "the page"}

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(f"{step['name']}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{step['name']}: JS error {error}"))
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/orders/")
    page.wait_for_load_state("networkidle")

    step["name"] = "a refused return"
    row = page.locator(f"#order-{returned.pk}").first
    row.get_by_test_id("order-return-open").click()
    drag_taller(page, row.locator("textarea[name=reason]"))
    row.get_by_test_id("order-return").click()
    expect(row.get_by_test_id("order-return-reason-error")).to_be_visible()

    step["name"] = "a return"
    row.locator("textarea[name=reason]").fill("Dose over the maximum: please review")
    drag_taller(page, row.locator("textarea[name=reason]"))
    row.get_by_test_id("order-return").click()
    expect(page.locator(f"#returned-orders #order-{returned.pk}")).to_have_count(1)

    step["name"] = "a verify"
    row = page.locator(f"#order-{verified.pk}").first
    row.get_by_test_id("order-return-open").click()
    drag_taller(page, row.locator("textarea[name=reason]"))
    row.get_by_role("button", name="✓ Verify").click()
    expect(page.locator(f"#recently-verified #order-{verified.pk}")).to_have_count(1)

    step["name"] = "a refused withdrawal"
    row = page.locator(f"#returned-orders #order-{returned.pk}")
    row.get_by_test_id("order-return-withdraw-open").click()
    drag_taller(page, row.locator("textarea[name=reason]"))
    row.get_by_test_id("order-return-withdraw").click()
    expect(row.get_by_test_id("order-return-withdraw-reason-error")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # htmx's settle runs after the swap
    page.screenshot(path=str(ARTIFACTS / "csp-pharmacist-queue-swaps.png"), full_page=True)
    assert not problems, "\n".join(problems)
