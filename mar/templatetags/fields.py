"""`{{ form.field|as_field }}`: a form field in the markup django-crispy-forms' Bootstrap 5 pack
gives it (`|as_crispy_field`), built in Python instead of through crispy's nested templates.

Issue 19: on the bedside chart's hot partials (the administration card, a site chip, an order
row) crispy's field templates were a quarter to a third of an htmx answer. The markup is the
same element for element (tests/mar/test_fields_tag.py renders every field of a whole chart both
ways, unbound and with errors, and compares them); any widget it does not cover (checkboxes,
radios, files, multi-widgets, fieldsets, a form with a crispy helper) is handed to crispy.
"""

from __future__ import annotations

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import forms, template
from django.forms.boundfield import BoundField
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_TO_CRISPY = (
    forms.CheckboxInput,
    forms.RadioSelect,
    forms.CheckboxSelectMultiple,
    forms.FileInput,
    forms.MultiWidget,
)


@register.filter
def as_field(field: BoundField) -> SafeString:
    widget = field.field.widget
    if field.is_hidden:
        return mark_safe(str(field))
    if (
        isinstance(widget, _TO_CRISPY)
        or hasattr(widget, "widget")
        or field.use_fieldset
        or getattr(field.form, "helper", None) is not None
    ):
        return as_crispy_field(field)  # type: ignore[no-any-return]
    _crispy_classes(field, widget)
    auto_id = field.auto_id
    parts = []
    if field.label:
        required = field.field.required
        parts.append(
            format_html(
                '<label{} class="form-label{}">{}{}</label>',
                format_html(' for="{}"', field.id_for_label) if field.id_for_label else "",
                " requiredField" if required else "",
                field.label,
                mark_safe('<span class="asteriskField">*</span>') if required else "",
            )
        )
    parts.append(str(field))
    errors = field.errors
    if errors:
        lines = "".join(
            format_html('<p id="error_{}_{}"><strong>{}</strong></p>', n, auto_id, error)
            for n, error in enumerate(errors, start=1)
        )
        parts.append(
            format_html(
                '<div id="{}_error" class="invalid-feedback">{}</div>',
                errors.field_id,  # type: ignore[attr-defined]
                mark_safe(lines),
            )
        )
    if field.help_text:
        help_id = format_html(' id="{}_helptext"', auto_id) if auto_id else ""
        parts.append(
            format_html('<div{} class="form-text">{}</div>', help_id, mark_safe(field.help_text))
        )
    css = f" {field.css_classes()}" if field.css_classes() else ""
    return format_html(
        '<div id="div_{}" class="mb-3{}">{}</div>',
        auto_id,
        css,
        mark_safe("".join(conditional_escape(part) for part in parts)),
    )


def _crispy_classes(field: BoundField, widget: forms.Widget) -> None:
    """The classes crispy's field node puts on the widget: its class name, then Bootstrap's."""
    class_name = widget.__class__.__name__.lower()
    css = widget.attrs.get("class", "")
    if css:
        if css.find(class_name) == -1:
            css += f" {class_name}"
    else:
        css = class_name
    extra = "form-select" if isinstance(widget, forms.Select) else "form-control"
    if field.errors:
        extra += " is-invalid"
    for name in extra.split():
        if name not in css.split():
            css += f" {name}"
    widget.attrs["class"] = css
