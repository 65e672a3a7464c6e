"""Readable at arm's length (screens.md: 16 px base text): no text on any main page of any role is
drawn under 16 px, at tablet width, with the folds open; badges, rule ids, times and the coder's
record tables included."""

import pytest

from tests.browser.readable import main_pages, open_every_fold, readable_world, sign_in, visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each visible text, with the size it is drawn at: [font size in px, tag.class, the text].
TEXTS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const e = node.parentElement;
    if (!node.textContent.trim() || !e || !e.getClientRects().length) continue;
    const style = getComputedStyle(e);
    if (style.visibility === 'hidden' || e.closest('.visually-hidden, title')) continue;
    const scale = e.closest('svg') ? e.getScreenCTM().a : 1;
    out.push([parseFloat(style.fontSize) * scale,
              e.tagName.toLowerCase() + '.' + [...e.classList].join('.'),
              node.textContent.trim().slice(0, 40)]);
  }
  return out;
}"""

# What the audit found under 16 px: each must be on some page, and at 16 px or more.
LISTED = {
    "board state labels": "[data-testid=encounter-card] [data-testid=state]",
    "rule ids on checklist items": ".ck-rule",
    "a site's placed time": "[data-testid=site-chip] .small",
    "an administration card's dose line": "[data-testid=adm-card] .small",
    "the coder's record tables": "table.small td",
    "the coder's why text": "[data-testid=charge-line] td.small",
    "the Not verified by pharmacy badge": "[data-testid=order-unverified]",
    "badges": ".badge",
}
SIZES = "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"


def test_no_text_is_under_16px_on_any_main_page_at_768(browser_page, live_server) -> None:
    world = readable_world()
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    small: list[str] = []
    listed: dict[str, list[float]] = {name: [] for name in LISTED}
    for username, paths in main_pages(world).items():
        sign_in(page, live_server, username)
        for path in paths:
            visit(page, live_server, path)
            open_every_fold(page)
            for size, element, text in page.evaluate(TEXTS):
                if size < 16:
                    small.append(f"{username} {path}: {size:.1f}px {element} {text!r}")
            for name, selector in LISTED.items():
                listed[name] += page.locator(selector).evaluate_all(SIZES)
    assert not small, "\n".join(small)
    for name, sizes in listed.items():
        assert sizes, f"no {name} on any page: the world lacks them"
        assert min(sizes) >= 16, (name, min(sizes))
