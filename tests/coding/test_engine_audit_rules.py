"""Audit of the charge engine against the published rules, on records the scenarios do not hold.

Each test is named after the rule it checks (the rule book's id, coding/engine/RULEBOOK.md) and
builds its record with the engine tests' helpers (tests/engine/records.py). Plain pytest: the
engine is plain Python, no database.
"""

from __future__ import annotations

from tests.engine.records import billed, infusion, record, run, site

# A line restarted on another site after the first infiltrated: a restart is not a separate site
# (coding-rules §3), so both sites are one line (one site group).
RESTARTED = [
    site("S1"),
    site("S2", location="right forearm", reason="restart: S1 infiltrated"),
]


def test_same_drug_new_bag_continued_on_a_restarted_line_is_one_infusion() -> None:
    """SAME-DRUG-NEW-BAG: vancomycin ran 30 min on S1, the IV infiltrated and the same drug ran
    on at once through a restarted line for 70 min: one infusion of 100 min (96365 + 96366), not
    a "sequential infusion of a new drug" (CPT 96367 is for a new drug/substance; a restart
    is not a new initial service or a new site, coding-rules §3)."""
    result = run(
        record(
            infusion("A1", "vancomycin", start=0, minutes=30, site="S1"),
            infusion("A2", "vancomycin", start=30, minutes=70, site="S2"),
            sites=RESTARTED,
        )
    )
    assert billed(result) == {"96365": 1, "96366": 1}
    (initial,) = [c for c in result.charges if c.code == "96365"]
    assert set(initial.administrations) == {"A1", "A2"}
    assert "SAME-DRUG-NEW-BAG" in initial.rules


def test_same_drug_reinfusion_additional_hour_adds_the_minutes_across_a_restarted_line() -> None:
    """SAME-DRUG-REINFUSION: under policy same_drug_reinfusion=additional_hour the same drug
    infused again after a stop adds its minutes to the first infusion, whichever line of the
    one site group it ran through (30 + 70 = 100 min: 96365 + 96366)."""
    result = run(
        record(
            infusion("A1", "vancomycin", start=0, minutes=30, site="S1"),
            infusion("A2", "vancomycin", start=45, minutes=70, site="S2"),
            sites=RESTARTED,
            policy={"same_drug_reinfusion": "additional_hour"},
        )
    )
    assert billed(result) == {"96365": 1, "96366": 1}


def test_same_drug_new_bag_on_a_documented_separate_site_stays_its_own_service() -> None:
    """SAME-DRUG-NEW-BAG is asked within a site group: the same drug on a second site with a
    documented medical reason is that site's own service (its initial, with 59)."""
    result = run(
        record(
            infusion("A1", "vancomycin", start=0, minutes=30, site="S1"),
            infusion("A2", "vancomycin", start=30, minutes=70, site="S2"),
            sites=[site("S1"), site("S2", reason="incompatible drugs: dedicated line required")],
        )
    )
    assert billed(result) == {"96365": 1, "96365-59": 1}


def test_same_drug_reinfusion_is_named_when_the_shorter_infusion_of_the_drug_came_first() -> None:
    """SAME-DRUG-REINFUSION: vancomycin 30 min, stopped, then 100 min (the initial service, being
    longer). The 30 min are coded 96367 under policy same_drug_reinfusion=sequential, and the
    line must say so: it is the same drug, not "a new drug", and every choice made under a policy
    key is named in the line's reason (coding-rules §7)."""
    result = run(
        record(
            infusion("A1", "vancomycin", start=0, minutes=30),
            infusion("A2", "vancomycin", start=60, minutes=100),
        )
    )
    assert billed(result) == {"96365": 1, "96366": 1, "96367": 1}
    (sequential,) = [c for c in result.charges if c.code == "96367"]
    assert sequential.administrations == ("A1",)
    assert "SAME-DRUG-REINFUSION" in sequential.rules
    assert "same_drug_reinfusion=sequential" in sequential.why
    assert "new drug" not in sequential.why
