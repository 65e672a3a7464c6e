"""Every control is a 44 px touch target at tablet width (screens.md: "44 px touch targets, works
at 768 px wide"): links, buttons, fields and the summaries that fold sections, on every main page
of every role, with the folds open. The timeline's bars are left out: they take keyboard focus to
show their tooltip, and nothing happens on a tap."""

import pytest

from tests.browser.readable import (
    INTERACTIVE,
    main_pages,
    open_every_fold,
    readable_world,
    sign_in,
    visit,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A skip link (Bootstrap's visually-hidden-focusable) is a 1 px keyboard affordance until it is
# focused: measured focused instead (below).
SMALL_TARGETS = """selector => [...document.querySelectorAll(selector)]
  .filter(e => !e.closest('svg'))
  .filter(e => !e.matches('.visually-hidden-focusable:not(:focus)'))
  .filter(e => { const s = getComputedStyle(e);
                 return s.visibility !== 'hidden' && e.getClientRects().length; })
  .map(e => { const r = e.getBoundingClientRect();
              return [e.outerHTML.slice(0, 90), Math.round(r.width), Math.round(r.height)]; })
  .filter(([, w, h]) => w < 44 || h < 44)"""


def test_every_control_is_at_least_44px_by_44px_at_768(browser_page, live_server) -> None:
    world = readable_world()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    small: list[str] = []
    for username, paths in main_pages(world).items():
        sign_in(page, live_server, username)
        for path in paths:
            visit(page, live_server, path)
            open_every_fold(page)
            for html, width, height in page.evaluate(SMALL_TARGETS, INTERACTIVE):
                small.append(f"{username} {path}: {width}x{height} {html}")
            for link in page.locator(".visually-hidden-focusable").all():
                link.focus()
                box = link.bounding_box()
                if box is None or box["width"] < 44 or box["height"] < 44:
                    small.append(f"{username} {path}: focused {box} {link.inner_text()}")
    assert not small, "\n".join(small)


def test_the_board_cards_keep_their_layout_under_the_44px_link_rule(
    browser_page, live_server
) -> None:
    """A board card is a link: its chair number and patient stay at its left edge, not centred."""
    readable_world()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, live_server, "nurse")
    visit(page, live_server, "/mar/board/")
    cards = page.locator("[data-testid=encounter-card]")
    assert cards.count() >= 3
    for i in range(cards.count()):
        card = cards.nth(i).bounding_box()
        chair = cards.nth(i).locator(".board-chair").bounding_box()
        assert card and chair and chair["x"] - card["x"] < 32, i


# main's `overflow-wrap: anywhere` (mar.css, for long unbroken text) lets a flex row squeeze a
# button below its label's width: the board's "Open" read "Ope / n", the formulary's "Search"
# "Searc / h", the measures' "Chart" "Cha / rt".
BROKEN_WORDS = """() => [...document.querySelectorAll('main .btn')]
  .filter(e => e.getClientRects().length)
  .map(e => [e.textContent.trim(), e])
  .filter(([label]) => label && !/\\s/.test(label))
  .filter(([, e]) => { const range = document.createRange(); range.selectNodeContents(e);
    const lines = [...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top));
    return new Set(lines).size > 1; })
  .map(([label]) => label)"""


def test_no_one_word_button_is_broken_across_lines_at_768(browser_page, live_server) -> None:
    world = readable_world()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    broken: list[str] = []
    for username, paths in main_pages(world).items():
        sign_in(page, live_server, username)
        for path in paths:
            visit(page, live_server, path)
            open_every_fold(page)
            broken += [f"{username} {path}: {label}" for label in page.evaluate(BROKEN_WORDS)]
    assert not broken, "\n".join(broken)


CHECKBOXES = """() => [...document.querySelectorAll('input[type=checkbox]')]
  .filter(e => getComputedStyle(e).visibility !== 'hidden' && e.getClientRects().length)
  .map(e => { const box = e.getBoundingClientRect();
              const holder = e.closest('.form-check') || e.closest('label') || e;
              const row = holder.getBoundingClientRect();
              return [e.outerHTML.slice(0, 90), Math.round(box.width), Math.round(row.height)]; })
  .filter(([, side, row]) => side < 28 || row < 44)"""


def test_every_checkbox_is_a_28px_box_on_a_44px_row_at_768(browser_page, live_server) -> None:
    """QA: the sign-off's confirmation and the second nurse's check were 16 px boxes. A checkbox
    with its label is one target at least 44 px high, the box itself 28 px."""
    world = readable_world()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    small: list[str] = []
    seen = 0
    for username, paths in main_pages(world).items():
        sign_in(page, live_server, username)
        for path in paths:
            visit(page, live_server, path)
            open_every_fold(page)
            seen += page.locator("input[type=checkbox]:visible").count()
            for html, side, row in page.evaluate(CHECKBOXES):
                small.append(f"{username} {path}: box {side} px, row {row} px {html}")
    assert seen >= 3, "the pages' checkboxes (sign-off, second check, filters) were not found"
    assert not small, "\n".join(small)
