"""Registration, visits and order entry: the services every front door shares."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from mar.models import DoseBasis, Encounter, EntryMethod, Order
from mar.registration.icd10 import icd10_resolve, icd10_search
from mar.registration.services import (
    OrderEntry,
    drug_find,
    encounter_open,
    order_enter,
    patient_find,
    patient_register,
)
from tests import factories

pytestmark = pytest.mark.django_db


def register(**fields: object):
    values: dict[str, object] = {
        "mrn": "MRN-100",
        "name": "Rivera, Ana",
        "birth_date": date(1961, 4, 9),
        "sex": "F",
        "allergies": "penicillin (hives)",
    }
    values.update(fields)
    return patient_register(**values)


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_it_registers_a_patient_with_sex_and_allergies() -> None:
    patient = register()
    assert (patient.mrn, patient.sex, patient.allergies) == ("MRN-100", "F", "penicillin (hives)")


def test_an_mrn_already_registered_is_refused_naming_who_holds_it() -> None:
    register()
    with pytest.raises(ValidationError) as exc:
        register(mrn="mrn-100", name="Someone Else")
    assert "Rivera, Ana" in errors_of(exc)["mrn"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mrn", "has space"),
        ("name", "  "),
        ("birth_date", date.today() + timedelta(days=2)),
        ("sex", "X"),
    ],
)
def test_bad_demographics_are_refused_on_their_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        register(**{field: value})
    assert field in errors_of(exc)


def test_a_patient_is_found_by_mrn_or_by_name_words() -> None:
    patient = register()
    assert patient_find("MRN-100") == [patient]
    assert patient_find("ana rivera") == [patient]
    assert patient_find("nobody") == []


def test_it_opens_a_visit() -> None:
    patient = register()
    encounter = encounter_open(
        patient=patient,
        unit="Infusion Center",
        location_label="7",
        setting=Encounter.Setting.OFFICE,
        attending="Dr. Okafor",
        arrived_at=factories.MORNING,
    )
    assert (encounter.location_label, encounter.setting, encounter.attending) == (
        "7",
        "office",
        "Dr. Okafor",
    )
    assert encounter.sequence_of_day == 1


def test_the_same_visit_twice_is_refused() -> None:
    patient = register()
    encounter_open(patient=patient, unit="Infusion Center", arrived_at=factories.MORNING)
    with pytest.raises(ValidationError) as exc:
        encounter_open(
            patient=patient,
            unit="Infusion Center",
            arrived_at=factories.MORNING + timedelta(seconds=20),
        )
    assert "Already open" in errors_of(exc)["arrived_at"][0]


def test_an_account_number_in_use_is_refused() -> None:
    first, second = register(), register(mrn="MRN-200")
    encounter_open(patient=first, unit="ED", arrived_at=factories.MORNING, account_number="V77")
    with pytest.raises(ValidationError) as exc:
        encounter_open(
            patient=second, unit="ED", arrived_at=factories.MORNING, account_number="v77"
        )
    assert "account number V77" in errors_of(exc)["account_number"][0]


def test_a_second_visit_the_same_day_gets_the_next_sequence() -> None:
    patient = register()
    encounter_open(patient=patient, unit="Emergency Department", arrived_at=factories.MORNING)
    later = encounter_open(
        patient=patient, unit="Infusion Center", arrived_at=factories.MORNING + timedelta(hours=5)
    )
    assert later.sequence_of_day == 2


def test_an_arrival_in_the_future_is_refused() -> None:
    patient = register()
    with pytest.raises(ValidationError) as exc:
        encounter_open(
            patient=patient,
            unit="Infusion Center",
            arrived_at=factories.MORNING,
            now=factories.MORNING - timedelta(hours=1),
        )
    assert "arrived_at" in errors_of(exc)


def test_icd10_is_searched_by_code_or_by_words() -> None:
    assert [d.code for d in icd10_search("C50.91")] == ["C50.911", "C50.912", "C50.919"]
    assert "C50.912" in [d.code for d in icd10_search("left breast")]
    assert icd10_resolve("c50912").description.endswith("left female breast")
    assert icd10_resolve("Z51.11 Encounter for antineoplastic chemotherapy").code == "Z51.11"


def test_a_well_formed_code_outside_the_subset_is_accepted_without_words() -> None:
    assert (icd10_resolve("C44.91").code, icd10_resolve("C44.91").description) == ("C44.91", "")


@pytest.mark.parametrize("text", ["", "xyzzy nonsense", "breast"])
def test_an_indication_that_is_no_single_code_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        icd10_resolve(text)


def entry(**fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": factories.drug_get("oxaliplatin", "chemo"),
        "dose_value": Decimal("85"),
        "dose_unit": "mg",
        "dose_basis": DoseBasis.PER_M2,
        "duration_minutes": 120,
        "indication": "C18.9",
        "ordering_provider": "Dr. Amara Okafor",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.VERBAL,
    }
    values.update(fields)
    return OrderEntry(**values)


def test_a_transcribed_order_records_who_entered_it_and_for_whom(nurse_user) -> None:
    encounter = factories.encounter_create()
    order = order_enter(encounter=encounter, entry=entry(), user=nurse_user)
    assert order.dose == "85 mg/m²"
    assert (order.dose_basis, order.indication_code) == ("per_m2", "C18.9")
    assert order.indication.startswith("C18.9 Malignant neoplasm of colon")
    assert order.ordering_provider_npi == "1234567893"
    assert (order.entered_by, order.entered_on_behalf_of) == (
        nurse_user,
        "Dr. Amara Okafor (NPI 1234567893)",
    )
    assert order.verified_by is None  # waits for the pharmacist like any other order


def test_an_auc_dose_reads_as_auc() -> None:
    encounter = factories.encounter_create()
    order = order_enter(
        encounter=encounter,
        entry=entry(
            drug=factories.drug_get("carboplatin", "chemo"),
            dose_value=Decimal("5"),
            dose_unit="",
            dose_basis=DoseBasis.AUC,
            entry_method=EntryMethod.ELECTRONIC,
        ),
    )
    assert (order.dose, order.entered_by, order.entered_on_behalf_of) == ("AUC 5", None, "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dose_value": Decimal("0")}, "dose_value"),
        ({"dose_unit": "", "dose_basis": ""}, "dose_unit"),
        ({"rate_value": Decimal("100"), "rate_unit": ""}, "rate_unit"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"indication": "not a diagnosis at all"}, "indication"),
        ({"ordering_provider": " "}, "ordering_provider"),
        ({"route": "oral"}, "route"),
        ({"ordering_provider_npi": "1234567890"}, "ordering_provider_npi"),
    ],
)
def test_a_bad_order_is_refused_on_its_field(
    fields: dict[str, object], field: str, nurse_user
) -> None:
    with pytest.raises(ValidationError) as exc:
        order_enter(encounter=factories.encounter_create(), entry=entry(**fields), user=nurse_user)
    assert field in errors_of(exc)
    assert not Order.objects.exists()


def test_no_order_on_a_signed_visit(nurse_user) -> None:
    encounter = factories.encounter_create(status=Encounter.Status.SIGNED)
    with pytest.raises(ValidationError):
        order_enter(encounter=encounter, entry=entry(), user=nurse_user)


def test_a_drug_is_found_by_name_or_synonym_and_never_added() -> None:
    drug = factories.drug_get("ondansetron")
    drug.synonyms = "Zofran"
    drug.save()
    assert drug_find("zofran") == drug
    with pytest.raises(ValidationError) as exc:
        drug_find("ondan")
    assert "ondansetron" in errors_of(exc)["drug"][0]
    with pytest.raises(ValidationError):
        drug_find("unobtainium")
    assert not factories.Drug.objects.filter(name__iexact="unobtainium").exists()


def test_an_entered_order_marks_the_board_summary_for_recomputing(nurse_user) -> None:
    from mar.models import EncounterSummary
    from mar.summary import EXPIRED, summary_for

    encounter = factories.encounter_create()
    summary_for(encounter)
    order_enter(encounter=encounter, entry=entry(), user=nurse_user)
    assert EncounterSummary.objects.get(encounter=encounter).valid_until == EXPIRED
