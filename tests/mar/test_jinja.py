"""The chart's partials on Jinja2 (mar/jinja.py) mean what the same text meant to Django's
template engine, where they were written first (issue 19: the engine was a third of a chart
page). Each rule below is one the partials lean on; the partials themselves were compared with
their Django originals byte for byte, over the whole test suite, before those were removed."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.template import engines
from django.test import RequestFactory
from django.utils import timezone
from django.utils.safestring import mark_safe

from mar.jinja import jinja, partial_render


def _jinja(source: str, **context: object) -> str:
    return jinja().from_string(source).render(context)


def _django(source: str, **context: object) -> str:
    return engines["django"].from_string(source).render(context)


class _Thing:
    label = "attribute"
    stamp = datetime(2026, 12, 4, 23, 5, tzinfo=UTC)

    def shout(self) -> str:
        return "called"

    def delete(self) -> str:
        raise AssertionError("a template must never call what alters data")

    vars()["delete"].alters_data = True

    def kept(self) -> str:
        return "not called"

    vars()["kept"].do_not_call_in_templates = True

    def needs(self, argument: str) -> str:
        return argument


@pytest.mark.parametrize(
    ("source", "context"),
    [
        # lookups: a dict key before a method of the same name, an attribute, a list index
        ("{{ d.items }}|{{ d.label }}", {"d": {"items": "key", "label": "k2"}}),
        ("{{ t.label }}|{{ t.shout }}|{{ t.delete }}|{{ l.1 }}", {"t": _Thing(), "l": [1, 2]}),
        # what is missing is empty, also deeper and through filters
        ("[{{ missing }}][{{ missing.deeper.still }}][{{ missing|date:'H:i' }}]", {}),
        ("{% if missing.x %}yes{% else %}no{% endif %}", {}),
        # Django's escaping, safe markup kept, numbers and None written as Django writes them
        ("{{ s }}|{{ safe }}", {"s": 'O\'Brien & "Sons" <b>', "safe": mark_safe("<i>ok</i>")}),
        (
            "{{ n }}|{{ d }}|{{ none }}|{{ yes }}",
            {"n": 3, "d": Decimal("1.50"), "none": None, "yes": True},
        ),  # fmt: skip
        # Django's filters: default on any false value, join escaping each item, pluralize
        ("{{ z|default:'–' }}|{{ e|default:'none' }}", {"z": 0, "e": ""}),
        ('{{ l|join:", " }}|{{ n }} item{{ n|pluralize }}', {"l": ["a<b", "c"], "n": 2}),
        ("{{ v|default_if_none:'' }}|{{ f|floatformat:'-1' }}", {"v": None, "f": 2.0}),
        ("{{ word|lower }}|{{ l|length }}", {"word": "Infusion", "l": [1, 2, 3]}),
        # the review page's run reason: each line break a <br>, the text escaped
        ("{{ why|linebreaksbr }}", {"why": "AFTER EXPORT <b>\ncredit and rebill"}),
        # Django's `is not None` is Jinja's `is not none` (a zero is not None)
        (
            "{% if z is not None %}set{% endif %}|{% if n is None %}none{% endif %}",
            {"z": 0, "n": None},
        ),
        # loops: a pair unpacked, the empty branch, the counters
        (
            "{% for a, b in pairs %}{{ forloop.counter }}{{ a }}{{ b }}"
            "{% if not forloop.last %},{% endif %}{% empty %}none{% endfor %}",
            {"pairs": [(1, "x"), (2, "y")]},
        ),
        ("{% for a in nothing %}{{ a }}{% empty %}none{% endfor %}", {"nothing": []}),
    ],
)
def test_a_partial_means_what_the_same_text_meant_to_django(source: str, context: dict) -> None:
    converted = (
        source.replace("|date:'H:i'", "|date('H:i')")
        .replace("|default:'–'", "|default('–')")
        .replace("|default:'none'", "|default('none')")
        .replace('|join:", "', '|join(", ")')
        .replace("|default_if_none:''", "|default_if_none('')")
        .replace("|floatformat:'-1'", "|floatformat('-1')")
        .replace("{% empty %}", "{% else %}")
        .replace(" is not None", " is not none")
        .replace(" is None", " is none")
        .replace("forloop.counter", "loop.index")
        .replace("forloop.last", "loop.last")
    )
    assert _jinja(converted, **context) == _django(source, **context)


def test_what_says_not_to_be_called_is_not_and_what_needs_an_argument_is_not_called() -> None:
    thing = _Thing()
    assert _jinja("{{ t.kept() }}", t=thing) == "not called"
    assert _django("{{ t.needs }}", t=thing) == ""
    with pytest.raises(TypeError):  # Jinja2 says so where Django writes nothing
        _jinja("{{ t.needs }}", t=thing)


def test_dates_are_written_in_the_zone_the_timezone_tag_names_as_djangos_date_filter() -> None:
    zone = zoneinfo.ZoneInfo("America/Chicago")
    stamp = datetime(2026, 12, 4, 23, 5, tzinfo=UTC)
    mine = _jinja(
        "{% timezone zone %}{{ t|date('H:i') }} {{ t|date('c') }}{% endtimezone %} "
        "{{ t|date('H:i') }}",
        t=stamp,
        zone=zone,
    )
    theirs = _django(
        "{% load tz %}{% timezone zone %}{{ t|date:'H:i' }} {{ t|date:'c' }}{% endtimezone %} "
        "{{ t|date:'H:i' }}",
        t=stamp,
        zone=zone,
    )
    assert mine == theirs
    assert mine.startswith("17:05 2026-12-04T17:05:00-06:00 ")
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE  # the zone is left after


@pytest.mark.parametrize("grouping", [False, True])
def test_numbers_are_written_as_django_writes_them_with_and_without_thousand_separators(
    grouping: bool,
) -> None:
    from django.test import override_settings

    values = {"i": 1234567, "b": True, "d": Decimal("12345.60"), "f": 1234.5, "n": -42}
    with override_settings(USE_THOUSAND_SEPARATOR=grouping):
        source = "{{ i }}|{{ b }}|{{ d }}|{{ f }}|{{ n }}"
        assert _jinja(source, **values) == _django(source, **values)
        assert ("1,234,567" in _jinja(source, **values)) is grouping


def test_url_is_djangos_reverse_and_a_trailing_newline_is_kept() -> None:
    assert _jinja("{{ url('mar:encounter', 7) }}\n") == "/mar/encounters/7/\n"


def test_a_kept_address_follows_the_script_prefix_and_the_arguments() -> None:
    """`url()` keeps what it reversed: under another script prefix (the app mounted elsewhere)
    or with other arguments it is reversed again, never the kept one."""
    from django.urls import get_script_prefix, reverse, set_script_prefix

    source = "{{ url('coding:claim', pk) }}"
    before = get_script_prefix()
    try:
        assert _jinja(source, pk=5) == reverse("coding:claim", args=[5])
        assert _jinja(source, pk=6) == reverse("coding:claim", args=[6])
        set_script_prefix("/mounted/")
        assert _jinja(source, pk=5) == reverse("coding:claim", args=[5])
        assert _jinja(source, pk=5).startswith("/mounted/")
    finally:
        set_script_prefix(before)
    assert _jinja(source, pk=5) == reverse("coding:claim", args=[5])


@pytest.mark.django_db
def test_one_csrf_token_a_render_in_djangos_hidden_input_and_the_request_context_as_render(
    monkeypatch,
) -> None:
    """`csrf_input()` as `{% csrf_token %}`; a partial rendered for a view gets what Django's
    render() gives a template (here the user from the auth context processor)."""
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    source = "{{ csrf_input() }}|{{ csrf_input() }}|{{ user.is_anonymous }}|{{ x }}"
    env = jinja()
    monkeypatch.setattr(env, "get_template", lambda name: env.from_string(source))
    first, second, anonymous, mine = partial_render(request, "probe", {"x": "mine"}).split("|")
    assert re.fullmatch(r'<input type="hidden" name="csrfmiddlewaretoken" value="\w{64}">', first)
    assert first == second and anonymous == "True" and mine == "mine"


def test_every_partial_compiles_and_none_is_left_in_djangos_syntax() -> None:
    """A `{% url %}`, `{% csrf_token %}`, `{% load %}` or `|filter:arg` left in a .jinja file
    would be a syntax error or text on the page."""
    root = Path(settings.BASE_DIR) / "templates"
    partials = sorted(root.rglob("*.jinja"))
    assert len(partials) >= 20
    django_only = re.compile(
        r"\{%\s*(url|csrf_token|load|empty|comment|include \S+ with)\b|\|\w+:|forloop\."
    )
    for path in partials:
        name = str(path.relative_to(root))
        jinja().get_template(name)  # compiles
        assert not django_only.search(path.read_text()), name
