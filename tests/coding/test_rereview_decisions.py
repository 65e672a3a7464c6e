"""Re-review of a coder's correction after the record changed (coding/corrections.py): the panel
sees when the new run already gives what the correction gave, and a decision never bills a
line twice.

The QA walkthrough's case: the coder corrects the ondansetron push 96374 to 96365 (she read it
as an infusion) and queries the nurse; the nurse's addendum charts it as a 20-minute infusion,
so the new run makes 96365 itself. Keeping the correction added a second 96365 beside it."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from coding.corrections import correction_rereview, correction_resolve, corrections_waiting
from coding.models import ChargeCorrection, ChargeRun, ReviewItem
from coding.review import charge_line_correct, effective_lines, review_accept, review_claim
from coding.services import charge_run_generate
from tests.coding.review_helpers import hydration_and_ondansetron, ondansetron_infused

pytestmark = pytest.mark.django_db

REASON = "pump log: infused over 20 minutes"


def claimed(coder):
    encounter = hydration_and_ondansetron()
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
    item = review_claim(user=coder, item_id=item.pk)
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
