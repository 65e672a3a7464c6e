"""A long text a person typed, in a Django template's table row: its head and a native <details>
"Show all" (the Jinja pages' macro is templates/_clamp.jinja; both cut with `text_head`)."""

from __future__ import annotations

from django import template

from mar.long_text import text_head

register = template.Library()


@register.inclusion_tag("_clamp.html")
def clamp(text: object, limit: int = 160, testid: str = "clamp") -> dict[str, object]:
    """`text` whole up to `limit` characters; longer, its head and "Show all (N characters)"."""
    whole = "" if text is None else str(text)
    head = text_head(whole, limit)
    return {"whole": whole, "head": head, "cut": head != whole, "testid": testid}
