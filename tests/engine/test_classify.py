"""classify.py, coding-rules.md §1-§3: what service each administration is. Push or infusion by
route and minutes, mixed bags, vehicle/KVO, SQ/IM, SQ and intra-arterial infusions, intralesional,
intrathecal and cavity administrations, pumps, and what is left out and why."""

from __future__ import annotations

import pytest

from .records import (
    adm,
    billed,
    chemo,
    findings,
    hydration,
    infusion,
    not_charged,
    push,
    record,
    rules,
    run,
    site,
)


def test_drugs_mixed_in_one_bag_are_one_administration_coded_by_the_highest_class():
    """coding-rules §4: drugs mixed in one bag are coded once, by the highest class in the bag."""
    rec = record(
        infusion("A1", "magnesium sulfate", minutes=60, bag="B1"),
        chemo("A2", "cisplatin", minutes=60, bag="B1"),
    )
    result = run(rec)
    assert billed(result) == {"96413": 1}
    assert set(result.charges[0].administrations) == {"A1", "A2"}


def test_one_bag_charted_in_two_parts_counts_all_of_its_time():
    """record-format: one bag id is one administration, so a bag stopped for a reaction and
    resumed (charted as two parts) counts both: rituximab 100 + 170 min = 270 min."""
    rec = record(
        chemo("A1", "rituximab", start=0, minutes=100, bag="R1"),
        chemo("A2", "rituximab", start=140, minutes=170, bag="R1"),
    )
    assert billed(run(rec)) == {"96413": 1, "96415": 3}


@pytest.mark.parametrize("purpose", ["vehicle", "kvo"])
def test_vehicle_and_kvo_fluids_are_never_charged(purpose):
    """coding-rules §4 / RAC-2: the fluid that carries a drug or keeps the vein open: nothing."""
    rec = record(
        infusion("A1", minutes=60),
        adm("A2", "sodium chloride 0.9%", "hydration", minutes=120, purpose=purpose),
    )
    result = run(rec)
    assert billed(result) == {"96365": 1}
    assert "never charged" in not_charged(result)["A2"]


def test_an_infusion_with_no_stop_time_can_only_be_a_push():
    """coding-rules §2 / RAC-7: an IV infusion with no stop is coded as a push, with an error."""
    result = run(record(infusion("A1", stop=None)))
    assert billed(result) == {"96374": 1}
    assert "RAC-7" in rules(result, "error")


def test_a_chemo_infusion_with_no_stop_time_is_a_chemo_push():
    """coding-rules §2 / RAC-7: the chemo twin: 96409."""
    assert billed(run(record(chemo("A1", stop=None)))) == {"96409": 1}


def test_hydration_with_no_stop_time_is_not_coded():
    """coding-rules §2 / RAC-7: a hydration without a stop time is not coded."""
    result = run(record(hydration("A1", stop=None)))
    assert billed(result) == {}
    assert "RAC-7" in not_charged(result)["A1"]


def test_an_untagged_drug_is_not_charged_until_a_pharmacist_tags_it():
    """rac-checklist DOC-4: no charge for an administration whose drug has no class."""
    result = run(record(adm("A1", drug_class=None, minutes=60)))
    assert billed(result) == {}
    assert "DOC-4" in rules(result, "error")
    assert "DOC-4" in not_charged(result)["A1"]


@pytest.mark.parametrize(("minutes", "expected"), [(15, {"96372": 1}), (16, {"96369": 1})])
def test_sq_infusion_of_15_minutes_or_less_is_an_injection(minutes, expected):
    """coding-rules §2: a SQ infusion of 15 minutes or less is a SQ injection (96372)."""
    assert (
        billed(run(record(adm("A1", "immune globulin", route="sq", minutes=minutes)))) == expected
    )


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(90, {"96369": 1}), (91, {"96369": 1, "96370": 1}), (151, {"96369": 1, "96370": 2})],
)
def test_sq_infusion_initial_and_additional_hours(minutes, expected):
    """coding-rules §1-2: 96369 up to 1 h incl. pump set-up, 96370 each additional hour."""
    assert (
        billed(run(record(adm("A1", "immune globulin", route="sq", minutes=minutes)))) == expected
    )


def test_a_second_sq_infusion_site_set_up_later_is_96371():
    """coding-rules §1: 96371 additional pump set-up with a new SQ site (CPT 96371: "additional
    pump set-up with establishment of new subcutaneous infusion site(s)")."""
    rec = record(
        adm("A1", "immune globulin", route="sq", minutes=60, site="SQ1"),
        adm("A2", "immune globulin", route="sq", start=70, minutes=60, site="SQ2"),
    )
    assert billed(run(rec)) == {"96369": 1, "96371": 1}


def test_sq_sites_of_one_pump_started_together_are_included_in_96369():
    """CPT 96369 "including pump set-up and establishment of subcutaneous infusion site(s)": the
    sites of one set-up (one drug through one pump, its needles started together) are one
    service, not an additional set-up."""
    rec = record(
        adm("A1", "immune globulin", route="sq", minutes=60, site="SQ1"),
        adm("A2", "immune globulin", route="sq", minutes=60, site="SQ2"),
        adm("A3", "immune globulin", route="sq", minutes=55, site="SQ3"),
    )
    result = run(rec)
    assert billed(result) == {"96369": 1}
    for adm_id in ("A2", "A3"):
        assert "site(s)" in not_charged(result)[adm_id]


def test_another_drug_started_together_on_a_new_sq_site_is_another_pump_96371():
    """Two drugs cannot share one pump: a new site started at the same time with another drug
    is an additional pump set-up (96371)."""
    rec = record(
        adm("A1", "immune globulin", route="sq", minutes=60, site="SQ1"),
        adm("A2", "hyaluronidase", route="sq", minutes=60, site="SQ2"),
    )
    assert billed(run(rec)) == {"96369": 1, "96371": 1}


def test_96371_is_reported_once_per_encounter_however_many_new_sq_sites():
    """CPT: "Use 96369, 96371 only once per encounter": a third SQ site set up later is included."""
    rec = record(
        adm("A1", "immune globulin", route="sq", minutes=120, site="SQ1"),
        adm("A2", "immune globulin", route="sq", start=10, minutes=60, site="SQ2"),
        adm("A3", "immune globulin", route="sq", start=20, minutes=60, site="SQ3"),
    )
    result = run(rec)
    assert billed(result) == {"96369": 1, "96370": 1, "96371": 1}
    assert "only once per encounter" in not_charged(result)["A3"]


def test_sq_infusion_is_coded_apart_from_the_iv_hierarchy():
    """coding-rules §3: SQ infusions have their own initial codes, apart from the IV ranking."""
    rec = record(infusion("A1", minutes=60), adm("A2", "immune globulin", route="sq", minutes=60))
    assert billed(run(rec)) == {"96365": 1, "96369": 1}


@pytest.mark.parametrize(
    ("route", "drug_class", "code"),
    [
        ("im", "therapeutic", "96372"),
        ("sq", "therapeutic", "96372"),
        ("sq", "chemo", "96401"),
        ("im", "chemo_hormonal", "96402"),
    ],
)
def test_sq_and_im_injections_by_class(route, drug_class, code):
    """coding-rules §1: 96372 therapeutic, 96401 non-hormonal, 96402 hormonal antineoplastic."""
    rec = record(adm("A1", "leuprolide", drug_class, route=route, method="injection"))
    assert billed(run(rec)) == {code: 1}


def test_an_im_injection_does_not_use_up_the_iv_initial_service():
    """coding-rules §3: hydration with an IM injection is 96360 + 96372."""
    rec = record(
        hydration("A1", minutes=45),
        adm("A2", "ceftriaxone", route="im", method="injection", start=60),
    )
    assert billed(run(rec)) == {"96360": 1, "96372": 1}


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, {"96420": 1}),
        (16, {"96422": 1}),
        (91, {"96422": 1, "96423": 1}),
        (151, {"96422": 1, "96423": 2}),
    ],
)
def test_intra_arterial_chemo_by_minutes(minutes, expected):
    """coding-rules §1-2: IA chemo push 96420 (15 min or less), infusion 96422 + 96423 hours."""
    rec = record(chemo("A1", "floxuridine", route="ia", minutes=minutes))
    assert billed(run(rec)) == expected


def test_intra_arterial_therapeutic_push_is_96373():
    """coding-rules §1: 96373 intra-arterial injection (therapeutic)."""
    rec = record(adm("A1", "verapamil", route="ia", method="push"))
    assert billed(run(rec)) == {"96373": 1}


def test_intra_arterial_services_are_apart_from_the_iv_hierarchy():
    """coding-rules §3: IA services have their own access and initial codes."""
    rec = record(infusion("A1", minutes=60), chemo("A2", "floxuridine", route="ia", minutes=60))
    assert billed(run(rec)) == {"96365": 1, "96422": 1}


@pytest.mark.parametrize(("lesions", "code"), [(1, "96405"), (7, "96405"), (8, "96406")])
def test_intralesional_chemo_up_to_7_lesions_or_more(lesions, code):
    """coding-rules §1: 96405 intralesional up to 7 lesions; 96406 more than 7."""
    rec = record(
        chemo("A1", "bleomycin", route="intralesional", method="injection", lesions=lesions)
    )
    assert billed(run(rec)) == {code: 1}


def test_intralesional_without_lesions_is_96405_with_a_finding():
    """coding-rules §1: without a lesion count it can only be up to 7 (96405); the gap is said."""
    result = run(record(chemo("A1", "bleomycin", route="intralesional", method="injection")))
    assert billed(result) == {"96405": 1}
    assert findings(result, "CODING-LESIONS")[0].field == "lesions"


def test_a_therapeutic_intralesional_injection_is_not_coded_with_a_finding():
    """coding-rules §3: a therapeutic intralesional injection is outside these codes."""
    rec = record(adm("A1", "triamcinolone", route="intralesional", method="injection", lesions=2))
    result = run(rec)
    assert billed(result) == {}
    assert "CODING-ROUTE" in rules(result)
    assert "outside CPT" in not_charged(result)["A1"]


def test_intrathecal_chemo_is_96450():
    """coding-rules §1: 96450 intrathecal (CNS)."""
    rec = record(chemo("A1", "methotrexate", route="intrathecal", method="injection"))
    assert billed(run(rec)) == {"96450": 1}


def test_chemo_via_a_ventricular_reservoir_is_96542():
    """coding-rules §1: 96542 via ventricular reservoir."""
    rec = record(
        chemo("A1", "methotrexate", route="intrathecal", method="injection", site="R1"),
        sites=[site("R1", "other", location="Ommaya reservoir")],
    )
    assert billed(run(rec)) == {"96542": 1}


@pytest.mark.parametrize(("location", "code"), [("pleural", "96440"), ("peritoneal", "96446")])
def test_intracavitary_chemo_by_cavity(location, code):
    """coding-rules §1: 96440 pleural cavity, 96446 peritoneal cavity."""
    rec = record(
        chemo("A1", "bleomycin", route="intracavitary", method="infusion", minutes=30, site="C1"),
        sites=[site("C1", "other", location=f"{location} catheter")],
    )
    assert billed(run(rec)) == {code: 1}


def test_intracavitary_without_the_cavity_is_not_coded_with_an_error():
    """coding-rules §1: a cavity code needs the cavity; without it, an error and no charge."""
    rec = record(chemo("A1", "bleomycin", route="intracavitary", method="infusion", minutes=30))
    result = run(rec)
    assert billed(result) == {}
    assert "CODING-ROUTE" in rules(result, "error")
    assert "A1" in not_charged(result)


def test_a_chemo_pump_for_more_than_8_hours_is_96416_reported_on_its_own():
    """coding-rules §3-4: a fluorouracil push followed by a 46-hour pump is 96409 + 96416."""
    rec = record(
        push("A1", "fluorouracil", "chemo", at=0),
        chemo("A2", "fluorouracil", start=10, stop=None, pump="portable", planned_hours=46),
    )
    result = run(rec)
    assert billed(result) == {"96409": 1, "96416": 1}
    assert "RAC-7" not in rules(result)


def test_a_push_of_the_drug_in_a_pump_is_a_push_of_a_new_drug_when_not_initial():
    """coding-rules §3: the pump start is reported on its own and not ranked, so it does not make
    its drug "already reported": FOLFOX (oxaliplatin, then the fluorouracil bolus, then the
    46-hour fluorouracil pump) is 96413 + 96411 + 96416 as published."""
    rec = record(
        chemo("A1", "oxaliplatin", minutes=60),
        push("A2", "fluorouracil", "chemo", at=65),
        chemo("A3", "fluorouracil", start=70, stop=None, pump="portable", planned_hours=46),
    )
    assert billed(run(rec)) == {"96413": 1, "96411": 1, "96416": 1}


def test_an_intra_arterial_pump_is_96425():
    """coding-rules §1: 96425 intra-arterial prolonged infusion with pump."""
    rec = record(
        chemo("A1", "floxuridine", route="ia", stop=None, pump="implanted", planned_hours=336)
    )
    assert billed(run(rec)) == {"96425": 1}


def test_a_pump_planned_for_8_hours_is_not_a_prolonged_infusion():
    """coding-rules §4: 96416 needs an infusion planned to run more than 8 hours."""
    rec = record(chemo("A1", "fluorouracil", minutes=60, pump="portable", planned_hours=8))
    assert billed(run(rec)) == {"96413": 1}
