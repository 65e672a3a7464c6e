"""Works at 768 px wide (screens.md): no main page of any role is wider than the screen, on a
tablet or a small laptop; wide tables scroll inside themselves and long badges wrap. The world
has a verified order, whose badge once widened the pharmacy's queue and the coder's record."""

import pytest

from tests.browser.readable import main_pages, readable_world, sign_in, visit
from tests.browser.test_widths import tables_cut

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (768, 1024)
OVERFLOW = """() => { const root = document.documentElement;
  return root.scrollWidth > root.clientWidth ? [root.scrollWidth, root.clientWidth] : null; }"""


def test_no_main_page_is_wider_than_the_screen_at_768_or_1024(browser_page, live_server) -> None:
    world = readable_world()
    page = browser_page
    wide: list[str] = []
    cut: list[str] = []
    review_pages = 0
    verified_badges = 0
    for username, paths in main_pages(world).items():
        sign_in(page, live_server, username)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 1024})
            for path in paths:
                visit(page, live_server, path)
                verified_badges += page.locator("[data-testid=order-verified]").count()
                overflow = page.evaluate(OVERFLOW)
                if overflow:
                    wide.append(f"{username} {path} at {width}: {overflow[0]} px wide")
                if path.startswith("/coding/encounters/"):
                    # The review page hides no column: each table fits the box that shows it.
                    review_pages += 1
                    cut += [f"{username} {path} at {width}: {t}" for t in tables_cut(page)]
    assert verified_badges >= 2  # the pharmacy's queue and the coder's record both drew one
    assert not wide, "\n".join(wide)
    assert review_pages >= 2  # the coder's review page, at both widths
    assert not cut, "\n".join(cut)
