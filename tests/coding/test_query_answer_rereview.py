"""The nurse's answer in words brings back the corrections that waited on it
(coding/corrections.py `corrections_answer_rereview`, called by `queries_answer_in_words`
through the record's port from `addendum_store`).

QA: the coder corrected the hydration's 96361 from x1 to x2 and asked the nurse when the
hydration stopped; the nurse answered in words only ("stopped at 09:40 as charted"), the record
unchanged, so no new run was made and nothing put the x2 back before the coder: the item came
back as "Query answered" with the x2 applied as it was, and could be accepted and exported
without her deciding on it after the answer. Now the correction waits for her keep, adapt or
drop on the same run, as a new run would have brought it back, and the review page says why
("the nurse answered: ...").
"""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from coding.corrections import (
    correction_decision_undo,
    correction_resolve,
    corrections_answer_rereview,
    corrections_waiting,
)
from coding.exports import export_create, ledger_sum
from coding.models import ChargeCorrection, ChargeRun, CorrectionDecision, ReviewItem
from coding.reports import reconciliation
from coding.review import (
    charge_line_correct,
    effective_lines,
    query_send,
    query_withdraw,
    review_accept,
)
from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration
from mar.services.signature import addendum_store
from tests.coding.review_helpers import (
    HYDRATION_BEARING_TWO,
    addendum_for_test,
    in_review_with,
    reviewed,
)

pytestmark = pytest.mark.django_db


ANSWER = "stopped at 09:40 as charted, the pump log agrees"
QUESTION = "When did the hydration stop?"


def hydration_id(encounter) -> str:
    return (
        f"A{Administration.objects.get(encounter=encounter, drug__name='sodium chloride 0.9%').pk}"
    )


def corrected_and_queried(coder, *, also=None, hydration_minutes: int = HYDRATION_BEARING_TWO):
    """The chemotherapy visit, its hydration charted to 09:40 (100 minutes, bearing x2 under
    EDIT-INFUSION-TIME; the engine's x1 counts its minutes alone): 96361 x1 corrected to x2 (and
    `also(encounter, run, item)` done), then a query about the hydration (the item waits for the
    nurse). Returns (encounter, run, item, correction, query)."""
    encounter, run, item = reviewed(hydration_minutes=hydration_minutes)
    item = in_review_with(coder, item)
    correction = charge_line_correct(
        item=item, user=coder, line=run.lines.get(code="96361"), action="change",
        code="96361", units=2, modifiers=[], reason="query sent to confirm",
    )  # fmt: skip
    if also is not None:
        also(encounter, run, item)
    query = query_send(
        item=item, user=coder, finding=None, question=QUESTION,
        administration=hydration_id(encounter),
    )  # fmt: skip
    return encounter, run, item, correction, query


def answer_in_words(encounter, nurse, query, what: str = ANSWER):
    """The nurse's addendum answering `query` in words: nothing in the record changes."""
    return addendum_store(
        encounter=encounter, user=nurse, what=what, why="coding query", answers=[query.pk]
    )


def prefetched(run: ChargeRun) -> ChargeRun:
    return ChargeRun.objects.prefetch_related("lines", "corrections__by").get(pk=run.pk)


def units_of(run: ChargeRun, code: str) -> list[int]:
    return [line.units for line in effective_lines(prefetched(run)) if line.code == code]


def paclitaxel_stop_moved(encounter, author) -> ChargeRun:
    """A later addendum about the chemotherapy's end (nothing of the hydration): a new run."""
    with transaction.atomic():
        addendum_for_test(encounter, author)
        adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=220))
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created
    return ChargeRun.objects.get(pk=run.pk)


def test_an_answer_in_words_puts_the_waiting_correction_back_for_re_review_on_the_same_run(
    coder_user, nurse_user
) -> None:
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    assert units_of(run, "96361") == [2]
    addendum = answer_in_words(encounter, nurse_user, query)
    # No new run (the record is unchanged): the correction waits on the current one.
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
    correction.refresh_from_db()
    assert correction.state == ChargeCorrection.State.NEEDS_REVIEW
    assert corrections_waiting(prefetched(run)) == [correction]
    # It applies to nothing while it waits: the engine's x1 stands, as after a new run.
    assert units_of(run, "96361") == [1]
    (said,) = correction.basis["changed"]
    assert QUESTION in said and f"the nurse answered: “{ANSWER}”" in said, said
    assert correction.basis["at"] == correction.at.isoformat()  # what it rests on, as made
    # The return is kept as a step of its own: the nurse's, with her words.
    (step,) = correction.decisions.all()
    assert step.decision == CorrectionDecision.Decision.ANSWERED
    assert step.by == nurse_user and ANSWER in step.reason
    assert step.before["state"] == ChargeCorrection.State.APPLIED
    assert step.after["state"] == ChargeCorrection.State.NEEDS_REVIEW
    query.refresh_from_db()
    assert query.answered_by_addendum == addendum
    # The item is back in review with the coder who asked; acceptance waits for her decision.
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by, item.returned_reason) == (
        ReviewItem.State.IN_REVIEW, coder_user, "Query answered by addendum"
    )  # fmt: skip
    item = in_review_with(coder_user, item)
    with pytest.raises(ValidationError, match="re-review"):
        review_accept(item=item, user=coder_user)
    kept = correction_resolve(
        item=item, user=coder_user, correction=correction, decision="keep",
        reason="the nurse's answer confirms two hours",
    )  # fmt: skip
    assert kept.state == ChargeCorrection.State.KEPT and kept.basis["changed"] == []
    assert units_of(run, "96361") == [2]
    review_accept(item=item, user=coder_user)
    export_create(user=coder_user)
    assert [u for (code, _, _), u in ledger_sum(encounter.pk).items() if code == "96361"] == [2]


def test_answering_twice_or_calling_again_changes_nothing_more(coder_user, nurse_user) -> None:
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    addendum = answer_in_words(encounter, nurse_user, query)
    correction.refresh_from_db()
    basis = correction.basis
    # The same query ticked again on a second addendum: already answered, nothing happens.
    answer_in_words(encounter, nurse_user, query, what="as I said")
    query.refresh_from_db()
    assert corrections_answer_rereview(addendum=addendum, queries=[query]) == []
    correction.refresh_from_db()
    assert correction.basis == basis and correction.decisions.count() == 1
    assert query.answered_by_addendum == addendum


def test_a_later_run_carries_it_waiting_and_says_the_answer_once(coder_user, nurse_user) -> None:
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    answer_in_words(encounter, nurse_user, query)
    later = paclitaxel_stop_moved(encounter, nurse_user)
    (waiting,) = corrections_waiting(later)
    assert waiting.carried_from_id == correction.pk
    answered = [said for said in waiting.basis["changed"] if said.startswith("query answered")]
    assert len(answered) == 1 and ANSWER in answered[0], waiting.basis["changed"]
    assert not waiting.decisions.exists()  # it did not come back again: it waited
    # The report: one return for re-review, the nurse's answer.
    day = timezone.localdate(encounter.arrived_at)
    (history,) = reconciliation(date_from=day, date_to=day).histories
    backs = [step for step in history.steps if step.decision in ("back", "answered")]
    assert [step.decision for step in backs] == ["answered"], history.steps
    assert ANSWER in backs[0].reason and backs[0].by == nurse_user.get_username()


def test_kept_after_the_answer_a_later_run_carries_it_silently(coder_user, nurse_user) -> None:
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    answer_in_words(encounter, nurse_user, query)
    item = in_review_with(coder_user, item)
    correction_resolve(
        item=item, user=coder_user, correction=correction, decision="keep", reason="confirmed"
    )
    later = paclitaxel_stop_moved(encounter, nurse_user)
    (carried,) = later.corrections.all()
    assert carried.state == ChargeCorrection.State.CARRIED
    assert units_of(later, "96361") == [2]


def test_a_withdrawn_query_is_not_answered_and_brings_nothing_back(coder_user, nurse_user) -> None:
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    query_withdraw(query=query, user=coder_user, reason="settled by phone")
    correction.refresh_from_db()
    assert correction.state == ChargeCorrection.State.APPLIED  # withdrawing answers nothing
    answer_in_words(encounter, nurse_user, query)  # ticked anyway (a stale form)
    query.refresh_from_db()
    correction.refresh_from_db()
    assert query.answered_at is None and query.is_withdrawn
    assert correction.state == ChargeCorrection.State.APPLIED
    assert not correction.decisions.exists()
    assert units_of(run, "96361") == [2]
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.returned_reason) == (ReviewItem.State.IN_REVIEW, "Query withdrawn")


def test_accepted_charges_go_back_to_the_coders_with_the_correction_to_decide(
    coder_user, nurse_user
) -> None:
    """The query still open when the charges were accepted (a new run made by an addendum about
    something else put the item back; she accepted the x2 carried with it): the answer after
    acceptance, before export, brings the item back; the export sends nothing until then."""
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    later = paclitaxel_stop_moved(encounter, nurse_user)
    (carried,) = later.corrections.all()
    assert carried.state == ChargeCorrection.State.CARRIED  # the query is still open
    item = in_review_with(coder_user, item)
    review_accept(item=item, user=coder_user)
    answer_in_words(encounter, nurse_user, query)
    carried.refresh_from_db()
    assert carried.state == ChargeCorrection.State.NEEDS_REVIEW
    item = ReviewItem.objects.get(pk=item.pk)
    assert item.state == ReviewItem.State.NEW and item.accepted_by == coder_user  # who, kept
    with pytest.raises(ValidationError, match="Nothing to export"):
        export_create(user=coder_user)
    assert ledger_sum(encounter.pk) == {}


def test_the_latest_correction_of_a_line_waits_and_the_engines_line_stands_meanwhile(
    coder_user, nurse_user
) -> None:
    """Two corrections of one line on the run: the latest comes back; the earlier one does not
    apply in its place while it waits. (The hydration charted to 10:40, 160 minutes, bears the
    x3 under EDIT-INFUSION-TIME; the engine still makes x1 of its minutes alone.)"""

    def three(encounter, run, item) -> None:
        charge_line_correct(
            item=item, user=coder_user, line=run.lines.get(code="96361"), action="change",
            code="96361", units=3, modifiers=[], reason="three bags",
        )  # fmt: skip

    encounter, run, item, first, query = corrected_and_queried(
        coder_user, also=three, hydration_minutes=160
    )
    assert units_of(run, "96361") == [3]
    answer_in_words(encounter, nurse_user, query, what="stopped at 10:40 as charted: three bags")
    first.refresh_from_db()
    second = run.corrections.get(corrected__units=3)
    assert second.state == ChargeCorrection.State.NEEDS_REVIEW
    assert first.state == ChargeCorrection.State.APPLIED and not first.decisions.exists()
    assert units_of(run, "96361") == [1]
    item = in_review_with(coder_user, item)
    correction_resolve(
        item=item, user=coder_user, correction=second, decision="keep", reason="three bags"
    )
    assert units_of(run, "96361") == [3]


def test_an_added_line_comes_back_as_she_last_changed_it(coder_user, nurse_user) -> None:
    def add_and_change(encounter, run, item) -> None:
        added = charge_line_correct(
            item=item, user=coder_user, action="add", code="96372", units=1, modifiers=[],
            administrations=[hydration_id(encounter)], reason="second hour of the pump log",
        )  # fmt: skip
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96372", units=2,
            modifiers=[], reason="two injections",
        )  # fmt: skip

    encounter, run, item, _, query = corrected_and_queried(coder_user, also=add_and_change)
    assert units_of(run, "96372") == [2]
    answer_in_words(encounter, nurse_user, query)
    added = run.corrections.get(action="add")
    item = in_review_with(coder_user, item)
    assert added.state == ChargeCorrection.State.NEEDS_REVIEW
    assert added.corrected["units"] == 2  # as she last changed it
    assert units_of(run, "96372") == []  # waiting: not sent
    # Adapted, her decision is what is sent (the change before it is in it).
    correction_resolve(
        item=item, user=coder_user, correction=added, decision="adapt", units=3,
        reason="three on the MAR",
    )  # fmt: skip
    assert units_of(run, "96372") == [3]
    # Undone, it waits again as she had last changed it.
    correction_decision_undo(item=item, user=coder_user, correction=added, reason="recheck")
    added.refresh_from_db()
    assert added.state == ChargeCorrection.State.NEEDS_REVIEW and added.corrected["units"] == 2
    # A change made after her decision applies again, as before.
    correction_resolve(
        item=item, user=coder_user, correction=added, decision="keep", reason="two it is"
    )
    assert units_of(run, "96372") == [2]
    charge_line_correct(
        item=item, user=coder_user, added=added, action="change", code="96372", units=1,
        modifiers=[], reason="one after all",
    )  # fmt: skip
    assert units_of(run, "96372") == [1]


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_return_for_re_review_is_in_the_audit_trail(coder_user, nurse_user) -> None:
    from mar.audit.models import EVENTS

    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    addendum = answer_in_words(encounter, nurse_user, query)
    event = (
        EVENTS[ChargeCorrection].objects.filter(pgh_obj_id=correction.pk, pgh_label="update").get()
    )
    assert event.state == ChargeCorrection.State.NEEDS_REVIEW
    metadata = event.pgh_context.metadata
    assert metadata["action"] == "correction_answer_rereview"
    assert metadata["addendum"] == addendum.pk and metadata["queries"] == [query.pk]
    (step,) = correction.decisions.all()
    (inserted,) = EVENTS[CorrectionDecision].objects.filter(pgh_obj_id=step.pk)
    assert inserted.decision == "answered" and inserted.by_id == nurse_user.pk


# --- the screens ----------------------------------------------------------------------------


def text_of(html: str, testid: str, end: str = "</form>") -> str:
    part = html[html.index(f'data-testid="{testid}"') :]
    part = part[: part.index(end)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


def test_the_coder_sees_the_correction_needs_her_decision_because_the_nurse_answered(
    client_as, coder_user, nurse_user
) -> None:
    """The nurse answers on her chart's addendum form, ticking the query; the coder's review
    page then puts the correction before her, saying what the nurse answered."""
    encounter, run, item, correction, query = corrected_and_queried(coder_user)
    nurse = client_as(roles.NURSE)
    response = nurse.post(
        reverse("mar:addendum_add", args=[encounter.pk]),
        {"addendum-what": ANSWER, "addendum-why": "coding query", "addendum-answers": [query.pk]},
    )
    assert response.status_code in (200, 302)
    query.refresh_from_db()
    assert query.answered_at is not None
    coder = client_as(roles.CODER)
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    coder.post(reverse("coding:claim", args=[encounter.pk]))
    html = coder.get(url).content.decode()
    panel = text_of(html, "rereview-item")
    assert "What changed since it was made" in panel, panel
    assert QUESTION in panel and f"the nurse answered: “{ANSWER}”" in panel, panel
    assert (
        "The nurse answered a query since it was made; the engine still makes 96361 ×1: "
        "keep your 96361 ×2 or drop it"
    ) in panel, panel
    assert "the record under this line changed" not in panel
    # She decides there: the form is offered for this correction.
    resolve = reverse("coding:correction_resolve", args=[encounter.pk, correction.pk])
    assert f'action="{resolve}"' in html
    # The reconciliation report lists the return, with the nurse's words.
    day = timezone.localdate(encounter.arrived_at)
    report = coder.get(
        reverse("coding:report_reconciliation"),
        {"date_from": day.isoformat(), "date_to": day.isoformat()},
    ).content.decode()
    row = text_of(report, "correction-row", end="</tr>")
    assert "back for re-review (query answered) on run 1" in row and ANSWER in row, row
    # The nurse does not see the coder's page.
    assert nurse.get(url).status_code == 403
