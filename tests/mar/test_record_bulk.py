"""The bulk bridge for the board gives each encounter exactly the record the single one does."""

from mar.record import record_dict_from_encounter, record_dicts_from_encounters
from tests import factories
from tests.mar.chart_helpers import running_visit


def test_bulk_records_equal_the_single_ones(db, django_assert_num_queries) -> None:
    encounters = [
        factories.chemo_encounter_create(extra_pushes=2),
        running_visit()[0],
        factories.encounter_create(),  # nothing charted yet
    ]
    with django_assert_num_queries(6):  # rate changes too (issue 17, DOC-VOLUME)
        bulk = record_dicts_from_encounters(encounters)
    assert bulk == {e.pk: record_dict_from_encounter(e) for e in encounters}
