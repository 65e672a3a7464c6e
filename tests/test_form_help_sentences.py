"""A field's help text that is a sentence ends with a full stop, on every form (QA walkthrough:
"Chooses the coding policy the charges follow" had none; the style guide: messages beside fields
are full sentences ending with a full stop). Not a sentence, and so left as they are: a help text
that goes on from its label in lower case ("or a rate", "e.g. 20G", "default 59") or gives a
number's form ("11 digits..."), and the few labels of a format or examples named here."""

import importlib
import inspect

from django import forms

from mar.payers import payer_policy_for
from mar.registration.forms import PAYER_NOT_KNOWN, VisitForm
from tests.test_forms_required_words import MADE, MODULES

# A format or examples, as a label says them: not sentences.
NOT_SENTENCES = {
    "Brand and other names, separated by ';'",
    "Amount and unit: 50 mg",
    "Family name, given names",
    "Adapt: the code to send",
    "Two letters or digits each, up to 4, e.g. 59 JW",
    "Record ids, e.g. A12 A13",
    "UTF-8 CSV, at most 5 MB",
}


def _help_texts() -> dict[str, str]:
    said = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, form_class in inspect.getmembers(module, inspect.isclass):
            if not issubclass(form_class, forms.BaseForm) or form_class.__module__ != module_name:
                continue
            fields = form_class.base_fields
            if name in MADE:
                fields = form_class(**MADE[name]).fields
            for field_name, field in fields.items():
                if field.help_text:
                    said[f"{module_name}.{name}.{field_name}"] = str(field.help_text)
    return said


def test_every_help_text_that_is_a_sentence_ends_with_a_full_stop() -> None:
    said = _help_texts()
    sentences = {
        where: text
        for where, text in said.items()
        if text[0].isupper() and text not in NOT_SENTENCES
    }
    assert len(sentences) > 20
    unfinished = [f"{where}: {text!r}" for where, text in sentences.items() if text[-1] != "."]
    assert unfinished == [], "\n".join(unfinished)
    # The list of exceptions names only help texts still on a form.
    assert NOT_SENTENCES <= set(said.values())


def test_the_visit_form_says_what_no_payer_means_and_offers_units_in_plain_words() -> None:
    form = VisitForm()
    assert form.fields["unit"].help_text == "Units used before are offered as you type."
    assert form.fields["payer"].help_text == "Chooses the coding policy the charges follow."
    # No payer is coded with the rules' defaults (mar.payers.payer_policy_for), not as self-pay.
    assert form.fields["payer"].empty_label == PAYER_NOT_KNOWN
    assert payer_policy_for(None) is None  # the engine's DEFAULT_POLICY then
    assert "rules' defaults" in PAYER_NOT_KNOWN and "self-pay" not in PAYER_NOT_KNOWN.lower()
