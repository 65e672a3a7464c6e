"""The coder's modifiers field (coding/modifiers.py, coding/forms.py `ModifiersField`). QA: "Add
a line" took 96523 ×3 with modifier "ZZ", and a correction of a line's modifiers the same; no
edit flagged it. A modifier is two letters or digits and one the facility uses on these lines
(OPPS outpatient hospital: the list with its meanings, coding/README.md "Modifiers"); none
twice, at most four on a line (837I / UB-04); typed in lower case, kept in capitals; refused
beside the field, what was typed kept. Every modifier the engine can put on a line is taken
(else a coder could not change the units of a line the engine made)."""

from __future__ import annotations

import itertools
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from coding.engine import code_record, parse_record
from coding.engine.drug_units import MULTI_DOSE, SINGLE_DOSE, DrugGiven, encounter_drug_lines
from coding.engine.ptp import DISTINCT_MODIFIERS
from coding.engine.record import POLICY_CHOICES
from coding.forms import CorrectionResolveForm, LineAddForm, LineCorrectForm
from coding.modifiers import MAX_MODIFIERS, MODIFIERS, modifiers_refusal
from tests.engine.generator import generated_records

SCENARIOS = sorted((Path(__file__).parents[1] / "engine" / "scenarios").glob("*.json"))
MODIFIER_POLICY = ("second_site_modifier", "second_encounter_modifier", "distinct_modifier_scope")
KNOWN = ", ".join(sorted(MODIFIERS))


def add_form(modifiers: str) -> LineAddForm:
    return LineAddForm(
        data={"code": "96523", "units": "3", "modifiers": modifiers, "reason": "port flushed"}
    )


def correct_form(modifiers: str, action: str = "change", code: str = "96523") -> LineCorrectForm:
    return LineCorrectForm(
        data={
            "action": action,
            "code": code,
            "units": "1",
            "modifiers": modifiers,
            "reason": "port flushed",
        }  # fmt: skip
    )


# --- the rules, beside the field ----------------------------------------------------------


def test_a_modifier_the_facility_does_not_use_is_refused_with_the_ones_it_knows() -> None:
    """The QA case: 96523 ×3 with "ZZ" is refused beside the modifiers, naming those taken."""
    form = add_form("ZZ")
    assert not form.is_valid()
    assert form.errors == {
        "modifiers": [f"ZZ is not a modifier of these lines: the ones taken are {KNOWN}."]
    }
    form = correct_form("59 ZZ Q9")
    assert not form.is_valid()
    assert form.errors["modifiers"] == [
        f"ZZ Q9 are not modifiers of these lines: the ones taken are {KNOWN}."
    ]


@pytest.mark.parametrize("typed", ["5", "591", "X-", "5 9", "59-XU", "J*"])
def test_a_modifier_not_two_letters_or_digits_is_refused(typed: str) -> None:
    form = add_form(typed)
    assert not form.is_valid()
    (message,) = form.errors["modifiers"]
    assert "a modifier is two letters or digits, several separated by spaces (59 JW)" in message
    assert message.startswith(typed.split()[0])


def test_a_modifier_twice_on_one_line_is_refused() -> None:
    form = add_form("59 jw JW")
    assert not form.is_valid()
    assert form.errors["modifiers"] == ["JW given twice: once is enough."]


def test_more_modifiers_than_a_claim_line_carries_are_refused() -> None:
    """837I SV202-3 to -6 / UB-04 FL 44: four modifiers a line."""
    assert MAX_MODIFIERS == 4
    form = correct_form("59 XU JW JZ 25")
    assert not form.is_valid()
    assert form.errors["modifiers"] == ["5 modifiers: a claim line carries at most 4."]
    assert correct_form("JW JG KX Q1", code="J9267").is_valid()


@pytest.mark.parametrize("x", ["XE", "XP", "XS", "XU"])
def test_59_with_an_x_modifier_is_refused_beside_the_field(x: str) -> None:
    """CMS (MLN1783722, NCCI Policy Manual ch. 1 §E): the X{EPSU} modifiers are more specific
    subsets of 59; 59 is still recognized but not used together with one (QA: "59 XU" taken)."""
    for typed in (f"59 {x}", f"{x.lower()}, 59"):
        form = correct_form(typed)
        assert not form.is_valid()
        assert form.errors == {
            "modifiers": [
                f"59 and {x} on one line: {x} is a more specific kind of 59 and CMS does not "
                "take them together (NCCI Policy Manual ch. 1); keep the one that says why the "
                "service is distinct."
            ]
        }
        assert form.data["modifiers"] == typed  # what was typed is kept
    assert correct_form(x).is_valid() and correct_form("59").is_valid()


def test_two_x_modifiers_on_one_line_are_refused() -> None:
    """One X{EPSU} modifier a line, the one saying why it is distinct (QA: "JW XS XU" taken)."""
    form = add_form("XS XU")
    assert not form.is_valid()
    assert form.errors == {
        "modifiers": [
            "XS and XU on one line: a line takes one X modifier (XE, XP, XS or XU), the one "
            "that says why the service is distinct (NCCI Policy Manual ch. 1); keep one."
        ]
    }
    form = correct_form("JW XS XU", code="J9267")
    assert not form.is_valid()
    assert "XS and XU on one line" in form.errors["modifiers"][0]


@pytest.mark.parametrize(("typed", "said"), [("JW", "JW"), ("jz", "JZ"), ("59 JW", "JW")])
def test_jw_jz_on_a_cpt_administration_code_is_refused(typed: str, said: str) -> None:
    """JW/JZ are drug-line modifiers (the drug's HCPCS Level II line), never on a CPT
    administration code (QA: "96365 JW" taken)."""
    form = correct_form(typed, code="96365")
    assert not form.is_valid()
    assert form.errors == {
        "modifiers": [
            f"{said} on 96365: JW and JZ go on the drug's HCPCS line (J9267), not on 96365."
        ]
    }
    add = LineAddForm(data={"code": "96365", "units": "1", "modifiers": typed, "reason": "x y"})
    assert not add.is_valid() and "not on 96365" in add.errors["modifiers"][0]
    adapt = CorrectionResolveForm(
        data={"decision": "adapt", "code": "96365", "units": "1", "modifiers": typed,
              "reason": "as charted"}
    )  # fmt: skip
    assert not adapt.is_valid() and "not on 96365" in adapt.errors["modifiers"][0]
    # On the drug's own line (J, Q codes) they stand.
    assert correct_form(typed, code="J9267").is_valid()
    assert correct_form(typed, code="Q0138").is_valid()


def test_the_service_refuses_the_same_combinations_beside_the_modifiers() -> None:
    """`review._clean_line` (via `modifiers_checked`) says the same as the form."""
    from django.core.exceptions import ValidationError

    from coding.modifiers import modifiers_checked

    for mods, code in ((["59", "XU"], "96365"), (["XS", "XU"], "96366"), (["JW"], "96365")):
        with pytest.raises(ValidationError) as raised:
            modifiers_checked(mods, code)
        assert set(raised.value.message_dict) == {"modifiers"}
    assert modifiers_checked(["jw"], "J9267") == ["JW"]


def test_lower_case_is_taken_and_kept_in_capitals() -> None:
    form = add_form("xu, q1")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["modifiers"] == ["XU", "Q1"]


def test_a_line_removed_or_a_correction_kept_is_not_refused_for_its_modifiers() -> None:
    """A removal sends no modifiers: a line carrying one no longer taken is still removed; a
    re-review kept or dropped keeps its own. Adapted, the modifiers are checked."""
    assert correct_form("ZZ", action="remove").is_valid()
    data = {"decision": "keep", "modifiers": "ZZ", "reason": "as it was"}
    assert CorrectionResolveForm(data=data).is_valid()
    adapted = CorrectionResolveForm(data={**data, "decision": "adapt", "units": "1"})
    assert not adapted.is_valid()
    assert "ZZ is not a modifier of these lines" in adapted.errors["modifiers"][0]


def test_every_modifier_listed_has_its_meaning() -> None:
    for modifier, meaning in MODIFIERS.items():
        assert modifiers_refusal([modifier]) is None
        assert len(meaning) > 10, modifier


# --- every modifier the engine puts on a line is taken --------------------------------------


def test_the_engines_policy_modifiers_are_taken() -> None:
    """The payer policy's distinct modifiers and those that lift an NCCI PTP edit."""
    choices = set(POLICY_CHOICES["second_site_modifier"])
    choices |= set(POLICY_CHOICES["second_encounter_modifier"])
    assert {str(c) for c in choices} | DISTINCT_MODIFIERS <= set(MODIFIERS)


def _scenario_modifiers() -> set[tuple[str, tuple[str, ...]]]:
    """Every line's modifiers the engine makes from the 41 worked scenarios (as charted and as a
    second encounter of the day), under each value of the policy keys that choose a modifier,
    and from generated records under every policy."""
    found: set[tuple[str, tuple[str, ...]]] = set()
    records = [json.loads(p.read_text(encoding="utf-8"))["record"] for p in SCENARIOS]
    values = [POLICY_CHOICES[key] for key in MODIFIER_POLICY]
    for record, day in itertools.product(records, (None, 2)):
        if day is not None:  # also as the second encounter of the day (59/XE with a site's)
            record = {**record, "encounter": {**record["encounter"], "sequence_of_day": day}}
        for combo in itertools.product(*values):
            chosen = dict(zip(MODIFIER_POLICY, combo, strict=True))
            doc = {**record, "policy": {**record.get("policy", {}), **chosen}}
            for line in code_record(parse_record(doc)).to_json()["charges"]:
                found.add((line["code"], tuple(line.get("modifiers") or ())))
    for doc in generated_records(300, seed=13):
        for line in code_record(parse_record(doc)).to_json()["charges"]:
            found.add((line["code"], tuple(line.get("modifiers") or ())))
    return found


def _drug_line_modifiers() -> set[tuple[str, tuple[str, ...]]]:
    """The drug lines' modifiers: single-dose with waste (JW line), none wasted (JZ), waste not
    charted, multi-dose, container not stated."""
    day = date(2026, 3, 2)

    def given(adm: str, container: str, waste: Decimal | None) -> DrugGiven:
        return DrugGiven(
            administration=adm, day=day, drug="paclitaxel", hcpcs="J9267",
            billing_unit_label="1 mg", per_unit=Decimal(1), billing_unit="mg",
            container=container, dose_value=Decimal(300), dose_unit="mg",
            waste_value=waste, waste_unit="mg" if waste is not None else "",
        )  # fmt: skip

    cases = [
        given("A1", SINGLE_DOSE, Decimal(20)),
        given("A2", SINGLE_DOSE, Decimal(0)),
        given("A3", SINGLE_DOSE, None),
        given("A4", MULTI_DOSE, None),
        given("A5", "", Decimal(5)),
    ]
    items = encounter_drug_lines(cases)
    return {(line["code"], tuple(line["modifiers"])) for line in items.lines}


def test_every_modifier_the_engine_emits_is_accepted_by_the_form() -> None:
    emitted = _scenario_modifiers() | _drug_line_modifiers()
    each = {m for _, mods in emitted for m in mods}
    # The scenarios reach the distinct modifiers and the drug lines JW and JZ.
    assert {"59", "XU", "XS", "XE", "JW", "JZ"} <= each
    for code, mods in sorted(emitted):
        typed = " ".join(mods)
        form = correct_form(typed, code=code)
        assert form.is_valid(), (code, typed, form.errors)
        assert form.cleaned_data["modifiers"] == list(mods)
