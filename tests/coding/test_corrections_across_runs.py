"""A coder's corrections across charge runs (coding/corrections.py): carried when the target line
is unchanged, else "needs re-review" blocking acceptance until kept, adapted or dropped."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from coding.corrections import correction_resolve, corrections_waiting
from coding.models import ChargeCorrection, ChargeRun, ReviewItem
from coding.reports import reconciliation
from coding.review import charge_line_correct, effective_lines, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Administration
from tests.coding.review_helpers import addendum_for_test, held_after_rerun, reviewed

pytestmark = pytest.mark.django_db

# The chemotherapy (09:15-12:15, a 10-minute pause: 170 minutes, 96413 + 96415 x2) charted
# longer or shorter by the nurse's addendum: 240 gives 230 minutes (96415 x3), 150 gives 140
# (96415 x1). A coder's 96415 never asks for more hours than the charted minutes bear
# (EDIT-INFUSION-TIME).
LONGER, SHORTER = 240, 150


def claimed(coder):
    encounter, run, item = reviewed()
    review_claim(user=coder, item_id=item.pk)
    item.refresh_from_db()
    return encounter, run, item


def rerun(encounter, author, *, chemo_minutes: int | None = None):
    """An addendum; the chemotherapy infusion shortened to `chemo_minutes` when given."""
    addendum_for_test(encounter, author)
    if chemo_minutes is not None:
        adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=adm.pk).update(
            stop=adm.start + timedelta(minutes=chemo_minutes)
        )
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    return run, created


def test_a_correction_whose_line_is_unchanged_is_carried_to_the_new_run(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, line=push, action="change", code="96375",
        units=1, modifiers=["59"], reason="second site per the flowsheet",
    )  # fmt: skip
    new_run, created = rerun(encounter, coder_user, chemo_minutes=SHORTER)
    assert created
    carried = new_run.corrections.get()
    assert carried.state == ChargeCorrection.State.CARRIED
    assert carried.line.run_id == new_run.pk and carried.line.code == "96375"
    assert carried.reason == "second site per the flowsheet" and carried.by == coder_user
    line = next(ln for ln in effective_lines(new_run) if ln.code == "96375")
    assert line.modifiers == ("59",)
    assert "second site per the flowsheet" in line.why and coder_user.username in line.why
    assert line.engine_why and line.engine_why != line.why  # the engine's kept beside it
    item.refresh_from_db()
    # Still hers, in review: a re-run never takes a claim (it was back to NEW, unclaimed).
    assert item.state == ReviewItem.State.IN_REVIEW and item.claimed_by == coder_user
    assert item.run_id == new_run.pk


def test_a_correction_whose_target_changed_needs_re_review_and_blocks_acceptance(
    coder_user,
) -> None:
    encounter, run, item = claimed(coder_user)
    target = run.lines.get(code="96415")  # x2
    charge_line_correct(
        item=item, user=coder_user, line=target, action="change", code="96415",
        units=1, modifiers=[], reason="pump log says 2 h 20 min",
    )  # fmt: skip
    new_run, _ = rerun(encounter, coder_user, chemo_minutes=LONGER)  # the target's units change
    waiting = corrections_waiting(ChargeRun.objects.get(pk=new_run.pk))
    assert len(waiting) == 1
    correction = waiting[0]
    assert correction.original["units"] == target.units  # the old target, side by side
    assert correction.line is not None and correction.line.run_id == new_run.pk
    # It applies to nothing while waiting: the engine's new line is what stands.
    assert [ln.units for ln in effective_lines(new_run) if ln.code == "96415"] == [
        correction.line.units
    ]
    item = held_after_rerun(item, coder_user)
    # One correction, said in the singular ('1 correction needs', not '1 correction(s) need').
    with pytest.raises(
        ValidationError, match=r"^\[.1 correction needs re-review after the charges"
    ):
        review_accept(item=item, user=coder_user)
    with pytest.raises(ValidationError):
        correction_resolve(
            item=item, user=coder_user, correction=correction, decision="keep", reason=" "
        )
    kept = correction_resolve(
        item=item, user=coder_user, correction=correction, decision="keep",
        reason="pump log still says 2 h 20 min",
    )  # fmt: skip
    assert kept.state == ChargeCorrection.State.KEPT and kept.decided_by == coder_user
    line = next(
        ln for ln in effective_lines(ChargeRun.objects.get(pk=new_run.pk)) if ln.code == "96415"
    )
    assert line.units == 1 and "pump log still says" in line.why
    review_accept(item=item, user=coder_user)


@pytest.mark.parametrize("decision", ["adapt", "drop"])
def test_adapt_and_drop_are_recorded_decisions(coder_user, decision: str) -> None:
    encounter, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
        code="96415", units=1, modifiers=[], reason="pump log",
    )  # fmt: skip
    new_run, _ = rerun(encounter, coder_user, chemo_minutes=LONGER)  # the engine's x3
    item = held_after_rerun(item, coder_user)
    correction = corrections_waiting(new_run)[0]
    resolved = correction_resolve(
        item=item, user=coder_user, correction=correction, decision=decision,
        reason="re-read the record", units=2,
    )  # fmt: skip
    expected = {"adapt": ChargeCorrection.State.ADAPTED, "drop": ChargeCorrection.State.DROPPED}
    assert resolved.state == expected[decision]
    assert resolved.decision_reason == "re-read the record"
    lines = effective_lines(ChargeRun.objects.get(pk=new_run.pk))
    chemo_add_on = [ln for ln in lines if ln.code == "96415"]
    if decision == "adapt":
        assert [ln.units for ln in chemo_add_on] == [2]
    else:
        assert all(ln.correction is None for ln in chemo_add_on)
    review_accept(item=item, user=coder_user)
    # A later run with the same target line, on the same record under it (the antiemetic's
    # push charted a minute longer): an adapted one is carried, a dropped one is not.
    with transaction.atomic():
        addendum_for_test(encounter, coder_user)
        push = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
        Administration.objects.filter(pk=push.pk).update(stop=push.stop + timedelta(minutes=1))
    later, _ = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    states = list(later.corrections.values_list("state", flat=True))
    assert states == ([] if decision == "drop" else [ChargeCorrection.State.CARRIED])
    if decision == "adapt":
        # The chemotherapy its line covers changed (the engine's 96415 the same): back to her.
        again, _ = rerun(encounter, coder_user, chemo_minutes=LONGER - 10)  # 220 min: x3
        (back,) = again.corrections.all()
        assert back.state == ChargeCorrection.State.NEEDS_REVIEW
        assert any("stop" in said for said in back.basis["changed"]), back.basis


def test_a_correction_waiting_for_re_review_is_carried_as_waiting(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="remove",
        reason="not documented",
    )  # fmt: skip
    second, _ = rerun(encounter, coder_user, chemo_minutes=SHORTER)
    third, _ = rerun(encounter, coder_user)  # nothing else changed, but an addendum
    if third.pk == second.pk:  # the same record makes no new run
        return
    assert [c.state for c in third.corrections.all()] == [ChargeCorrection.State.NEEDS_REVIEW]


def test_an_added_line_is_carried_while_its_administrations_lines_are_unchanged(
    coder_user,
) -> None:
    encounter, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, action="add", code="J2405", units=8,
        administrations=list(push.administrations), reason="ondansetron 1 mg units",
    )  # fmt: skip
    new_run, _ = rerun(encounter, coder_user, chemo_minutes=SHORTER)
    added = new_run.corrections.get()
    assert added.state == ChargeCorrection.State.CARRIED
    assert any(ln.code == "J2405" and ln.source == "coder" for ln in effective_lines(new_run))


def test_the_reconciliation_report_shows_each_corrections_real_state(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
        code="96415", units=1, modifiers=[], reason="pump log",
    )  # fmt: skip
    rerun(encounter, coder_user, chemo_minutes=SHORTER)
    day = encounter.arrived_at.date()
    report = reconciliation(date_from=day - timedelta(days=1), date_to=day + timedelta(days=1))
    states = [c.state for c in report.corrections]
    assert ChargeCorrection.State.NEEDS_REVIEW in states
    assert all(c.run.is_current for c in report.corrections)
