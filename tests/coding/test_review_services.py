"""Review services: the item follows the current run; corrections keep the original; queries."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from coding.models import ChargeCorrection, ChargeRun, DocumentationQuery, ReviewItem
from coding.modifiers import MODIFIERS
from coding.review import (
    charge_line_correct,
    effective_lines,
    query_send,
    review_accept,
    review_claim,
    review_release,
    review_reopen,
)
from coding.services import charge_run_generate
from mar.models import Addendum, Administration
from mar.services.signature import addendum_store
from tests import factories
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db


def test_a_new_current_run_puts_the_encounter_on_the_worklist_as_new() -> None:
    encounter, run, item = reviewed()
    assert item.run == run
    assert item.state == ReviewItem.State.NEW
    assert item.claimed_by is None


def test_claiming_puts_the_item_in_review_by_the_coder(coder_user) -> None:
    _, _, item = reviewed()
    claimed = review_claim(user=coder_user, item_id=item.pk)
    assert claimed is not None
    assert claimed.state == ReviewItem.State.IN_REVIEW
    assert claimed.claimed_by == coder_user


def test_an_item_claimed_by_one_coder_cannot_be_claimed_by_another(coder_user) -> None:
    other = factories.user_create(username="coder2", role="coder")
    _, _, item = reviewed()
    assert review_claim(user=coder_user, item_id=item.pk) is not None
    assert review_claim(user=other, item_id=item.pk) is None
    assert review_claim(user=other) is None


def test_claim_next_takes_the_oldest_new_item(coder_user) -> None:
    _, _, first = reviewed()
    reviewed()
    assert review_claim(user=coder_user).pk == first.pk


def test_releasing_returns_the_item_to_new(coder_user) -> None:
    _, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    released = review_release(item=item, user=coder_user)
    assert released.state == ReviewItem.State.NEW and released.claimed_by is None


def test_changing_a_line_keeps_the_engine_original_beside_it(coder_user) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.get(code="96415")
    correction = charge_line_correct(
        item=item, user=coder_user, line=line, action="change", code="96415", units=1,
        modifiers=[], reason="second hour ran 25 min per the pump log",
    )  # fmt: skip
    assert correction.original["units"] == 2
    assert correction.corrected["units"] == 1
    line.refresh_from_db()
    assert line.units == 2  # the engine's line itself is never overwritten
    effective = {lne.code: lne for lne in effective_lines(ChargeRun.objects.get(pk=run.pk))}
    assert effective["96415"].units == 1
    assert effective["96415"].original == correction.original


def test_a_correction_without_a_reason_is_refused(coder_user) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    with pytest.raises(ValidationError):
        charge_line_correct(
            item=item, user=coder_user, line=run.lines.first(), action="remove", reason="  "
        )
    assert not ChargeCorrection.objects.exists()


KNOWN = ", ".join(sorted(MODIFIERS))


def test_a_bad_code_or_modifier_is_refused(coder_user) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.first()
    with pytest.raises(ValidationError):
        charge_line_correct(
            item=item, user=coder_user, line=line, action="change", code="96-13", units=1,
            reason="x",
        )  # fmt: skip
    with pytest.raises(ValidationError):
        charge_line_correct(
            item=item, user=coder_user, line=line, action="change", code="96413", units=1,
            modifiers=["TOOLONG"], reason="x",
        )  # fmt: skip


@pytest.mark.parametrize("code", ["1234Z", "J904Z", "A123B", "9636", "963655", "96-13"])
def test_a_code_of_no_cpt_or_hcpcs_shape_is_refused_beside_the_code(coder_user, code) -> None:
    """CPT: five digits, or four and F/T/A/M/U; HCPCS Level II: a letter and four digits."""
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
            code=code, units=1, reason="x",
        )  # fmt: skip
    assert list(refused.value.message_dict) == ["code"]
    assert "is not a CPT/HCPCS code" in refused.value.message_dict["code"][0]
    assert not ChargeCorrection.objects.exists()


@pytest.mark.parametrize("code", ["96365", "0591T", "3008F", "0001A", "J9045", "G0498"])
def test_cpt_and_hcpcs_codes_of_every_shape_are_taken(coder_user, code) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
        code=code.lower(), units=1, reason="x",
    )  # fmt: skip
    assert ChargeCorrection.objects.get().corrected["code"] == code


def test_units_the_export_would_refuse_are_refused_at_the_correction(coder_user) -> None:
    """More than 9999 units on a line is a typing error: said beside the units when typed,
    not first by the export (which refuses the encounter)."""
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
            code="96415", units=99999999999, reason="x",
        )  # fmt: skip
    assert refused.value.message_dict == {
        "units": [
            "99999999999 units on one line is more than 9999, the most a line takes: check "
            "the units typed."
        ]
    }
    with pytest.raises(ValidationError, match="more than 9999"):
        charge_line_correct(
            item=item, user=coder_user, action="add", code="96372", units=10000, reason="x"
        )
    assert not ChargeCorrection.objects.exists()


@pytest.mark.parametrize(
    ("modifiers", "message"),
    [
        (["59", "59"], "59 given twice: once is enough."),
        (["59", "jw", "JW"], "JW given twice: once is enough."),
        (["59", "XU", "JW", "JZ", "25"], "5 modifiers: a claim line carries at most 4."),
        (
            ["5"],
            "5 is not a modifier: a modifier is two letters or digits, several separated "
            "by spaces (59 JW).",
        ),
        (["59", "zz"], "ZZ is not a modifier of these lines: the ones taken are " + KNOWN + "."),
        (
            ["jw", "JZ"],
            "JW and JZ on one line: JW is a line of its own for the amount discarded, JZ says "
            "nothing was discarded; keep one.",
        ),
    ],
)
def test_a_modifier_twice_or_more_than_a_claim_line_carries_is_refused(
    coder_user, modifiers, message
) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
            code="96415", units=1, modifiers=modifiers, reason="x",
        )  # fmt: skip
    assert refused.value.message_dict == {"modifiers": [message]}
    assert not ChargeCorrection.objects.exists()


def test_a_correction_that_changes_nothing_is_refused(coder_user) -> None:
    """Recording it would put a "correction" on the claim and in the reconciliation report."""
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.get(code="96415")
    same = {"code": line.code.lower(), "units": line.units, "modifiers": list(line.modifiers)}
    with pytest.raises(ValidationError, match="Nothing changed"):
        charge_line_correct(
            item=item, user=coder_user, line=line, action="change", reason="x", **same
        )
    assert not ChargeCorrection.objects.exists()


def test_a_removed_line_is_not_removed_twice_but_may_be_restored(coder_user) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.get(code="96375")
    charge_line_correct(item=item, user=coder_user, line=line, action="remove", reason="x")
    with pytest.raises(ValidationError, match="already removed"):
        charge_line_correct(item=item, user=coder_user, line=line, action="remove", reason="y")
    charge_line_correct(
        item=item, user=coder_user, line=line, action="change", code=line.code,
        units=line.units, modifiers=list(line.modifiers), reason="the push was ours after all",
    )  # fmt: skip
    effective = effective_lines(ChargeRun.objects.get(pk=run.pk), include_removed=True)
    restored = next(lne for lne in effective if lne.line_id == line.pk)
    assert not restored.removed and restored.units == line.units


def test_removing_and_adding_lines(coder_user) -> None:
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="remove",
        reason="push documented in the wrong encounter",
    )  # fmt: skip
    charge_line_correct(
        item=item, user=coder_user, action="add", code="96372", units=1, modifiers=[],
        administrations=["A1"], reason="SQ injection charted on paper",
    )  # fmt: skip
    codes = [lne.code for lne in effective_lines(ChargeRun.objects.get(pk=run.pk))]
    assert "96375" not in codes
    assert codes[-1] == "96372"
    removed = [
        lne for lne in effective_lines(ChargeRun.objects.get(pk=run.pk), include_removed=True)
        if lne.removed
    ]  # fmt: skip
    assert [lne.code for lne in removed] == ["96375"]


def test_only_the_coder_holding_the_item_may_correct_or_accept(coder_user) -> None:
    other = factories.user_create(username="coder2", role="coder")
    _, run, item = reviewed()
    with pytest.raises(ValidationError):  # not claimed at all
        review_accept(item=item, user=coder_user)
    review_claim(user=coder_user, item_id=item.pk)
    with pytest.raises(ValidationError):
        review_accept(item=item, user=other)
    with pytest.raises(ValidationError):
        charge_line_correct(
            item=item, user=other, line=run.lines.first(), action="remove", reason="x"
        )


def test_accepting_records_who_and_when(coder_user) -> None:
    _, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    accepted = review_accept(item=item, user=coder_user)
    assert accepted.state == ReviewItem.State.ACCEPTED
    assert accepted.accepted_by == coder_user and accepted.accepted_at is not None


def test_a_query_waits_for_the_nurse_and_the_addendum_she_says_answers_it_returns_it(
    coder_user, nurse_user
) -> None:
    encounter, run, item = reviewed(nurse=nurse_user)
    review_claim(user=coder_user, item_id=item.pk)
    finding = run.findings.get(rule="RAC-5")
    query = query_send(item=item, user=coder_user, finding=finding, question="Flush charted?")
    item.refresh_from_db()
    assert item.state == ReviewItem.State.QUERIED
    assert query.rule == "RAC-5" and query.administrations == finding.administrations
    assert query.is_open

    # An addendum the nurse does not say answers it, changing nothing it asks about: still open.
    Addendum.objects.create(encounter=encounter, what="note", why="late entry", author=nurse_user)
    query.refresh_from_db()
    assert query.is_open and ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.QUERIED

    addendum = addendum_store(
        encounter=encounter, user=nurse_user, what="flush at 09:10", why="late entry",
        answers=[query.pk],
    )  # fmt: skip
    query.refresh_from_db()
    item.refresh_from_db()
    assert query.answered_by_addendum == addendum and query.answered_at is not None
    # Back in review with the coder who asked (tests/coding/test_query_answered_back.py).
    assert item.state == ReviewItem.State.IN_REVIEW and item.claimed_by == coder_user


def test_a_query_about_another_runs_finding_is_refused(coder_user) -> None:
    _, other_run, _ = reviewed()
    _, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    with pytest.raises(ValidationError):
        query_send(item=item, user=coder_user, finding=other_run.findings.first(), question="?")
    assert not DocumentationQuery.objects.exists()


def test_a_query_without_a_finding_asks_about_the_record_with_no_rule(coder_user) -> None:
    """A gap the engine did not flag: the query carries no rule, so no unrelated finding's tag."""
    _, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    query = query_send(
        item=item, user=coder_user, finding=None, question="Was the 15-minute run a push?"
    )
    assert (query.rule, query.administrations) == ("", [])
    item.refresh_from_db()
    assert item.state == ReviewItem.State.QUERIED


def test_a_query_without_a_finding_may_name_one_administration_of_the_record(coder_user) -> None:
    encounter, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    adm = encounter.administrations.order_by("pk").first()
    query = query_send(
        item=item, user=coder_user, finding=None, question="A push?", administration=f"A{adm.pk}"
    )
    assert (query.rule, query.administrations) == ("", [f"A{adm.pk}"])


def test_a_query_naming_another_records_administration_is_refused(coder_user) -> None:
    other, _, _ = reviewed()
    _, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    foreign = f"A{other.administrations.first().pk}"
    for bad in (foreign, "A", "S1", "A12x"):
        with pytest.raises(ValidationError) as refused:
            query_send(item=item, user=coder_user, finding=None, question="?", administration=bad)
        assert "administration" in refused.value.message_dict
    assert not DocumentationQuery.objects.exists()


def test_regenerated_charges_return_an_accepted_item_to_new(coder_user) -> None:
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=item, user=coder_user)
    addendum_for_test(encounter, coder_user)
    adm = Administration.objects.filter(encounter=encounter, drug__name="paclitaxel").get()
    adm.dose_value = Decimal(280)
    adm.stop = adm.stop.replace(minute=adm.stop.minute + 5)
    adm.save()
    new_run, created = charge_run_generate(encounter_id=encounter.pk, trigger="class_change")
    assert created
    item.refresh_from_db()
    assert item.run == new_run
    assert item.state == ReviewItem.State.NEW
    # Who accepted the charges a new run replaced, and when, stay with the run she accepted:
    # the review page's box names her ("Changed since run 1 was reviewed by ...").
    assert (item.accepted_run, item.accepted_by) == (run, coder_user)
    assert item.accepted_at is not None


def test_accepted_charges_not_yet_exported_can_be_taken_back_into_review(coder_user) -> None:
    """An export that refuses an accepted encounter (or open edits that hold it) leaves it
    accepted: a coder takes it back, corrects it, and accepts again."""
    other = factories.user_create(username="coder2", role="coder")
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=item, user=coder_user)

    reopened = review_reopen(item=item, user=other)

    assert reopened.state == ReviewItem.State.IN_REVIEW
    assert reopened.claimed_by == other
    # her acceptance is asked again; who accepted before, and when, stay until then
    assert (reopened.accepted_by, reopened.accepted_run) == (coder_user, run)
    charge_line_correct(
        item=item, user=other, line=run.lines.get(code="96375"), action="remove", reason="x"
    )
    assert review_accept(item=item, user=other).accepted_by == other


@pytest.mark.parametrize("state", ["new", "in_review", "queried"])
def test_only_accepted_or_exported_charges_are_taken_back_into_review(coder_user, state) -> None:
    _, _, item = reviewed()
    ReviewItem.objects.filter(pk=item.pk).update(state=state)
    with pytest.raises(ValidationError, match="Only accepted or exported charges"):
        review_reopen(item=item, user=coder_user)
    assert ReviewItem.objects.get(pk=item.pk).state == state
