"""Charge runs: one current run per encounter, whatever the timing."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext

from coding.models import ChargeLine, ChargeRun
from coding.services import charge_run_generate
from coding.tasks import generate_charges
from mar.models import Administration
from mar.services.signature import addendum_store, signature_store
from tests import factories
from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice


@pytest.mark.django_db
def test_generating_makes_a_current_run_with_lines_and_reasons(chemo_encounter) -> None:
    run, created = charge_run_generate(encounter_id=chemo_encounter.pk)
    assert created
    assert run.is_current
    codes = list(run.lines.values_list("code", flat=True))
    assert codes[0] == "96413"
    assert all(line.why for line in run.lines.all())
    assert run.result["charges"]
    assert run.input_snapshot["encounter"]["id"] == f"E{chemo_encounter.pk}"


@pytest.mark.django_db
def test_running_the_task_twice_leaves_one_run(chemo_encounter) -> None:
    first = generate_charges(chemo_encounter.pk)
    second = generate_charges(chemo_encounter.pk)
    assert first == second
    assert ChargeRun.objects.filter(encounter=chemo_encounter).count() == 1
    assert ChargeLine.objects.filter(run__encounter=chemo_encounter).count() >= 1


@pytest.mark.django_db
def test_the_constraint_forbids_two_current_runs(chemo_encounter) -> None:
    ChargeRun.objects.create(encounter=chemo_encounter, input_snapshot={})
    with pytest.raises(IntegrityError), transaction.atomic():
        ChargeRun.objects.create(encounter=chemo_encounter, input_snapshot={"other": 1})


@pytest.mark.django_db
def test_an_unreadable_record_is_stored_with_its_error() -> None:
    encounter = factories.encounter_create(timezone="Mars/Olympus_Mons")
    order = factories.order_create(encounter, factories.drug_get("ondansetron"))
    factories.administration_create(
        encounter, order, site=None, start=factories.MORNING, stop=None, method="push"
    )
    run, created = charge_run_generate(encounter_id=encounter.pk)
    assert created
    assert run.error
    assert not run.lines.exists()


@pytest.mark.postgresql("row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_generations_leave_one_current_run() -> None:
    encounter = factories.chemo_encounter_create()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def generate() -> None:
        try:
            barrier.wait(timeout=10)
            charge_run_generate(encounter_id=encounter.pk)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=generate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
    assert ChargeRun.objects.filter(encounter=encounter, is_current=True).count() == 1


@pytest.mark.django_db
def test_an_addendum_regenerates_and_keeps_the_previous_run(
    chemo_encounter, nurse_user, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        signature_store(encounter=chemo_encounter, user=nurse_user)
    before = ChargeRun.objects.get(encounter=chemo_encounter)

    chemo = Administration.objects.get(encounter=chemo_encounter, drug__name="paclitaxel")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        chemo.stop = chemo.stop + timedelta(minutes=60)
        chemo.save(update_fields=["stop"])
        addendum_store(
            encounter=chemo_encounter,
            user=nurse_user,
            what="paclitaxel stop time corrected to 13:15",
            why="late entry: pump alarm delayed the stop",
        )

    runs = ChargeRun.objects.filter(encounter=chemo_encounter).order_by("pk")
    assert [run.is_current for run in runs] == [False, True]
    assert runs[0].pk == before.pk
    assert runs[1].trigger == ChargeRun.Trigger.ADDENDUM
    assert runs[0].input_snapshot != runs[1].input_snapshot


def _row_reads(captured: CaptureQueriesContext, table: str, column: str) -> int:
    """How many statements read rows of `table` as model instances: with `column`, which the
    record's own read of the encounter (plain values: mar/record.py) does not take."""
    return sum(
        query["sql"].startswith(f'SELECT "{table}".') and f'"{table}"."{column}"' in query["sql"]
        for query in captured.captured_queries
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scanned", [(ONDANSETRON_NDCS[0], ""), ("", "")], ids=["a dose scanned", "nothing scanned"]
)
def test_making_a_run_reads_the_drug_lines_rows_once(settings, scanned) -> None:
    """The drug lines' rows are read once per run, under the encounter's lock: the encounter's
    administrations with their drug, and the formulary's NDCs of their drugs (read whether or
    not a dose was scanned: the run keeps the NDC each drug line carries, coding/claim.py
    `formulary_snapshot`). The billing snapshot (`drug_line_inputs`), the drug lines stored
    (`drug_lines_store`) and the run's formulary snapshot are made from that one read (each
    read them for itself before: the NDCs in two statements)."""
    settings.PREPARED_STATEMENTS = False  # each read sends its SQL: it is seen by its table
    encounter = ondansetron_twice(scanned=scanned)
    with CaptureQueriesContext(connection) as captured:
        run, created = charge_run_generate(encounter_id=encounter.pk)
    assert created
    assert _row_reads(captured, "mar_drugndc", "units_per_billing_unit") == 1
    assert _row_reads(captured, "mar_administration", "waste_value") == 1
    # The grouping reads the NDCs only when a dose was scanned (two packages, two lines);
    # with no scan the doses are the day's one line whatever the NDCs.
    assert sorted(run.lines.filter(code="J2405").values_list("units", flat=True)) == (
        [5, 5] if any(scanned) else [9]
    )
    # The billing snapshot says which NDC each dose grouped under when one was scanned.
    assert all(("claim_ndc" in entry) == any(scanned) for entry in run.billing_snapshot.values())
    # The formulary snapshot says which NDC each push's drug line carries: the one scanned,
    # else the preferred one.
    pushes = Administration.objects.filter(encounter=encounter, drug__name="ondansetron")
    carried = [run.formulary_snapshot[f"A{adm.pk}"]["ndc"] for adm in pushes.order_by("pk")]
    assert carried == [ndc or ONDANSETRON_NDCS[1] for ndc in scanned]


@pytest.mark.postgresql("the count is PostgreSQL's: the record is one statement (SQLite: six)")
@pytest.mark.django_db
def test_making_a_run_from_a_signed_record_with_a_scan_takes_a_fixed_number_of_queries(
    django_assert_num_queries,
) -> None:
    """Making a run from a signed record: the encounter locked and read, the record, the drug
    lines' rows (administrations, their drugs' NDCs: once each), the encounter's standing
    charges (the NDC a billed line keeps: coding/claim.py `formulary_snapshot`), the run, its
    lines, findings and drug lines stored, its review item made. A read more shows here."""
    encounter = ondansetron_twice(scanned=(ONDANSETRON_NDCS[0], ""))
    with django_assert_num_queries(22):
        charge_run_generate(encounter_id=encounter.pk)
