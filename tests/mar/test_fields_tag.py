"""`|as_field` (mar/templatetags/fields.py) gives every field of the chart the markup crispy's
`|as_crispy_field` gives it: the same elements, attributes and text (whitespace between tags
aside), unbound and with errors. Issue 19: it replaces crispy on the bedside's hot partials."""

import re

import pytest
from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django.forms import BooleanField, CheckboxInput, Form
from django.test import RequestFactory

from mar import roles
from mar.care_context import care_context
from mar.chart_context import chart_context
from mar.models import Encounter
from mar.templatetags.fields import as_field
from tests import factories
from tests.mar.chart_helpers import forms_in

pytestmark = pytest.mark.django_db


def _records() -> tuple[Encounter, Encounter]:
    """A chemotherapy visit in progress and one signed: the chart builds the sign-off form on the
    one and the addendum's on the other (only the form it draws, issue 19)."""
    return (
        factories.chemo_encounter_create(extra_pushes=1),
        factories.chemo_encounter_create(extra_pushes=1, status=Encounter.Status.SIGNED),
    )


def _chart_forms(encounters, user) -> list[Form]:
    """Every form the charts of `encounters` build."""
    found = []
    for encounter in encounters:
        request = RequestFactory().get("/")
        request.user = user
        context = chart_context(encounter)
        context.update(care_context(request, encounter))
        found += forms_in(context)
    return found


def _normal(html: str) -> str:
    # Each start form carries its own idempotency key (a fresh uuid per form instance).
    html = re.sub(r'(name="[^"]*request_key" value=")[0-9a-f]{32}"', r'\1…"', str(html))
    html = re.sub(r"\s+", " ", html).strip()
    return re.sub(r"\s*(<|>)\s*", r"\1", html)


def _with_errors(form: Form) -> Form:
    """The form bound to nothing, with an error on every field (a message with markup in it)."""
    form.is_bound = True
    form.data = {}
    form._errors = None
    form.full_clean()
    for name in form.fields:
        if name not in form.errors:
            form.add_error(name, "Not <b>this</b> & not that.")
    return form


def test_every_chart_field_renders_as_crispy_renders_it_unbound_and_with_errors() -> None:
    encounters = _records()
    user = factories.user_create(username="nurse-fields", role=roles.NURSE)
    crispy_forms, our_forms = _chart_forms(encounters, user), _chart_forms(encounters, user)
    assert len(crispy_forms) == len(our_forms) > 20
    compared = 0
    kinds = set()
    for errors in (False, True):
        for theirs, ours in zip(crispy_forms, our_forms, strict=True):
            if errors:
                theirs, ours = _with_errors(theirs), _with_errors(ours)
            for name in theirs.fields:
                expected = _normal(as_crispy_field(theirs[name]))
                assert _normal(as_field(ours[name])) == expected, (type(ours).__name__, name)
                kinds.add(type(theirs.fields[name].widget).__name__)
                compared += 1
    assert compared > 200
    # The widgets of the chart it renders itself (the rest go to crispy).
    assert {"Select", "TextInput", "NumberInput", "HiddenInput", "CheckboxInput"} <= kinds


class _Boxes(Form):
    confirmed = BooleanField(label="I <b>checked</b> it & agree", help_text="see <i>policy</i>")
    optional = BooleanField(required=False, label="")
    styled = BooleanField(required=False, widget=CheckboxInput(attrs={"class": "big"}))


@pytest.mark.parametrize("data", [None, {"b-optional": "on"}, {"b-confirmed": "on"}])
def test_a_checkbox_renders_as_crispys_bootstrap5_checkbox(data) -> None:
    """The chemotherapy double check's box (issue 17) is drawn here, not by crispy's templates:
    box, label (its required mark), errors, then help, in a form-check inside an mb-3."""
    for errors in (False, True):
        theirs, ours = _Boxes(data, prefix="b"), _Boxes(data, prefix="b")
        if errors:
            theirs, ours = _with_errors(theirs), _with_errors(ours)
        for name in theirs.fields:
            assert _normal(as_field(ours[name])) == _normal(as_crispy_field(theirs[name])), name
    assert 'class="checkboxinput form-check-input is-invalid"' in as_field(
        _with_errors(_Boxes(prefix="b"))["confirmed"]
    )
