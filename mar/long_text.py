"""A long text a person typed, shown in a page: its head, the rest behind "Show all" (the Jinja
pages' `text_head` filter and templates/_clamp.jinja, the Django pages' `clamp` tag in
mar/templatetags/text_clamp.py)."""

from __future__ import annotations

# A text typed by a person (an addendum's reason) is shown whole up to about this many characters;
# longer, its head and a native <details> "Show all" (QA: a 3,800-character reason above the coder's
# charge lines pushed them and the class-change alert far below the fold).
TEXT_HEAD_CHARS = 300


def text_head(value: object, limit: int = TEXT_HEAD_CHARS) -> str:
    """The text whole when it is at most `limit` characters; otherwise its first `limit` or
    fewer, cut after a word when one ends in the last third (`head != text`: there is more)."""
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > limit * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:.\n")
