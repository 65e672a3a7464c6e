"""Every message beside a field of coding's forms is a full sentence ending with its full stop
(the app's style; QA: the coder's code and modifier refusals ended without one, "… is not a
CPT/HCPCS code: a CPT code is five digits (96365) …; a HCPCS code a letter and four digits
(J9045)" and "ZZ is not a modifier of these lines: the ones taken are 25, 27, …, XU").

Each form of coding's modules is sent what a person may type wrong (nothing, a stray letter, a
run longer than any field, signs, numbers out of range, modifiers malformed, unknown, twice,
too many, JW with JZ, a code that is none), under each of its choices (change or remove, keep,
adapt or drop), and every error it says is checked; so are the services' own refusals beside a
field (`review._clean_line`, `modifiers_refusal`, `reason_checked`), which a form shows when the
service refuses what the form let through."""

from __future__ import annotations

import importlib
import inspect
import itertools
from datetime import date
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ValidationError

from coding.modifiers import modifiers_refusal
from coding.review import REASON_MAX, _clean_line, reason_checked

MODULES = ("coding.forms", "coding.sweep_views", "coding.chargemaster_views", "coding.payer_views")
# Forms made with arguments: made with these.
MADE: dict[str, dict[str, Any]] = {
    "PayerPolicyForm": {"initial_policy": {}},
    "LineAddForm": {"administration_ids": {"A1", "A2"}},
    "QueryForm": {"run_id": None, "administrations": [("A1", "A1 paclitaxel")]},
}
TYPED = (
    "",
    " ",
    "x",
    "ZZZ",
    "zz 59 59 jw",
    "59 XU JW JG 25",
    "jw jz",
    "5",
    "-5",
    "0",
    "100000",
    "2027-13-45",
    "A99",
    "x" * (REASON_MAX + 100),
)


def form_classes() -> list[tuple[str, type[forms.BaseForm]]]:
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, form_class in inspect.getmembers(module, inspect.isclass):
            if issubclass(form_class, forms.BaseForm) and form_class.__module__ == module_name:
                found.append((name, form_class))
    return found


def choices(field: forms.Field) -> list[str]:
    """The values a choice from a list can take on the page (a model's list: none here)."""
    if isinstance(field, forms.ModelChoiceField):
        return [""]
    if isinstance(field, forms.ChoiceField):
        return [str(value) for value, _ in field.choices] or [""]
    return []


def said(form_class: type[forms.BaseForm], name: str) -> set[str]:
    """Every error the form says for what is typed wrong, under each of its choices."""
    made = form_class(**MADE.get(name, {}))
    fields = made.fields
    chosen = {n: choices(f) for n, f in fields.items() if choices(f)}
    messages: set[str] = set()
    for values in itertools.product(*chosen.values()):
        for typed in TYPED:
            data = {n: typed for n in fields if n not in chosen}
            data.update(dict(zip(chosen, values, strict=True)))
            form = form_class(data, **MADE.get(name, {}))
            form.is_valid()
            for errors in form.errors.values():
                messages.update(str(e) for e in errors)
    return messages


@pytest.mark.django_db
def test_every_message_beside_a_field_of_codings_forms_ends_with_a_full_stop() -> None:
    classes = form_classes()
    expected = {"LineCorrectForm", "LineAddForm", "CorrectionResolveForm", "EditOverrideForm",
                "ChargeMasterUploadForm", "SweepForm", "PayerPolicyForm"}  # fmt: skip
    assert expected <= {n for n, _ in classes}
    everything: dict[str, set[str]] = {name: said(cls, name) for name, cls in classes}
    # The QA cases are among what was said: the code and the modifiers refused.
    line = everything["LineCorrectForm"]
    assert any(m.startswith("ZZZ is not a CPT/HCPCS code") for m in line)
    assert any("is not a modifier of these lines" in m for m in line)
    assert any(m.startswith("JW and JZ on one line") for m in line)
    assert any(m.startswith("At most 2000 characters") for m in line)
    unfinished = sorted(
        f"{name}: {message}"
        for name, messages in everything.items()
        for message in messages
        if not message.endswith(".")
    )
    assert unfinished == []


@pytest.mark.parametrize(
    "modifiers",
    [["5"], ["ZZ"], ["ZZ", "Q9"], ["59", "59"], ["59", "XU", "JW", "JG", "25"], ["JW", "JZ"]],
)
def test_every_modifier_refusal_ends_with_a_full_stop(modifiers: list[str]) -> None:
    refusal = modifiers_refusal(modifiers)
    assert refusal is not None and refusal.endswith(".")
    assert refusal[0].isupper() or refusal[0].isdigit()


@pytest.mark.parametrize(
    "line",
    [
        {"code": "ZZZ"},
        {"code": ""},
        {"units": 0},
        {"units": 10_000},
        {"modifiers": ["jw", "jz"]},
        {"administrations": ["B12"]},
    ],
)
def test_the_services_refusals_beside_a_field_end_with_a_full_stop(line: dict[str, Any]) -> None:
    values: dict[str, Any] = {"code": "96413", "units": 1, "modifiers": [], "why": "",
                              "day": date(2026, 3, 2), "administrations": ["A1"]}  # fmt: skip
    values.update(line)
    with pytest.raises(ValidationError) as refused:
        _clean_line(**values)
    for messages in refused.value.message_dict.values():
        assert all(m.endswith(".") and (m[0].isupper() or m[0].isdigit()) for m in messages)


def test_a_reason_too_long_is_refused_in_a_sentence() -> None:
    with pytest.raises(ValidationError) as refused:
        reason_checked("y" * (REASON_MAX + 1))
    (message,) = refused.value.message_dict["reason"]
    assert message.endswith("This one has 2001.")
