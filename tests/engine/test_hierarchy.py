"""hierarchy.py, coding-rules.md §3: one initial IV service per encounter, chosen by rank whatever
the order given; a second site earns a second initial only with a documented reason; the office
takes the administration flagged primary."""

from __future__ import annotations

import pytest

from .records import (
    billed,
    chemo,
    findings,
    hydration,
    infusion,
    push,
    record,
    rules,
    run,
    site,
)


def initial(result):
    return result.charges[0].code


def test_chemo_infusion_outranks_an_earlier_therapeutic_infusion():
    """coding-rules §3 rank 1 over 3: hierarchy, not chronology."""
    rec = record(infusion("A1", minutes=60), chemo("A2", start=70, minutes=60))
    result = run(rec)
    assert billed(result) == {"96413": 1, "96367": 1}
    assert initial(result) == "96413"
    assert "hierarchy, not chronology" in result.charges[0].why


def test_chemo_push_outranks_a_therapeutic_infusion():
    """coding-rules §3 rank 2 over 3 (P09)."""
    rec = record(infusion("A1", minutes=60), push("A2", "doxorubicin", "chemo", at=70))
    result = run(rec)
    assert initial(result) == "96409"
    assert billed(result) == {"96409": 1, "96367": 1}


def test_therapeutic_infusion_outranks_an_earlier_push():
    """coding-rules §3 rank 3 over 4."""
    rec = record(push("A1", "ondansetron", at=0), infusion("A2", start=10, minutes=60))
    result = run(rec)
    assert initial(result) == "96365"
    assert billed(result) == {"96365": 1, "96375": 1}


def test_therapeutic_push_outranks_hydration():
    """coding-rules §3 rank 4 over 5: hydration after the push is 96361, not 96360."""
    rec = record(hydration("A1", minutes=60), push("A2", "ondansetron", at=70))
    result = run(rec)
    assert initial(result) == "96374"
    assert billed(result) == {"96374": 1, "96361": 1}


def test_of_two_infusions_of_one_rank_the_longer_is_initial():
    """coding-rules §3: ties go to the longer administration (a later, longer one is initial)."""
    rec = record(
        infusion("A1", "cefazolin", minutes=30),
        infusion("A2", "vancomycin", start=40, minutes=100),
    )
    result = run(rec)
    assert result.charges[0].administrations == ("A2",)
    assert billed(result) == {"96365": 1, "96366": 1, "96367": 1}


def test_of_two_equally_long_infusions_the_earlier_is_initial():
    """coding-rules §3: ties of length go to the earlier start."""
    rec = record(
        infusion("A2", "cefazolin", start=0, minutes=40),
        infusion("A1", "vancomycin", start=50, minutes=40),
    )
    assert run(rec).charges[0].administrations == ("A2",)


def test_a_documented_second_site_earns_a_second_initial_with_59():
    """coding-rules §3: a second site with a documented reason gets its own initial, modifier 59."""
    rec = record(
        chemo("A1", minutes=60, site="S1"),
        infusion("A2", minutes=60, site="S2"),
        sites=[site("S1"), site("S2", reason="vesicant requires a dedicated line")],
    )
    assert billed(run(rec)) == {"96413": 1, "96365-59": 1}


def test_an_undocumented_second_site_earns_no_second_initial():
    """coding-rules §3 / RAC-4: without a reason every IV service is coded against one initial."""
    rec = record(
        chemo("A1", minutes=60, site="S1"),
        infusion("A2", start=0, minutes=60, site="S2"),
    )
    result = run(rec)
    assert "96365" not in billed(result) and "96365-59" not in billed(result)
    assert billed(result)["96413"] == 1
    assert findings(result, "RAC-4")[0].field == "site.separate_site_reason"


@pytest.mark.parametrize(
    "reason",
    [
        "IV restarted after infiltration",
        "second lumen of the PICC",
        "convenience",
        "first IV occluded, new line placed",
        "patient pulled out first IV",
        "easier access",
    ],
)
def test_a_restart_second_lumen_or_convenience_is_not_a_separate_site(reason):
    """coding-rules §3: a restarted IV, a second lumen or a convenience line is not a reason."""
    rec = record(
        infusion("A1", "vancomycin", minutes=60, site="S1"),
        infusion("A2", "cefazolin", start=70, minutes=60, site="S2"),
        sites=[site("S1"), site("S2", reason=reason)],
    )
    result = run(rec)
    assert billed(result) == {"96365": 1, "96367": 1}
    assert "does not show medical necessity" in findings(result, "RAC-4")[0].message


def test_incompatible_drugs_that_could_not_share_a_lumen_is_a_reason():
    """coding-rules §3: incompatible drugs make a second site necessary; "lumen" alone is not
    the second-lumen exclusion."""
    reason = "drugs incompatible, could not share a lumen"
    rec = record(
        chemo("A1", minutes=60, site="S1"),
        infusion("A2", minutes=60, site="S2"),
        sites=[site("S1"), site("S2", reason=reason)],
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96365-59": 1}
    assert "RAC-4" not in rules(result)


def test_rac_4_does_not_ask_a_reason_of_the_line_used_after_the_documented_one():
    """RAC-4 / coding-rules §3: the documented site needed its own line; the other line is the
    encounter's, whichever was used first: two initial services and no RAC-4 warning."""
    rec = record(
        chemo("A1", minutes=60, site="S2"),
        infusion("A2", start=70, minutes=60, site="S1"),
        sites=[site("S1"), site("S2", reason="vesicant requires a dedicated line")],
    )
    result = run(rec)
    assert billed(result) == {"96413": 1, "96365-59": 1}
    assert "RAC-4" not in rules(result)


@pytest.mark.parametrize("route", ["sq", "ia"])
def test_rac_4_second_site_is_about_iv_lines_not_sq_or_intra_arterial_access(route):
    """coding-rules §3: SQ infusions and intra-arterial services have their own access and
    initial codes; their site is not a second IV site needing a reason."""
    rec = record(infusion("A1", minutes=60), chemo("A2", "floxuridine", route=route, minutes=60))
    assert "RAC-4" not in rules(run(rec))


def test_a_service_without_a_site_is_coded_against_the_first_initial():
    """rac-checklist RAC-4: without a site the service is coded against the first initial."""
    rec = record(
        infusion("A1", "vancomycin", minutes=60, site="S1"),
        push("A2", "ondansetron", at=70, site=None),
    )
    result = run(rec)
    assert billed(result) == {"96365": 1, "96375": 1}
    assert "RAC-4" in rules(result, "warning")


def test_office_takes_the_administration_flagged_primary():
    """coding-rules §3 (office): the initial service is the one flagged primary."""
    rec = record(
        infusion("A1", "vancomycin", minutes=60),
        infusion("A2", "infliximab", start=70, minutes=60, primary=True),
        setting="office",
    )
    result = run(rec)
    assert result.charges[0].administrations == ("A2",)
    assert "primary reason" in result.charges[0].why
    assert "CODING-OFFICE" not in rules(result)


def test_office_without_a_primary_flag_falls_back_to_the_hierarchy_and_says_so():
    """coding-rules §3 (office): without the flag the hierarchy decides, with an info finding."""
    rec = record(
        push("A1", "ondansetron", at=0),
        infusion("A2", start=10, minutes=60),
        setting="office",
    )
    result = run(rec)
    assert initial(result) == "96365"
    (finding,) = findings(result, "CODING-OFFICE")
    assert finding.severity == "info"


def test_facility_ignores_the_primary_flag():
    """coding-rules §3: the primary flag is for the office; the facility uses the hierarchy."""
    rec = record(
        infusion("A1", "vancomycin", minutes=60),
        chemo("A2", start=70, minutes=60),
        push("A3", at=140, primary=True),
    )
    assert initial(run(rec)) == "96413"


@pytest.mark.parametrize(
    "administrations",
    [
        # therapeutic push primary, chemo infusion after it: engine writes 96374 + 96417
        (push("A1", at=0, primary=True), chemo("A2", start=10, minutes=60)),
        # therapeutic infusion primary, chemo push after it: engine writes 96365 + 96411
        (infusion("A1", minutes=60, primary=True), push("A2", "doxorubicin", "chemo", at=70)),
        # hydration primary, then a drug infusion and a push: engine writes 96360 + 96367 + 96375
        (hydration("A1", minutes=60, primary=True), infusion("A2", start=70, minutes=60),
         push("A3", at=140)),
    ],
    ids=["push-then-chemo-infusion", "infusion-then-chemo-push", "hydration-then-drugs"],
)  # fmt: skip
def test_office_primary_never_leaves_an_add_on_without_its_initial(administrations):
    """coding-rules §3 (office) and §6: 'An add-on without its initial service in the encounter
    is an error, never sent.' Taking the flagged service as initial must still give every add-on
    an initial service it may be reported with (ADD_ON_PRIMARIES)."""
    result = run(record(*administrations, setting="office"))
    assert result.charges
    assert "EDIT-ADDON" not in rules(result)
