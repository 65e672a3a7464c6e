"""The NDC quantity is the amount of the package given, exactly (coding/claim.py `ndc_quantity`).

Was: a package's relation to the HCPCS billing unit was stored only as NDC units per billing
unit, 4 decimals: paclitaxel 6 mg/mL billed per 1 mg (J9267) was 0.1667 mL, and 300 mg went to
the review page and every export as 50.01 mL. The 837I's CTP04 / the UB-04's NDC quantity is
the quantity given in the NDC unit, at most 3 decimals: 50 ML. The pharmacist now states the
relation either way round (`DrugNdc.billing_units_per_ndc_unit`: 6 per mL), one of the two,
and the quantity is computed exactly and rounded half-up to 3 decimals once, at the end."""

import csv
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from coding.claim import (
    drug_facts,
    ndc_entry,
    ndc_quantity,
    quantity_text,
    snapshot_per_unit,
)
from coding.models import ChargeRun, ReviewItem
from coding.review import review_claim
from coding.services import charge_run_generate
from mar import roles
from mar.demo import DEMO_NDCS
from mar.models import NDC_ONE_RELATION, DrugNdc, Encounter
from mar.pharmacy.services import drug_ndc_add
from mar.pharmacy.views import DrugNdcForm
from tests import factories
from tests.coding.review_helpers import paclitaxel_billable
from tests.coding.test_claim_lines import (
    details_by_code,
    exported_ndcs,
    nurse_named,
    review_page_rows,
)

NDC = "99999000410"


def paclitaxel_visit(**relation: Decimal) -> Encounter:
    """The factory's chemotherapy visit, paclitaxel 300 mg given (J9267 per 1 mg, 20 mg
    wasted), its package 6 mg/mL stated as `relation`; signed and charged."""
    nurse = nurse_named()
    encounter = factories.chemo_encounter_create()
    drug = paclitaxel_billable(encounter=encounter, waste=Decimal(20))
    DrugNdc.objects.create(drug=drug, ndc=NDC, unit="ML", preferred=True, **relation)
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    charge_run_generate(encounter_id=encounter.pk)
    return encounter


@pytest.mark.django_db
def test_300_mg_of_a_6_mg_per_ml_package_is_claimed_as_50_ml_on_review_and_in_every_export(
    coder_user: User, client_as
) -> None:
    """6 billing units per ML: the given line's 300 units are 50 ML (not 50.01), the JW line's
    20 units 3.333 ML (20/6 rounded half-up once), in the service's details, on the coder's
    review page and in the CSV, HL7 and FHIR exports parsed back."""
    encounter = paclitaxel_visit(billing_units_per_ndc_unit=Decimal(6))
    details = details_by_code(encounter)
    given_line = details[("J9267", ())]
    assert (given_line["ndc"], given_line["ndc_unit"], given_line["ndc_quantity"]) == (
        NDC,
        "ML",
        "50",
    )
    wasted = next(d for (code, mods), d in details.items() if code == "J9267" and "JW" in mods)
    assert wasted["ndc_quantity"] == "3.333"
    row = review_page_rows(client_as(roles.CODER), encounter)["J9267"]
    assert f"NDC {NDC} 50 ML" in row
    review_claim(user=coder_user, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    exported = exported_ndcs(coder_user, encounter, "J9267")
    assert exported == {
        "csv": (NDC, "ML", "50"),
        "hl7": (NDC, f"N4{NDC}ML50"),
        "fhir": (NDC, "50 ML"),
    }


@pytest.mark.django_db
def test_a_run_keeps_the_relation_as_stated_and_reads_a_snapshot_stored_before_it() -> None:
    """The run's formulary snapshot keeps `ndc_billing_units_per_unit` (no `ndc_per_unit`
    beside it); a package stated as NDC units per billing unit (or not at all) is kept as
    before, and an entry stored before the new key existed reads as it did."""
    encounter = paclitaxel_visit(billing_units_per_ndc_unit=Decimal(6))
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    kept = [e for e in run.formulary_snapshot.values() if e.get("ndc") == NDC]
    assert kept and all(
        e["ndc_billing_units_per_unit"] == "6" and "ndc_per_unit" not in e for e in kept
    )
    assert ndc_entry(DrugNdc(ndc=NDC, unit="ML", units_per_billing_unit=Decimal("0.5000"))) == {
        "ndc": NDC,
        "ndc_unit": "ML",
        "ndc_per_unit": "0.5",
    }
    assert ndc_entry(DrugNdc(ndc=NDC, unit="UN"))["ndc_per_unit"] == "1"
    before = {"drug": "paclitaxel", "hcpcs": "J9267", "billing_unit": "1 mg", "ndc": NDC,
              "ndc_unit": "ML", "ndc_per_unit": "0.1667"}  # fmt: skip
    assert drug_facts(before).per_unit == Fraction("0.1667")
    assert quantity_text(ndc_quantity(300, drug_facts(before).per_unit)) == "50.01"
    assert snapshot_per_unit({"ndc": NDC}) == 1


def test_the_quantity_is_rounded_half_up_once_at_the_end() -> None:
    """0.0005 goes up (the 837I takes 3 decimals), and nothing is rounded before the end: 1/6 x
    3 is 0.5, not 3 x 0.1667."""
    assert quantity_text(ndc_quantity(1, Fraction(1, 2000))) == "0.001"
    assert quantity_text(ndc_quantity(3, Fraction(1, 6))) == "0.5"
    assert quantity_text(ndc_quantity(1, Fraction(2, 3))) == "0.667"
    assert quantity_text(Decimal("2.0005")) == "2.001"


# Concentrations in mg/mL as labels print them: whole numbers or up to 3 decimals.
CONCENTRATIONS = st.one_of(
    st.integers(min_value=1, max_value=500).map(Decimal),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(500), places=3),
).filter(lambda c: c > 0)


def stated(concentration: Decimal, amount: Decimal) -> DrugNdc:
    """The package as a pharmacist states it: NDC units (mL) per billing unit when that comes
    out exact in the 4 places stored, else billing units per mL."""
    per_billing_unit = amount / concentration
    if per_billing_unit == per_billing_unit.quantize(Decimal("0.0001")):
        return DrugNdc(unit="ML", units_per_billing_unit=per_billing_unit)
    return DrugNdc(unit="ML", billing_units_per_ndc_unit=concentration / amount)


@settings(max_examples=300, deadline=None)
@given(
    concentration=CONCENTRATIONS,
    amount=st.sampled_from([Decimal(1), Decimal("0.5"), Decimal(10)]),
    units=st.integers(min_value=1, max_value=5000),
)
def test_the_quantity_is_the_dose_over_the_concentration_rounded_to_3_decimals(
    concentration: Decimal, amount: Decimal, units: int
) -> None:
    """For any concentration (mg/mL) and dose (a number of billing units of 1, 0.5 or 10 mg),
    the NDC quantity, from the package as stated and from the run's snapshot of it alike, is
    dose / concentration in mL rounded half-up to 3 decimals."""
    package = stated(concentration, amount)
    dose = amount * units
    with localcontext() as exact:
        exact.prec = 60
        expected = (dose / concentration).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    assert ndc_quantity(units, package.ndc_units_per_billing_unit_exact) == expected
    kept = snapshot_per_unit(ndc_entry(package))
    assert quantity_text(ndc_quantity(units, kept)) == quantity_text(expected)


def test_the_ndc_form_refuses_both_relations_given_and_says_so_beside_the_field() -> None:
    form = DrugNdcForm(
        data={
            "ndc": NDC,
            "unit": "ML",
            "units_per_billing_unit": "0.1667",
            "billing_units_per_ndc_unit": "6",
        }  # fmt: skip
    )
    assert not form.is_valid()
    assert form.errors["billing_units_per_ndc_unit"] == [NDC_ONE_RELATION]
    assert NDC_ONE_RELATION.endswith(".")
    one = DrugNdcForm(data={"ndc": NDC, "unit": "ML", "billing_units_per_ndc_unit": "6"})
    assert one.is_valid(), one.errors


@pytest.mark.django_db
def test_the_service_and_the_database_refuse_both_relations() -> None:
    drug = factories.drug_get("paclitaxel")
    with pytest.raises(ValidationError) as refused:
        drug_ndc_add(
            drug=drug, ndc=NDC, unit="ML", units_per_billing_unit=Decimal("0.1667"),
            billing_units_per_ndc_unit=Decimal(6),
        )  # fmt: skip
    assert refused.value.message_dict == {"billing_units_per_ndc_unit": [NDC_ONE_RELATION]}
    with pytest.raises(IntegrityError), transaction.atomic():
        DrugNdc.objects.create(
            drug=drug, ndc=NDC, unit="ML", units_per_billing_unit=Decimal("0.1667"),
            billing_units_per_ndc_unit=Decimal(6),
        )  # fmt: skip
    assert not DrugNdc.objects.filter(ndc=NDC).exists()


@pytest.mark.django_db
def test_the_pharmacist_adds_a_package_by_billing_units_per_ndc_unit(client_as) -> None:
    """From the drug's page: stored exactly, listed as 1/6 (6 billing units per ML); both given
    are refused beside the field with what was typed kept, nothing saved."""
    drug = factories.drug_get("paclitaxel")
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug_ndc_add", args=[drug.pk])
    both = {"ndc": NDC, "unit": "ML", "units_per_billing_unit": "0.1667",
            "billing_units_per_ndc_unit": "6"}  # fmt: skip
    refused = client.post(url, both)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert NDC_ONE_RELATION in page.replace("&#x27;", "'")
    assert 'name="billing_units_per_ndc_unit" value="6"' in page
    assert 'name="units_per_billing_unit" value="0.1667"' in page
    assert not DrugNdc.objects.filter(ndc=NDC).exists()
    added = client.post(url, {**both, "units_per_billing_unit": ""})
    assert added.status_code == 302
    ndc = DrugNdc.objects.get(ndc=NDC)
    assert (ndc.units_per_billing_unit, ndc.billing_units_per_ndc_unit) == (None, Decimal(6))
    listed = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert "1/6 (6 billing units per ML)" in listed


def test_every_demo_package_states_its_concentration_exactly() -> None:
    """mar/demo.py DEMO_NDCS: each package's relation, as the demo stores it, is exactly the
    billing unit (mar/data/formulary.csv) over the concentration on its label (paclitaxel 6
    mg/mL per 1 mg: 1/6 mL, stated as 6 per mL; was 0.1667)."""
    with (Path(__file__).resolve().parents[2] / "mar/data/formulary.csv").open() as f:
        billing = {row["name"]: row["billing_unit"] for row in csv.DictReader(f)}
    checked = 0
    for name, (_, unit, per_unit, package) in DEMO_NDCS.items():
        inverse = per_unit.removeprefix("per ")
        ndc = (
            DrugNdc(unit=unit, billing_units_per_ndc_unit=Decimal(inverse))
            if inverse != per_unit
            else DrugNdc(unit=unit, units_per_billing_unit=Decimal(per_unit))
        )
        amount, billed_in = billing[name].split()
        label = re.match(r"([\d.]+) mg/mL", package)
        if label is None or billed_in != "mg":
            continue
        assert ndc.ndc_units_per_billing_unit_exact == Fraction(amount) / Fraction(label[1]), name
        checked += 1
    assert checked >= 8
