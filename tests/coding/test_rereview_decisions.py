"""Re-review of a coder's correction after the record changed (coding/corrections.py): the panel
sees when the new run already gives what the correction gave, and a decision never bills a
line twice.

The QA walkthrough's case: the coder corrects the ondansetron push 96374 to 96365 (she read its
20 charted minutes as an infusion) and queries the nurse; the nurse's addendum charts it as a
20-minute infusion, so the new run makes 96365 itself. Keeping the correction added a second
96365 beside it."""

import importlib
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from coding.corrections import (
    correction_decision_undo,
    correction_rereview,
    correction_resolve,
    corrections_waiting,
)
from coding.exports import export_create
from coding.models import ChargeCorrection, ChargeRun, CorrectionDecision, ReviewItem
from coding.reports import reconciliation
from coding.review import (
    charge_line_correct,
    effective_lines,
    review_accept,
    review_claim,
    review_reopen,
)
from coding.services import charge_run_generate
from mar.models import Administration
from tests.coding.review_helpers import (
    addendum_for_test,
    held_after_rerun,
    hydration_and_ondansetron,
    ondansetron_infused,
    reviewed,
)

pytestmark = pytest.mark.django_db


REASON = "pump log: infused over 20 minutes"


def claimed(coder):
    """The visit with the ondansetron charted as a push over 20 minutes (09:05-09:25): the
    engine codes the method charted (96374), and its 20 charted minutes bear the coder's reading
    it as an infusion (96365: more than 15 minutes, EDIT-INFUSION-TIME)."""
    encounter = hydration_and_ondansetron(push_minutes=20)
    charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    item = review_claim(user=coder, item_id=item.pk)
    return encounter, item.run, item


def sent_keys(run: ChargeRun) -> list[tuple[str, str, tuple[str, ...]]]:
    """The lines the run sends, as the claim keys them: code, date and modifiers."""
    return sorted(
        (line.code, line.date.isoformat(), tuple(line.modifiers))
        for line in effective_lines(ChargeRun.objects.get(pk=run.pk))
    )


def push_corrected_to_infusion(coder):
    """The QA case up to the re-review: 96374 corrected to 96365, then the nurse's addendum
    makes the new run's own 96365. Returns (encounter, new run, item claimed, waiting)."""
    encounter, run, item = claimed(coder)
    push = run.lines.get(code="96374")
    charge_line_correct(
        item=item, user=coder, line=push, action="change", code="96365", units=1,
        modifiers=[], reason=REASON,
    )  # fmt: skip
    new_run = ondansetron_infused(encounter, coder)
    assert sorted(line.code for line in new_run.lines.all()) == ["96361", "96365"]
    item = held_after_rerun(item, coder)
    (waiting,) = corrections_waiting(new_run)
    return encounter, new_run, item, waiting


def test_the_re_review_sees_that_the_new_run_makes_the_corrected_line_itself(coder_user) -> None:
    _, new_run, _, waiting = push_corrected_to_infusion(coder_user)
    assert waiting.line is None  # no 96374 left to correct
    rereview = correction_rereview(waiting, effective_lines(new_run))
    assert rereview.made is not None
    assert (rereview.made.code, rereview.made.units, rereview.made.administrations) == (
        "96365",
        1,
        tuple(waiting.corrected["administrations"]),
    )
    assert rereview.recommend == "drop"
    assert "the new run now makes this line itself: nothing to keep" in rereview.advice


def test_keeping_a_correction_the_new_run_already_gives_is_refused_not_billed_twice(
    coder_user,
) -> None:
    _, new_run, item, waiting = push_corrected_to_infusion(coder_user)
    with pytest.raises(ValidationError, match="billed twice") as refused:
        correction_resolve(
            item=item, user=coder_user, correction=waiting, decision="keep", reason="as it was"
        )
    assert "96365" in str(refused.value) and "Drop it" in str(refused.value)
    waiting.refresh_from_db()
    assert waiting.state == ChargeCorrection.State.NEEDS_REVIEW
    assert sent_keys(new_run).count(("96365", "2026-03-02", ())) == 1
    # Dropping it is the way out: one 96365, the engine's, and the charges can be accepted.
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="drop",
        reason="the infusion is charted now: the run codes it",
    )  # fmt: skip
    assert sent_keys(new_run) == [("96361", "2026-03-02", ()), ("96365", "2026-03-02", ())]
    review_accept(item=item, user=coder_user)


def test_adapting_into_a_line_the_run_already_sends_is_refused_too(coder_user) -> None:
    _, new_run, item, waiting = push_corrected_to_infusion(coder_user)
    with pytest.raises(ValidationError, match="billed twice"):
        correction_resolve(
            item=item, user=coder_user, correction=waiting, decision="adapt",
            reason="two units", code="96365", units=2, modifiers=[],
        )  # fmt: skip
    assert sent_keys(new_run).count(("96365", "2026-03-02", ())) == 1


def test_a_carried_correction_meeting_a_new_line_of_its_code_goes_back_to_re_review(
    coder_user,
) -> None:
    """Its own line unchanged, the correction would be carried as it is; but the new run now
    makes the line it gives on another line: carried, it would bill that code twice."""
    encounter, run, item = claimed(coder_user)
    hydration = run.lines.get(code="96361")
    charge_line_correct(
        item=item, user=coder_user, line=hydration, action="change", code="96365", units=1,
        modifiers=[], reason="fluid given as a drug infusion",
    )  # fmt: skip
    new_run = ondansetron_infused(encounter, coder_user)  # 96374 -> 96365; 96361 unchanged
    (carried,) = new_run.corrections.all()
    assert carried.state == ChargeCorrection.State.NEEDS_REVIEW
    assert carried.line is not None and carried.line.code == "96361"
    assert sent_keys(new_run).count(("96365", "2026-03-02", ())) == 1


def test_the_review_page_says_nothing_to_keep_and_recommends_dropping(
    client_as, coder_user
) -> None:
    encounter, _, _, waiting = push_corrected_to_infusion(coder_user)
    client = client_as("coder")
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    box = page[page.index('data-testid="rereview-item"') :]
    box = box[: box.index("</form>")]
    assert "the new run now makes this line itself: nothing to keep" in box
    assert "96365 ×1" in box and "no such line" not in box
    # Drop is the decision offered first: its radio checked.
    radios = re.findall(rf'<input[^>]*name="c{waiting.pk}-decision"[^>]*>', box)
    checked = [radio for radio in radios if "checked" in radio]
    assert len(radios) == 3 and len(checked) == 1 and 'value="drop"' in checked[0]


# --- a decision taken back, and every decision kept -----------------------------------------


def chemo_add_on_waiting(coder):
    """The chemotherapy visit: 96415 x2 corrected to x1 (fewer hours than its 170 charted
    minutes bear: EDIT-INFUSION-TIME holds nothing), then an addendum lengthens the infusion to
    230 minutes so 96415's units change (to x3: not what the correction gives, which is kept as
    a correction; kept into the run's own line it would be refused,
    tests/coding/test_line_back_to_engine.py): the correction waits for re-review. (encounter,
    run, item, waiting)"""
    encounter, run, item = reviewed()
    item = review_claim(user=coder, item_id=item.pk)
    charge_line_correct(
        item=item, user=coder, line=run.lines.get(code="96415"), action="change",
        code="96415", units=1, modifiers=[], reason="pump log: 2 h 20 min",
    )  # fmt: skip
    new_run = chemo_minutes(encounter, coder, 240)
    item = held_after_rerun(item, coder)
    (waiting,) = corrections_waiting(new_run)
    return encounter, new_run, item, waiting


def chemo_minutes(encounter, author, minutes: int) -> ChargeRun:
    with transaction.atomic():
        addendum_for_test(encounter, author)
        adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=minutes))
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created
    return run


def add_on_units(run: ChargeRun) -> list[int]:
    fresh = ChargeRun.objects.get(pk=run.pk)
    return [line.units for line in effective_lines(fresh) if line.code == "96415"]


def test_a_re_review_decision_is_undone_and_chosen_again_before_billing(coder_user) -> None:
    _, new_run, item, waiting = chemo_add_on_waiting(coder_user)
    engine_units = waiting.line.units
    before = (waiting.action, waiting.original, waiting.corrected)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="pump log stands"
    )
    assert add_on_units(new_run) == [1]
    with pytest.raises(ValidationError, match="reason"):
        correction_decision_undo(item=item, user=coder_user, correction=waiting, reason=" ")
    undone = correction_decision_undo(
        item=item, user=coder_user, correction=waiting, reason="kept by mistake"
    )
    # Waiting again exactly as before the decision: nothing applied, acceptance blocked.
    assert undone.state == ChargeCorrection.State.NEEDS_REVIEW
    assert (undone.action, undone.original, undone.corrected) == before
    assert (undone.decision_reason, undone.decided_by, undone.decided_at) == ("", None, None)
    assert add_on_units(new_run) == [engine_units]
    with pytest.raises(ValidationError, match="re-review"):
        review_accept(item=item, user=coder_user)
    with pytest.raises(ValidationError, match="no re-review decision"):
        correction_decision_undo(item=item, user=coder_user, correction=waiting, reason="again")
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="adapt", reason="two units",
        units=2,
    )  # fmt: skip
    assert add_on_units(new_run) == [2]
    review_accept(item=item, user=coder_user)
    decisions = list(waiting.decisions.values_list("decision", "reason", "by"))
    assert decisions == [
        ("keep", "pump log stands", coder_user.pk),
        ("undo", "kept by mistake", coder_user.pk),
        ("adapt", "two units", coder_user.pk),
    ]


def test_a_drop_is_undone_too_and_the_correction_waits_again(coder_user) -> None:
    _, new_run, item, waiting = push_corrected_to_infusion(coder_user)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="drop", reason="charted now"
    )
    correction_decision_undo(item=item, user=coder_user, correction=waiting, reason="wrong one")
    assert [c.pk for c in corrections_waiting(new_run)] == [waiting.pk]


def test_a_decision_sent_to_billing_is_not_undone(coder_user) -> None:
    encounter, _, item, waiting = chemo_add_on_waiting(coder_user)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="pump log stands"
    )
    review_accept(item=item, user=coder_user)
    assert export_create(user=coder_user).export is not None
    item = review_reopen(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    with pytest.raises(ValidationError, match="sent to billing"):
        correction_decision_undo(item=item, user=coder_user, correction=waiting, reason="late")
    waiting.refresh_from_db()
    assert waiting.state == ChargeCorrection.State.KEPT


def test_the_review_page_offers_to_undo_a_decision_of_this_run(client_as, coder_user) -> None:
    encounter, _, item, waiting = chemo_add_on_waiting(coder_user)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="pump log stands"
    )
    client = client_as("coder")
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    page = client.get(url).content.decode()
    decided = page[page.index('data-testid="rereviewed"') :]
    assert "Kept after re-review" in decided and "pump log stands" in decided
    undo = reverse("coding:correction_undo", args=[encounter.pk, waiting.pk])
    assert f'action="{undo}"' in decided
    # Refused without a reason: said beside the field, on the page.
    refused = client.post(undo, {f"u{waiting.pk}-reason": ""})
    assert refused.status_code == 200 and "Say why you undo" in refused.content.decode()
    done = client.post(undo, {f"u{waiting.pk}-reason": "kept by mistake"})
    assert done.status_code == 302
    waiting.refresh_from_db()
    assert waiting.state == ChargeCorrection.State.NEEDS_REVIEW
    page = client.get(url).content.decode()
    assert 'data-testid="resolve-form"' in page


def test_the_reconciliation_report_keeps_each_decision_in_order_and_the_original_change(
    client_as, coder_user
) -> None:
    """QA: after a re-review the first Keep's reason was gone from the report, and the coder's
    change 96374 -> 96365 was listed as an Add with the engine's line blank."""
    encounter, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96374"), action="change",
        code="96375", units=1, modifiers=[], reason="a second push, per the flowsheet",
    )  # fmt: skip
    second = ondansetron_infused(encounter, coder_user, minutes=20)  # 96374 gone: 96365
    item = held_after_rerun(item, coder_user)
    (waiting,) = corrections_waiting(second)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="first keep"
    )
    correction_decision_undo(item=item, user=coder_user, correction=waiting, reason="re-read")
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="second keep"
    )
    review_accept(item=item, user=coder_user)
    third = ondansetron_infused(encounter, coder_user, minutes=100)  # A2: 96365 + 96366
    item = review_claim(user=coder_user, item_id=item.pk)
    (again,) = corrections_waiting(third)
    correction_resolve(
        item=item, user=coder_user, correction=again, decision="drop", reason="not a push"
    )
    day = encounter.arrived_at.date()
    report = reconciliation(date_from=day, date_to=day)
    (history,) = report.histories
    first = history.first
    assert (first.action, first.original["code"], first.corrected["code"], first.reason) == (
        "change",
        "96374",
        "96375",
        "a second push, per the flowsheet",
    )
    assert history.current.pk == again.pk and history.current.state == "dropped"
    assert [(d.decision, d.reason, d.run_number) for d in history.decisions] == [
        ("keep", "first keep", 2),
        ("undo", "re-read", 2),
        ("keep", "second keep", 2),
        ("drop", "not a push", 3),
    ]
    page = client_as("coder").get(
        reverse("coding:report_reconciliation"),
        {"date_from": day.isoformat(), "date_to": day.isoformat()},
    )
    row = page.content.decode()
    row = row[row.index('data-testid="correction-row"') :]
    row = row[: row.index("</tr>")]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
    assert "Change" in text and "96374 ×1" in text and "96375 ×1" in text and "Add" not in text
    reasons = ("first keep", "re-read", "second keep", "not a push")
    order = [text.index(reason) for reason in reasons]
    assert order == sorted(order)


def test_decisions_made_before_the_history_table_are_written_into_it(coder_user) -> None:
    """Migration 0017 writes one decision per correction decided before it, from the decision
    kept on the correction, with what it waited as (the correction it was carried from)."""
    from django.apps import apps

    backfill = importlib.import_module("coding.migrations.0017_correction_decisions")
    _, _, item, waiting = chemo_add_on_waiting(coder_user)
    correction_resolve(
        item=item, user=coder_user, correction=waiting, decision="keep", reason="pump log stands"
    )
    written = waiting.decisions.get()
    CorrectionDecision.objects.all().delete()  # as before the table
    backfill.decisions_so_far(apps, None)
    again = waiting.decisions.get()
    assert (again.decision, again.reason, again.by, again.at) == (
        "keep",
        "pump log stands",
        coder_user,
        written.at,
    )
    # The correction's basis (coding 0020) came after that migration: it writes the rest.
    assert (again.before, again.after) == tuple(
        {key: value for key, value in said.items() if key != "basis"}
        for said in (written.before, written.after)
    )
