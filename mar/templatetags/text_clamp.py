"""A long text a person typed, in a Django template's table row: its head and a native <details>
"Show all" (the Jinja pages' macro is templates/_clamp.jinja; both cut with `text_head`)."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from mar.long_text import text_head

register = template.Library()


@register.simple_tag
def clamp(text: object, limit: int = 160, testid: str = "clamp") -> SafeString:
    """`text` whole up to `limit` characters; longer, its head and "Show all (N characters)".
    Rendered without the template file's final newline: a quoted text ends at its last
    character (QA: the payers page read “... defaults ”)."""
    whole = "" if text is None else str(text)
    head = text_head(whole, limit)
    context = {"whole": whole, "head": head, "cut": head != whole, "testid": testid}
    # _clamp.html autoescapes `whole` and `head`; only the file's trailing newline is dropped.
    return mark_safe(render_to_string("_clamp.html", context).rstrip("\n"))  # noqa: S308
