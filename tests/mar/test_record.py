"""record_from_encounter: the one bridge from the database to the engine."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from coding.engine import check_record
from mar.models import Administration
from mar.record import (
    pk_from_record_id,
    record_dict_from_encounter,
    record_from_encounter,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_writes_an_infusion_record_with_prefixed_ids(chemo_encounter) -> None:
    data = record_dict_from_encounter(chemo_encounter)
    assert data["format"] == "infusion-record/1"
    assert data["encounter"]["id"] == f"E{chemo_encounter.pk}"
    assert data["encounter"]["timezone"] == "America/New_York"
    site = chemo_encounter.sites.get()
    assert data["sites"] == [
        {"id": f"S{site.pk}", "kind": "peripheral_iv", "location": "left forearm"}
    ]
    chemo = Administration.objects.get(encounter=chemo_encounter, drug__name="paclitaxel")
    a = next(a for a in data["administrations"] if a["id"] == f"A{chemo.pk}")
    assert a["drug_class"] == "chemo"
    assert a["order"] == f"O{chemo.order_id}"
    assert a["site"] == f"S{site.pk}"
    assert a["start"] == "2026-03-02T09:15:00-05:00"
    assert a["stop"] == "2026-03-02T12:15:00-05:00"
    assert a["pauses"] == [
        {"start": "2026-03-02T09:40:00-05:00", "end": "2026-03-02T09:50:00-05:00"}
    ]
    assert a["dose"] == {"value": 300, "unit": "mg"}
    assert data["flushes"] == [{"site": f"S{site.pk}", "at": "2026-03-02T09:03:00-05:00"}]


def test_the_order_class_override_wins_over_the_drug_class() -> None:
    encounter = factories.encounter_create()
    order = factories.order_create(
        encounter, factories.drug_get("leuprolide", "chemo_hormonal"), class_override="therapeutic"
    )
    factories.administration_create(
        encounter, order, site=None, start=factories.MORNING, stop=None, route="im",
        method="injection",
    )  # fmt: skip
    (a,) = record_dict_from_encounter(encounter)["administrations"]
    assert a["drug_class"] == "therapeutic"


def test_an_untagged_drug_has_a_null_class() -> None:
    encounter = factories.encounter_create()
    order = factories.order_create(encounter, factories.drug_get("teprotumumab", None))
    factories.administration_create(encounter, order, site=None, start=factories.MORNING, stop=None)
    (a,) = record_dict_from_encounter(encounter)["administrations"]
    assert a["drug_class"] is None
    assert a["site"] is None
    assert a["stop"] is None


def test_times_keep_the_offset_they_had_across_a_dst_change() -> None:
    # 2026-11-01 01:30 happens twice in New York; the offset says which one.
    encounter = factories.encounter_create()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"))
    start = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    factories.administration_create(
        encounter, order, site=None, start=start, stop=start + timedelta(hours=1)
    )
    (a,) = record_dict_from_encounter(encounter)["administrations"]
    assert a["start"] == "2026-11-01T01:30:00-04:00"
    assert a["stop"] == "2026-11-01T01:30:00-05:00"


def test_record_ids_map_back_to_primary_keys() -> None:
    assert pk_from_record_id("A12") == 12
    assert pk_from_record_id("S3") == 3
    with pytest.raises(ValueError):
        pk_from_record_id("X1")


@pytest.mark.parametrize("extra_pushes", [0, 40])
def test_it_uses_a_fixed_number_of_queries(django_assert_num_queries, extra_pushes: int) -> None:
    encounter = factories.chemo_encounter_create(extra_pushes=extra_pushes)
    # Six reads (sites, orders, administrations, pauses, rate changes, flushes) in one statement
    # on PostgreSQL (issue 19; tests/mar/test_record_bulk.py holds it to the ORM's rows).
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 6):
        data = record_dict_from_encounter(encounter)
    assert len(data["administrations"]) == 3 + extra_pushes


def test_the_engine_reads_the_record(chemo_encounter) -> None:
    record = record_from_encounter(chemo_encounter)
    assert record is not None


@pytest.mark.parametrize(
    ("unit", "emergency"),
    [
        ("Emergency Department", True),
        ("ED", True),
        ("Peds ER", True),
        ("Infusion Center", False),
        ("Medical Oncology", False),
    ],
)
def test_rac_8_words_follow_the_visit_s_unit(unit: str, emergency: bool) -> None:
    """RAC-8 (QA): the record says a visit is in an emergency department, read from its unit's
    words; there a start before arrival asks for the EMS mark, elsewhere to check its start time
    (the arrival named), a warning either way."""
    encounter = factories.encounter_create(unit=unit)  # arrived 08:00
    site = factories.site_create(encounter, placed_at=factories.MORNING - timedelta(hours=1))
    order = factories.order_create(encounter, factories.drug_get("carboplatin"))
    factories.administration_create(
        encounter, order, site=site, start=factories.MORNING - timedelta(minutes=30),
        stop=factories.MORNING + timedelta(minutes=60),
    )  # fmt: skip
    data = record_dict_from_encounter(encounter)
    assert data["encounter"].get("emergency_department", False) is emergency
    (found,) = [f for f in check_record(record_from_encounter(encounter)) if f.rule == "RAC-8"]
    assert found.severity == "warning"
    if emergency:
        assert (
            found.message
            == "carboplatin started before the patient arrived: mark it as started by EMS"
        )
    else:
        assert found.message == (
            "carboplatin started before the patient's arrival at 08:00: check the start time"
        )
