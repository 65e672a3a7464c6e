"""The timeline is readable at arm's length on a tablet and a laptop (screens.md: 16 px text,
768 px wide): its text is not scaled down with the screen, every drug's name is dark, clear of
other names and of the bars, the shortest push is still a mark, and pauses are hatched as the
legend says."""

import pytest
from django.urls import reverse

from mar.models import Pause
from tests.browser.readable import readable_world, sign_in, visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (768, 1024)

# Each text of the timeline as drawn: its size on screen (font size times the SVG's scale), its
# fill, and its box; each mark (bar or point) with its box.
MEASURE = """svg => {
  const box = e => { const r = e.getBoundingClientRect();
                     return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const texts = [...svg.querySelectorAll('text')].map(t => ({
    text: t.textContent.trim(),
    px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
    fill: getComputedStyle(t).fill,
    name: t.classList.contains('tl-bar-label'),
    box: box(t),
  }));
  const marks = [...svg.querySelectorAll('.tl-bar, .tl-point')].map(g => {
    const shapes = [...g.querySelectorAll('rect, circle')].map(box);
    return {
      id: g.dataset.administration,
      shapes,
      width: Math.max(...shapes.map(s => s.right)) - Math.min(...shapes.map(s => s.left)),
    };
  });
  return {texts, marks};
}"""


def luminance(css: str) -> float:
    r, g, b = (int(c) / 255 for c in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def timelines(world) -> list[tuple[str, str]]:
    paused = Pause.objects.select_related("administration").first()
    assert paused is not None
    return [
        ("nurse", reverse("mar:encounter", args=[world.severities.pk])),
        ("nurse", reverse("mar:encounter", args=[paused.administration.encounter_id])),
        ("coder", reverse("coding:encounter_charges", args=[world.signed[0].pk])),
    ]


def test_timeline_text_is_16px_dark_and_clear_of_marks_at_768_and_1024(
    browser_page, live_server
) -> None:
    world = readable_world()
    page = browser_page
    for role, path in timelines(world):
        sign_in(page, live_server, role)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            visit(page, live_server, path)
            drawn = page.locator("svg.timeline-svg").evaluate(MEASURE)
            where = f"{path} at {width} px"
            names = [t for t in drawn["texts"] if t["name"]]
            assert len(names) == len(drawn["marks"]) > 0, where
            for text in drawn["texts"]:
                assert text["px"] >= 16, (where, text["text"], text["px"])
            for text in names:
                # Dark on the light lane: contrast with white at least 4.5:1 (WCAG AA).
                assert 1.05 / (luminance(text["fill"]) + 0.05) >= 4.5, (where, text)
                for other in names:
                    assert other is text or not overlap(text["box"], other["box"]), (where, text)
                for mark in drawn["marks"]:
                    for shape in mark["shapes"]:
                        assert not overlap(text["box"], shape), (where, text["text"], mark["id"])
            for mark in drawn["marks"]:
                assert mark["width"] >= 12, (where, mark)  # a two-minute push is findable


def test_pauses_are_hatched_as_the_legend_says(browser_page, live_server) -> None:
    world = readable_world()
    page = browser_page
    sign_in(page, live_server, "nurse")
    visit(page, live_server, timelines(world)[1][1])
    assert "hatched: paused" in page.inner_text("figure.timeline figcaption")
    pauses = page.locator("svg.timeline-svg .tl-pause")
    assert pauses.count() >= 1
    swatch = page.locator("figure.timeline figcaption .tl-pause")
    for rect in (*(pauses.nth(i) for i in range(pauses.count())), swatch):
        assert rect.evaluate("e => getComputedStyle(e).fill") == 'url("#tl-hatch")'
    # The pattern is defined once, in the timeline itself, and draws stripes on a light ground.
    hatch = page.locator("pattern#tl-hatch")
    assert hatch.count() == 1
    assert hatch.evaluate("p => getComputedStyle(p.querySelector('line')).stroke") != "none"
    assert hatch.evaluate("p => p.getAttribute('patternTransform')") == "rotate(45)"
