"""The bedside chart's partials (`templates/mar/*.jinja`) on Jinja2, with Django's meaning.

Issue 19: walking the chart's partials through Django's template engine was a third of a chart
page and of a start's answer (resolving ~1,000 variables and nodes a page, each through several
Python calls). Jinja2 compiles a template to Python once; the same partials render in a fraction
of the time. The templates are written as the Django ones were, and read with Django's rules so
that they cannot quietly mean something else:

- `a.b` is looked up as Django looks it up (a subscript first on what has one, then the
  attribute, then a list index) and a callable found is called (`adm.get_route_display`), unless
  it says `do_not_call_in_templates` or `alters_data` (then "", as Django gives); one that
  needs arguments is an error here, where Django writes "" (a fault to see, not to hide);
- `{{ value }}` is written as Django writes it: localized, in the current time zone, escaped with
  Django's escaping (`&#x27;`, `&quot;`), its own markup if safe; a missing value is "";
- the filters are Django's own (`date` in the current time zone, `default` on any false value,
  `join` escaping each item, `pluralize`, ...) and the project's (`as_field`, `get`, ...);
- `{% timezone zone %}...{% endtimezone %}` as Django's tz tag; `url(...)` as `{% url %}`;
  `csrf_input()` as `{% csrf_token %}` (one token a render, as Django's context gives);
- a trailing newline is kept, as Django keeps it.

They were first written for Django. While both existed (commit 0720b48), every Jinja2 render was
also rendered by the Django template it replaced and compared, byte for byte but the CSRF token,
over the whole test suite (2,320 tests, browser included): identical. tests/mar/test_jinja.py
keeps each rule above against Django's own engine.

`partial_render` renders one with the context a Django view's `render()` would give it (the
request's context processors and the CSRF token); `{% jinja_include "mar/_chart.jinja" %}`
(this module, `{% load jinja %}` through TEMPLATES' "libraries") includes one in a Django page
with that page's context; and `django_include(...)` includes a Django template (one that uses
coding's tags, which mar may not import, or one other screens share) from a Jinja2 one.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django import template
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.base import render_value_in_context
from django.template.context import Context
from django.template.context_processors import csrf
from django.template.defaultfilters import (
    date,
    default,
    default_if_none,
    floatformat,
    join,
    length,
    linebreaksbr,
    lower,
    pluralize,
)
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.timezone import template_localtime
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, nodes, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context as JinjaContext
from jinja2.runtime import Undefined
from markupsafe import Markup

from mar.dosing import dose_shown
from mar.lazy_forms import sent_with_errors
from mar.long_text import text_head
from mar.models import rate_amended_times_said
from mar.templatetags.care_tags import get
from mar.templatetags.checklist_items import checklist_groups, finding_lines
from mar.templatetags.fields import as_field, as_form, as_widget
from mar.templatetags.timeline_svg import timeline_svg

_CONTEXT = Context(autoescape=True)
_escape = html.escape


def _finalize(value: Any) -> Markup:
    """`{{ value }}` as Django writes it (base.render_value_in_context in an autoescaping
    template): a str escaped, safe markup as it is, anything else localized first."""
    if type(value) is str:
        return Markup(_escape(value))
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return Markup(str(value))  # what Django's number_format gives an int without grouping
    if isinstance(value, Undefined):
        return Markup("")
    if isinstance(value, SafeData):
        return Markup(value)
    return Markup(render_value_in_context(value, _CONTEXT))


def _django_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """One of Django's filters as Django applies it: a missing value or argument as "", a
    datetime in the current time zone for the filters that expect it, autoescaping on."""
    localtime = getattr(function, "expects_localtime", False)
    autoescape = getattr(function, "needs_autoescape", False)

    def apply(value: Any, *args: Any) -> Any:
        if isinstance(value, Undefined):
            value = ""
        elif localtime:
            value = template_localtime(value)
        args = tuple("" if isinstance(arg, Undefined) else arg for arg in args)
        if autoescape:
            return function(value, *args, autoescape=True)
        return function(value, *args)

    apply.__name__ = function.__name__
    return apply


class DjangoEnvironment(Environment):
    """Jinja2 with Django's variable lookup (see the module's docstring)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if hasattr(type(obj), "__getitem__"):
            try:
                value = obj[attribute]
            except (TypeError, AttributeError, KeyError, ValueError, IndexError):
                value = self._attribute(obj, attribute)
        else:
            value = self._attribute(obj, attribute)
        if callable(value) and not isinstance(value, Undefined):
            return self._called(value)
        return value

    def _attribute(self, obj: Any, attribute: str) -> Any:
        try:
            return getattr(obj, attribute)
        except (TypeError, AttributeError):
            if isinstance(obj, Undefined):
                return self.undefined(obj=obj, name=attribute)
            if attribute in dir(obj):
                raise  # a property's own error, as Django lets it through
            try:
                return obj[int(attribute)]
            except (IndexError, ValueError, KeyError, TypeError):
                return self.undefined(obj=obj, name=attribute)

    @staticmethod
    def _called(value: Any) -> Any:
        """Django calls what a lookup finds, unless it says not to, or it alters data."""
        if getattr(value, "do_not_call_in_templates", False):
            return value
        if getattr(value, "alters_data", False):
            return ""
        return value()  # a class too, as Django calls it (a choices enum, say)


class TimezoneExtension(Extension):
    """`{% timezone zone %}...{% endtimezone %}`: Django's tz tag (the body in that zone)."""

    tags = {"timezone"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        zone = parser.parse_expression()
        body = parser.parse_statements(("name:endtimezone",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_in_zone", [zone]), [], [], body).set_lineno(
            lineno
        )

    @staticmethod
    def _in_zone(zone: Any, caller: Callable[[], str]) -> str:
        with timezone.override(None if isinstance(zone, Undefined) else zone):
            return caller()


def _url(name: str, *args: Any, **kwargs: Any) -> str:
    """`{% url name arg ... %}`. The same name and arguments reverse to the same address (under
    the same script prefix and URLconf): kept, so a worklist does not walk the resolver for
    each link of each row."""
    if kwargs:
        return reverse(name, args=args or None, kwargs=kwargs)
    try:
        urlconf = get_urlconf() or settings.ROOT_URLCONF  # a changed ROOT_URLCONF is a new key
        return _reversed(get_script_prefix(), urlconf, name, args)
    except TypeError:  # an argument that cannot be a key
        return reverse(name, args=args or None)


@lru_cache(maxsize=16384)
def _reversed(prefix: str, urlconf: Any, name: str, args: tuple[Any, ...]) -> str:
    return reverse(name, urlconf=urlconf, args=args or None)


def _static(path: str) -> str:
    """`{% static path %}`. A file's address does not change while the process runs (the
    manifest is written by collectstatic before it starts): kept, as `url` keeps its addresses,
    under the static URL in effect (a test may change it)."""
    return _static_url(settings.STATIC_URL, path)


@lru_cache(maxsize=1024)
def _static_url(prefix: str, path: str) -> str:
    return static(path)


@pass_context
def _csrf_input(context: JinjaContext) -> Markup:
    """`{% csrf_token %}`: the render's token (the context's `csrf_token`) in its hidden input."""
    token = context.get("csrf_token")
    if token is None or isinstance(token, Undefined):
        return Markup("")
    token = str(token)
    if token == "NOTPROVIDED":
        return Markup("")
    return Markup('<input type="hidden" name="csrfmiddlewaretoken" value="{}">').format(token)


@pass_context
def _django_include(context: JinjaContext, name: str, **extra: Any) -> Markup:
    """`{% include name with ... %}` of a Django template, with this context."""
    values = dict(context.get_all())
    values.update(extra)
    template = engines["django"].get_template(name)
    return Markup(template.template.render(Context(values, autoescape=True)))  # type: ignore[attr-defined]


def _tag(function: Callable[..., Any]) -> Callable[..., Any]:
    """A Django simple tag as a Jinja2 function (its arguments, missing ones as "")."""

    def call(*args: Any) -> Any:
        return function(*("" if isinstance(arg, Undefined) else arg for arg in args))

    call.__name__ = function.__name__
    return call


def amount(value: Any) -> str:
    """A stored amount as written: 3.3750 -> "3.375", 50.0000 -> "50" (QA: the coder's record
    table read "3.3750 g")."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)).normalize():f}"


def environment() -> DjangoEnvironment:
    env = DjangoEnvironment(
        loader=FileSystemLoader(settings.BASE_DIR / "templates"),
        autoescape=True,
        undefined=ChainableUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        auto_reload=settings.DEBUG,
        extensions=[TimezoneExtension],
    )
    for function in (
        date,
        default,
        default_if_none,
        floatformat,
        join,
        length,
        linebreaksbr,
        lower,
        pluralize,
    ):
        env.filters[function.__name__] = _django_filter(function)
    env.filters.update(
        get=get,
        as_field=as_field,
        as_widget=as_widget,
        as_form=as_form,
        amount=amount,
        text_head=text_head,
        dose_shown=dose_shown,
        sent_with_errors=sent_with_errors,
        rate_amended_times_said=rate_amended_times_said,
    )
    env.globals.update(
        url=_url,
        static=_static,
        csrf_input=_csrf_input,
        django_include=_django_include,
        checklist_groups=_tag(checklist_groups),
        finding_lines=_tag(finding_lines),
        timeline_svg=_tag(timeline_svg),
    )
    return env


@lru_cache(maxsize=1)
def jinja() -> DjangoEnvironment:
    return environment()


def _request_values(request: HttpRequest) -> Iterator[dict[str, Any]]:
    """What Django's RequestContext adds to a view's context: the CSRF token, then each
    configured context processor's values."""
    yield csrf(request)
    for processor in engines["django"].engine.template_context_processors:  # type: ignore[attr-defined]
        yield processor(request)


def partial_render(request: HttpRequest | None, name: str, context: dict[str, Any]) -> str:
    """A chart partial with the context `render(request, name, context)` would give it."""
    values: dict[str, Any] = {}
    if request is not None:
        for part in _request_values(request):
            values.update(part)
    values.update(context)
    return jinja().get_template(name).render(values)


def partial_response(
    request: HttpRequest, name: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """`render(request, name, context)` for a chart partial."""
    return HttpResponse(partial_render(request, name, context), status=status)


# `{% load jinja %}` (TEMPLATES' "libraries") in a Django page:
# `{% jinja_include "mar/_chart.jinja" %}`.
register = template.Library()


@register.simple_tag(takes_context=True)
def jinja_include(context: Context, name: str, **extra: Any) -> SafeString:
    """A Jinja2 partial included in a Django page, with that page's context and any values
    given (`{% jinja_include "coding/_nav.jinja" section="worklist" %}`, as `include ... with`)."""
    values = context.flatten()
    values.update(extra)
    return mark_safe(jinja().get_template(name).render(values))
