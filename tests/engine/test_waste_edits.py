"""The JW/JZ edits before export (engine `edits.waste_modifier_edits`), on the lines as they will
be sent, a coder's corrections included. CMS JW/JZ policy (Pub. 100-04 ch. 17 §40): JW reports
the amount discarded from a single-dose container on a line of its own, in addition to the line
of the amount administered; JZ says nothing was discarded; neither is for a multi-dose container.

QA: the coder corrected the only drug line J9045 ×2 to J9045 ×1 JW; it was accepted, no line
was left for the drug given, and "Edits before export" said nothing blocks export."""

from __future__ import annotations

from datetime import date

from hypothesis import given as for_all
from hypothesis import strategies as st

from coding.engine import Charge, waste_modifier_edits
from coding.engine.drug_units import MULTI_DOSE, SINGLE_DOSE, DrugGiven, encounter_drug_lines

from .test_drug_units import administration

DAY = date(2026, 3, 2)


def line(code: str, units: int = 1, mods: tuple[str, ...] = (), day: date = DAY) -> Charge:
    return Charge(code=code, units=units, date=day, administrations=("A1",), why="coder",
                  modifiers=mods)  # fmt: skip


def rules(charges: list[Charge], containers: dict[str, str] | None = None) -> list[str]:
    return [f.rule for f in waste_modifier_edits(charges, containers=containers)]


def test_a_jw_line_with_no_line_of_the_dose_given_is_an_error() -> None:
    """QA's case: the only drug line corrected to J9045 ×1 JW: the waste billed, no dose."""
    found = waste_modifier_edits([line("96413"), line("J9045", 1, ("JW",))])
    assert [(f.rule, f.severity) for f in found] == [("EDIT-JW-NO-DOSE", "error")]
    assert found[0].message.startswith("J9045-JW ×1 on 2026-03-02 bills the amount discarded")
    assert found[0].administrations == ("A1",)


def test_a_jw_line_beside_the_line_of_the_dose_given_passes() -> None:
    """Noridian's example of ch. 17 §40: J1745 ×35 and J1745-JW ×5, both paid."""
    assert rules([line("J1745", 35), line("J1745", 5, ("JW",))]) == []
    # The dose line may carry other modifiers (JZ from another administration, JG 340B).
    assert rules([line("J1745", 35, ("JG",)), line("J1745", 5, ("JG", "JW"))]) == []
    assert rules([line("J1745", 35, ("JZ",)), line("J1745", 5, ("JW",))]) == []


def test_a_jw_line_beside_a_dose_line_of_another_code_or_day_is_an_error() -> None:
    other_code = [line("J9267", 300), line("J9045", 2, ("JW",))]
    other_day = [line("J9045", 8, day=date(2026, 3, 1)), line("J9045", 2, ("JW",))]
    assert rules(other_code) == ["EDIT-JW-NO-DOSE"]
    assert rules(other_day) == ["EDIT-JW-NO-DOSE"]


def test_jw_and_jz_on_one_line_is_an_error() -> None:
    """JW is the amount discarded, JZ says none was: never one line's (the form refuses it now,
    coding/modifiers.py; a line corrected before that is flagged here)."""
    found = waste_modifier_edits([line("J9045", 8), line("J9045", 2, ("JW", "JZ"))])
    assert [(f.rule, f.severity) for f in found] == [("EDIT-JW-JZ-BOTH", "error")]
    assert "both JW (amount discarded) and JZ (nothing discarded)" in found[0].message


def test_jw_or_jz_on_a_multi_dose_drug_is_an_error_and_not_on_single_dose_or_unstated() -> None:
    charges = [line("J2405", 8, ("JZ",)), line("J1100", 4), line("J1100", 2, ("JW",))]
    multi = {"J2405": MULTI_DOSE, "J1100": MULTI_DOSE}
    found = waste_modifier_edits(charges, containers=multi)
    assert [(f.rule, f.severity) for f in found] == [("EDIT-JW-JZ-MULTI-DOSE", "error")] * 2
    assert "J2405 on 2026-03-02 carries JZ, but the formulary says" in found[0].message
    assert "single-dose containers only" in found[1].message
    single = {"J2405": SINGLE_DOSE, "J1100": SINGLE_DOSE}
    assert rules(charges, containers=single) == []
    assert rules(charges, containers={}) == []
    assert rules(charges) == []


def _containers(doses: list[DrugGiven]) -> dict[str, str]:
    """As coding/review.py `run_containers` reads a run: a code's container when its drugs agree."""
    said: dict[str, set[str]] = {}
    for dose in doses:
        said.setdefault(dose.hcpcs, set()).add(dose.container)
    return {code: c.pop() for code, c in said.items() if len(c) == 1 and "" not in c}


@for_all(st.lists(administration, max_size=8, unique_by=lambda g: g.administration))
def test_the_engines_drug_lines_never_trip_the_waste_edits(doses: list[DrugGiven]) -> None:
    """Waste charted or not, JZ or not, single-dose, multi-dose or unstated, one day or two: the
    drug lines the engine makes are never flagged (the edits are for a coder's corrections)."""
    lines = [
        Charge(
            ln["code"],
            ln["units"],
            ln["date"],
            tuple(ln["administrations"]),
            "drug",
            tuple(ln["modifiers"]),
        )  # fmt: skip
        for ln in encounter_drug_lines(doses).lines
    ]
    assert waste_modifier_edits(lines, containers=_containers(doses)) == []
