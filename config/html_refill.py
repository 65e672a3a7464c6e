"""Put what was typed back into a page's form, in its HTML (no JavaScript needed).

`form_refill(html, page=..., post=..., fields=...)` finds the form marked `data-session-check`
that posts to `post` (its `action`, read against the page's address `page`; no action: the page
itself), or when none is marked there a form posting there all the same (the chart's card and
care forms, which JavaScript sends by htmx and which a page without it posts plainly), the one
holding most of the fields' names when several do, and gives the page back
with that form's fields holding the values as they were posted: text inputs and hidden fields
their `value`, a textarea its text, a select its options selected, a checkbox or radio checked
when its value was posted (unchecked when not: the whole form was posted). A password or file
input and the buttons are never touched, nor the CSRF token (the page's own is fresh). A
`<details>` around the form is opened. None when no marked form posts there; else the page and
whether a field one sees (not hidden) holds something typed (a form of buttons only has none).

Plain text in, plain text out: the page is parsed only to find where each tag starts and ends;
everything else is left byte for byte as rendered.
"""

from __future__ import annotations

import html
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

NEVER_FILLED = {"password", "file", "submit", "button", "reset", "image"}
CSRF_FIELD = "csrfmiddlewaretoken"

Attrs = list[tuple[str, str | None]]


@dataclass
class _Tag:
    tag: str
    attrs: Attrs
    start: int
    end: int  # just past the '>'
    closed_at: int = -1  # where its end tag starts (textarea, option, select)
    self_closing: bool = False

    def get(self, name: str) -> str | None:
        for key, value in self.attrs:
            if key == name:
                return value if value is not None else ""
        return None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.attrs)


@dataclass
class _Form:
    tag: _Tag
    details: list[_Tag]
    marked: bool = False  # data-session-check: a plain form that posts
    controls: list[_Tag] = field(default_factory=list)
    options: dict[int, list[_Tag]] = field(default_factory=dict)  # select's index -> options


class _Scan(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.lines = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.lines.append(i + 1)
        self.forms: list[_Form] = []
        self.details: list[_Tag] = []
        self.form: _Form | None = None
        self.open: _Tag | None = None  # the textarea, select or option whose end is awaited
        self.select: _Tag | None = None
        self.broken = False

    def _at(self) -> int:
        line, col = self.getpos()
        return self.lines[line - 1] + col

    def _tag(self, tag: str, attrs: Attrs, self_closing: bool) -> _Tag:
        raw = self.get_starttag_text() or ""
        start = self._at()
        if self.text[start : start + len(raw)] != raw:
            self.broken = True  # never splice at a guessed place
        return _Tag(tag, attrs, start, start + len(raw), self_closing=self_closing)

    def handle_startendtag(self, tag: str, attrs: Attrs) -> None:
        self._start(self._tag(tag, attrs, True))

    def handle_starttag(self, tag: str, attrs: Attrs) -> None:
        self._start(self._tag(tag, attrs, False))

    def _start(self, tag: _Tag) -> None:
        if tag.tag == "details":
            self.details.append(tag)
        elif tag.tag == "form":
            self.form = _Form(tag, list(self.details), marked=tag.has("data-session-check"))
            if (tag.get("method") or "get").lower() == "post":
                self.forms.append(self.form)
        elif self.form is None:
            return
        elif tag.tag in ("input", "textarea", "select"):
            self.form.controls.append(tag)
            self.open = tag if tag.tag != "input" else None
            self.select = tag if tag.tag == "select" else self.select
        elif tag.tag == "option" and self.select is not None:
            self._close_option()
            self.form.options.setdefault(id(self.select), []).append(tag)
            self.open = tag

    def _close_option(self) -> None:
        if self.open is not None and self.open.tag == "option":
            self.open.closed_at = self._at()

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self.details:
            self.details.pop()
        elif tag == "form":
            self.form = None
        elif tag == "option":
            self._close_option()
            self.open = None
        elif tag == "select":
            self._close_option()
            self.open = self.select = None
        elif tag == "textarea" and self.open is not None and self.open.tag == "textarea":
            self.open.closed_at = self._at()
            self.open = None


def _rebuilt(tag: _Tag, attrs: Attrs) -> str:
    parts = [f"<{tag.tag}"]
    for key, value in attrs:
        parts.append(f" {key}" if value is None else f' {key}="{html.escape(value)}"')
    return "".join(parts) + (" />" if tag.self_closing else ">")


def _set(attrs: Attrs, name: str, value: str | None, present: bool = True) -> Attrs:
    """`attrs` with `name` set to `value` in its place (added last), or without it."""
    if not present:
        return [(k, v) for k, v in attrs if k != name]
    if any(k == name for k, _ in attrs):
        return [(k, value if k == name else v) for k, v in attrs]
    return attrs + [(name, value)]


def _posts_to(form: _Form, page: str, post: str) -> bool:
    action = form.tag.get("action") or ""
    target = urlsplit(urljoin(page, action))
    wanted = urlsplit(post)
    return (target.path, target.query) == (wanted.path, wanted.query)


def _names(form: _Form) -> set[str]:
    return {c.get("name") or "" for c in form.controls} - {""}


@dataclass(frozen=True)
class Refilled:
    page: str
    typed_shown: bool  # a field one sees was filled (not only hidden ones)


def form_refill(
    text: str, *, page: str, post: str, fields: list[tuple[str, list[str]]]
) -> Refilled | None:
    scan = _Scan(text)
    scan.feed(text)
    scan.close()
    if scan.broken:
        return None
    typed = {name: list(values) for name, values in fields if name != CSRF_FIELD}
    candidates = [f for f in scan.forms if _posts_to(f, page, post)]
    candidates = [f for f in candidates if f.marked] or candidates
    if not candidates:
        return None
    form = max(candidates, key=lambda f: len(_names(f) & typed.keys()))  # first of the best
    left = {name: deque(values) for name, values in typed.items()}
    edits: list[tuple[int, int, str]] = []
    shown = False
    for control in form.controls:
        name = control.get("name")
        if not name or name == CSRF_FIELD or control.has("disabled"):
            continue
        kind = (control.get("type") or "text").lower()
        if control.tag == "input" and kind in NEVER_FILLED:
            continue
        if control.tag == "input" and kind in ("checkbox", "radio"):
            on = (control.get("value") or "on") in typed.get(name, [])
            shown = shown or name in typed
            attrs = _set(control.attrs, "checked", None, present=on)
            edits.append((control.start, control.end, _rebuilt(control, attrs)))
        elif name not in left:
            continue  # not posted (a field the page drew since): as the page draws it
        elif control.tag == "input":
            value = left[name].popleft() if left[name] else ""
            shown = shown or (kind != "hidden" and value != "")
            attrs = _set(control.attrs, "value", value)
            edits.append((control.start, control.end, _rebuilt(control, attrs)))
        elif control.tag == "textarea" and control.closed_at >= control.end:
            value = left[name].popleft() if left[name] else ""
            shown = shown or value != ""
            edits.append((control.end, control.closed_at, "\n" + html.escape(value)))
        elif control.tag == "select":
            shown = True
            chosen = set(left[name]) if control.has("multiple") else set(list(left[name])[:1])
            if not control.has("multiple") and left[name]:
                left[name].popleft()
            for option in form.options.get(id(control), []):
                value = option.get("value")
                if value is None:  # an option without a value sends its text
                    end = option.closed_at if option.closed_at >= option.end else option.end
                    value = html.unescape(text[option.end : end]).strip()
                attrs = _set(option.attrs, "selected", None, present=value in chosen)
                edits.append((option.start, option.end, _rebuilt(option, attrs)))
    for details in form.details:
        if not details.has("open"):
            attrs = details.attrs + [("open", None)]
            edits.append((details.start, details.end, _rebuilt(details, attrs)))
    out = []
    at = 0
    for start, end, new in sorted(edits):
        out.append(text[at:start])
        out.append(new)
        at = end
    out.append(text[at:])
    return Refilled("".join(out), shown)
