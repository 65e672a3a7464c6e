"""The audit sweep compares the re-coding with what was billed: what was sent to billing (the
ledger's standing charges, coding/ledger.py), not the current charge run (QA: its "Billed units"
counted encounters never exported). Encounters not yet exported are compared with their current
charges, apart, labelled "not yet billed", never counted as billed (issue 19, target 3: the
differences by code per encounter, totals, CSV; nothing billed changes)."""

import csv
import io

import pytest
from django.urls import reverse

from coding import sweep as sweeps
from coding.models import AuditSweep, AuditSweepChunk, AuditSweepDifference, ChargeLine, LedgerEntry
from mar import roles
from mar.models import Encounter
from tests.coding.test_billed_lines_reference_data import bill
from tests.coding.test_claim_lines import signed_encounter
from tests.coding.test_sweep import run_sweep, signed_with_charges

pytestmark = pytest.mark.django_db

BILLED = AuditSweepDifference.ComparedWith.BILLED
CURRENT = AuditSweepDifference.ComparedWith.CURRENT


def units_96413(encounter: Encounter, units: int) -> None:
    """The current run's 96413 as the coder would leave it (the engine codes 1)."""
    ChargeLine.objects.filter(run__encounter=encounter, run__is_current=True, code="96413").update(
        units=units
    )


@pytest.fixture
def mix(coder_user) -> dict[str, Encounter]:
    """Four signed chemotherapy visits (the engine codes 96413 ×1 each):
    sent_right: exported as coded (its drug line, J9267, exported with it);
    sent_wrong: exported with 96413 ×3;
    changed_after: exported as coded, its current run's 96413 ×2 since (not sent);
    unsent: never exported, its current run's 96413 ×4."""
    sent_right = signed_encounter()
    sent_wrong, changed_after, unsent = signed_with_charges(3)
    units_96413(sent_wrong, 3)
    for encounter in (sent_right, sent_wrong, changed_after):
        assert bill(coder_user, encounter).export is not None
    units_96413(changed_after, 2)
    units_96413(unsent, 4)
    assert LedgerEntry.objects.filter(code="J9267").exists()  # a drug line was sent
    return {
        "sent_right": sent_right,
        "sent_wrong": sent_wrong,
        "changed_after": changed_after,
        "unsent": unsent,
    }


def test_billed_totals_count_only_what_was_sent_and_current_charges_are_apart(
    mix, coder_user, django_capture_on_commit_callbacks
) -> None:
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    totals = sweeps.sweep_totals(sweep)
    assert (totals.encounters, totals.billed_encounters, totals.current_encounters) == (4, 3, 1)
    billed = {code: (b, r, d) for code, b, r, d in totals.rows}
    # Sent: 1 + 3 + 1 (the change since is not billed); re-coded 1 each.
    assert billed["96413"] == (5, 3, -2)
    assert "J9267" not in billed  # drug lines aside, as the engine codes the services
    current = {code: (c, r, d) for code, c, r, d in totals.current_rows}
    assert current["96413"] == (4, 1, -3)
    assert (totals.differing, totals.billed_differing, totals.current_differing) == (2, 1, 1)
    assert totals.before_split is False

    differences = {
        d.encounter_id: (d.compared_with, d.billed, d.recoded.get("96413"))
        for d in AuditSweepDifference.objects.filter(sweep=sweep)
    }
    assert differences[mix["sent_wrong"].pk][0] == BILLED
    assert differences[mix["sent_wrong"].pk][1]["96413"] == 3
    assert differences[mix["unsent"].pk][0] == CURRENT
    assert differences[mix["unsent"].pk][1]["96413"] == 4
    assert set(differences) == {mix["sent_wrong"].pk, mix["unsent"].pk}

    # Idempotent: a chunk run again, or the sweep re-sent, changes nothing.
    stored = list(AuditSweepDifference.objects.values_list("pk", "compared_with", "billed"))
    assert sweeps.sweep_chunk_run(chunk_id=sweep.chunks.get().pk) is False
    assert sweeps.sweep_resend(sweep_id=sweep.pk) == 0
    assert list(AuditSweepDifference.objects.values_list("pk", "compared_with", "billed")) == (
        stored
    )


def test_the_csv_says_which_units_were_billed_and_which_are_not_yet(
    mix, coder_user, django_capture_on_commit_callbacks
) -> None:
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    rows = list(csv.reader(io.StringIO(sweeps.sweep_csv(sweep), newline="")))
    header = rows[0]
    assert header == [
        "encounter", "mrn", "arrived", "code", "billed units (sent to billing)",
        "not yet billed: current units", "re-coded units", "difference", "compared with",
        "error",
    ]  # fmt: skip
    by_encounter = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    wrong = by_encounter[f"E{mix['sent_wrong'].pk}"]
    assert (wrong["code"], wrong["billed units (sent to billing)"]) == ("96413", "3")
    assert wrong["not yet billed: current units"] == ""
    assert (wrong["re-coded units"], wrong["difference"]) == ("1", "-2")
    assert wrong["compared with"] == "billed (sent to billing)"
    unsent = by_encounter[f"E{mix['unsent'].pk}"]
    assert unsent["billed units (sent to billing)"] == ""
    assert unsent["not yet billed: current units"] == "4"
    assert (unsent["re-coded units"], unsent["difference"]) == ("1", "-3")
    assert unsent["compared with"] == "not yet billed: current charges"
    assert len(rows) == 3


def test_the_page_shows_billed_and_not_yet_billed_apart(
    mix, client_as, coder_user, django_capture_on_commit_callbacks
) -> None:
    sweep = run_sweep(coder_user, django_capture_on_commit_callbacks)
    page = client_as(roles.CODER).get(reverse("coding:sweep", args=[sweep.pk])).content.decode()
    for testid in ("sweep-summary", "sweep-totals", "sweep-totals-current", "sweep-differences"):
        assert page.count(f'data-testid="{testid}"') == 1
    billed = page[page.index('data-testid="sweep-totals"') :].split("</table>", 1)[0]
    assert "Billed units (sent to billing)" in billed
    assert '<td>96413</td><td class="text-end">5</td>' in billed
    current = page[page.index('data-testid="sweep-totals-current"') :].split("</table>", 1)[0]
    assert "Not yet billed: current charges" in current
    assert '<td>96413</td><td class="text-end">4</td>' in current
    assert "3 billed (sent to billing), 1 not yet billed" in page
    unsent_row = page[page.index(f">E{mix['unsent'].pk}<") :].split("</tr>", 1)[0]
    assert "Not yet billed: current charges" in unsent_row


def test_a_sweep_stored_before_billed_and_current_were_told_apart_says_so(
    client_as, coder_user
) -> None:
    sweep = AuditSweep.objects.create(
        created_by=coder_user, date_from="2026-01-01", date_to="2026-01-31",
        policy={}, policy_label="The rules' defaults", total=1,
    )  # fmt: skip
    AuditSweepChunk.objects.create(
        sweep=sweep, index=0, encounter_ids=[1], done_at=sweep.created_at,
        totals={"encounters": 1, "differing": 0, "errors": 0, "billed": {"96413": 1},
                "recoded": {"96413": 1}},
    )  # fmt: skip
    totals = sweeps.sweep_totals(sweep)
    assert totals.before_split is True
    page = client_as(roles.CODER).get(reverse("coding:sweep", args=[sweep.pk])).content.decode()
    assert 'data-testid="sweep-before-split"' in page
    assert "run it again" in page
