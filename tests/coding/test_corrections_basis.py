"""A coder's correction rests on the record as it was when she made (or last re-confirmed) it
(coding/corrections.py, the correction's basis).

The QA walkthrough: the coder corrects the hydration's 96361 from x1 to x2 ("query sent to
confirm") and asks the nurse about the hydration's stop time. The nurse's addendum moves the
stop; a later one moves the chemotherapy's. The engine still makes 96361 x1 each time, so the
generated line the correction targets is unchanged, and the x2 was carried forward silently
and exported. Now a correction comes back for re-review, saying what changed, when the record
under its line changed (the administrations it covers, or the engine's account of the line)
or when a query on the encounter was answered since she confirmed it; a correction whose basis
did not change is still carried silently.

Each x2 here is one the charted minutes bear (EDIT-INFUSION-TIME): the hydration is charted to
09:40 and the addenda move its stop later, past the chemotherapy's 09:15 start (100 minutes and
more: x2), while the engine, counting its minutes alone, still makes x1.
"""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from coding.corrections import correction_rereview, correction_resolve, corrections_waiting
from coding.exports import export_create, ledger_sum
from coding.models import ChargeCorrection, ChargeRun, ReviewItem
from coding.review import (
    charge_line_correct,
    effective_lines,
    queries_answer,
    query_send,
    review_accept,
)
from coding.services import charge_run_generate
from mar.models import Administration
from tests.coding.review_helpers import (
    HYDRATION_BEARING_TWO,
    addendum_for_test,
    in_review_with,
    reviewed,
)

pytestmark = pytest.mark.django_db


REASON = "query sent to confirm"


def claimed(coder):
    """The chemotherapy visit, its hydration charted to 09:40 (HYDRATION_BEARING_TWO), signed and
    coded (96361 x1); the coder holds the review."""
    encounter, run, item = reviewed(hydration_minutes=HYDRATION_BEARING_TWO)
    item = in_review_with(coder, item)
    return encounter, item.run, item


def hydration(encounter) -> Administration:
    return Administration.objects.get(encounter=encounter, drug__name="sodium chloride 0.9%")


def addendum(encounter, author, *, drug: str, stop_after: int | None = None, start_after=None):
    """The nurse's addendum: `drug`'s administration stops (starts) that many minutes after the
    visit's first start (08:00); returns the run it makes."""
    with transaction.atomic():
        note = addendum_for_test(encounter, author)
        adm = Administration.objects.get(encounter=encounter, drug__name=drug)
        morning = hydration(encounter).start
        changes = {}
        if stop_after is not None:
            changes["stop"] = morning + timedelta(minutes=stop_after)
        if start_after is not None:
            changes["start"] = morning + timedelta(minutes=start_after)
        Administration.objects.filter(pk=adm.pk).update(**changes)
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger=ChargeRun.Trigger.ADDENDUM)
    return ChargeRun.objects.get(pk=run.pk), note


def hydration_corrected_to_two_and_queried(coder):
    """96361 x1 corrected to x2, then a query about the hydration sent (the item waits)."""
    encounter, run, item = claimed(coder)
    line = run.lines.get(code="96361")
    assert line.units == 1
    charge_line_correct(
        item=item, user=coder, line=line, action="change", code="96361", units=2,
        modifiers=[], reason=REASON,
    )  # fmt: skip
    query_send(
        item=item, user=coder, finding=None, question="When did the hydration stop?",
        administration=f"A{hydration(encounter).pk}",
    )  # fmt: skip
    return encounter, run, item


def units_of(run: ChargeRun, code: str) -> list[int]:
    return [line.units for line in effective_lines(run) if line.code == code]


def test_a_correction_whose_covered_administration_changed_comes_back_though_the_line_is_same(
    coder_user,
) -> None:
    encounter, first, item = hydration_corrected_to_two_and_queried(coder_user)
    second, _ = addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    assert [line.units for line in second.lines.filter(code="96361")] == [1]  # still x1
    (waiting,) = corrections_waiting(second)
    assert waiting.line is not None and waiting.line.run_id == second.pk  # the new x1 line
    assert waiting.corrected["units"] == 2
    # It applies to nothing while waiting: the engine's x1 is what stands, and acceptance waits.
    assert units_of(second, "96361") == [1]
    said = " ".join(waiting.basis["changed"])
    assert "stop 09:40 → 09:50" in said, said
    assert "answered" in said  # the query the coder was waiting on
    item = in_review_with(coder_user, item)
    with pytest.raises(ValidationError, match="re-review"):
        review_accept(item=item, user=coder_user)
    advice = correction_rereview(waiting, effective_lines(second)).advice
    assert "still makes 96361 ×1" in advice and "×2" in advice, advice


def test_kept_after_the_change_it_is_sent_and_a_later_unrelated_addendum_carries_it_silently(
    coder_user,
) -> None:
    encounter, _, item = hydration_corrected_to_two_and_queried(coder_user)
    second, _ = addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    item = in_review_with(coder_user, item)
    (waiting,) = corrections_waiting(second)
    kept = correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep",
        reason="pump log: two bags",
    )  # fmt: skip
    assert kept.state == ChargeCorrection.State.KEPT and kept.basis["changed"] == []
    assert units_of(ChargeRun.objects.get(pk=second.pk), "96361") == [2]
    review_accept(item=item, user=coder_user)
    export_create(user=coder_user)
    assert [u for (code, _, _), u in ledger_sum(encounter.pk).items() if code == "96361"] == [2]
    # The chemotherapy's end, long after the hydration: the x2 rests on what it did.
    third, _ = addendum(encounter, coder_user, drug="paclitaxel", stop_after=220)
    (carried,) = third.corrections.all()
    assert carried.state == ChargeCorrection.State.CARRIED
    assert units_of(third, "96361") == [2]


def test_the_engines_account_of_the_line_changing_brings_it_back_too(coder_user) -> None:
    """The second addendum of the QA steps: the chemotherapy starts earlier, overlapping the
    hydration, so fewer minutes of hydration run alone (the line's own administrations are
    unchanged, the engine's account of it is not): still 96361 x1."""
    encounter, _, item = hydration_corrected_to_two_and_queried(coder_user)
    second, _ = addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=115)
    item = in_review_with(coder_user, item)
    (waiting,) = corrections_waiting(second)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="two bags"
    )
    review_accept(item=item, user=coder_user)
    third, _ = addendum(encounter, coder_user, drug="paclitaxel", start_after=70)
    assert [line.units for line in third.lines.filter(code="96361")] == [1]
    (back,) = corrections_waiting(third)
    said = " ".join(back.basis["changed"])
    assert "the engine's account" in said and "min" in said, said


def test_a_query_answered_in_words_brings_back_the_corrections_that_waited_on_it(
    coder_user,
) -> None:
    """The nurse says her addendum answers the coder's query; its change is to another
    administration than the corrected line's: the correction may have waited on the answer."""
    encounter, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, line=push, action="change", code="96375", units=1,
        modifiers=["59"], reason="second site?",
    )  # fmt: skip
    query = query_send(item=item, user=coder_user, finding=None, question="Which site?")
    second, note = addendum(encounter, coder_user, drug="paclitaxel", stop_after=220)
    query.refresh_from_db()
    if query.answered_at is None:  # not answered by the change: the nurse's word
        queries_answer(addendum=note, query_ids=[query.pk])
    # (A query about the record is answered by any change of it: the run made it so.)
    (waiting,) = corrections_waiting(second)
    assert "Which site?" in " ".join(waiting.basis["changed"])


def test_the_nurses_word_before_the_run_counts_as_an_answer_since_the_correction(
    coder_user,
) -> None:
    encounter, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, line=push, action="change", code="96375", units=1,
        modifiers=["59"], reason="second site?",
    )  # fmt: skip
    query = query_send(
        item=item, user=coder_user, finding=None, question="Which site?",
        administration=f"A{hydration(encounter).pk}",
    )  # fmt: skip
    with transaction.atomic():  # the addendum's form: her word, then the change, one commit
        note = addendum_for_test(encounter, coder_user)
        queries_answer(addendum=note, query_ids=[query.pk])
        adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=adm.pk).update(stop=adm.stop - timedelta(minutes=30))
    second, _ = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    (waiting,) = corrections_waiting(second)
    assert "Which site?" in " ".join(waiting.basis["changed"])


def test_a_correction_whose_basis_did_not_change_is_carried_silently(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96361"), action="change",
        code="96361", units=2, modifiers=[], reason=REASON,
    )  # fmt: skip
    review_accept(item=item, user=coder_user)
    # The chemotherapy's end: nothing of the hydration nor of its minutes alone.
    second, _ = addendum(encounter, coder_user, drug="paclitaxel", stop_after=220)
    (carried,) = second.corrections.all()
    assert carried.state == ChargeCorrection.State.CARRIED
    assert units_of(second, "96361") == [2]
    assert ReviewItem.objects.get(encounter=encounter).state == ReviewItem.State.NEW


def test_a_correction_waiting_through_two_addenda_says_everything_changed_since_made(
    coder_user,
) -> None:
    encounter, _, item = hydration_corrected_to_two_and_queried(coder_user)
    addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    third, _ = addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=115)
    (waiting,) = corrections_waiting(third)
    said = " ".join(waiting.basis["changed"])
    assert "stop 09:40 → 09:55" in said and "answered" in said, said


# --- the screens ----------------------------------------------------------------------------


def text_of(html: str, testid: str, end: str = "</form>") -> str:
    """The words of the element marked `testid`, up to `end`."""
    part = html[html.index(f'data-testid="{testid}"') :]
    part = part[: part.index(end)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


def test_the_review_page_puts_the_correction_before_the_coder_with_what_changed(
    client_as, coder_user
) -> None:
    encounter, _, item = hydration_corrected_to_two_and_queried(coder_user)
    addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    in_review_with(coder_user, item)
    page = client_as("coder").get(reverse("coding:encounter_charges", args=[encounter.pk]))
    assert page.status_code == 200
    panel = text_of(page.content.decode(), "rereview-item")
    assert "What changed since it was made" in panel, panel
    assert "stop 09:40 → 09:50" in panel and "When did the hydration stop?" in panel, panel
    assert "the engine still makes 96361 ×1: keep your 96361 ×2 or drop it" in panel, panel
    assert 'data-testid="resolve-form"' in page.content.decode()


def test_the_review_page_is_the_coders_only(client_as, coder_user) -> None:
    encounter, _, item = hydration_corrected_to_two_and_queried(coder_user)
    addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    assert client_as("nurse").get(url).status_code == 403


def test_the_reconciliation_report_says_why_it_came_back_and_the_decision(
    client_as, coder_user
) -> None:
    """QA: the report said "Carried forward" with an empty re-review column."""
    encounter, _, item = hydration_corrected_to_two_and_queried(coder_user)
    second, _ = addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    item = in_review_with(coder_user, item)
    (waiting,) = corrections_waiting(second)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep",
        reason="pump log: two bags",
    )  # fmt: skip
    day = timezone.localdate(encounter.arrived_at)
    page = client_as("coder").get(
        reverse("coding:report_reconciliation"),
        {"date_from": day.isoformat(), "date_to": day.isoformat()},
    )
    row = text_of(page.content.decode(), "correction-row", end="</tr>")
    assert "Kept after re-review" in row, row
    assert "back for re-review on run 2" in row and "stop 09:40 → 09:50" in row, row
    assert row.index("back for re-review") < row.index("pump log: two bags"), row


def test_the_billing_difference_says_a_correction_waits_before_it_counts(
    client_as, coder_user
) -> None:
    """QA: billed with the coder's 96361 x2, an addendum under it put the correction back for
    re-review; "the next export sends" then credited the x2 and sent the engine's x1 as if she
    had dropped it. The difference now says a correction waits and the engine's line stands
    until she keeps it."""
    encounter, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96361"), action="change",
        code="96361", units=2, modifiers=[], reason=REASON,
    )  # fmt: skip
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    export_create(user=coder_user)
    second, _ = addendum(encounter, coder_user, drug="sodium chloride 0.9%", stop_after=110)
    assert corrections_waiting(second)
    in_review_with(coder_user, item)
    html = (
        client_as("coder")
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    assert 'data-testid="billing-difference"' in html
    waits = text_of(html, "difference-waits")
    assert "1 correction waiting for re-review" in waits
    assert "the engine's line stands" in waits


def test_an_amount_changed_under_a_correction_reads_as_written() -> None:
    """QA: a billing unit changed under a correction read "{'unit': 'mg', 'value': 1} →
    {'unit': 'mg', 'value': 4}" on the re-review panel."""
    from coding.corrections import _entry_changes

    was = {"drug": "dexamethasone", "billing_unit": {"value": 1, "unit": "mg"}}
    now = {"drug": "dexamethasone", "billing_unit": {"value": 4.0, "unit": "mg"}}
    assert _entry_changes("A2", was, now, "") == ["A2 (dexamethasone): billing unit 1 mg → 4 mg"]
