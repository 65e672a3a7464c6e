"""The bulk bridge gives each encounter exactly the record the single one does; on PostgreSQL its
six reads go as one statement (mar/record.py `_rows`) that must give exactly the ORM's rows."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mar import record
from mar.models import AccessSite, Administration, Encounter, Flush, Pause, RateChange
from mar.record import record_dict_from_encounter, record_dicts_from_encounters
from tests import factories
from tests.mar.chart_helpers import running_visit

ON_POSTGRESQL = pytest.mark.postgresql("the one-statement read is PostgreSQL's")


def test_bulk_records_equal_the_single_ones(db, django_assert_num_queries) -> None:
    encounters = [
        factories.chemo_encounter_create(extra_pushes=2),
        running_visit()[0],
        factories.encounter_create(),  # nothing charted yet
    ]
    # Sites, orders, administrations, pauses, rate changes (issue 17, DOC-VOLUME) and flushes:
    # six reads, sent as one statement on PostgreSQL (issue 19).
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 6):
        bulk = record_dicts_from_encounters(encounters)
    assert bulk == {e.pk: record_dict_from_encounter(e) for e in encounters}
    assert record_dicts_from_encounters([]) == {}


def _typed(rows: list[list[dict[str, Any]]]) -> list[list[list[tuple[str, str]]]]:
    """Rows as (column, repr) pairs: equal only with equal values of equal types (Decimal('8.0000')
    is not 8.0, a UTC datetime is not one in another zone)."""
    return [[[(k, repr(v)) for k, v in row.items()] for row in read] for read in rows]


def _orm_rows(ids: list[int]) -> list[list[dict[str, Any]]]:
    return [list(qs) for qs in record._row_queries(ids)]


@ON_POSTGRESQL
def test_one_statement_gives_the_orms_rows_on_the_demo_day(db) -> None:
    call_command("demo", stdout=io.StringIO())  # signed and unsigned visits, every kind of row
    ids = list(Encounter.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) > 3
    for chosen in (ids[:1], ids[:2], ids, list(reversed(ids))):
        assert _typed(record._rows(chosen)) == _typed(_orm_rows(chosen))


@ON_POSTGRESQL
def test_a_time_python_cannot_hold_reads_as_none_as_the_orm_reads_it(db) -> None:
    """Year 10000 in UTC (9999-12-31 23:59 New York), stored before the forms checked: None,
    logged, on both paths (mar/apps.py), and sorted last as PostgreSQL sorts it."""
    encounter = factories.chemo_encounter_create()
    infusion = encounter.administrations.order_by("pk").last()
    pause = Pause.objects.create(administration=infusion, start=factories.MORNING, end=None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Pause._meta.db_table} SET start = "
            "'9999-12-31T23:59:00-05:00'::timestamptz WHERE id = %s",
            [pause.pk],
        )
    rows = record._rows([encounter.pk])
    assert _typed(rows) == _typed(_orm_rows([encounter.pk]))
    assert rows[3][-1]["start"] is None


_DECIMAL_2 = st.decimals(min_value=0, max_value=Decimal("999999.99"), places=2)
_DECIMAL_4 = st.decimals(min_value=0, max_value=Decimal("99999999.9999"), places=4)
_MOMENT = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
_ADMINISTRATION = st.fixed_dictionaries(
    {
        "start": _MOMENT,
        "minutes": st.none() | st.integers(0, 600),
        "method": st.sampled_from(Administration.Method.values),
        "lesions": st.none() | st.integers(0, 20),
        "planned_hours": st.none() | _DECIMAL_2.filter(lambda d: d < 10000),
        "primary": st.booleans(),
        "dose_value": st.none() | _DECIMAL_4,
        "rate_ml_h": st.none() | _DECIMAL_2,
        "volume_infused_ml": st.none() | _DECIMAL_2,
        "bag": st.sampled_from(["", "B1", 'bag "2" ü']),
        "pauses": st.lists(st.tuples(_MOMENT, st.none() | st.integers(0, 90)), max_size=3),
        "rates": st.lists(st.tuples(_MOMENT, _DECIMAL_2), max_size=3),
        "on_site": st.booleans(),
    }
)


@ON_POSTGRESQL
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    administrations=st.lists(_ADMINISTRATION, max_size=5),
    flushes=st.lists(_MOMENT, max_size=4),
    sites=st.integers(0, 2),
)
def test_one_statement_gives_the_orms_rows_on_generated_records(
    db, administrations: list[dict[str, Any]], flushes: list[datetime], sites: int
) -> None:
    """Whatever is charted (times to the microsecond, numerics of every scale, nulls, text with
    quotes), the one statement reads what the ORM reads, in the same order, for one encounter
    and for several (its statement is compiled once per number of encounters)."""
    encounter = factories.encounter_create()
    placed = [
        factories.site_create(encounter, kind=AccessSite.Kind.PORT if n else "peripheral_iv")
        for n in range(sites)
    ]
    order = factories.order_create(encounter, factories.drug_get("ondansetron"))
    nurse = factories.user_create(username=f"nurse-{encounter.pk}", role="nurse")
    for a in administrations:
        minutes = a.pop("minutes")
        pauses, rates, on_site = a.pop("pauses"), a.pop("rates"), a.pop("on_site")
        adm = factories.administration_create(
            encounter, order, site=placed[0] if placed and on_site else None,
            stop=None if minutes is None else a["start"] + timedelta(minutes=minutes),
            **a,
        )  # fmt: skip
        for start, length in pauses:
            end = None if length is None else start + timedelta(minutes=length)
            Pause.objects.create(administration=adm, start=start, end=end)
        for at, rate in rates:
            RateChange.objects.create(administration=adm, at=at, rate_ml_h=rate, by=nurse)
    for at in flushes if placed else ():
        Flush.objects.create(encounter=encounter, site=placed[-1], at=at)
    assert _typed(record._rows([encounter.pk])) == _typed(_orm_rows([encounter.pk]))
    every = list(Encounter.objects.order_by("-pk").values_list("pk", flat=True)[:3])
    assert _typed(record._rows(every)) == _typed(_orm_rows(every))
