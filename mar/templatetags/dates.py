"""`dates_whole`: text whose dates (YYYY-MM-DD) are never broken across two lines.

A date in prose ("corrected by coder 2026-12-06 06:20: ...") in a narrow cell broke after a
hyphen ("2026-12-" / "06", walk20); each date is wrapped in a span that does not wrap, the text
around it still wraps between words. The text is escaped first.
"""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@register.filter
def dates_whole(text: object) -> SafeString:
    wrapped = _DATE.sub(lambda m: f'<span class="text-nowrap">{m.group(0)}</span>', escape(text))
    return mark_safe(wrapped)  # escaped above; only the spans are added
