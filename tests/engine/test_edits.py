"""edits.py, coding-rules.md §6: edits before a charge leaves, on hand-made lines (a coder's
correction) as well as the engine's: add-on without initial, 96368 twice, 96523 with others, MUE."""

from __future__ import annotations

from datetime import date

import pytest

from coding.engine import Charge, charge_edits

from .records import billed, infusion, push, record, run

DAY = date(2026, 3, 2)


def line(code: str, units: int = 1, day: date = DAY, adms: tuple[str, ...] = ("A1",)) -> Charge:
    return Charge(code=code, units=units, date=day, administrations=adms, why="coder")


def edit_rules(charges, **kw) -> list[str]:
    return [f.rule for f in charge_edits(charges, **kw)]


@pytest.mark.parametrize("add_on", ["96361", "96366", "96367", "96375", "96376", "96415", "96417"])
def test_an_add_on_without_its_initial_service_is_an_error(add_on):
    """coding-rules §6: an add-on without its initial service in the encounter: error."""
    found = charge_edits([line(add_on)])
    assert [f.rule for f in found] == ["EDIT-ADDON"]
    assert found[0].severity == "error"


@pytest.mark.parametrize(
    ("initial", "add_on"),
    [("96365", "96366"), ("96413", "96415"), ("96360", "96361"), ("96374", "96375"),
     ("96413", "96417"), ("96369", "96370"), ("96422", "96423")],
)  # fmt: skip
def test_an_add_on_with_its_initial_service_passes(initial, add_on):
    """coding-rules §6: with an initial service it may be reported with, no edit."""
    assert edit_rules([line(initial), line(add_on)]) == []


def test_96417_with_a_therapeutic_initial_only_is_an_error():
    """coding-rules §6 (CPT parenthetical): 96417 is reported with 96413, not with 96365."""
    assert edit_rules([line("96365"), line("96417")]) == ["EDIT-ADDON"]


def test_96368_twice_is_an_error():
    """coding-rules §6: 96368 more than once per encounter."""
    charges = [line("96365"), line("96368", adms=("A2",)), line("96368", adms=("A3",))]
    found = [f for f in charge_edits(charges) if f.rule == "EDIT-96368"]
    assert found and found[0].administrations == ("A2", "A3")


def test_96368_with_two_units_is_an_error():
    """coding-rules §6: 96368 at most once, however the units are written."""
    assert "EDIT-96368" in edit_rules([line("96365"), line("96368", units=2)])


def test_96368_once_passes():
    """coding-rules §6: once is allowed."""
    assert edit_rules([line("96365"), line("96368")]) == []


@pytest.mark.parametrize("code", ["96369", "96371"])
def test_96369_or_96371_twice_is_an_error(code):
    """CPT: "Use 96369, 96371 only once per encounter" (a published rule coding-rules §6 omits)."""
    charges = [line("96369"), line(code, adms=("A2",)), line(code, adms=("A3",))]
    assert f"EDIT-{code}" in edit_rules(charges)
    assert edit_rules([line("96369"), line("96371")]) == []


def test_96523_with_another_drug_administration_is_an_error():
    """coding-rules §6: 96523 with any other drug administration."""
    assert edit_rules([line("96523", adms=()), line("96372")]) == ["EDIT-96523"]


def test_96523_alone_passes():
    """coding-rules §4: 96523 alone is allowed."""
    assert edit_rules([line("96523", adms=())]) == []


def test_units_above_the_mue_are_held_for_the_coder():
    """coding-rules §6: units above the per-day limit (MUE, as data) are held: warning."""
    charges = [line("96365"), line("96366", units=5)]
    found = charge_edits(charges, mue={"96366": 4})
    assert [(f.rule, f.severity) for f in found] == [("EDIT-MUE", "warning")]


def test_mue_counts_per_day():
    """coding-rules §6: per-day limits: 3 units on each of two dates is within a limit of 4."""
    charges = [
        line("96365"),
        line("96366", units=3),
        line("96366", units=3, day=date(2026, 3, 3)),
    ]
    assert edit_rules(charges, mue={"96366": 4}) == []
    assert edit_rules(charges[:2], mue={"96366": 2}) == ["EDIT-MUE"]


def test_the_engine_writes_no_line_its_own_edits_refuse():
    """coding-rules §6: an edit error is never sent: the engine's own lines pass the edits."""
    result = run(
        record(
            infusion("A1", "vancomycin", minutes=200),
            infusion("A2", "cefazolin", start=210, minutes=100),
            push("A3", at=320),
        )
    )
    assert billed(result) == {"96365": 1, "96366": 3, "96367": 1, "96375": 1}
    assert charge_edits(result.charges) == []
    assert not [f for f in result.findings if f.rule.startswith("EDIT-")]
