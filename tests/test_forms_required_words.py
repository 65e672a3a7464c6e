"""Every field a person must fill says what is missing in words when it is left empty (or only
spaces), on every screen: walk19 did it for registration's patient, pharmacy's class and the
coder's forms; walk20 found "This field is required." beside an NDC's reason for retiring, and
the nurse's addendum, rate change, scan override, the clerk's visit and order, the pharmacist's
drug and NDC, the sweep's dates and the uploads still said it.

A choice from a list, a box to tick or a hidden field is never empty from the page, so it is left
out; a form that sets its words when it is made is checked as made."""

import importlib
import inspect

from django import forms

MODULES = (
    "mar.forms",
    "mar.care_forms",
    "mar.pharmacy.views",
    "mar.registration.forms",
    "mar.audit.forms",
    "coding.forms",
    "coding.sweep_views",
    "coding.chargemaster_views",
    "coding.payer_views",
)
# Forms whose fields are made with the form: checked as made, by these arguments.
MADE = {
    "SignInForm": {},
    "PayerPolicyForm": {"initial_policy": {}},
}
NEVER_EMPTY = (forms.HiddenInput, forms.RadioSelect, forms.Select, forms.CheckboxInput)
BARE = forms.Field.default_error_messages["required"]


def test_no_form_refuses_an_empty_field_with_django_s_bare_required_message() -> None:
    bare = []
    checked = 0
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, form_class in inspect.getmembers(module, inspect.isclass):
            if not issubclass(form_class, forms.BaseForm) or form_class.__module__ != module_name:
                continue
            fields = form_class.base_fields
            if name in MADE:
                fields = form_class(**MADE[name]).fields
            for field_name, field in fields.items():
                if not field.required or isinstance(field.widget, NEVER_EMPTY):
                    continue
                checked += 1
                if str(field.error_messages["required"]) == BARE:
                    bare.append(f"{module_name}.{name}.{field_name}")
    assert checked > 30
    assert bare == [], "\n".join(bare)
