"""`{{ form.field|as_field }}`: a form field in the markup django-crispy-forms' Bootstrap 5 pack
gives it (`|as_crispy_field`), built in Python instead of through crispy's nested templates.

Issue 19: on the bedside chart's hot partials (the administration card, a site chip, an order
row) crispy's field templates were a quarter to a third of an htmx answer. The markup is the
same element for element (tests/mar/test_fields_tag.py renders every field of a whole chart both
ways, unbound and with errors, and compares them); a checkbox (Django's own CheckboxInput) is
drawn as crispy's checkbox template draws it; any widget it does not cover (radios, files,
multi-widgets, a checkbox subclass, fieldsets, a form with a crispy helper) is handed to crispy.

The widget itself (`<input>`, a checkbox's too, `<select>`, `<textarea>`) is built here too
(`render_widget`, and `{{ form.version|as_widget }}` for a bare widget such as a hidden version):
Django's own `BoundField.as_widget` up to the widget's `get_context()` (attributes, `format_value`,
`required`, the id, selected choices stay Django's), then the string Django's widget templates
(django/forms/templates/django/forms/widgets/) would render from that context, escaped as they
escape it, without the template engine: about 10 ms of a card save went to those templates. Only
the widgets listed in `_COVERED` (by exact class, with the template Django gives them, on Django's
default form renderer) are built here; anything else (a subclass, a changed template, another
renderer, a BoundField subclass, a hidden initial) is rendered by Django.
tests/mar/test_widgets_tag.py renders every field of a whole chart both ways and compares them
byte for byte, and the whole chart page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field, as_crispy_form
from django import forms, template
from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates
from django.template.base import render_value_in_context
from django.template.context import Context
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData, SafeString, mark_safe

from mar.forms import LocalTimeInput

register = template.Library()

_TO_CRISPY = (
    forms.RadioSelect,
    forms.CheckboxSelectMultiple,
    forms.FileInput,
    forms.MultiWidget,
)


@register.filter
def as_field(field: BoundField) -> SafeString:
    widget = field.field.widget
    if field.is_hidden:
        return render_widget(field)
    if (
        isinstance(widget, _TO_CRISPY)
        or hasattr(widget, "widget")
        or field.use_fieldset
        or getattr(field.form, "helper", None) is not None
    ):
        return as_crispy_field(field)  # type: ignore[no-any-return]
    errors = field.errors  # a new ErrorList at every access: read once
    if type(widget) is forms.CheckboxInput:
        return _checkbox(field, widget, errors)
    _crispy_classes(widget, errors)
    auto_id = field.auto_id
    parts = []
    if field.label:
        required = field.field.required
        label_for = field.id_for_label
        label_attr = f' for="{_esc(label_for)}"' if label_for else ""
        required_class = " requiredField" if required else ""
        asterisk = _ASTERISK if required else ""
        parts.append(
            f'<label{label_attr} class="form-label{required_class}">'
            f"{_esc(field.label)}{asterisk}</label>"
        )
    parts.append(render_widget(field))
    _help_and_errors(field, auto_id, errors, parts)
    css = field.css_classes()
    css = f" {_esc(css)}" if css else ""
    return mark_safe(f'<div id="div_{_esc(auto_id)}" class="mb-3{css}">{"".join(parts)}</div>')


def _help_and_errors(field: BoundField, auto_id: str, errors: Any, parts: list[str]) -> None:
    """bootstrap5/layout/help_text_and_errors.html: the errors' block, then the help text."""
    if errors:
        lines = "".join(
            f'<p id="error_{n}_{_esc(auto_id)}"><strong>{_esc(error)}</strong></p>'
            for n, error in enumerate(errors, start=1)
        )
        parts.append(
            f'<div id="{_esc(errors.field_id)}_error" class="invalid-feedback">{lines}</div>'
        )
    if field.help_text:
        help_id = f' id="{_esc(auto_id)}_helptext"' if auto_id else ""
        parts.append(f'<div{help_id} class="form-text">{field.help_text}</div>')


def _checkbox(field: BoundField, widget: forms.Widget, errors: Any) -> SafeString:
    """crispy's Bootstrap 5 checkbox: the box, then its label, in a form-check inside an mb-3."""
    _crispy_classes(widget, errors, "form-check-input")
    auto_id = field.auto_id
    required = field.field.required
    parts = [
        render_widget(field),
        f'<label for="{_esc(field.id_for_label)}" class="form-check-label'
        f'{" requiredField" if required else ""}">{_esc(field.label)}'
        f"{_ASTERISK if required else ''}</label>",
    ]
    _help_and_errors(field, auto_id, errors, parts)
    css = field.css_classes()
    css = f" {_esc(css)}" if css else ""
    return mark_safe(
        f'<div class="mb-3"><div id="div_{_esc(auto_id)}" class="form-check{css}">'
        f"{''.join(parts)}</div></div>"
    )


_ASTERISK = '<span class="asteriskField">*</span>'


def _esc(value: Any) -> str:
    """What format_html does with an argument: its own markup if it is safe, else escaped."""
    if type(value) is str:
        return html.escape(value)
    return str(conditional_escape(value))


def _crispy_classes(widget: forms.Widget, errors: Any, extra: str = "") -> None:
    """The classes crispy's field node puts on the widget: its class name, then Bootstrap's
    (`extra`: the field template's own, for a checkbox)."""
    class_name = widget.__class__.__name__.lower()
    css = widget.attrs.get("class", "")
    if css:
        if css.find(class_name) == -1:
            css += f" {class_name}"
    else:
        css = class_name
    if not extra:
        extra = "form-select" if isinstance(widget, forms.Select) else "form-control"
    if errors:
        extra += " is-invalid"
    for name in extra.split():
        if name not in css.split():
            css += f" {name}"
    widget.attrs["class"] = css


@register.filter
def as_widget(field: BoundField | str) -> str:
    """`{{ form.version|as_widget }}`: what `{{ form.version }}` renders, built in Python (a
    missing variable, "" to the filter, renders as the plain variable would)."""
    if not isinstance(field, BoundField):
        return conditional_escape(field)
    return render_widget(field)


def render_widget(field: BoundField) -> SafeString:
    """`str(field)`: Django's `BoundField.as_widget` with the widget template's step in Python."""
    widget = field.field.widget
    build = _COVERED.get(type(widget))
    if (
        build is None
        or type(field) is not BoundField
        or widget.template_name != build[0]
        or getattr(widget, "option_template_name", _OPTION) != _OPTION
        or field.field.show_hidden_initial
        or type(field.form.renderer) is not DjangoTemplates
    ):
        return mark_safe(str(field))
    if field.field.localize:
        widget.is_localized = True
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    for name, value in context["attrs"].items():
        # A template would call a callable, and `attrs.items` would read an "items" key.
        if callable(value) or name == "items":
            return mark_safe(str(field))
    return mark_safe(build[1](context))


# What a template's `{{ value }}` does with a value that is not a plain string (localize it,
# make it text, escape it unless safe), with the context Django's widget renderer gives it.
_CONTEXT = Context(autoescape=True)
# Django's escape() is html.escape() of the text behind a lazy-string check: for a plain str the
# same characters, without the check.
_escape = html.escape


def _text(value: Any) -> str:
    """`{{ value }}` in an autoescaping template."""
    if type(value) is str:
        return _escape(value)
    return render_value_in_context(value, _CONTEXT)  # type: ignore[no-any-return]


def _formatted(value: Any) -> str:
    """`{{ value|stringformat:'s' }}`: '%s' of it (a tuple as its str), kept safe if it was."""
    if type(value) is str:
        return _escape(value)
    text = str(value) if isinstance(value, tuple) else value
    try:
        text = "%s" % text  # noqa: UP031 - the filter's own formatting
    except (ValueError, TypeError):
        text = ""
    if isinstance(value, SafeData):
        return mark_safe(text)
    return escape(text)


def _attrs(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html: True as a bare name, False left out, the rest quoted."""
    out = ""
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            out += f" {_text(name)}"
        else:
            out += f' {_text(name)}="{_formatted(value)}"'
    return out


def _input(widget: dict[str, Any]) -> str:
    """django/forms/widgets/input.html (text.html, number.html, hidden.html... include it)."""
    value = widget["value"]
    shown = "" if value is None else f' value="{_formatted(value)}"'
    return (
        f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"'
        f"{shown}{_attrs(widget['attrs'])}>"
    )


def _textarea(widget: dict[str, Any]) -> str:
    """django/forms/widgets/textarea.html: the value after a newline."""
    value = widget["value"]
    return (
        f'<textarea name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>\n'
        f"{_text(value) if value else ''}</textarea>"
    )


def _select(widget: dict[str, Any]) -> str:
    """django/forms/widgets/select.html, each option as select_option.html renders it (that
    template's final newline included)."""
    parts = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in group_choices:
            parts.append(
                f'\n  <option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>'
                f"{_text(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


_OPTION = forms.Select.option_template_name

# Exact widget class: (the template Django renders it with, its markup built here). The
# project's LocalTimeInput is Django's DateTimeInput (its template) with its own format_value,
# which get_context() calls.
_COVERED: dict[type[forms.Widget], tuple[str, Callable[[dict[str, Any]], str]]] = {
    cls: (cls.template_name, _input)
    for cls in (
        forms.TextInput,
        forms.NumberInput,
        forms.EmailInput,
        forms.URLInput,
        forms.PasswordInput,
        forms.HiddenInput,
        forms.DateInput,
        forms.DateTimeInput,
        forms.TimeInput,
        LocalTimeInput,
    )
}
# A checkbox's template only includes input.html; its get_context() sets `checked`.
_COVERED[forms.CheckboxInput] = (forms.CheckboxInput.template_name, _input)
_COVERED[forms.Textarea] = (forms.Textarea.template_name, _textarea)
_COVERED[forms.Select] = (forms.Select.template_name, _select)
_COVERED[forms.SelectMultiple] = (forms.SelectMultiple.template_name, _select)


@register.filter
def as_form(form: forms.BaseForm) -> SafeString:
    """`{{ form|as_form }}`: what crispy's `{{ form|crispy }}` renders for a form without a
    crispy helper (its non-field errors in an alert, then each field as `|as_field` draws it);
    a form with a helper, or a formset, is handed to crispy."""
    if not isinstance(form, forms.BaseForm) or getattr(form, "helper", None) is not None:
        return as_crispy_form(form)  # type: ignore[no-any-return]
    parts = []
    errors = form.non_field_errors()
    if errors:
        items = "".join(f"<li>{_esc(error)}</li>" for error in errors)
        parts.append(
            f'<div class="alert alert-block alert-danger"><ul class="m-0">{items}</ul></div>'
        )
    parts.extend(as_field(field) for field in form)
    return mark_safe("".join(parts))
