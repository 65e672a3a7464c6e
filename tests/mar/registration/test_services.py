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
    encounter_update,
    order_enter,
    patient_find,
    patient_register,
    unit_as_known,
    units_known,
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


# --- the units visits were in (registration's datalist; a unit typed as visits spell it) -------


def visits_in(unit: str, count: int) -> None:
    patient = factories.patient_create()
    Encounter.objects.bulk_create(
        Encounter(patient=patient, unit=unit, arrived_at=factories.MORNING + timedelta(minutes=n))
        for n in range(count)
    )


def test_units_known_are_each_unit_once_as_most_visits_spell_it() -> None:
    """The datalist offers each unit once, by name, spelled as most of its visits spell it; a
    unit typed in another case or with other spaces is saved in that spelling, a new one as
    typed (spaces tidied)."""
    visits_in("Infusion Center", 3)
    visits_in("infusion  center", 1)
    visits_in("INFUSION CENTER", 2)
    visits_in("Emergency Department", 1)
    visits_in("oncology day unit", 1)
    assert units_known() == ["Emergency Department", "Infusion Center", "oncology day unit"]
    assert unit_as_known("  infusion CENTER ") == "Infusion Center"
    assert unit_as_known("Oncology Day Unit") == "oncology day unit"
    assert unit_as_known(" Cardiology   Clinic ") == "Cardiology Clinic"


def test_units_known_of_no_visit_is_empty_and_a_unit_is_kept_as_typed() -> None:
    assert units_known() == []
    assert unit_as_known("Infusion Center") == "Infusion Center"


def test_a_visit_updated_takes_the_unit_as_visits_spell_it() -> None:
    """A visit changed by another system (HL7 A08) goes through `encounter_update`,
    which spells the unit as `encounter_open` does: one unit on the board, not two."""
    visits_in("Infusion Center", 2)
    moved = factories.encounter_create(unit="Oncology Day Unit")
    changed = encounter_update(encounter=moved, unit="  infusion   CENTER ", location_label="12")
    moved.refresh_from_db()
    assert (moved.unit, moved.location_label) == ("Infusion Center", "12")
    assert changed == ["unit", "location_label"]


def test_a_visit_updated_with_its_own_unit_in_another_case_is_no_change() -> None:
    visit = factories.encounter_create(unit="Infusion Center")
    Encounter.objects.filter(pk=visit.pk).update(status=Encounter.Status.SIGNED)
    visit.refresh_from_db()
    assert encounter_update(encounter=visit, unit="INFUSION center") == []


def test_a_signed_visit_is_not_updated() -> None:
    visit = factories.encounter_create(unit="Infusion Center")
    Encounter.objects.filter(pk=visit.pk).update(status=Encounter.Status.SIGNED)
    visit.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        encounter_update(encounter=visit, unit="Emergency Department")
    assert "signed" in errors_of(exc)["account_number"][0]
    visit.refresh_from_db()
    assert visit.unit == "Infusion Center"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("unit", "  ", "Enter the unit"),
        ("unit", "U" * 150, "At most 100 characters"),
        ("setting", "home", "facility or office"),
        ("arrived_at", factories.MORNING + timedelta(days=3650), "is later than now"),
    ],
)
def test_a_visit_update_is_checked_as_a_visit_opened(field, value, says) -> None:
    visit = factories.encounter_create(unit="Infusion Center")
    with pytest.raises(ValidationError) as exc:
        encounter_update(encounter=visit, **{field: value})
    assert says in errors_of(exc)[field][0]
    visit.refresh_from_db()
    assert visit.unit == "Infusion Center"


def _rows_read_from_encounters(sql: str, params: object) -> int:
    """What PostgreSQL read from the visits' table (heap or index) running `sql`: the rows
    every scan of it returned or filtered out, over all its loops (EXPLAIN ANALYZE)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)

    def walk(node: dict) -> int:
        here = 0
        if node.get("Relation Name") == Encounter._meta.db_table:
            rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            here = rows * node["Actual Loops"]
        return here + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


@pytest.mark.postgresql("the plan read is PostgreSQL's EXPLAIN ANALYZE")
def test_units_known_reads_a_few_rows_a_unit_not_every_visit_ever_opened(monkeypatch) -> None:
    """Opening a visit (and drawing its form) reads the units; a hospital's visits grow without
    end, its units do not. The spellings are read from the unit's index one entry each, and a
    unit spelled two ways counts each spelling's visits only up to a cap: what is read does not
    grow with the visits (the GROUP BY over every visit it was read them all)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mar.registration import services

    monkeypatch.setattr(services, "UNIT_SPELLING_COUNT_CAP", 20)
    visits_in("Infusion Center", 300)
    visits_in("infusion center", 8)  # typed so before units were tidied
    visits_in("Emergency Department", 200)
    visits_in("Oncology Day Unit", 100)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Encounter._meta.db_table}")
    with CaptureQueriesContext(connection) as captured:
        known = units_known()
    read = sum(_rows_read_from_encounters(q["sql"], None) for q in captured.captured_queries)
    # an index entry or two per spelling (4), the two spellings of one unit counted (20 + 8)
    assert 0 < read <= 2 * 4 + 20 + 8
    assert known == ["Emergency Department", "Infusion Center", "Oncology Day Unit"]
    assert unit_as_known("INFUSION center") == "Infusion Center"
