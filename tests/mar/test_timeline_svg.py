"""Issue 19: the timeline is drawn as SVG in Python (`{% timeline_svg %}`), not by template
loops. Its output is read back with an XML parser and every mark checked against the Timeline it
was drawn from (mar/timeline.py decides the geometry; the drawing only writes it out)."""

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime

from django.template.loader import render_to_string

from coding.engine import code_record
from mar.templatetags.timeline_svg import timeline_svg
from mar.timeline import Segment, Timeline, build_timeline
from tests.mar.test_timeline import _record

SVG = "{http://www.w3.org/2000/svg}"


def _parsed(timeline: Timeline) -> ET.Element:
    return ET.fromstring(str(timeline_svg(timeline)))


def _number(text: str) -> float:
    return float(text.rstrip("%"))


def test_every_lane_bar_pause_point_flush_and_tick_is_drawn_where_the_timeline_puts_it():
    record = _record()
    now = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    timeline = build_timeline(record, code_record(record, now=now), now=now)
    figure = _parsed(timeline)
    svg = figure.find("div").find(f"{SVG}svg")
    assert svg.get("height") == str(timeline.height)

    lanes = svg.findall(f"{SVG}g[@class='tl-lane']") + svg.findall(
        f"{SVG}g[@class='tl-lane tl-lane-even']"
    )
    assert len(lanes) == len(timeline.lanes)
    sites = sorted(lane.find(f".//{SVG}tspan").text for lane in lanes)
    assert sites == sorted(lane.site for lane in timeline.lanes)

    bars = {g.get("data-administration"): g for g in svg if "tl-bar" in (g.get("class") or "")}
    assert set(bars) == {bar.administration for bar in timeline.bars}
    for bar in timeline.bars:
        group = bars[bar.administration]
        assert group.find(f"{SVG}title").text == bar.title
        assert ("tl-running" in group.get("class")) is bar.running
        assert ("tl-uncharged" in group.get("class")) is not bar.charged
        segments = group.findall(f"{SVG}rect[@fill]")
        assert [(_number(r.get("x")), _number(r.get("width"))) for r in segments] == [
            (s.x, s.width) for s in bar.segments
        ]
        assert all(_number(r.get("y")) == bar.y for r in segments)
        assert segments[-1].get("class") == "tl-seg tl-seg-last"
        pauses = group.findall(f"{SVG}rect[@class='tl-pause']")
        assert [(_number(r.get("x")), _number(r.get("width"))) for r in pauses] == [
            (p.x, p.width) for p in bar.pauses
        ]
        assert group.find(f"{SVG}text").text == bar.label

    points = {g.get("data-administration"): g for g in svg if "tl-point" in (g.get("class") or "")}
    assert set(points) == {point.administration for point in timeline.points}
    for point in timeline.points:
        circle = points[point.administration].find(f"{SVG}circle")
        assert (_number(circle.get("cx")), _number(circle.get("cy"))) == (point.x, point.y)
        assert circle.get("fill") == point.colour

    flushes = svg.findall(f"{SVG}g[@class='tl-flush']")
    assert [_number(g.find(f"{SVG}line").get("x1")) for g in flushes] == [
        f.x for f in timeline.flushes
    ]
    hours = [t.text for t in svg.findall(f"{SVG}text[@class='tl-hour']")]
    assert hours == [tick.label for tick in timeline.ticks]
    now_line = svg.find(f"{SVG}line[@class='tl-now']")
    assert timeline.now_x is not None and _number(now_line.get("x1")) == timeline.now_x
    legend = figure.find("figcaption").itertext()
    text = " ".join(legend)
    for name, _colour in timeline.legend:
        assert name in text


def test_a_name_with_markup_in_it_is_text_not_markup():
    """Drug names are typed by people: `<`, `&` and quotes stay text in the title, the label and
    an attribute."""
    timeline = build_timeline(_record())
    bar = timeline.bars[0]
    odd = '<b>dex & "co"</b>'
    timeline.bars[0] = replace(bar, label=odd, title=odd, administration='A1"x')
    figure = _parsed(timeline)
    group = next(g for g in figure.iter(f"{SVG}g") if g.get("data-administration") == 'A1"x')
    assert group.find(f"{SVG}title").text == odd
    assert group.find(f"{SVG}text").text == odd
    assert "<b>" not in str(timeline_svg(timeline))


def test_a_tiny_width_is_written_in_plain_decimals_as_the_template_wrote_it():
    """A float Python would print as 1e-05 is written 0.00001 (SVG lengths in exponent form are
    valid, but the template never wrote them, and a percentage must stay readable)."""
    timeline = build_timeline(_record())
    bar = timeline.bars[0]
    timeline.bars[0] = replace(bar, segments=(Segment(x=1e-05, width=2.5e-07),))
    rect = next(
        r for r in _parsed(timeline).iter(f"{SVG}rect") if r.get("class") == "tl-seg tl-seg-last"
    )
    assert (rect.get("x"), rect.get("width")) == ("0.00001%", "0.00000025%")


def test_an_empty_timeline_says_nothing_is_charted():
    figure = _parsed(Timeline(height=40))
    assert figure.find("p").text == "Nothing charted yet."
    assert figure.find("div") is None


def test_the_partial_draws_through_the_tag_for_the_chart_and_the_coder_review():
    html = render_to_string("_timeline.html", {"timeline": build_timeline(_record())})
    assert html.strip() == str(timeline_svg(build_timeline(_record()))).strip()


def _shape(element: ET.Element) -> list[tuple[str, str]]:
    """What a mark is drawn with: its drawing elements, each with its class (SVG wrappers,
    titles and labels aside), in order."""
    drawn = ("circle", "line", "polygon", "rect", "path", "ellipse")
    return [
        (e.tag.removeprefix(SVG), e.get("class") or "")
        for e in element.iter()
        if e.tag.removeprefix(SVG) in drawn
    ]


def test_every_kind_of_mark_drawn_has_a_legend_entry_drawn_with_the_same_shape():
    """QA: a rate change was a bold bar like the flush mark and missing from the legend, and a
    push with its stop a short bar where the legend showed ●. Every kind of mark the plot draws
    (`data-mark`) is in the legend (`data-legend`) with the same elements and classes, each kind
    drawn one way only; the kinds of mark differ in shape; every bar colour is a legend colour."""
    from tests.mar.test_timeline import _titrated

    record = _record()
    push_with_stop = {
        "id": "A9", "drug": "ondansetron", "drug_class": "therapeutic", "route": "iv",
        "method": "push", "site": "S2", "start": "2026-03-02T11:05", "stop": "2026-03-02T11:07",
    }  # fmt: skip
    now = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    timelines = [
        build_timeline(record, code_record(record, now=now), now=now),
        build_timeline(_record(administrations=[push_with_stop]), now=now),
        _titrated("2026-03-02T09:30"),
    ]
    drawn: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for timeline in timelines:
        figure = _parsed(timeline)
        svg = figure.find("div").find(f"{SVG}svg")
        legend = figure.find("figcaption")
        entries: dict[str, list[tuple[str, str]]] = {}
        for span in legend:
            if span.get("data-legend") and span.get("data-legend") != "class":
                entries[span.get("data-legend")] = _shape(span.find("svg"))  # HTML: no xmlns
        for mark in svg.iter():
            kind = mark.get("data-mark")
            if kind is None:
                continue
            shape = _shape(mark)
            drawn.setdefault(kind, set()).add(tuple(shape))
            assert kind in entries, f"{kind} is drawn but not in the legend"
            assert shape == entries[kind], (kind, shape, entries[kind])
        fills = {r.get("fill") for r in legend.iter("rect") if r.get("fill")}
        for group in svg:
            if "tl-bar" in (group.get("class") or ""):
                for seg in group.findall(f"{SVG}rect[@fill]"):
                    assert seg.get("fill") in fills
        points = [g for g in svg if "tl-point" in (g.get("class") or "")]
        assert all(g.get("data-mark") == "push" for g in points)
    assert {"push", "flush", "rate", "pause"} <= set(drawn)
    assert all(len(shapes) == 1 for shapes in drawn.values())  # one kind, one shape
    shapes = [next(iter(s)) for s in drawn.values()]
    assert len(set(shapes)) == len(shapes)  # no two kinds look alike
