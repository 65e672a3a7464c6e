"""Real Chromium (Debian's package) driven by Playwright against pytest-django's live server.

Fixture `browser_page`: a fresh page in a browser context of its own (one Chromium per module);
skips when /usr/bin/chromium is missing (bin/test installs it). Screenshots go to
test-artifacts/. Every test of this folder is marked `browser`, whether its module says
so or not (`-m "not browser"` left three behind).
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def _chromium() -> Iterator[object]:
    """One Chromium for a module's tests (launching it took ~1 s a test); each test still gets
    a context of its own (`browser_page`): no cookie, storage or cache carried to the next."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (bin/test installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are
    # still synchronous, so Django's async-safety guard does not apply to them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        from django.db import connections

        connections.close_all()
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_page(_chromium) -> Iterator[object]:
    """A fresh page in a fresh browser context (as a newly launched browser's first page)."""
    browser = _chromium
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    try:
        yield page
    finally:
        # While Playwright's loop runs, the test's ORM calls get their own connection
        # (asgiref keys it by context): close it here or it outlives the test database.
        from django.db import connections

        connections.close_all()
        for each in list(browser.contexts):  # the test's own further contexts too
            each.close()


def sign_in(page, live_server, username: str) -> None:
    """Sign in through the login form as a factory user; wait until the app lets them in (an
    admin lands on /admin/, everyone else on their start page)."""
    from tests import factories

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
