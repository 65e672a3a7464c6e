"""CLAIM-ONE-LINE-PER-CODE: one claim line per code, date of service and modifiers, its units
summed (record-format.md: "a code whose units fall on two dates is two lines"; a second line of
the same code and date is denied as a duplicate by Medicare contractors)."""

from __future__ import annotations

from coding.engine import rules as r

from .records import billed, infusion, push, record, run, site


def lines_of(result, code):
    return [c for c in result.charges if c.code == code]


def test_two_pushes_of_new_drugs_are_one_96375_line_of_two_units():
    """Two new drugs pushed after the initial service: 96375 x2 on one line, both named."""
    result = run(
        record(
            push("A1", "ondansetron", at=0),
            push("A2", "dexamethasone", at=10),
            push("A3", "famotidine", at=20),
        )
    )
    (line,) = lines_of(result, "96375")
    assert line.units == 2
    assert line.administrations == ("A2", "A3")
    assert "dexamethasone" in line.why and "famotidine" in line.why
    assert r.ONE_LINE_PER_CODE in line.rules
    assert billed(result) == {"96374": 1, "96375": 2}


def test_sequential_infusions_of_two_new_drugs_are_one_96367_line():
    """Two sequential infusions of new drugs after the initial: 96367 x2 on one line."""
    result = run(
        record(
            infusion("A1", "vancomycin", start=0, minutes=60),
            infusion("A2", "cefazolin", start=60, minutes=30),
            infusion("A3", "metronidazole", start=90, minutes=30),
        )
    )
    (line,) = lines_of(result, "96367")
    assert (line.units, line.administrations) == (2, ("A2", "A3"))


def test_a_single_line_is_left_as_it_was_made():
    """A code made once keeps its reason and rules: the rule is named only where lines joined."""
    result = run(record(push("A1", "ondansetron", at=0), push("A2", "dexamethasone", at=10)))
    (line,) = lines_of(result, "96375")
    assert line.units == 1 and r.ONE_LINE_PER_CODE not in line.rules
    assert "; and " not in line.why


def test_pushes_on_two_dates_stay_two_lines():
    """A code whose units fall on two dates is two lines (record-format.md)."""
    result = run(
        record(
            push("A1", "ondansetron", at="2026-03-02T23:30"),
            push("A2", "dexamethasone", at="2026-03-02T23:40"),
            push("A3", "famotidine", at="2026-03-03T00:20"),
        )
    )
    lines = lines_of(result, "96375")
    assert [(c.date.isoformat(), c.units) for c in lines] == [
        ("2026-03-02", 1),
        ("2026-03-03", 1),
    ]


def test_a_line_with_another_modifier_stays_its_own_line():
    """Under distinct_modifier_scope=all the second site's push carries 59: its own line."""
    result = run(
        record(
            infusion("A1", start=0, minutes=60, site="S1"),
            push("A2", "dexamethasone", at=70, site="S1"),
            infusion("A3", "cefazolin", start=0, minutes=40, site="S2"),
            push("A4", "famotidine", at=50, site="S2"),
            sites=[site("S1"), site("S2", reason="incompatible drugs")],
            policy={"distinct_modifier_scope": "all"},
        )
    )
    pushes = sorted((c.modifiers, c.units) for c in lines_of(result, "96375"))
    assert pushes == [((), 1), (("59",), 1)]


def test_every_administration_of_a_joined_line_is_charged_once():
    """Joining lines neither drops nor repeats an administration."""
    result = run(
        record(
            push("A1", "ondansetron", at=0),
            push("A2", "dexamethasone", at=10),
            push("A3", "famotidine", at=20),
            push("A4", "metoclopramide", at=30),
        )
    )
    charged = [i for c in result.charges for i in c.administrations]
    assert sorted(charged) == ["A1", "A2", "A3", "A4"]
