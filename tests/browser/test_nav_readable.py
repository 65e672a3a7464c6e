"""The top bar's links are read as links and say where she is (walk20): Bootstrap drew them 55 %
white on the primary blue, 2.4:1, so "Formulary" and "Coding" looked greyed out, and nothing
marked the section the page is in. Every link now meets 4.5:1 and the section's is marked
(aria-current) and underlined, for each role's start page and a page of another section."""

import pytest

from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each link of the bar: its text, colour contrast against the bar, whether marked current and
# underlined.
NAV_LINKS = """() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const nav = document.querySelector('nav.navbar');
  const bg = rgb(getComputedStyle(nav).backgroundColor);
  return [...nav.querySelectorAll('.navbar-nav .nav-link')].map(a => {
    const style = getComputedStyle(a);
    const [r, g, b, alpha = 1] = rgb(style.color);
    const fg = [r, g, b].map((v, i) => v * alpha + bg[i] * (1 - alpha));
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return {text: a.textContent.trim(), contrast: (hi + 0.05) / (lo + 0.05),
            current: a.getAttribute('aria-current'),
            underlined: style.textDecorationLine.includes('underline')};
  });
}"""

PAGES = [
    ("nurse", "/mar/board/", "Board"),
    ("nurse", "/pharmacy/formulary/", "Formulary"),
    ("pharmacist", "/pharmacy/", "Pharmacy"),
    ("coder", "/coding/worklist/", "Coding"),
    ("coder", "/pharmacy/formulary/", "Formulary"),
    ("clerk", "/registration/", "Registration"),
    ("admin", "/interfaces/hl7/", "Interfaces"),
]


def test_the_bar_links_are_readable_and_mark_the_section_the_page_is_in(
    browser_page, live_server
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    problems: list[str] = []
    for username in {username for username, _, _ in PAGES}:
        factories.user_create(username=f"nav-{username}", role=username)
    for username, path, section in PAGES:
        page.context.clear_cookies()
        sign_in(page, live_server, f"nav-{username}")
        page.goto(f"{live_server.url}{path}")
        links = page.evaluate(NAV_LINKS)
        assert links, f"{username} {path}: no links in the bar"
        for link in links:
            if link["contrast"] < 4.5:
                problems.append(f"{username} {path}: {link['text']} {link['contrast']:.2f}:1")
        marked = [(link["text"], link["underlined"]) for link in links if link["current"]]
        if marked != [(section, True)]:
            problems.append(f"{username} {path}: marked {marked}, expected {section}")
    assert not problems, "\n".join(problems)
