"""Modifiers and the payer-policy keys that choose them (coding-rules.md §3, §5, §7):
second_site_modifier, second_encounter_modifier, distinct_modifier_scope, split_dose_injections."""

from __future__ import annotations

import pytest

from .records import adm, billed, chemo, hydration, infusion, push, record, run, site

SITES = [site("S1"), site("S2", reason="vesicant requires a dedicated line")]


def two_sites(**kw):
    return record(
        chemo("A1", minutes=60, site="S1"),
        infusion("A2", start=0, minutes=100, site="S2"),
        push("A3", "ondansetron", at=110, site="S2"),
        sites=SITES,
        **kw,
    )


def test_second_site_modifier_defaults_to_59():
    """coding-rules §7 second_site_modifier default 59, on the second initial only."""
    assert billed(run(two_sites())) == {"96413": 1, "96365-59": 1, "96366": 1, "96375": 1}


@pytest.mark.parametrize("modifier", ["XU", "XS"])
def test_second_site_modifier_can_be_an_x_modifier(modifier):
    """coding-rules §7 second_site_modifier XU / XS, named in the line's reason."""
    result = run(two_sites(policy={"second_site_modifier": modifier}))
    assert billed(result) == {"96413": 1, f"96365-{modifier}": 1, "96366": 1, "96375": 1}
    line = next(c for c in result.charges if c.modifiers)
    assert f"modifier {modifier}" in line.why


def test_distinct_modifier_scope_all_puts_it_on_every_line_of_the_second_site():
    """coding-rules §7 distinct_modifier_scope=all: every line of the second site."""
    result = run(two_sites(policy={"distinct_modifier_scope": "all"}))
    assert billed(result) == {"96413": 1, "96365-59": 1, "96366-59": 1, "96375-59": 1}


def test_second_encounter_of_the_day_gets_59_on_its_initial_service():
    """coding-rules §5: a second encounter the same day: its initial service with 59."""
    rec = record(infusion("A1", minutes=100), push("A2", at=110), sequence_of_day=2)
    assert billed(run(rec)) == {"96365-59": 1, "96366": 1, "96375": 1}


def test_second_encounter_modifier_can_be_xe():
    """coding-rules §7 second_encounter_modifier=XE."""
    rec = record(
        infusion("A1", minutes=100),
        push("A2", at=110),
        sequence_of_day=2,
        policy={"second_encounter_modifier": "XE"},
    )
    result = run(rec)
    assert billed(result) == {"96365-XE": 1, "96366": 1, "96375": 1}
    assert "modifier XE" in result.charges[0].why


def test_second_encounter_scope_all_marks_every_line():
    """coding-rules §7 distinct_modifier_scope=all applies to the second encounter's lines too."""
    rec = record(
        infusion("A1", minutes=100),
        push("A2", at=110),
        sequence_of_day=2,
        policy={"second_encounter_modifier": "XE", "distinct_modifier_scope": "all"},
    )
    assert billed(run(rec)) == {"96365-XE": 1, "96366-XE": 1, "96375-XE": 1}


def test_first_encounter_of_the_day_has_no_distinct_encounter_modifier():
    """coding-rules §5: only encounter 2 or later of the day carries the modifier."""
    rec = record(infusion("A1", minutes=60), sequence_of_day=1)
    assert billed(run(rec)) == {"96365": 1}


def syringes(**kw):
    return record(
        adm("A1", "enoxaparin", route="sq", method="injection", start=0),
        adm("A2", "enoxaparin", route="sq", method="injection", start=2),
        **kw,
    )


def test_split_dose_injections_one_is_one_injection():
    """coding-rules §3 / §7 split_dose_injections=one: one drug in two syringes is one injection."""
    result = run(syringes())
    assert billed(result) == {"96372": 1}
    assert set(result.charges[0].administrations) == {"A1", "A2"}


def test_split_dose_injections_each_reports_each_syringe_with_59():
    """coding-rules §7 split_dose_injections=each: each syringe, with 59."""
    assert billed(run(syringes(policy={"split_dose_injections": "each"}))) == {
        "96372": 1,
        "96372-59": 1,
    }


def test_the_same_drug_injected_again_later_is_another_injection():
    """coding-rules §3: one injection per drug per session; a later session is another."""
    rec = record(
        adm("A1", "enoxaparin", route="sq", method="injection", start=0),
        adm("A2", "enoxaparin", route="sq", method="injection", start=240),
    )
    assert billed(run(rec)) == {"96372": 2}


@pytest.mark.parametrize("reason_on", ["S1", "S2"])
def test_the_second_site_modifier_goes_on_the_lower_ranked_initial_service(reason_on):
    """CMS ch. 4 §230.2 / NCCI ch. XI (a published rule where coding-rules §3 is silent on which
    site is "second"): one initial service per encounter by the hierarchy; the initial service
    of the other, medically necessary site carries 59, on the lower-ranked code (NCCI's column
    two), whichever site the reason is written on, and its reason is the one charted."""
    reason = "vesicant requires a dedicated line"
    rec = record(
        chemo("A1", minutes=120, site="S1"),
        infusion("A2", "vancomycin", minutes=60, site="S2"),
        sites=[site(s, reason=reason if s == reason_on else None) for s in ("S1", "S2")],
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96415": 1, "96365-59": 1}
    assert result.charges[0].code == "96413"  # the encounter's initial service is claimed first
    marked = next(c for c in result.charges if c.modifiers)
    assert marked.administrations == ("A2",)
    assert f"medically necessary ({reason})" in marked.why


def test_a_hydration_initial_on_the_other_site_carries_59_with_the_reason_charted():
    """As above with hydration first on the site without a reason and chemotherapy later on the
    documented one: 96413 is the initial service; 96360-59 names the reason (never empty)."""
    rec = record(
        hydration("A1", minutes=60, site="S1"),
        chemo("A2", start=70, minutes=60, site="S2"),
        sites=SITES,
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96360-59": 1}
    marked = next(c for c in result.charges if c.modifiers)
    assert marked.administrations == ("A1",)
    assert "medically necessary (vesicant requires a dedicated line)" in marked.why


# --- one distinct modifier a line (CMS CR8863 / MLN1783722, NCCI Policy Manual ch. 1) ---------

DISTINCT = {"59", "XE", "XP", "XS", "XU"}


@pytest.mark.parametrize("scope", ["initial", "all"])
@pytest.mark.parametrize("site_mod", ["59", "XU", "XS"])
@pytest.mark.parametrize("encounter_mod", ["59", "XE"])
@pytest.mark.parametrize("split", ["one", "each"])
def test_a_line_never_carries_59_with_an_x_modifier_nor_two_x_modifiers(
    scope, site_mod, encounter_mod, split
):
    """The X{EPSU} modifiers are more specific subsets of 59, never reported with it, and a
    line takes one of them. A second site's line in a second encounter the same day under scope
    `all` (found: 96365 59 XE, XS XE, XU 59) keeps the distinct modifier it was given first;
    its reason says the other was not added."""
    rec = two_sites(
        policy={
            "second_site_modifier": site_mod,
            "second_encounter_modifier": encounter_mod,
            "distinct_modifier_scope": scope,
            "split_dose_injections": split,
        },
        sequence_of_day=2,
    )
    result = run(rec)
    for charge in result.charges:
        assert len(DISTINCT & set(charge.modifiers)) <= 1, (charge.code, charge.modifiers)
    second_initial = next(c for c in result.charges if c.code == "96365")
    assert list(second_initial.modifiers) == [site_mod]
    if scope == "all" and encounter_mod != site_mod:
        assert (
            f"modifier {encounter_mod} not added (the line carries {site_mod}; one distinct "
            "modifier a line)"
        ) in second_initial.why
