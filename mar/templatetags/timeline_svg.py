"""`{% timeline_svg timeline %}`: the visit timeline (mar/timeline.py) drawn as SVG, in Python.

Issue 19: every bedside answer sends the timeline again, and through the template engine its
loops over lanes, ticks, bars, segments, pauses, rate marks, points and flushes were the largest
part of a card save's rendering on a long visit (8 ms of a field save's 19 ms of templates at
~120 administrations). The geometry is mar/timeline.py's; this only writes it out, every text
escaped. tests/mar/test_timeline_svg.py reads the SVG back with an XML parser and checks every
mark against the Timeline it was drawn from.

Numbers are written as the template wrote them with localization off: an int as is, a float as
`str()` gives it unless that is in exponent form (then in plain decimals, as Django's number
format does: "0.00001", never "1e-05"). `y + n` offsets are taken from the int part of `y`,
as the template's `add` filter did.
"""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.numberformat import format as number_format
from django.utils.safestring import SafeString, mark_safe

from mar.timeline import Timeline

register = template.Library()

_HATCH = (
    "<defs>"
    '<pattern id="tl-hatch" patternUnits="userSpaceOnUse" width="8" height="8" '
    'patternTransform="rotate(45)">'
    '<rect width="8" height="8" class="tl-hatch-ground"/>'
    '<line x1="0" y1="0" x2="0" y2="8" class="tl-hatch-line"/>'
    "</pattern></defs>"
)

# The marks other than the class colours, each drawn in the legend with the same elements and
# classes as in the plot (`data-mark` there, `data-legend` here; tests/mar/test_timeline_svg.py
# holds legend == marks). QA: a rate change was a bold bar like a flush and not in the legend,
# and a push with its stop a short bar where the legend said ●.
_RATE_HEAD = '<polygon points="-7,0 7,0 0,9" class="tl-rate-head"/>'
_LEGEND_FIXED = (
    '<span class="text-nowrap" data-legend="push"><svg width="16" height="16" aria-hidden="true">'
    '<circle cx="8" cy="8" r="7" fill="#495057"/></svg> push / injection</span>\n'
    '<span class="text-nowrap" data-legend="flush"><svg width="16" height="16" aria-hidden="true">'
    '<g class="tl-flush"><line x1="8" y1="2" x2="8" y2="14"/></g></svg> flush</span>\n'
    '<span class="text-nowrap" data-legend="rate"><svg width="16" height="16" aria-hidden="true">'
    '<g class="tl-rate"><line x1="8" y1="4" x2="8" y2="16" class="tl-rate-line"/>'
    f'<svg x="8" y="0" overflow="visible">{_RATE_HEAD}</svg></g></svg> rate change</span>\n'
    '<span class="text-nowrap" data-legend="pause"><svg width="24" height="16" aria-hidden="true">'
    '<rect x="1" y="1" width="22" height="14" class="tl-pause"/></svg> hatched: paused</span>\n'
)
# Only when a bar has no stop: still running (the bedside), or its stop never charted (signed).
_LEGEND_OPEN_END = (
    '<span class="text-nowrap tl-running-swatch" data-legend="open-end">'
    '<svg width="24" height="16" aria-hidden="true">'
    '<rect x="1" y="1" width="22" height="14" rx="3" fill="#adb5bd"/></svg> '
    "dashed outline: {open_end}</span>\n"
)


def _n(value: float) -> str:
    """A number as the template wrote it with localization off."""
    text = str(value)
    if "e" in text:
        return str(number_format(value, "."))
    return text


def _plus(value: float, offset: int) -> str:
    # The template's `|add:n`: int(value) + n.
    return str(int(value) + offset)


@register.simple_tag
def timeline_svg(timeline: Timeline) -> SafeString:
    out: list[str] = ['<figure class="timeline mb-3" aria-label="Timeline of the visit">\n']
    add = out.append
    if timeline.empty:
        add('<p class="text-body-secondary mb-0">Nothing charted yet.</p>\n</figure>')
        return mark_safe("".join(out))
    height = _n(timeline.height)
    add(
        f'<div class="timeline-scroll">\n<svg width="100%" height="{height}" role="img" '
        'class="timeline-svg" xmlns="http://www.w3.org/2000/svg">\n'
        "<title>Timeline: one lane per access site</title>\n"
    )
    add(_HATCH)
    add("\n")
    column = _n(timeline.label_column)
    label_x = _n(timeline.lane_label_x)
    for i, lane in enumerate(timeline.lanes):
        y, lane_height = _n(lane.y), _n(lane.height)
        even = " tl-lane-even" if i % 2 == 1 else ""
        kind = f'<tspan x="{label_x}" dy="20">{escape(lane.kind)}</tspan>' if lane.kind else ""
        add(
            f'<g class="tl-lane{even}">'
            f'<rect x="-{column}" y="{y}" width="{column}" height="{lane_height}"/>'
            f'<rect x="0" y="{y}" width="100%" height="{lane_height}"/>'
            f'<rect x="100%" y="{y}" width="30" height="{lane_height}"/>'
            f'<text x="{label_x}" y="{_plus(lane.y, 24)}" class="tl-lane-label">'
            f'<tspan class="tl-lane-site">{escape(lane.site)}</tspan>{kind}</text></g>\n'
        )
    for tick in timeline.ticks:
        x = _n(tick.x)
        add(
            f'<line x1="{x}%" y1="26" x2="{x}%" y2="{height}" class="tl-grid"/>'
            f'<text x="{x}%" y="20" class="tl-hour" text-anchor="middle">'
            f"{escape(tick.label)}</text>\n"
        )
    for bar in timeline.bars:
        classes = "tl-bar"
        if bar.running:
            classes += " tl-running"
        if not bar.charged:
            classes += " tl-uncharged"
        y = _n(bar.y)
        add(
            f'<g class="{classes}" data-administration="{escape(bar.administration)}" '
            f'tabindex="0"><title>{escape(bar.title)}</title>'
        )
        colour = escape(bar.colour)
        last = len(bar.segments) - 1
        for j, seg in enumerate(bar.segments):
            tail = " tl-seg-last" if j == last else ""
            add(
                f'<rect x="{_n(seg.x)}%" y="{y}" width="{_n(seg.width)}%" height="18" rx="3" '
                f'fill="{colour}" class="tl-seg{tail}"/>'
            )
        for pause in bar.pauses:
            add(
                f'<rect x="{_n(pause.x)}%" y="{y}" width="{_n(pause.width)}%" height="18" '
                'class="tl-pause" data-mark="pause"/>'
            )
        for mark in bar.rate_marks:
            # ▼ just over the bar, a thin line across it: not a flush's tick, not a pause.
            x = _n(mark.x)
            add(
                f'<g class="tl-rate" data-mark="rate" data-testid="rate-mark" '
                f'data-rate="{escape(mark.label)}"'
                # corrected by addendum after the signature: said in its tooltip
                + (f' data-amended="{escape(mark.amended)}"' if mark.amended else "")
                + f"><title>{escape(mark.title)}</title>"
                f'<line x1="{x}%" y1="{_plus(bar.y, -3)}" x2="{x}%" y2="{_plus(bar.y, 21)}" '
                'class="tl-rate-line"/>'
                f'<svg x="{x}%" y="{_plus(bar.y, -9)}" overflow="visible">{_RATE_HEAD}</svg></g>'
            )
        add(
            f'<text x="{_n(bar.label_x)}%" y="{_n(bar.label_y)}" class="tl-bar-label">'
            f"{escape(bar.label)}</text></g>\n"
        )
    for point in timeline.points:
        uncharged = "" if point.charged else " tl-uncharged"
        add(
            f'<g class="tl-point{uncharged}" data-mark="push" '
            f'data-administration="{escape(point.administration)}" tabindex="0">'
            f"<title>{escape(point.title)}</title>"
            f'<circle cx="{_n(point.x)}%" cy="{_n(point.y)}" r="9" fill="{escape(point.colour)}"/>'
            f'<text x="{_n(point.label_x)}%" y="{_n(point.label_y)}" class="tl-bar-label">'
            f"{escape(point.label)}</text></g>\n"
        )
    for flush in timeline.flushes:
        x = _n(flush.x)
        add(
            f'<g class="tl-flush" data-mark="flush"><title>flush {escape(flush.label)}</title>'
            f'<line x1="{x}%" y1="{_n(flush.y)}" x2="{x}%" y2="{_plus(flush.y, 10)}"/></g>\n'
        )
    if timeline.now_x is not None:
        x = _n(timeline.now_x)
        add(f'<line x1="{x}%" y1="26" x2="{x}%" y2="{height}" class="tl-now"/>\n')
    add('</svg>\n</div>\n<figcaption class="timeline-legend">\n')
    for name, colour in timeline.legend:
        add(
            '<span class="text-nowrap" data-legend="class"><svg width="16" height="16" '
            'aria-hidden="true"><rect width="16" height="16" rx="3" '
            f'fill="{escape(colour)}"/></svg> '
            f"{escape(name)}</span>"
        )
    add("\n")
    add(_LEGEND_FIXED)
    if any(bar.running for bar in timeline.bars):
        add(_LEGEND_OPEN_END.format(open_end=escape(timeline.open_end)))
    add("</figcaption>\n</figure>")
    return mark_safe("".join(out))
