"""The reason of a high-impact action is said in words: a few letters at least, not a key struck
or punctuation alone, three letters or digits with a letter among them ("BP 80/50", "C61" say
why) (QA: "x" was accepted as a pharmacist's class change, which re-bills every
signed visit using the drug, as an order's class override and as a coder's question). One
validator (mar.validators `validate_reason_in_words`; the coder's question its own words,
`validate_question_in_words`), on the reason fields of the actions that change what is billed,
what a signed record says, or override a safety check, in mar and coding; its message is said
beside the field. An empty reason is the form's or the service's own refusal, in its words."""

import importlib

import pytest
from django import forms
from django.core.exceptions import ValidationError

from coding.payer_views import PayerPolicyForm
from mar.validators import (
    QUESTION_IN_WORDS,
    REASON_IN_WORDS,
    in_words,
    validate_question_in_words,
    validate_reason_in_words,
)


@pytest.mark.parametrize(
    "text",
    ["x", "xy", ".", "??", "---", "1234", "12/80", " ! ", "x.", "ok", "a1"],
)
def test_a_reason_of_fewer_than_three_letters_or_no_letter_is_refused_with_its_words(text) -> None:
    assert not in_words(text)
    with pytest.raises(ValidationError) as caught:
        validate_reason_in_words(text)
    assert caught.value.messages == [REASON_IN_WORDS]
    assert REASON_IN_WORDS == (
        "Say why in words (a few letters at least): the reason is kept in the audit trail."
    )


@pytest.mark.parametrize(
    "text",
    [
        "dup",
        "typo",
        "NKDA",
        "wrong arm",
        "Rx per MD",
        "pt refused",
        "é è ü",
        "BP 80/50",
        "C61",
        "prescriber confirmed",
    ],
)
def test_a_reason_of_three_letters_or_digits_a_letter_among_them_is_taken(text) -> None:
    assert in_words(text)
    validate_reason_in_words(text)  # raises nothing
    validate_question_in_words(text)


def test_the_coders_question_is_refused_in_its_own_words() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_question_in_words("?")
    assert caught.value.messages == [QUESTION_IN_WORDS]


def test_a_form_runs_it_on_what_was_typed_and_leaves_an_empty_optional_reason_alone() -> None:
    class Why(forms.Form):
        reason = forms.CharField(required=False, validators=[validate_reason_in_words])

    assert Why({"reason": ""}).is_valid()
    refused = Why({"reason": "  x  "})
    assert not refused.is_valid() and refused.errors == {"reason": [REASON_IN_WORDS]}
    assert Why({"reason": " label says 2 mL "}).is_valid()


# The reason fields of the high-impact actions: each carries the validator. Listed here, so a new
# reason field is a decision (added here, or to NOT_HIGH_IMPACT with why).
COVERED = {
    "mar.pharmacy.views": {
        "DrugClassForm": ["reason"],  # a class tagged (its evidence) or changed: re-bills
        "DrugForm": ["reason"],  # HCPCS code, billing unit, container changed: re-bills
        "FormularyImportForm": ["reason"],  # the same, for the drugs a CSV file changes
        "NdcEditForm": ["reason"],  # a package's unit per billing unit: the claim's NDC units
        "NdcRetireForm": ["reason"],
        "DrugRetireForm": ["reason"],  # new orders of the drug refused
        "OrderClassForm": ["reason"],  # one order's class override: re-bills its visit
        "OrderReturnForm": ["reason"],  # the chart does not start the order
        "OrderReturnWithdrawForm": ["reason"],
    },
    "mar.forms": {
        "SiteForm": ["separate_site_reason"],  # a second site's own initial service
        "SiteUpdateForm": ["separate_site_reason", "addendum_why"],
        "FlushRemoveForm": ["addendum_why"],
        "DispositionForm": ["reason", "addendum_why"],  # not given: DOC-6's documentation
        "AdministrationForm": ["addendum_why"],
        "PauseForm": ["addendum_why"],
        "EncounterTimesForm": ["addendum_why"],
        # One "reason to sign anyway" per red item, made when the form is built (ack_<key>):
        # kept with the signature (QA: "x" was taken).
        "SignForm": ["ack_*"],
    },
    "mar.care_forms": {
        "ScanOverrideForm": ["reason"],  # given despite the scan
        "StartChecksForm": ["emergency_reason", "allergy_reason"],  # safety overrides
        "RateChangeForm": ["reason", "addendum_why"],  # a rate change added to a signed record
        "RateChangeEditForm": ["addendum_why"],  # a signed record's rate change corrected
        "RateChangeRemoveForm": ["addendum_why"],  # ... or removed, charted in error
        "VolumesForm": ["addendum_why"],  # a signed record's volumes corrected
        "AdministrationRemoveForm": ["reason", "addendum_why"],  # out of the record
    },
    "mar.registration.forms": {
        "OrderEntryForm": ["allergy_reason"],  # entered despite an allergy
        "VisitForm": ["second_visit_why"],  # a second visit while one is in progress
        "OrderCancelForm": ["reason"],  # an order cancelled as entered in error
    },
    "coding.forms": {
        "LineCorrectForm": ["reason"],
        "LineBackForm": ["reason"],  # a corrected line back to the engine's: what is billed
        "CorrectionResolveForm": ["reason"],
        "CorrectionUndoForm": ["reason"],
        "ClassStandsForm": ["reason"],
        "LineAddForm": ["reason"],
        "EditOverrideForm": ["reason"],
        "QueryForm": ["question"],
        "QueryWithdrawForm": ["reason"],
    },
}
# Reason-like fields left without it, and why.
NOT_HIGH_IMPACT = {
    "coding.forms.ClassRerunForm.reason",  # an optional note added to the rerun's own reason
}


def _sign_form_built() -> forms.Form:
    """The sign form as the chart builds it over two red items (its ack_* fields)."""
    from coding.engine.result import Finding
    from mar.forms import SignForm

    return SignForm(
        open_errors=[
            Finding("RAC-7", "error", "Stop time missing", ("a1",), "stop"),
            Finding("DOC-6", "error", "Disposition missing"),
        ]
    )


# The forms whose reason fields are made when built (a name ending "*" in COVERED): built so.
BUILT = {"mar.forms.SignForm": _sign_form_built}


def _fields(module_name: str, form_name: str, name: str) -> list[forms.Field]:
    """The field `name` of the form; for a name ending "*", every field it begins (one at least)."""
    if not name.endswith("*"):
        return [getattr(importlib.import_module(module_name), form_name).base_fields[name]]
    built = BUILT[f"{module_name}.{form_name}"]().fields
    made = [field for made, field in built.items() if made.startswith(name.removesuffix("*"))]
    assert made, f"{module_name}.{form_name} built with no {name} field"
    return made


def test_every_high_impact_reason_field_carries_the_validator() -> None:
    missing = []
    for module_name, form_fields in COVERED.items():
        for form_name, names in form_fields.items():
            for name in names:
                wanted = (
                    validate_question_in_words if name == "question" else validate_reason_in_words
                )
                if any(wanted not in f.validators for f in _fields(module_name, form_name, name)):
                    missing.append(f"{module_name}.{form_name}.{name}")
    # A payer's coding policy changed (re-codes its visits): its form makes its fields.
    policy = PayerPolicyForm(initial_policy={}).fields["reason"]
    if validate_reason_in_words not in policy.validators:
        missing.append("coding.payer_views.PayerPolicyForm.reason")
    assert missing == []


def test_no_reason_field_of_these_modules_is_left_undecided() -> None:
    """A text field named for a reason (reason, *_reason, *_why) in these modules is covered or
    listed as not high-impact, with why."""
    undecided = []
    for module_name, form_fields in COVERED.items():
        module = importlib.import_module(module_name)
        for form_name in dir(module):
            form_class = getattr(module, form_name)
            if not (isinstance(form_class, type) and issubclass(form_class, forms.BaseForm)):
                continue
            if form_class.__module__ != module_name:
                continue
            for name, field in form_class.base_fields.items():
                reasonish = name == "reason" or name.endswith(("_reason", "_why"))
                if not reasonish or type(field) is not forms.CharField:
                    continue
                key = f"{module_name}.{form_name}.{name}"
                if name not in form_fields.get(form_name, []) and key not in NOT_HIGH_IMPACT:
                    undecided.append(key)
    assert undecided == []
