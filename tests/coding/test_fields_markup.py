"""The coder's screens draw their form fields with `|as_field` and whole forms with `|as_form`
(mar/templatetags/fields.py), not crispy's `|as_crispy_field` and `|crispy` (issue 19: crispy's
nested templates were about a third of the worklist's time and most of a review page's): every
field of every form they draw, and every whole form, gets the markup crispy gives it, unbound
and with errors (whitespace between tags aside)."""

import pytest
from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field, as_crispy_form
from django.forms import Form

from coding.forms import (
    CorrectionResolveForm,
    DateRangeForm,
    EditOverrideForm,
    LineAddForm,
    LineCorrectForm,
    QueryForm,
    WorklistFilterForm,
)
from coding.payer_views import PayerPolicyForm
from coding.sweep_views import SweepForm
from mar.templatetags.fields import as_field, as_form
from tests.mar.test_fields_tag import _normal, _with_errors

pytestmark = pytest.mark.django_db


def _forms() -> list[Form]:
    return [
        WorklistFilterForm(),
        LineCorrectForm(prefix="l7", initial={"action": "change", "code": "96413", "units": 1}),
        CorrectionResolveForm(prefix="c3"),
        DateRangeForm(),
        SweepForm(),
        PayerPolicyForm(initial_policy={}),
    ]


@pytest.mark.parametrize("errors", [False, True], ids=["unbound", "with errors"])
def test_every_field_of_the_coders_forms_renders_as_crispy_renders_it(errors: bool) -> None:
    compared = 0
    for theirs, ours in zip(_forms(), _forms(), strict=True):
        if errors:
            theirs, ours = _with_errors(theirs), _with_errors(ours)
        for name in theirs.fields:
            expected = _normal(as_crispy_field(theirs[name]))
            assert _normal(as_field(ours[name])) == expected, (type(ours).__name__, name)
            compared += 1
    assert compared >= 20


def _whole_forms() -> list[Form]:
    return [
        EditOverrideForm(initial={"rule": "RAC-5", "message": "No stop time <b>here</b>"}),
        LineAddForm(administration_ids={"A1"}),
        QueryForm(run_id=None, administrations=[("A1", "A1 paclitaxel")]),
        LineCorrectForm(prefix="l7"),
    ]


@pytest.mark.parametrize("errors", [False, True], ids=["unbound", "with errors"])
def test_a_whole_form_renders_as_crispy_renders_it(errors: bool) -> None:
    for theirs, ours in zip(_whole_forms(), _whole_forms(), strict=True):
        if errors:
            theirs, ours = _with_errors(theirs), _with_errors(ours)
            for form in (theirs, ours):
                form.add_error(None, "Not <i>both</i> & neither.")
        expected = _normal(as_crispy_form(theirs))
        assert _normal(as_form(ours)) == expected, type(ours).__name__
        assert ("alert-danger" in expected) is errors
