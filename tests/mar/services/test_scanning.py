"""BCMA at the chart (mar/services/scanning.py, safety.py): real barcode strings matched
through the formulary's NDCs to the encounter's orders; stops and overrides."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from mar.bcma import GS
from mar.models import BarcodeScan, DrugClass, DrugNdc, SafetyOverride
from mar.services import safety, scanning
from mar.services.charting import ChartError
from tests import factories

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 3)
ONDANSETRON_UPC = "312345678906"  # "3" + NDC 1234-5678-90 + check digit 6
# GS1 DataMatrix of the same NDC: GTIN 00312345678906, expiry 2027-06-30, lot A1B2, serial.
ONDANSETRON_GS1 = f"]d201003123456789061727063010A1B2{GS}21SN0001"
EXPIRED_GS1 = f"01003123456789061725013110OLD1{GS}21SN0002"
CISPLATIN_NDC = "00703-5748-11"


@pytest.fixture
def chart(nurse_user):
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    ondansetron = factories.drug_get("ondansetron")
    DrugNdc.objects.create(drug=ondansetron, ndc="01234567890")  # 4-4-2 -> 0+4-4-2
    order = factories.order_create(encounter, ondansetron, dose="8 mg")
    cisplatin = factories.drug_get("cisplatin", DrugClass.CHEMO)
    DrugNdc.objects.create(drug=cisplatin, ndc="00703574811")
    return encounter, order


def test_the_patients_wristband_confirms_the_patient(chart, nurse_user) -> None:
    encounter, _order = chart
    scan = scanning.scan_record(
        encounter=encounter, raw=encounter.patient.mrn + "\r\n", user=nurse_user
    )
    assert (scan.kind, scan.result) == ("patient", "match")
    assert scanning.patient_confirmed(encounter) == scan


def test_another_patients_wristband_is_a_wrong_patient(chart, nurse_user) -> None:
    encounter, _order = chart
    other = factories.patient_create(name="Someone Else")
    scan = scanning.scan_record(encounter=encounter, raw=f"MRN:{other.mrn}", user=nurse_user)
    assert scan.result == "wrong_patient"
    assert "Someone Else" in scan.message


def test_a_wrong_patient_wristband_cannot_be_overridden(chart, nurse_user) -> None:
    """A hard stop (BCMA): refused even with a reason, saying what to do instead."""
    encounter, order = chart
    other = factories.patient_create(name="Someone Else")
    scan = scanning.scan_record(encounter=encounter, raw=other.mrn, user=nurse_user)
    with pytest.raises(scanning.ScanError, match="cannot be overridden") as refused:
        scanning.scan_override(scan=scan, user=nurse_user, reason="same bed", order=order)
    assert "scan this patient's wristband, or open Someone Else's chart" in str(refused.value)
    assert not SafetyOverride.objects.exists()


def test_a_upc_matches_its_order_through_the_ndc(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(
        encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user, today=TODAY
    )
    assert (scan.result, scan.order, scan.ndc) == ("match", order, "01234567890")


def test_a_gs1_datamatrix_matches_and_carries_lot_and_expiry(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(
        encounter=encounter, raw=ONDANSETRON_GS1, user=nurse_user, today=TODAY
    )
    assert (scan.result, scan.order, scan.lot, scan.expiry) == (
        "match", order, "A1B2", date(2027, 6, 30),
    )  # fmt: skip


def test_an_expired_lot_stops(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(encounter=encounter, raw=EXPIRED_GS1, user=nurse_user, today=TODAY)
    assert scan.result == "expired"
    assert "expired on 2025-01-31" in scan.message
    assert not scanning.scan_usable_for(scan, order)


def test_a_drug_not_ordered_is_a_wrong_drug(chart, nurse_user) -> None:
    encounter, _order = chart
    scan = scanning.scan_record(encounter=encounter, raw=CISPLATIN_NDC, user=nurse_user)
    assert scan.result == "wrong_drug"
    assert "cisplatin" in scan.message


def test_an_ndc_not_in_the_formulary_is_a_wrong_drug(chart, nurse_user) -> None:
    encounter, _order = chart
    scan = scanning.scan_record(encounter=encounter, raw="0409-4888-02", user=nurse_user)
    assert scan.result == "wrong_drug"
    assert "not in the formulary" in scan.message


def test_garbage_is_unreadable_and_cannot_be_overridden(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(encounter=encounter, raw="hello", user=nurse_user)
    assert scan.result == "unreadable"
    with pytest.raises(scanning.ScanError):
        scanning.scan_override(scan=scan, user=nurse_user, reason="x", order=order)


def test_an_override_needs_a_reason_and_names_the_order(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(encounter=encounter, raw=EXPIRED_GS1, user=nurse_user, today=TODAY)
    with pytest.raises(scanning.ScanError, match="why"):
        scanning.scan_override(scan=scan, user=nurse_user, reason="  ", order=order)
    override = scanning.scan_override(
        scan=scan, user=nurse_user, reason="only vial on the unit, pharmacy approved", order=order
    )
    assert (override.kind, override.by, override.order) == ("expired", nurse_user, order)
    assert scanning.scan_usable_for(scan, order)


def test_starting_with_a_matching_scan_records_ndc_lot_and_expiry(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(
        encounter=encounter, raw=ONDANSETRON_GS1, user=nurse_user, today=TODAY
    )
    adm = safety.administration_start_checked(
        order=order, site=None, start=timezone.now(), method="push", user=nurse_user,
        checks=safety.StartChecks(scan=scan),
    )  # fmt: skip
    assert (adm.ndc, adm.lot, adm.expiry) == ("01234567890", "A1B2", date(2027, 6, 30))
    assert BarcodeScan.objects.get(pk=scan.pk).administration == adm


def test_a_scan_of_another_order_stops_the_start(chart, nurse_user) -> None:
    encounter, _order = chart
    scan = scanning.scan_record(encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user)
    other = factories.order_create(encounter, factories.drug_get("famotidine"), dose="20 mg")
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(
            order=other, site=None, start=timezone.now(), method="push", user=nurse_user,
            checks=safety.StartChecks(scan=scan),
        )  # fmt: skip
    assert "does not match famotidine" in refused.value.errors["scan"][0]
    assert not other.administrations.exists()


def test_overrides_are_counted_per_nurse_and_unit(chart, nurse_user) -> None:
    encounter, order = chart
    scan = scanning.scan_record(encounter=encounter, raw=CISPLATIN_NDC, user=nurse_user)
    scanning.scan_override(scan=scan, user=nurse_user, reason="order being re-written", order=order)
    row = SafetyOverride.objects.values("by__username", "encounter__unit", "kind").get()
    assert row == {
        "by__username": "nurse1",
        "encounter__unit": "Infusion Center",
        "kind": "wrong_drug",
    }


# --- a package the pharmacy retired (mar.pharmacy.services.drug_ndc_retire) ----------------


def retire_ondansetron(pharmacist_user) -> DrugNdc:
    from mar.pharmacy.services import drug_ndc_retire

    ndc = DrugNdc.objects.get(ndc="01234567890")
    return drug_ndc_retire(ndc=ndc, reason="Recalled by the maker", user=pharmacist_user)


def test_a_retired_ndc_stops_and_says_plainly_it_is_retired_and_why(
    chart, nurse_user, pharmacist_user
) -> None:
    encounter, order = chart
    retire_ondansetron(pharmacist_user)
    scan = scanning.scan_record(
        encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user, today=TODAY
    )
    assert (scan.result, scan.order, scan.ndc) == ("retired", order, "01234567890")
    assert scan.message.startswith("Retired: ondansetron NDC 01234-5678-90 was retired by ")
    assert "(Recalled by the maker)" in scan.message
    assert scan.message.endswith("no longer stocked: check with pharmacy before giving it.")
    assert not scanning.scan_usable_for(scan, order)


def test_a_long_retirement_reason_is_shortened_never_the_instruction(
    chart, nurse_user, pharmacist_user
) -> None:
    encounter, _order = chart
    DrugNdc.objects.filter(ndc="01234567890").update(active=False, retired_reason="why " * 200)
    scan = scanning.scan_record(encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user)
    assert len(scan.message) <= 300
    assert scan.message.endswith("check with pharmacy before giving it.")


def test_a_reactivated_ndc_matches_again(chart, nurse_user, pharmacist_user) -> None:
    from mar.pharmacy.services import drug_ndc_reactivate

    encounter, order = chart
    drug_ndc_reactivate(ndc=retire_ondansetron(pharmacist_user), user=pharmacist_user)
    scan = scanning.scan_record(encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user)
    assert (scan.result, scan.order) == ("match", order)


def test_a_retired_package_given_with_a_reason_is_recorded_on_the_administration(
    chart, nurse_user, pharmacist_user
) -> None:
    encounter, order = chart
    retire_ondansetron(pharmacist_user)
    scan = scanning.scan_record(
        encounter=encounter, raw=ONDANSETRON_GS1, user=nurse_user, today=TODAY
    )
    with pytest.raises(scanning.ScanError, match="Choose the order"):
        scanning.scan_override(scan=scan, user=nurse_user, reason="last vial, pharmacy ok")
    override = scanning.scan_override(
        scan=scan, user=nurse_user, reason="last vial, pharmacy ok", order=order
    )
    assert override.kind == "retired"
    adm = safety.administration_start_checked(
        order=order, site=None, start=timezone.now(), method="push", user=nurse_user,
        checks=safety.StartChecks(scan=scan),
    )  # fmt: skip
    assert (adm.ndc, adm.lot) == ("01234567890", "A1B2")  # the package actually given


def test_an_expired_lot_of_a_retired_package_is_said_expired_first(
    chart, nurse_user, pharmacist_user
) -> None:
    encounter, _order = chart
    retire_ondansetron(pharmacist_user)
    scan = scanning.scan_record(encounter=encounter, raw=EXPIRED_GS1, user=nurse_user, today=TODAY)
    assert scan.result == "expired"


def test_starting_with_a_retired_scan_not_overridden_says_the_package_is_retired(
    chart, nurse_user, pharmacist_user
) -> None:
    encounter, order = chart
    retire_ondansetron(pharmacist_user)
    scan = scanning.scan_record(encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user)
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(
            order=order, site=None, start=timezone.now(), method="push", user=nurse_user,
            checks=safety.StartChecks(scan=scan),
        )  # fmt: skip
    assert "package of ondansetron is retired" in refused.value.errors["scan"][0]
    assert not order.administrations.exists()


def test_an_ndc_of_a_drug_retired_from_the_formulary_still_matches_its_order(
    chart, nurse_user, pharmacist_user
) -> None:
    """The drug's retirement (mar.pharmacy.services.drug_retire) stops new orders only: an
    order written before it is given, and a scan of the drug's package still names it."""
    from mar.pharmacy.services import drug_retire

    encounter, order = chart
    drug_retire(drug=order.drug, reason="No longer stocked", user=pharmacist_user)
    scan = scanning.scan_record(
        encounter=encounter, raw=ONDANSETRON_UPC, user=nurse_user, today=TODAY
    )
    assert (scan.result, scan.order, scan.ndc) == ("match", order, "01234567890")
    assert scanning.scan_usable_for(scan, order)
