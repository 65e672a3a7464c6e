"""Issue 18 items 1-3: hostile text in an export. Every HL7 field escaped, control characters
refused (never cut, never a new segment), one encounter that cannot be sent named as refused
with why while the rest go; every CSV cell quoted and formula cells neutralised, read back with
Python's csv."""

import csv
import io
import json

import pytest
from django.urls import reverse
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from coding.exports import export_create, hl7_escape, hl7_unescape
from coding.models import LedgerEntry, ReviewItem
from coding.review import charge_line_correct, review_accept, review_claim
from mar.csv_safe import cell_restore, cell_safe, csv_rows_write
from mar.models import Encounter
from mar.pharmacy.services import formulary_export
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


def accepted(coder, **fields):
    encounter, run, item = reviewed(**fields)
    item = review_claim(user=coder, item_id=item.pk)
    return encounter, run, item


def accept(coder, item):
    review_accept(item=item, user=coder)


def messages_of(export):
    return [
        parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        for text in export.hl7_text.split("\n")
        if text
    ]


def test_delimiters_and_escape_sequences_in_text_are_escaped_and_read_back() -> None:
    for text in ["Mary&Ann Doe", "Hem & Onc", "a|b^c~d\\e", "\\F\\ already", "\\X0D\\ hex"]:
        escaped = hl7_escape(text, label="x")
        assert not set("|^&~") & set(escaped)
        assert hl7_unescape(escaped) == text


@pytest.mark.parametrize("bad", ["U\rOBX|1", "line\nbreak", "\x0bname", "para\u2028graph"])
def test_control_characters_are_refused_not_passed_or_cut(bad: str) -> None:
    from coding.exports import ExportRefused

    with pytest.raises(ExportRefused, match="control character"):
        hl7_escape(bad, label="unit")


def test_a_poisoned_record_is_refused_by_name_and_the_rest_are_exported(coder_user) -> None:
    amp, _, amp_item = accepted(
        coder_user,
        patient=factories.patient_create(name="Doe, Mary&Ann", mrn="=HYPERLINK(1)"),
        unit="Hem & Onc",
    )
    accept(coder_user, amp_item)
    poisoned, _, bad_item = accepted(coder_user, unit="U\rOBX|1|evil")
    accept(coder_user, bad_item)
    huge, huge_run, huge_item = accepted(coder_user)
    typo = charge_line_correct(
        item=huge_item, user=coder_user, line=huge_run.lines.get(code="96375"),
        action="change", code="96375", units=2, modifiers=[], reason="typo",
    )  # fmt: skip
    # The correction now refuses such units beside the field (test_review_services); a line
    # stored before it did is still refused by the export.
    typo.corrected = {**typo.corrected, "units": 10**16}
    typo.save(update_fields=["corrected"])
    accept(coder_user, huge_item)

    outcome = export_create(user=coder_user)
    assert outcome.export is not None
    refused = " | ".join(outcome.refused)
    assert f"encounter {poisoned.pk}" in refused and "control character" in refused
    assert f"encounter {huge.pk}" in refused and "units" in refused
    assert f"encounter {amp.pk}" not in refused
    # The refused stay accepted (nothing recorded as sent); the good one went.
    for encounter, state in [
        (poisoned, ReviewItem.State.ACCEPTED),
        (huge, ReviewItem.State.ACCEPTED),
        (amp, ReviewItem.State.EXPORTED),
    ]:
        assert ReviewItem.objects.get(encounter=encounter).state == state
    assert not LedgerEntry.objects.filter(encounter__in=[poisoned, huge]).exists()

    [msg] = messages_of(outcome.export)
    assert msg.validate()
    assert hl7_unescape(msg.pid.pid_5.xpn_1.fn_1.to_er7()) == "Doe"
    assert hl7_unescape(msg.pid.pid_5.xpn_2.to_er7()) == "Mary&Ann"
    assert hl7_unescape(msg.pv1.pv1_3.pl_1.to_er7()) == "Hem & Onc"
    assert hl7_unescape(msg.pid.pid_3.cx_1.to_er7()) == "=HYPERLINK(1)"
    assert [seg.name for seg in msg.children][:4] == ["MSH", "EVN", "PID", "PV1"]


def test_hl7_times_carry_the_encounters_zone_offset(coder_user) -> None:
    _, _, item = accepted(coder_user)
    accept(coder_user, item)
    export = export_create(user=coder_user).export
    [msg] = messages_of(export)
    for ts in [msg.msh.msh_7.ts_1.value, msg.evn.evn_2.ts_1.value]:
        assert ts[-5] in "+-" and ts[-4:] in ("0500", "0400")  # America/New_York
    ft1 = msg.dft_p03_financial[0].ft1
    assert ft1.ft1_5.ts_1.value[-5:] in ("-0500", "-0400")


def test_export_csv_neutralises_formula_cells_and_keeps_bare_cr_in_its_cell(
    coder_user,
) -> None:
    encounter, run, item = accepted(
        coder_user, patient=factories.patient_create(name="+cmd|' /C calc'!A0", mrn="@SUM(1)")
    )
    Encounter.objects.filter(pk=encounter.pk)  # the unit stays plain: HL7 takes it
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="change",
        code="96375", units=1, modifiers=["59"], reason="-2+3\rsecond site",
    )  # fmt: skip
    accept(coder_user, item)
    export = export_create(user=coder_user).export
    rows = list(csv.DictReader(io.StringIO(export.csv_text, newline="")))
    assert rows and all(row["mrn"] == "'@SUM(1)" for row in rows)
    assert all(row["patient"].startswith("'+") for row in rows)
    corrected = [row for row in rows if row["corrected"] == "yes"]
    assert corrected[0]["correction_reason"] == "'-2+3\rsecond site"
    assert cell_restore(corrected[0]["correction_reason"]) == "-2+3\rsecond site"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    assert json.loads(export.fhir_json)["entry"]


def test_the_formulary_export_neutralises_a_drug_name_and_reads_back(
    pharmacist_user,
) -> None:
    factories.drug_get("=HYPERLINK(evil)")
    text = formulary_export()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    names = [row["name"] for row in rows]
    assert "'=HYPERLINK(evil)" in names
    from mar.pharmacy.formulary import formulary_rows_read

    read, errors = formulary_rows_read(text)
    assert not errors
    assert "=HYPERLINK(evil)" in [row.name for row in read]


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@x", "\tx", "'=x", "plain", ""])
def test_cell_safe_round_trips_through_cell_restore(text: str) -> None:
    safe = cell_safe(text)
    assert not str(safe).startswith(("=", "+", "-", "@", "\t"))
    assert cell_restore(safe) == text
    out = csv_rows_write(["a"], [[text]])
    assert list(csv.reader(io.StringIO(out, newline="")))[1] == [safe]


def test_the_export_page_names_a_refused_encounter(coder_user, client_as) -> None:
    _, _, item = accepted(coder_user, unit="Bad\nUnit")
    accept(coder_user, item)
    _, _, good = accepted(coder_user)
    accept(coder_user, good)
    client = client_as("coder")
    page = client.post(reverse("coding:export_new"), follow=True).content.decode()
    assert "Refused, not exported" in page and "control character" in page
    assert "Export " in page


def test_an_encounter_the_export_refused_is_taken_back_corrected_and_exported(
    coder_user, client_as
) -> None:
    """Refused at export, it stays accepted: the exports page links it and says what to do,
    its review page offers "Take back into review", and once corrected it goes."""
    encounter, run, item = accepted(coder_user)
    typo = charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"),
        action="change", code="96375", units=2, modifiers=[], reason="typo",
    )  # fmt: skip
    typo.corrected = {**typo.corrected, "units": 10**16}  # stored before the form refused it
    typo.save(update_fields=["corrected"])
    accept(coder_user, item)
    client = client_as("coder")

    page = client.post(reverse("coding:export_new"), follow=True).content.decode()
    assert "more than 9999 on one line" in page and "take it back into review" in page
    review_url = reverse("coding:encounter_charges", args=[encounter.pk])
    assert f'href="{review_url}"' in page

    review = client.get(review_url).content.decode()
    assert 'data-testid="reopen"' in review
    response = client.post(reverse("coding:reopen", args=[encounter.pk]))
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.state == ReviewItem.State.IN_REVIEW
    assert item.claimed_by == coder_user  # hers again, in review (who accepted kept)

    line = run.lines.get(code="96375")
    fixed = client.post(
        reverse("coding:line_correct", args=[encounter.pk, line.pk]),
        {f"l{line.pk}-action": "change", f"l{line.pk}-code": "96375", f"l{line.pk}-units": "2",
         f"l{line.pk}-modifiers": "", f"l{line.pk}-reason": "two pushes, not 10**16"},
    )  # fmt: skip
    assert fixed.status_code == 302
    assert client.post(reverse("coding:accept", args=[encounter.pk])).status_code == 302
    outcome = export_create(user=coder_user)
    assert not outcome.refused
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED
    assert LedgerEntry.objects.filter(encounter=encounter, code="96375", units=2).exists()
