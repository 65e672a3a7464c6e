"""While the chart's partials move to Jinja2 (issue 19): every Jinja2 render compared with the
Django template it replaces, byte for byte but the CSRF token (MAR_JINJA_COMPARE=1)."""

from __future__ import annotations

import difflib
import itertools
import re
from pathlib import Path
from typing import Any

from django.template import engines

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
_SEEN = itertools.count()
OUT = Path("/tmp/jinja_diff")


def compared(name: str, text: str, context: Any, request: Any) -> None:
    django_name = name.removesuffix(".jinja") + ".html"
    template = engines["django"].get_template(django_name).template  # type: ignore[attr-defined]
    expected = template.render(context)
    mine, theirs = _TOKEN.sub("TOKEN", text), _TOKEN.sub("TOKEN", expected)
    if mine != theirs:
        n = next(_SEEN)
        OUT.mkdir(exist_ok=True)
        (OUT / f"{n}.django.html").write_text(theirs)
        (OUT / f"{n}.jinja.html").write_text(mine)
        diff = "\n".join(
            itertools.islice(
                difflib.unified_diff(theirs.splitlines(), mine.splitlines(), lineterm=""), 40
            )
        )
        raise AssertionError(f"{name} differs from {django_name} ({OUT}/{n}):\n{diff}")
