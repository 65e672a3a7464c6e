"""NCCI PTP edits in the app (coding/ptp.py): CMS's file loaded all or nothing with line
numbers, applied to the lines as corrected; each edit blocks acceptance and export until
resolved (a distinct-procedure modifier on an indicator-1 pair) or overridden with a reason."""

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from coding.exports import export_create
from coding.models import PtpEdit, ReviewItem
from coding.ptp import PtpFileError, ptp_parse
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    review_accept,
    review_claim,
)
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "coding" / "data" / "ptp_sample.txt"
HEADER = (
    "Column 1\tColumn 2\t* = In existence prior to 1996\tEffective Date\t"
    "Deletion Date *=no data\tModifier 0=not allowed 1=allowed 9=not applicable\t"
    "PTP Edit Rationale\n"
)


def load(tmp_path, body: str) -> None:
    path = tmp_path / "ptp.txt"
    path.write_text("Notice line from CMS\n" + HEADER + body)
    call_command("load_ptp", str(path), stdout=io.StringIO())


def test_the_sample_loads_with_its_notice_lines_deletions_and_indicators() -> None:
    call_command("load_ptp", stdout=io.StringIO())
    assert PtpEdit.objects.count() == len(ptp_parse(SAMPLE.read_text()))
    deleted = PtpEdit.objects.get(column1="96367", column2="96361")
    assert deleted.deletion_date == date(2011, 1, 1)
    assert PtpEdit.objects.get(column1="96413", column2="96360").deletion_date is None
    assert PtpEdit.objects.get(column1="96413", column2="96523").modifier_indicator == "0"


def test_a_bad_file_is_refused_whole_with_every_bad_line_named(tmp_path) -> None:
    call_command("load_ptp", stdout=io.StringIO())
    before = PtpEdit.objects.count()
    bad = tmp_path / "ptp.txt"
    bad.write_text(
        "Notice\n"  # line 1
        + HEADER  # line 2
        + "96413\t96374\t\t20100101\t*\t1\tok\n"  # line 3: good
        + "96413\t96375\t\t2010-13-45\t*\t1\tbad date\n"  # line 4
        + "96413\t96376\t\t20100101\t*\t2\tbad indicator\n"  # line 5
        + "9641\t96377\t\t20100101\t*\t1\tbad code\n"  # line 6
        + "96413\t96374\t\t20100101\t*\t0\ttwice\n"  # line 7
        + "96413\t96361\t\t20120101\t20110101\t1\tdeleted before effective\n"  # line 8
    )
    with pytest.raises(CommandError) as refused:
        call_command("load_ptp", str(bad))
    text = str(refused.value)
    for line in (4, 5, 6, 7, 8):
        assert f"line {line}:" in text
    assert "line 3:" not in text and "on line 3" in text
    assert "nothing loaded" in text
    assert PtpEdit.objects.count() == before


def test_a_file_with_no_header_is_refused() -> None:
    with pytest.raises(PtpFileError, match="Column 1"):
        ptp_parse("96413,96374,20100101,*,1\n")


def test_a_csv_file_reads_like_the_tab_delimited_one() -> None:
    (row,) = ptp_parse(
        "Column 1,Column 2,Effective Date,Deletion Date,Modifier,Rationale\n"
        "96413,96375,20100101,*,1,Misuse\n"
    )
    assert (row.column1, row.column2, row.deletion_date, row.modifier_indicator) == (
        "96413", "96375", None, "1",
    )  # fmt: skip


def test_an_indicator_1_pair_blocks_until_the_coder_adds_a_distinct_modifier(
    tmp_path, coder_user
) -> None:
    encounter, run, item = reviewed()
    assert {"96413", "96375"} <= {line.code for line in run.lines.all()}
    load(tmp_path, "96413\t96375\t\t20100101\t*\t1\tMisuse of column two code\n")
    review_claim(user=coder_user, item_id=item.pk)
    (edit,) = charge_edits_for_run(run).blocking
    assert edit.finding.rule == "EDIT-PTP"
    assert edit.finding.message.startswith("96375 is bundled into 96413")
    with pytest.raises(ValidationError, match="EDIT-PTP"):
        review_accept(item=item, user=coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="change",
        code="96375", units=1, modifiers=["XU"], reason="antiemetic push at a separate session",
    )  # fmt: skip
    assert charge_edits_for_run(run).blocking == []
    review_accept(item=item, user=coder_user)
    assert export_create(user=coder_user).export is not None


def test_an_indicator_0_pair_is_not_resolved_by_a_modifier_only_by_an_override(
    tmp_path, coder_user
) -> None:
    encounter, run, item = reviewed()
    load(tmp_path, "96413\t96375\t\t20100101\t*\t0\tMutually exclusive\n")
    review_claim(user=coder_user, item_id=item.pk)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="change",
        code="96375", units=1, modifiers=["59"], reason="separate session",
    )  # fmt: skip
    (edit,) = charge_edits_for_run(run).blocking
    assert "modifier indicator 0" in edit.finding.message
    with pytest.raises(ValidationError):
        review_accept(item=item, user=coder_user)
    edit_override_create(
        item=item, user=coder_user, rule="EDIT-PTP", message=edit.finding.message,
        reason="payer's written exception on file",
    )  # fmt: skip
    review_accept(item=item, user=coder_user)
    outcome_blocked = export_create(user=coder_user)
    assert outcome_blocked.blocked == []
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED


def test_a_deleted_pair_or_one_not_yet_effective_does_not_apply(tmp_path) -> None:
    _, run, _ = reviewed()
    load(
        tmp_path,
        "96413\t96375\t\t20100101\t20110101\t0\tdeleted\n96413\t96361\t\t20990101\t*\t0\tnot yet\n",
    )
    assert [e.finding.rule for e in charge_edits_for_run(run).items] == []
