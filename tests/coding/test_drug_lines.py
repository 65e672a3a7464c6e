"""HCPCS drug lines: units = ceil(dose / billing unit), converted; JW waste lines, JZ for none,
for single-dose containers only; one line per HCPCS code, date of service, modifier and scanned
NDC with the day's total units (DRUG-DAY-TOTAL)."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from coding.drug_lines import (
    DRUG_LINE_POSITION_BASE,
    DrugLines,
    drug_lines_compute,
)
from coding.models import ChargeFinding, ChargeLine
from coding.services import charge_run_generate
from mar.models import Administration, Drug, DrugClass
from tests.coding.review_helpers import (
    ONDANSETRON_NDCS,
    addendum_for_test,
    encounter_signed,
    jw_lines,
    ondansetron_twice,
    reviewed,
)


@pytest.mark.django_db
def test_a_drug_with_a_dose_gets_its_hcpcs_line_after_the_engine_lines() -> None:
    _, run, _ = reviewed(billable=True, waste=None)
    line = run.lines.get(code="J9267")
    assert line.position >= DRUG_LINE_POSITION_BASE
    assert line.units == 300  # 300 mg at 1 mg per unit
    assert line.modifiers == []
    adm = Administration.objects.get(encounter=run.encounter, drug__name="paclitaxel")
    assert line.administrations == [f"A{adm.pk}"]
    assert line.date.isoformat() == "2026-03-02"
    assert "ceil" in line.why
    # Waste not charted: the coder is told.
    assert run.findings.filter(rule="DRUG-WASTE").exists()


@pytest.mark.django_db
def test_no_waste_charted_as_zero_gets_jz() -> None:
    _, run, _ = reviewed(billable=True, waste=Decimal(0))
    assert list(run.lines.filter(code="J9267").values_list("modifiers", flat=True)) == [["JZ"]]
    assert not run.findings.filter(rule="DRUG-WASTE").exists()


@pytest.mark.django_db
def test_charted_waste_gets_its_own_jw_line() -> None:
    _, run, _ = reviewed(billable=True, waste=Decimal("20.5"))
    lines = list(run.lines.filter(code="J9267").order_by("position"))
    # DRUG-JW-WASTE: the vial held 320.5 mg: 320 whole units, 300 billed as given, so 20 with
    # JW (rounding the 20.5 mg up to 21 would bill more than the vial held).
    assert [(line.units, line.modifiers) for line in lines] == [(300, []), (20, ["JW"])]


@pytest.mark.django_db
def test_a_dose_in_a_unit_that_cannot_be_billed_is_a_finding_not_a_line() -> None:
    encounter, _, _ = reviewed(billable=True)
    addendum_for_test(encounter)
    Administration.objects.filter(encounter=encounter, drug__name="paclitaxel").update(
        dose_unit="mL", stop=None
    )
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger="manual")
    assert not ChargeLine.objects.filter(run=run, code="J9267").exists()
    finding = ChargeFinding.objects.get(run=run, rule="DRUG-DOSE")  # the engine's check
    assert "mL" in finding.message and "cannot be billed" in finding.message
    adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
    drug_entries = [n for n in run.result["not_charged"] if n["rules"] == ["DRUG-DOSE"]]
    assert [n["administration"] for n in drug_entries] == [f"A{adm.pk}"]


@pytest.mark.django_db
def test_drugs_without_hcpcs_or_dose_get_no_line() -> None:
    _, run, _ = reviewed()  # no HCPCS in the test formulary
    assert not run.lines.filter(position__gte=DRUG_LINE_POSITION_BASE).exists()


# --- JW/JZ only for single-dose containers (Drug.container) --------------------------------

SINGLE, MULTI, NOT_STATED = Drug.Container.SINGLE_DOSE, Drug.Container.MULTI_DOSE, ""


def computed(container: str, waste: Decimal | None) -> DrugLines:
    """One 300 mg paclitaxel administration (J9267, 1 mg) with `waste` mg charted."""
    drug = Drug(name="paclitaxel", hcpcs_code="J9267", billing_unit_amount=Decimal(1))
    drug.billing_unit, drug.container = "mg", container
    adm = Administration(
        pk=7, drug=drug, start=datetime(2026, 3, 2, 14, tzinfo=UTC), dose_value=Decimal(300)
    )
    adm.dose_unit, adm.waste_value, adm.waste_unit = "mg", waste, "mg"
    return drug_lines_compute([adm], ZoneInfo("America/New_York"))


def shapes(out: DrugLines) -> list[tuple[object, object]]:
    return [(line["units"], line["modifiers"]) for line in out.lines]


def waste_findings(out: DrugLines) -> list[dict[str, object]]:
    return [finding for finding in out.findings if finding["rule"] == "DRUG-WASTE"]


@pytest.mark.parametrize(
    ("container", "expected"),
    [(SINGLE, [(300, ["JZ"])]), (MULTI, [(300, [])]), (NOT_STATED, [(300, [])])],
)
def test_jz_only_on_a_single_dose_container(container: str, expected: list[object]) -> None:
    assert shapes(computed(container, Decimal(0))) == expected


@pytest.mark.parametrize(
    ("container", "expected"),
    [(SINGLE, [(300, []), (20, ["JW"])]), (MULTI, [(300, [])]), (NOT_STATED, [(300, [])])],
)
def test_jw_line_only_for_a_single_dose_container(container: str, expected: list[object]) -> None:
    assert shapes(computed(container, Decimal("20.5"))) == expected


def test_single_dose_waste_not_charted_is_a_finding_without_modifiers() -> None:
    out = computed(SINGLE, None)
    assert shapes(out) == [(300, [])]
    [finding] = waste_findings(out)
    assert (finding["severity"], finding["field"]) == ("info", "waste_value")
    assert "single-dose container" in str(finding["message"])


def test_multi_dose_never_gets_jw_or_jz_and_charted_waste_is_a_finding() -> None:
    out = computed(MULTI, Decimal("20.5"))
    assert shapes(out) == [(300, [])]
    [finding] = waste_findings(out)
    assert finding == {
        "rule": "DRUG-WASTE",
        "severity": "info",
        "administrations": ["A7"],
        "message": "paclitaxel: 20.5 mg wasted from a multi-dose container is not billed "
        "(JW and JZ are for single-dose containers only)",
        "field": "waste_value",
    }


@pytest.mark.parametrize("waste", [None, Decimal(0)])
def test_multi_dose_without_charted_waste_gets_no_finding(waste: Decimal | None) -> None:
    out = computed(MULTI, waste)
    assert shapes(out) == [(300, [])]
    assert out.findings == []


@pytest.mark.parametrize("waste", [None, Decimal(0), Decimal("20.5")])
def test_container_not_stated_gets_the_finding_and_no_modifiers(waste: Decimal | None) -> None:
    out = computed(NOT_STATED, waste)
    assert shapes(out) == [(300, [])]
    [finding] = waste_findings(out)
    assert (finding["severity"], finding["field"], finding["administrations"]) == (
        "info",
        "waste_value",
        ["A7"],
    )
    message = str(finding["message"])
    assert "does not say whether it comes in a single-dose container" in message
    assert "pharmacist should state" in message


def test_a_hydration_fluid_with_no_container_stated_gets_no_waste_finding() -> None:
    """The formulary's hydration class marks the fluid packaged (outside JW/JZ): no DRUG-WASTE
    asking the pharmacist for its container; the same drug untagged still gets it."""
    for drug_class, expected in ((DrugClass.HYDRATION, 0), (DrugClass.THERAPEUTIC, 1)):
        drug = Drug(name="sodium chloride 0.9%", hcpcs_code="J7030", drug_class=drug_class)
        drug.billing_unit_amount, drug.billing_unit = Decimal(1000), "mL"
        adm = Administration(
            pk=9, drug=drug, start=datetime(2026, 3, 2, 14, tzinfo=UTC), dose_value=Decimal(1000)
        )
        adm.dose_unit = "mL"
        out = drug_lines_compute([adm], ZoneInfo("UTC"))
        assert [(line["code"], line["units"]) for line in out.lines] == [("J7030", 1)]
        assert len(waste_findings(out)) == expected, drug_class


def test_container_not_stated_gives_one_finding_per_administration() -> None:
    drug = Drug(name="rituximab", hcpcs_code="J9312", billing_unit_amount=Decimal(10))
    drug.billing_unit = "mg"
    adms = []
    for pk, hour in ((1, 14), (2, 16)):
        adm = Administration(
            pk=pk, drug=drug, start=datetime(2026, 3, 2, hour, tzinfo=UTC), dose_value=Decimal(50)
        )
        adm.dose_unit = "mg"
        adms.append(adm)
    out = drug_lines_compute(adms, ZoneInfo("UTC"))
    assert [f["administrations"] for f in waste_findings(out)] == [["A1"], ["A2"]]


@pytest.mark.django_db
def test_multi_dose_charted_waste_is_stored_as_a_finding_not_a_jw_line() -> None:
    encounter = encounter_signed(billable=True, waste=Decimal(20))
    Drug.objects.filter(name="paclitaxel").update(container=Drug.Container.MULTI_DOSE)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    assert list(run.lines.filter(code="J9267").values_list("units", "modifiers")) == [(300, [])]
    finding = run.findings.get(rule="DRUG-WASTE")
    assert "multi-dose container is not billed" in finding.message
    assert finding.position >= DRUG_LINE_POSITION_BASE


@pytest.mark.django_db
def test_container_not_stated_is_stored_as_a_finding_without_jz() -> None:
    encounter = encounter_signed(billable=True, waste=Decimal(0))
    Drug.objects.filter(name="paclitaxel").update(container="")
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    assert list(run.lines.filter(code="J9267").values_list("modifiers", flat=True)) == [[]]
    assert "pharmacist should state" in run.findings.get(rule="DRUG-WASTE").message


@pytest.mark.django_db
def test_a_waste_only_addendum_makes_a_new_run_with_its_jw_line() -> None:
    """The record given to the engine does not carry waste; the drug lines' inputs are compared
    too, so correcting the waste alone is a new input and its charges follow (JW line)."""
    encounter = encounter_signed(billable=True, waste=None)
    first, created = charge_run_generate(encounter_id=encounter.pk)
    assert created
    assert jw_lines(first) == []
    with transaction.atomic():
        addendum_for_test(encounter)
        Administration.objects.filter(encounter=encounter, drug__name="paclitaxel").update(
            waste_value=Decimal(20)
        )
    second, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created and second.pk != first.pk
    assert first.input_snapshot == second.input_snapshot  # the engine's input did not change
    assert jw_lines(second) == [("J9267", 20)]
    assert charge_run_generate(encounter_id=encounter.pk) == (second, False)  # still idempotent


@pytest.mark.django_db
def test_a_container_change_alone_is_a_new_input_for_the_drug_lines() -> None:
    encounter = encounter_signed(billable=True, waste=Decimal(0))
    first, _ = charge_run_generate(encounter_id=encounter.pk)
    assert list(first.lines.filter(code="J9267").values_list("modifiers", flat=True)) == [["JZ"]]
    Drug.objects.filter(name="paclitaxel").update(container=Drug.Container.MULTI_DOSE)
    second, created = charge_run_generate(encounter_id=encounter.pk, trigger="class_change")
    assert created
    assert list(second.lines.filter(code="J9267").values_list("modifiers", flat=True)) == [[]]


# --- one line per HCPCS code, date of service, modifier and NDC (DRUG-DAY-TOTAL) -------------


@pytest.mark.django_db
def test_two_doses_of_a_drug_on_one_day_are_stored_as_one_line_of_the_total() -> None:
    """4.5 mg + 4.5 mg of ondansetron (J2405, 1 mg per unit): one line of ceil(9) = 9 units;
    a line per dose made 5 + 5 = 10."""
    encounter = ondansetron_twice()
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    [line] = run.lines.filter(code="J2405")
    pushes = Administration.objects.filter(encounter=encounter, drug__name="ondansetron")
    assert line.units == 9
    assert line.administrations == [f"A{adm.pk}" for adm in pushes.order_by("pk")]
    assert line.why == "ondansetron 4.5 mg + 4.5 mg given = 9 mg; J2405 1 mg per unit: ceil = 9"
    assert line.rules == ["DRUG-BILLING-UNITS", "DRUG-DAY-TOTAL"]
    assert line.position >= DRUG_LINE_POSITION_BASE


@pytest.mark.django_db
def test_two_packages_scanned_are_a_line_each() -> None:
    encounter = ondansetron_twice(scanned=ONDANSETRON_NDCS)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    lines = run.lines.filter(code="J2405").order_by("position")
    assert [(line.units, len(line.administrations)) for line in lines] == [(5, 1), (5, 1)]


def test_a_scanned_ndc_the_formulary_does_not_list_groups_like_no_scan() -> None:
    """The claim does not carry an NDC the formulary does not list for the drug (claim.py
    `ndc_for`), so it does not split the day's line."""
    drug = Drug(pk=3, name="ondansetron", hcpcs_code="J2405", billing_unit_amount=Decimal(1))
    drug.billing_unit, drug.container = "mg", MULTI
    adms = []
    for pk, hour, ndc in ((1, 14, "99999999999"), (2, 16, ""), (3, 18, ONDANSETRON_NDCS[0])):
        adm = Administration(
            pk=pk, drug=drug, start=datetime(2026, 3, 2, hour, tzinfo=UTC), dose_value=Decimal(4)
        )
        adm.dose_unit, adm.ndc = "mg", ndc
        adms.append(adm)
    out = drug_lines_compute(adms, ZoneInfo("UTC"), stocked={(3, ONDANSETRON_NDCS[0])})
    assert [(line["units"], line["administrations"]) for line in out.lines] == [
        (8, ["A1", "A2"]),
        (4, ["A3"]),
    ]
    # Without the formulary's list every scan counts as scanned.
    assert len(drug_lines_compute(adms, ZoneInfo("UTC")).lines) == 3


def test_not_charged_entries_keep_the_records_order_dose_missing_or_unit() -> None:
    drug = Drug(pk=3, name="ondansetron", hcpcs_code="J2405", billing_unit_amount=Decimal(1))
    drug.billing_unit = "mg"
    adms = []
    for pk, hour, dose in ((5, 18, None), (9, 14, Decimal(4))):
        adm = Administration(
            pk=pk, drug=drug, start=datetime(2026, 3, 2, hour, tzinfo=UTC), dose_value=dose
        )
        adm.dose_unit = "mg/kg"
        adms.append(adm)
    out = drug_lines_compute(adms, ZoneInfo("UTC"))
    assert [n["administration"] for n in out.not_charged] == ["A9", "A5"]  # 14:00, then 18:00


@pytest.mark.django_db
def test_a_scan_corrected_alone_makes_a_new_run_with_the_lines_regrouped() -> None:
    """The record given to the engine does not carry the scanned NDC; the drug lines' inputs do,
    since the lines group by it."""
    encounter = ondansetron_twice(scanned=ONDANSETRON_NDCS)
    first, _ = charge_run_generate(encounter_id=encounter.pk)
    with transaction.atomic():
        addendum_for_test(encounter)
        Administration.objects.filter(encounter=encounter, ndc=ONDANSETRON_NDCS[0]).update(
            ndc=ONDANSETRON_NDCS[1]
        )
    second, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created and second.pk != first.pk
    assert first.input_snapshot == second.input_snapshot
    assert list(second.lines.filter(code="J2405").values_list("units", flat=True)) == [9]


LISTED = ("00409400101", "00781305195")  # the formulary's two packages; the second preferred
SCANS = st.sampled_from(["", LISTED[0], LISTED[1], "99999999999"])  # ... or one it does not list


@settings(max_examples=200, deadline=None)
@given(
    doses=st.lists(
        st.tuples(SCANS, st.integers(min_value=0, max_value=1), st.integers(1, 9)),
        min_size=1,
        max_size=8,
    )
)
def test_every_drug_line_has_one_claim_ndc_and_no_two_lines_of_a_day_share_one(doses) -> None:
    """DRUG-DAY-TOTAL: a claim line per HCPCS code, date of service and NDC. Whatever was scanned
    (a listed package, the preferred one, one not listed, nothing), the doses a line covers all
    carry the same NDC on the claim (the scan when listed, else the preferred package), no two
    lines of a code and day carry the same one, and every dose is on a line."""
    drug = Drug(pk=3, name="ondansetron", hcpcs_code="J2405", billing_unit_amount=Decimal(1))
    drug.billing_unit, drug.container = "mg", MULTI
    adms, claim_ndc = [], {}
    for pk, (scan, day, mg) in enumerate(doses, start=1):
        adm = Administration(
            pk=pk,
            drug=drug,
            start=datetime(2026, 3, 2 + day, 8 + pk, tzinfo=UTC),
            dose_value=Decimal(mg),
        )
        adm.dose_unit, adm.ndc = "mg", scan
        adms.append(adm)
        claim_ndc[f"A{pk}"] = scan if scan in LISTED else LISTED[1]
    out = drug_lines_compute(
        adms,
        ZoneInfo("UTC"),
        stocked={(3, ndc) for ndc in LISTED},
        preferred={3: LISTED[1]},
    )
    seen = set()
    for line in out.lines:
        ndcs = {claim_ndc[a] for a in line["administrations"]}
        assert len(ndcs) == 1
        key = (line["code"], line["date"], tuple(line["modifiers"]), ndcs.pop())
        assert key not in seen
        seen.add(key)
    assert sorted(a for line in out.lines for a in line["administrations"]) == sorted(claim_ndc)
