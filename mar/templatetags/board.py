"""`{% board_card card %}`: one visit's card on the board, its markup built in Python.

Issue 19: the board renders a page of 48 cards; through the template engine each card's ~20
lookups, filters and tags were most of the page's time. The markup is what the loop in
mar/board.html gave (tests/mar/test_views_board.py reads it as a nurse would: the state, the
open items, what runs, the coder's query flag).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst, slugify

register = template.Library()


def _open_items(card: dict[str, Any]) -> SafeString:
    items = card["open_items"]
    if not items:
        return format_html('<span class="text-success">{}</span>', "Checklist clear")
    badge = "text-bg-danger" if card["open_errors"] else "text-bg-warning"
    return format_html(
        '<span class="badge {}">{}</span> open checklist item{}',
        badge,
        items,
        "" if items == 1 else "s",
    )


_QUERY_FLAG = mark_safe(
    '<div class="mt-1" data-testid="coder-query-flag"><span class="badge '
    'text-bg-warning">Query from coding</span> answer with an addendum</div>'
)


@register.simple_tag
def board_card(card: dict[str, Any]) -> SafeString:
    encounter = card["encounter"]
    state = card["state"]
    slug = slugify(state)
    open_items = (
        format_html('<div class="mt-1" data-testid="open-items">{}</div>', _open_items(card))
        if not encounter.is_signed
        else ""
    )
    query = _QUERY_FLAG if getattr(encounter, "coder_query", False) else ""
    running = format_html_join(
        "",
        '<div class="mt-1">{}: {}, {} min</div>',
        (
            ("Paused" if paused else "Running", name, minutes)
            for name, minutes, paused in card["running"]
        ),
    )
    # A signed record's infusion with no stop (mar/views.py `board`): as the chart's card says.
    no_stop = format_html_join(
        "",
        '<div class="mt-1" data-testid="no-stop">{}</div>',
        (
            (
                format_html("On a {} pump: {}, {} h planned", pump, name, floatformat(hours, -2))
                if pump
                else format_html("No stop charted: {}", name),
            )
            for name, pump, hours in card.get("no_stop", ())
        ),
    )
    return format_html(
        '<div class="col-12 col-sm-6 col-lg-4 col-xl-3">'
        '<a class="card board-card board-{} text-decoration-none h-100" href="{}" '
        'data-testid="encounter-card"><div class="card-body">'
        '<div class="d-flex justify-content-between align-items-start">'
        '<span class="board-chair">{}</span>'
        '<span class="badge state-{}" data-testid="state">{}</span></div>'
        '<div class="mt-2 fw-semibold">{}</div>'
        '<div class="text-body-secondary">MRN {}</div>'
        "{}{}{}{}</div></a></div>",
        slug,
        reverse("mar:encounter", args=[encounter.pk]),
        encounter.location_label or "–",
        slug,
        capfirst(state),
        encounter.patient.name,
        encounter.patient.mrn,
        open_items,
        query,
        running,
        no_stop,
    )
