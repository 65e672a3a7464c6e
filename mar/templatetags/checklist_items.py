"""`{% checklist_groups checklist %}`: the live checklist's groups and items, and
`{% finding_lines items %}`: the list of findings on a card, built in Python.

Issue 19: the checklist is sent with every bedside answer and polled every minute; on a long
visit its item loop through the template engine (~10 lookups an item) cost 6-7 ms of a field
save. The markup is what the loop in mar/_checklist.jinja wrote; every text is escaped, a dose
per m² said as every screen says it (`mar.dosing.dose_shown`)
(tests/mar/test_checklist_items_tag.py reads it back as the template's).
"""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from mar.chart_context import Checklist, Item
from mar.dosing import dose_shown

register = template.Library()


@register.simple_tag
def checklist_groups(checklist: Checklist) -> SafeString:
    out: list[str] = []
    add = out.append
    for group in checklist.groups:
        title = escape(group.title)
        if group.anchor:
            title = f'<a href="#{escape(group.anchor)}" class="ck-jump">{title}</a>'
        add(
            f'<div class="ck-group">\n<h3 class="h6 mb-1">{title}</h3>\n'
            '<ul class="list-unstyled mb-2">\n'
        )
        for item in group.items:
            finding = item.finding
            ack = item.acknowledgement
            anchor = escape(item.anchor)
            rule = escape(finding.rule)
            add(
                f'<li class="ck-item ck-{escape(finding.severity)}{" ck-acked" if ack else ""}" '
                f'data-rule="{rule}" data-testid="checklist-item">\n'
                f'<a href="#{anchor}" class="ck-jump" data-target="{anchor}">'
                f'<span class="ck-rule">{rule}</span> {escape(dose_shown(item.text))}</a>\n'
            )
            if ack:
                add(
                    f'<div class="small">Acknowledged by {escape(ack.by.get_username())}: '
                    f"{escape(ack.reason)}</div>\n"
                )
            add("</li>\n")
        add("</ul>\n</div>\n")
    return mark_safe("".join(out))


@register.simple_tag
def finding_lines(items: list[Item]) -> SafeString:
    """A card's findings (mar/_adm_findings.jinja), one `<li>` each: its rule and words, linking
    to where it is fixed; struck through when acknowledged."""
    return mark_safe(
        "".join(
            f'<li class="ck-{escape(item.finding.severity)}'
            f'{" ck-acked" if item.acknowledgement else ""}">'
            f'<a href="#{escape(item.anchor)}" class="ck-jump">'
            f'<span class="ck-rule">{escape(item.finding.rule)}</span> '
            f"{escape(dose_shown(item.text))}</a></li>"
            for item in items
        )
    )
