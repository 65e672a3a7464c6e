"""The audit sweep (coding/sweep.py, issue 19): every signed encounter of a range re-coded under
today's rules and a chosen policy, compared with what was billed; nothing billed changes;
re-running it changes nothing."""

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from coding import sweep as sweeps
from coding.models import AuditSweep, AuditSweepDifference, ChargeCorrection, ChargeLine, ChargeRun
from coding.services import charge_run_generate
from mar import roles
from mar.models import Encounter, Payer, PayerPolicy, policy_defaults
from tests import factories
from tests.waiting import wait_for

DAY = factories.MORNING.date()


def signed_with_charges(n: int) -> list[Encounter]:
    encounters = []
    for _ in range(n):
        encounter = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
        charge_run_generate(encounter_id=encounter.pk)
        encounters.append(encounter)
    return encounters


def billed_state() -> list[tuple[int, bool, str, int]]:
    rows = ChargeLine.objects.values_list("run_id", "run__is_current", "code", "units")
    return sorted(rows)


def run_sweep(user: User, capture, payer: Payer | None = None) -> AuditSweep:
    with capture(execute=True):  # the chunks' tasks are sent on commit (eager here)
        return sweeps.sweep_start(date_from=DAY, date_to=DAY, payer=payer, user=user)


@pytest.mark.django_db
def test_a_sweep_under_the_rules_billed_finds_no_difference_and_changes_nothing(
    coder_user, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    monkeypatch.setattr(sweeps, "CHUNK", 2)  # three chunks of 5 encounters
    signed_with_charges(5)
    factories.chemo_encounter_create()  # in progress: not swept
    before = billed_state()
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    sweep.refresh_from_db()
    assert sweep.total == 5 and sweep.finished_at is not None
    assert sweep.chunks.count() == 3
    totals = sweeps.sweep_totals(sweep)
    assert (totals.encounters, totals.differing, totals.errors) == (5, 0, 0)
    # Not exported: compared with their current charges, none counted as billed
    # (tests/coding/test_sweep_billed.py).
    assert totals.rows == [] and totals.current_encounters == 5
    assert all(current == recoded for _code, current, recoded, _diff in totals.current_rows)
    assert ("96413", 5, 5, 0) in totals.current_rows
    assert billed_state() == before
    assert sweeps.sweep_progress(sweep).percent == 100


@pytest.mark.django_db
def test_a_line_the_coder_removed_shows_as_a_difference_by_code(
    coder_user, django_capture_on_commit_callbacks
) -> None:
    kept, changed = signed_with_charges(2)
    run = ChargeRun.objects.get(encounter=changed, is_current=True)
    line = run.lines.get(code="96413")
    ChargeCorrection.objects.create(
        run=run, line=line, action="remove", reason="test", by=coder_user,
        original={"code": line.code, "units": line.units, "modifiers": line.modifiers,
                  "date": line.date.isoformat(), "administrations": line.administrations},
    )  # fmt: skip
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    difference = AuditSweepDifference.objects.get(sweep=sweep)
    assert difference.encounter_id == changed.pk
    assert "96413" not in difference.billed and difference.recoded["96413"] == 1
    totals = sweeps.sweep_totals(sweep)
    assert ("96413", 1, 2, 1) in totals.current_rows  # not exported: its current charges
    rows = list(csv.reader(io.StringIO(sweeps.sweep_csv(sweep), newline="")))
    assert rows[1][0] == f"E{changed.pk}" and rows[1][3:8] == ["96413", "", "0", "1", "1"]
    assert len(rows) == 2


@pytest.mark.django_db
def test_rerunning_a_chunk_or_resending_the_sweep_changes_nothing(
    coder_user, django_capture_on_commit_callbacks
) -> None:
    encounters = signed_with_charges(2)
    ChargeLine.objects.filter(run__encounter=encounters[0], code="96413").update(units=3)
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    chunk = sweep.chunks.get()
    first = list(AuditSweepDifference.objects.values_list("pk", "billed", "recoded"))
    assert len(first) == 1
    assert sweeps.sweep_chunk_run(chunk_id=chunk.pk) is False
    assert sweeps.sweep_resend(sweep_id=sweep.pk) == 0
    assert list(AuditSweepDifference.objects.values_list("pk", "billed", "recoded")) == first


@pytest.mark.django_db
def test_the_chosen_payers_profile_is_the_policy_coded_with(
    coder_user, django_capture_on_commit_callbacks
) -> None:
    signed_with_charges(1)
    payer = Payer.objects.create(name="Test payer", financial_class="commercial")
    values = {**policy_defaults(), "second_site_modifier": "XS"}
    PayerPolicy.objects.create(payer=payer, version=2, values=values, reason="test", by=coder_user)
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks, payer=payer)
    assert sweep.policy_label == "Test payer policy v2"
    assert sweep.policy["second_site_modifier"] == "XS"


@pytest.mark.django_db
def test_the_pages_start_a_sweep_show_its_progress_and_results_and_download_them(
    client_as, django_capture_on_commit_callbacks
) -> None:
    signed_with_charges(1)
    client = client_as(roles.CODER)
    assert "Start the sweep" in client.get(reverse("coding:sweeps")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("coding:sweeps"), {"date_from": DAY.isoformat(), "date_to": DAY.isoformat()}
        )
    sweep = AuditSweep.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/sweeps/{sweep.pk}/")
    page = client.get(response["Location"]).content.decode()
    assert "1 encounter compared" in page and "96413" in page
    progress = client.get(reverse("coding:sweep_progress", args=[sweep.pk]), HTTP_HX_REQUEST="true")
    assert progress.headers.get("HX-Refresh") == "true"  # done: the page reloads with results
    download = client.get(reverse("coding:sweep_csv", args=[sweep.pk]))
    assert download["Content-Type"].startswith("text/csv")
    assert download.content.decode().startswith('"encounter","mrn","arrived","code"')
    refused = client.post(
        reverse("coding:sweeps"), {"date_from": "2026-03-02", "date_to": "2026-03-01"}
    )
    assert refused.status_code == 200 and "ends before it starts" in refused.content.decode()


@pytest.mark.django_db
def test_the_csv_neutralises_a_formula_in_a_cell(
    coder_user, django_capture_on_commit_callbacks
) -> None:
    (encounter,) = signed_with_charges(1)
    encounter.patient.mrn = "=HYPERLINK(1)"
    encounter.patient.save(update_fields=["mrn"])
    ChargeLine.objects.filter(run__encounter=encounter, code="96413").update(units=3)
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    assert "'=HYPERLINK(1)" in sweeps.sweep_csv(sweep)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_chunks_through_redis(worker, coder_user, monkeypatch) -> None:
    monkeypatch.setattr(sweeps, "CHUNK", 1)
    signed_with_charges(2)
    sweep = sweeps.sweep_start(date_from=DAY, date_to=DAY, payer=None, user=coder_user)
    assert wait_for(lambda: AuditSweep.objects.get(pk=sweep.pk).finished_at is not None)
    assert sweeps.sweep_totals(sweep).encounters == 2
