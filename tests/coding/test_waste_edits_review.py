"""The JW/JZ edits on the coder's review (coding/review.py `charge_edits_for_run`, the engine's
`waste_modifier_edits`): held before export like the other edits, until corrected or overridden
with a reason; and JW with JZ on one line refused beside the modifiers.

QA (Chromium): the coder corrected the only drug line J9045 ×2 to J9045 ×1 JW (drug wasted); it
was accepted, no line was left for the drug given, and "Edits before export" said "None: nothing
blocks export"."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from coding.models import ChargeCorrection, ChargeRun, ReviewItem
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    review_accept,
    review_claim,
    run_containers,
)
from coding.services import charge_run_generate
from mar.models import Drug
from tests.coding.review_helpers import addendum_for_test, paclitaxel_billable, reviewed

pytestmark = pytest.mark.django_db


def edit_rules(run: ChargeRun) -> list[str]:
    return [e.finding.rule for e in charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items]


@pytest.fixture
def drug_claimed(coder_user):
    """Paclitaxel given 300 mg, billed as J9267 ×300 (1 mg a unit), waste not charted: the
    run's only drug line; the coder holds the review."""
    encounter, run, item = reviewed(billable=True, waste=None)
    review_claim(user=coder_user, item_id=item.pk)
    client = Client()
    client.force_login(coder_user)
    return encounter, run, item, client


def test_the_only_drug_line_corrected_to_jw_is_held_before_export(drug_claimed, coder_user):
    """QA's case on the page: corrected to J9267 ×20 JW, the waste is billed with no dose; the
    review page lists EDIT-JW-NO-DOSE under "Edits before export" (not "nothing blocks export"),
    and accepting is refused until the dose line is back or the edit overridden."""
    encounter, run, item, client = drug_claimed
    line = run.lines.get(code="J9267")
    assert edit_rules(run) == []
    posted = client.post(
        reverse("coding:line_correct", args=[encounter.pk, line.pk]),
        {f"l{line.pk}-action": "change", f"l{line.pk}-code": "J9267", f"l{line.pk}-units": "20",
         f"l{line.pk}-modifiers": "jw", f"l{line.pk}-reason": "20 mg of the vial wasted"},
    )  # fmt: skip
    assert posted.status_code == 302

    assert edit_rules(run) == ["EDIT-JW-NO-DOSE"]
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    edits = page.split('data-testid="edits"', 1)[1].split("</ul>", 1)[0]
    assert "EDIT-JW-NO-DOSE" in edits and "J9267-JW ×20 on 2026-03-02" in edits
    assert "nothing blocks export" not in edits
    with pytest.raises(ValidationError, match="EDIT-JW-NO-DOSE"):
        review_accept(item=item, user=coder_user)

    # The dose line added beside it (the administered amount) settles it.
    charge_line_correct(
        item=item, user=coder_user, action="add", code="J9267", units=300,
        administrations=list(line.administrations), reason="the 300 mg given",
    )  # fmt: skip
    assert edit_rules(run) == []
    assert review_accept(item=item, user=coder_user).state == ReviewItem.State.ACCEPTED


def test_the_jw_edit_is_overridden_with_a_reason_like_the_others(drug_claimed, coder_user):
    _, run, item, _ = drug_claimed
    line = run.lines.get(code="J9267")
    charge_line_correct(
        item=item, user=coder_user, line=line, action="change", code="J9267", units=20,
        modifiers=["JW"], reason="payer asked for the waste alone",
    )  # fmt: skip
    (edit,) = charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items
    edit_override_create(
        item=item, user=coder_user, rule=edit.finding.rule, message=edit.finding.message,
        reason="The dose is billed on the professional claim, agreed with the payer.",
    )  # fmt: skip
    assert charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).blocking == []


def test_jw_with_jz_is_refused_beside_the_modifiers(drug_claimed):
    """The correction form refuses JW with JZ on one line, as a sentence with its full stop,
    what was typed kept; nothing is saved."""
    encounter, run, _, client = drug_claimed
    line = run.lines.get(code="J9267")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(
        url,
        {f"l{line.pk}-action": "change", f"l{line.pk}-code": "J9267", f"l{line.pk}-units": "20",
         f"l{line.pk}-modifiers": "JW JZ", f"l{line.pk}-reason": "20 mg of the vial wasted"},
    )  # fmt: skip
    assert response.status_code == 200
    page = response.content.decode()
    assert "JW and JZ on one line: JW is a line of its own for the amount discarded" in page
    assert 'value="JW JZ"' in page
    assert not ChargeCorrection.objects.exists()


def test_a_line_with_jw_and_jz_from_before_the_refusal_is_held(drug_claimed, coder_user):
    """A correction stored before the forms refused the pair (or by any other way in) is held
    by EDIT-JW-JZ-BOTH."""
    _, run, _, _ = drug_claimed
    line = run.lines.get(code="J9267")
    original = {"code": line.code, "units": line.units, "modifiers": [],
                "date": line.date.isoformat(), "administrations": list(line.administrations),
                "why": line.why}  # fmt: skip
    ChargeCorrection.objects.create(
        run=run, line=line, action="change", original=original,
        corrected={**original, "modifiers": ["JZ", "JW"]}, reason="typed before the refusal",
        by=coder_user,
    )  # fmt: skip
    assert edit_rules(run) == ["EDIT-JW-NO-DOSE", "EDIT-JW-JZ-BOTH"]


def test_jw_on_a_multi_dose_drug_is_held_by_the_runs_container(coder_user):
    """The container is the run's own (its billing snapshot): paclitaxel stocked multi-dose
    makes no JW/JZ line, and a coder's JZ on it is held."""
    encounter, run, item = reviewed(billable=False)
    addendum_for_test(encounter)
    paclitaxel_billable(encounter=encounter, container=Drug.Container.MULTI_DOSE)
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger="manual")
    assert run_containers(run) == {"J9267": "multi_dose"}
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.get(code="J9267")
    assert line.modifiers == []
    charge_line_correct(
        item=ReviewItem.objects.get(pk=item.pk), user=coder_user, line=line, action="change",
        code="J9267", units=300, modifiers=["JZ"], reason="nothing was wasted",
    )  # fmt: skip
    edits = charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items
    assert [e.finding.rule for e in edits] == ["EDIT-JW-JZ-MULTI-DOSE"]
    assert "multi-dose container" in edits[0].finding.message
