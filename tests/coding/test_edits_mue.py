"""Edits before export: add-on without initial, 96368 twice, 96523 with others, MUE units.

The edits are the engine's (charge_edits) run on the lines as the coder corrected them, with the
MUE limits the hospital loaded; each blocks acceptance and export until resolved or overridden.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from coding.exports import export_create
from coding.models import ChargeRun, MueLimit, ReviewItem
from coding.mue import MueFileError, mue_limits, mue_parse
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    review_accept,
    review_claim,
)
from coding.services import charge_run_generate
from tests.coding.review_helpers import ONDANSETRON_NDCS, ondansetron_twice, reviewed

SAMPLE = Path(__file__).resolve().parents[2] / "coding" / "data" / "mue_sample.csv"


def test_the_sample_file_parses_past_its_notice_lines() -> None:
    rows = {row.code: row for row in mue_parse(SAMPLE.read_text())}
    assert rows["96413"].limit == 1
    assert rows["96415"].limit == 8
    assert rows["J9045"].limit == 30
    assert rows["96413"].adjudication_indicator.startswith("3")


def test_a_bad_row_names_its_line() -> None:
    text = "HCPCS/CPT Code,Outpatient Hospital Services MUE Values\n96413,1\n96415,lots\n"
    with pytest.raises(MueFileError) as info:
        mue_parse(text)
    assert info.value.line == 3


def test_a_file_without_the_header_is_refused() -> None:
    with pytest.raises(MueFileError):
        mue_parse("code,limit\n96413,1\n")


@pytest.mark.django_db
def test_load_mue_loads_the_sample_and_replaces_old_codes() -> None:
    MueLimit.objects.create(code="99999", limit=3)
    out = StringIO()
    call_command("load_mue", stdout=out)
    assert "Loaded" in out.getvalue()
    assert not MueLimit.objects.filter(code="99999").exists()
    assert mue_limits(["96415", "96413", "00000"]) == {"96415": 8, "96413": 1}


@pytest.mark.django_db
def test_load_mue_with_a_bad_file_loads_nothing(tmp_path) -> None:
    MueLimit.objects.create(code="96413", limit=1)
    bad = tmp_path / "mue.csv"
    bad.write_text("HCPCS/CPT Code,Outpatient Hospital Services MUE Values\n96415,8\n96416,x\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("load_mue", str(bad))
    assert list(MueLimit.objects.values_list("code", flat=True)) == ["96413"]


def rules(run: ChargeRun) -> list[str]:
    return [e.finding.rule for e in charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items]


@pytest.fixture
def claimed(db, coder_user):
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    return run, item


def test_the_engine_lines_pass_the_edits(claimed) -> None:
    run, _ = claimed
    assert rules(run) == []


def test_removing_the_initial_service_leaves_an_add_on_alone(claimed, coder_user) -> None:
    run, item = claimed
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96413"), action="remove",
        reason="testing",
    )  # fmt: skip
    assert "EDIT-ADDON" in rules(run)


def test_96368_twice_is_an_edit(claimed, coder_user) -> None:
    run, item = claimed
    # Two lines of it: the second a distinct service (59), since a line the claim already
    # sends is not added again (coding/review.py `_refuse_duplicate`).
    for modifiers in ([], ["59"]):
        charge_line_correct(
            item=item, user=coder_user, action="add", code="96368", units=1,
            modifiers=modifiers, reason="concurrent",
        )  # fmt: skip
    assert "EDIT-96368" in rules(run)


def test_96523_with_other_administrations_is_an_edit(claimed, coder_user) -> None:
    run, item = claimed
    charge_line_correct(
        item=item, user=coder_user, action="add", code="96523", units=1, reason="port flush"
    )
    assert "EDIT-96523" in rules(run)


def test_units_above_the_loaded_limit_are_an_mue_edit(claimed) -> None:
    run, _ = claimed
    MueLimit.objects.create(code="96415", limit=1)
    edits = charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items
    assert [e.finding.rule for e in edits] == ["EDIT-MUE"]
    assert "96415: 2 units" in edits[0].finding.message


def test_an_edit_blocks_acceptance_until_resolved(claimed, coder_user) -> None:
    run, item = claimed
    line = run.lines.get(code="96413")
    charge_line_correct(item=item, user=coder_user, line=line, action="remove", reason="x")
    with pytest.raises(ValidationError, match="EDIT-ADDON"):
        review_accept(item=item, user=coder_user)
    # Resolved: the line is put back (a change to the same code).
    charge_line_correct(
        item=item, user=coder_user, line=line, action="change", code="96413", units=1,
        reason="put back",
    )  # fmt: skip
    assert review_accept(item=item, user=coder_user).state == ReviewItem.State.ACCEPTED


def test_an_override_with_a_reason_lets_the_charges_through(claimed, coder_user) -> None:
    run, item = claimed
    MueLimit.objects.create(code="96415", limit=1)
    edit = charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items[0]
    with pytest.raises(ValidationError):
        edit_override_create(
            item=item, user=coder_user, rule=edit.finding.rule, message=edit.finding.message,
            reason=" ",
        )  # fmt: skip
    with pytest.raises(ValidationError):
        review_accept(item=item, user=coder_user)
    edit_override_create(
        item=item, user=coder_user, rule=edit.finding.rule, message=edit.finding.message,
        reason="documented 3-hour infusion",
    )  # fmt: skip
    review_accept(item=item, user=coder_user)
    outcome = export_create(user=coder_user)
    export, skipped = outcome.export, outcome.skipped
    assert skipped == []
    assert "96415" in export.csv_text


def test_an_override_for_an_edit_that_no_longer_applies_is_refused(claimed, coder_user) -> None:
    _, item = claimed
    with pytest.raises(ValidationError):
        edit_override_create(
            item=item, user=coder_user, rule="EDIT-MUE", message="made up", reason="because"
        )


@pytest.mark.django_db
def test_the_mue_check_reads_the_days_total_drug_line() -> None:
    """4.5 mg + 4.5 mg of ondansetron (J2405, 1 mg): the day's one line of 9 units is within a
    limit of 9 (a line per dose made 5 + 5 = 10, over it) and over a limit of 8."""
    run, _ = charge_run_generate(encounter_id=ondansetron_twice().pk)
    MueLimit.objects.create(code="J2405", limit=9)
    assert rules(run) == []
    MueLimit.objects.filter(code="J2405").update(limit=8)
    [edit] = charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items
    assert edit.finding.rule == "EDIT-MUE"
    assert edit.finding.message.startswith("J2405: 9 units on ")


@pytest.mark.django_db
def test_the_mue_check_sums_a_codes_lines_of_one_day() -> None:
    """Two packages scanned make two J2405 lines (5 + 5): MUE counts the code's day, 10 > 9."""
    run, _ = charge_run_generate(encounter_id=ondansetron_twice(scanned=ONDANSETRON_NDCS).pk)
    MueLimit.objects.create(code="J2405", limit=9)
    [edit] = charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items
    assert edit.finding.message.startswith("J2405: 10 units on ")
