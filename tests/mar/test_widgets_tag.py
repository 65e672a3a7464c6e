"""`render_widget` / `|as_widget` (mar/templatetags/fields.py) builds the widgets of the chart in
Python: byte for byte what Django's `str(field)` renders through its widget templates, for every
field of a whole chart (unbound with the record's values, bound with typed data, with errors,
disabled, localized) and for each widget it covers with awkward values; anything else is left
to Django. Issue 19: the widget templates were about 10 ms of a card save."""

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates
from django.forms.widgets import Widget
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy

from mar import roles
from mar.forms import LocalTimeField
from mar.models import Encounter
from mar.templatetags import fields
from mar.templatetags.fields import _COVERED, as_widget, render_widget
from tests import factories
from tests.mar.test_fields_tag import _chart_forms, _records, _with_errors

pytestmark = pytest.mark.django_db

_AWKWARD = "a \"quoted\" <b>&amp;</b> 'value' \n second line"


def _bound_with_data(form: forms.Form) -> forms.Form:
    """The form bound to what a nurse could type: the last choice of a select, awkward text."""
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        key = form[name].html_name
        choices = list(getattr(field, "choices", ()))
        if choices:
            value = choices[-1][0]
            data[key] = str(getattr(value, "value", value))
        else:
            data[key] = _AWKWARD
    form.is_bound = True
    form.data = data
    form._errors = None
    return form


def _disabled(form: forms.Form) -> forms.Form:
    for field in form.fields.values():
        field.disabled = True
    return form


def _localized(form: forms.Form) -> forms.Form:
    for field in form.fields.values():
        field.localize = True
    return form


def _states(encounters, user) -> dict[str, list[forms.Form]]:
    return {
        "unbound": _chart_forms(encounters, user),
        "bound with data": [_bound_with_data(f) for f in _chart_forms(encounters, user)],
        "with errors": [_with_errors(f) for f in _chart_forms(encounters, user)],
        "disabled": [_disabled(f) for f in _chart_forms(encounters, user)],
        "localized": [_localized(f) for f in _chart_forms(encounters, user)],
    }


def test_every_chart_widget_renders_byte_for_byte_as_django_renders_it_in_every_state() -> None:
    encounters = _records()
    user = factories.user_create(username="nurse-widgets", role=roles.NURSE)
    compared = 0
    kinds: set[str] = set()
    selected = 0
    for state, chart_forms in _states(encounters, user).items():
        assert len(chart_forms) > 20
        for form in chart_forms:
            for name in form.fields:
                field = form[name]
                ours = render_widget(field)
                assert isinstance(ours, SafeString)
                assert ours == str(field), (state, type(form).__name__, name)
                if type(field.field.widget) in _COVERED:
                    kinds.add(type(field.field.widget).__name__)
                    selected += " selected>" in ours
                    compared += 1
    assert compared > 500
    assert selected > 50
    assert {
        "Select",
        "TextInput",
        "NumberInput",
        "HiddenInput",
        "Textarea",
        "LocalTimeInput",
        "PasswordInput",
    } <= kinds


def test_covered_widgets_never_reach_djangos_template_step(monkeypatch) -> None:
    encounter = factories.chemo_encounter_create()
    user = factories.user_create(username="nurse-widgets-2", role=roles.NURSE)
    chart_forms = _chart_forms([encounter], user)
    expected = {
        (id(form), name): str(form[name])
        for form in chart_forms
        for name in form.fields
        if type(form.fields[name].widget) in _COVERED
    }

    def no_template(*args: object, **kwargs: object) -> str:
        raise AssertionError("a covered widget went through the template engine")

    monkeypatch.setattr(Widget, "_render", no_template)
    for form in chart_forms:
        for name in form.fields:
            if (id(form), name) in expected:
                assert render_widget(form[name]) == expected[(id(form), name)]
    assert len(expected) > 100


class _Awkward(forms.Form):
    text = forms.CharField(
        initial=_AWKWARD,
        widget=forms.TextInput(
            attrs={
                "placeholder": 'say "hi" & <go>',
                "data-on": True,
                "data-off": False,
                "data-none": None,
                "data-zero": 0,
                "data-safe": mark_safe("<kept>"),
                "data-lazy": gettext_lazy("lazy <text>"),
            }
        ),
    )
    empty = forms.CharField(required=False, initial="")
    number = forms.DecimalField(initial=Decimal("1234.50"), localize=True)
    integer = forms.IntegerField(initial=7, widget=forms.NumberInput(attrs={"step": "any"}))
    email = forms.EmailField(initial="a&b@example.org")
    url = forms.URLField(initial="https://example.org/?a=1&b=<2>", assume_scheme="https")
    secret = forms.CharField(widget=forms.PasswordInput(render_value=True), initial="p<w>")
    hidden_secret = forms.CharField(widget=forms.PasswordInput(), initial="never shown")
    hidden = forms.IntegerField(widget=forms.HiddenInput(), initial=3)
    hidden_safe = forms.CharField(widget=forms.HiddenInput(), initial=mark_safe("a&amp;b"))
    day = forms.DateField(initial=date(2026, 3, 2))
    day_formatted = forms.DateField(
        initial=date(2026, 3, 2), widget=forms.DateInput(format="%d/%m/%Y")
    )
    clock = forms.TimeField(initial=time(8, 30))
    moment = forms.DateTimeField(initial=datetime(2026, 3, 2, 13, 30, tzinfo=UTC))
    wall = LocalTimeField(initial=datetime(2026, 11, 1, 5, 30, tzinfo=UTC))
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), initial="\nline <1>\n& 2 ")
    blank_note = forms.CharField(widget=forms.Textarea, required=False)
    choice = forms.ChoiceField(
        choices=[("", "---------"), (1, "one <1>"), ("2", gettext_lazy("two & 2"))], initial=1
    )
    grouped = forms.ChoiceField(
        choices=[
            ("", "none"),
            ("Veins <arm>", [("a", "antecubital"), ("b", mark_safe("<i>basilic</i>"))]),
            ("Ports", [("p", "port")]),
            ("z", 0),
        ],
        initial="b",
    )
    several = forms.MultipleChoiceField(
        choices=[("x", "X"), ("y", "Y"), ("z", "Z")], initial=["x", "z"]
    )
    disabled = forms.CharField(disabled=True, initial="fixed")
    box = forms.BooleanField(initial=True, help_text="ticked <i>first</i>")
    box_off = forms.BooleanField(required=False)
    box_valued = forms.CharField(widget=forms.CheckboxInput, initial="yes & <no>")


@pytest.mark.parametrize("auto_id", ["id_%s", "f-%s", False])
@pytest.mark.parametrize("prefix", [None, "p1"])
def test_each_covered_widget_with_awkward_values_renders_as_django_renders_it(
    auto_id: str | bool, prefix: str | None
) -> None:
    forms_ = [
        _Awkward(auto_id=auto_id, prefix=prefix),
        _with_errors(_Awkward(auto_id=auto_id, prefix=prefix)),
        _Awkward(
            {
                f"{prefix}-{k}" if prefix else k: v
                for k, v in {
                    "text": "<x>",
                    "number": "1.5",
                    "choice": "2",
                    "grouped": "p",
                    "several": ["y", "z"],
                    "note": "typed\n<text>",
                    "wall": "2026-11-01 01:30",
                    "box_off": "on",
                }.items()
            },
            auto_id=auto_id,
            prefix=prefix,
        ),
    ]
    forms_[0].fields["wall"].widget.zone = ZoneInfo("America/New_York")
    kinds = set()
    for form in forms_:
        for name in form.fields:
            field = form[name]
            assert type(field.field.widget) in _COVERED, name
            kinds.add(type(field.field.widget))
            assert render_widget(field) == str(field), (name, form.is_bound)
    assert kinds == set(_COVERED)


def test_the_as_widget_filter_renders_a_bare_field_as_the_plain_variable_does() -> None:
    form = _Awkward(prefix="at3")
    plain = Template("{{ form.hidden }}{{ form.hidden_safe }}{{ form.grouped }}")
    ours = Template(
        "{% load fields %}{{ form.hidden|as_widget }}{{ form.hidden_safe|as_widget }}"
        "{{ form.grouped|as_widget }}"
    )
    context = Context({"form": form})
    assert ours.render(context) == plain.render(context)
    assert (
        as_widget(form["hidden"])
        == '<input type="hidden" name="at3-hidden" value="3" id="id_at3-hidden">'
    )


class _OwnTemplate(forms.TextInput):
    template_name = "django/forms/widgets/textarea.html"


class _OwnOption(forms.Select):
    option_template_name = "django/forms/widgets/input_option.html"


class _SameTemplate(forms.TextInput):
    pass


class _OwnCheckbox(forms.CheckboxInput):
    pass


class _Odd(forms.Form):
    own_template = forms.CharField(widget=_OwnTemplate, initial="x")
    own_option = forms.ChoiceField(widget=_OwnOption, choices=[("a", "A")], initial="a")
    same_template = forms.CharField(widget=_SameTemplate, initial="y")
    checkbox = forms.BooleanField(widget=_OwnCheckbox, initial=True)
    radio = forms.ChoiceField(widget=forms.RadioSelect, choices=[("a", "A"), ("b", "B")])
    split = forms.SplitDateTimeField(initial=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    file = forms.FileField()
    hidden_initial = forms.CharField(show_hidden_initial=True, initial="h")
    changed_instance = forms.CharField(initial="z")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["changed_instance"].widget.template_name = "django/forms/widgets/textarea.html"


def test_unknown_subclassed_or_retemplated_widgets_fall_back_to_djangos_rendering(
    monkeypatch,
) -> None:
    form = _Odd()
    calls: list[str] = []
    original = Widget._render

    def counted(self: Widget, template_name: str, context: Any, renderer: Any = None) -> str:
        calls.append(template_name)
        return original(self, template_name, context, renderer)

    monkeypatch.setattr(Widget, "_render", counted)
    for name in form.fields:
        calls.clear()
        assert render_widget(form[name]) == str(form[name]), name
        assert calls, f"{name} did not go through Django's templates"
    assert render_widget(form["own_template"]).startswith("<textarea")
    assert render_widget(form["changed_instance"]).startswith("<textarea")


class _MarkedRenderer(DjangoTemplates):
    def render(self, template_name: str, context: Any, request: Any = None) -> str:
        return "<marked>" + super().render(template_name, context, request)


def test_a_form_with_its_own_renderer_is_rendered_by_that_renderer() -> None:
    form = _Awkward(renderer=_MarkedRenderer())
    assert render_widget(form["hidden"]) == str(form["hidden"])
    assert render_widget(form["hidden"]).startswith("<marked>")


def _page(client, url: str, params: dict[str, str]) -> str:
    html = client.get(url, params).content.decode()
    html = re.sub(r"[A-Za-z0-9]{64}", "<csrf>", html)  # a fresh mask on every token
    html = re.sub(r'(request_key" value=")[0-9a-f]{32}"', r'\1<key>"', html)
    return re.sub(r'data-(since|now)="[^"]*"', r'data-\1=""', html)  # the clock


@pytest.mark.parametrize("signed", [False, True])
def test_the_chart_page_is_byte_for_byte_the_page_djangos_widget_templates_make(
    client_as, monkeypatch, signed: bool
) -> None:
    status = Encounter.Status.SIGNED if signed else Encounter.Status.IN_PROGRESS
    encounter = factories.chemo_encounter_create(extra_pushes=1, status=status)
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    params = {"addendum": "1"} if signed else {}
    # The page shows the wall clock: both renders are taken within one minute (tried again when
    # a minute turned between them).
    for _ in range(3):
        minute = timezone.now().replace(second=0, microsecond=0)
        ours = _page(client, url, params)
        with monkeypatch.context() as patched:
            patched.setattr(fields, "render_widget", lambda field: mark_safe(str(field)))
            theirs = _page(client, url, params)
        if timezone.now().replace(second=0, microsecond=0) == minute:
            break
    assert ours == theirs
    assert ours.count("<input") > 50
    assert ours.count("<select") > 10


class _MarkedBoundField(BoundField):
    def as_widget(self, *args: Any, **kwargs: Any) -> SafeString:
        return mark_safe("<marked>" + super().as_widget(*args, **kwargs))


def test_a_form_with_its_own_bound_field_class_renders_through_it() -> None:
    form = _Awkward(bound_field_class=_MarkedBoundField)
    assert render_widget(form["hidden"]) == str(form["hidden"])
    assert render_widget(form["hidden"]).startswith("<marked>")


def test_a_missing_field_renders_nothing_through_the_filter() -> None:
    assert Template("{% load fields %}[{{ nothing.version|as_widget }}]").render(Context()) == "[]"
