"""The edits that read the run's record, on the coder's review (coding/review.py
`charge_edits_for_run`, `edits_record`; the engine's `infusion_time_edits` and `account_edits`):
held before export like the other edits, until corrected or overridden with a reason.

QA: the engine's 96409 ("11 min: an infusion of 15 minutes or less is a push") corrected to
96413 with a reason, and "Edits before export" said "None"; a claim exported with no account
number (the CSV's account_number empty, HL7 PV1 only the internal id)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from coding.models import ChargeRun, ReviewItem
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    review_accept,
    review_claim,
)
from mar.models import Encounter
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db


def edits(run: ChargeRun) -> list[tuple[str, str]]:
    return [
        (e.finding.rule, e.finding.message)
        for e in charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items
    ]


def line_changed(item, coder, line, *, code: str, units: int, reason: str) -> None:
    """The coder changes `line` to `code` × `units`, saying why."""
    charge_line_correct(
        item=item, user=coder, line=line, action="change", code=code, units=units, reason=reason
    )


def held_until_overridden(item, coder, *, rule: str, message: str, reason: str) -> None:
    """Accepting is refused for the edit `rule` until the coder overrides it with `reason`:
    then nothing blocks and the charges are accepted."""
    with pytest.raises(ValidationError, match=rule):
        review_accept(item=item, user=coder)
    edit_override_create(item=item, user=coder, rule=rule, message=message, reason=reason)
    assert charge_edits_for_run(ChargeRun.objects.get(pk=item.run_id)).blocking == []
    assert review_accept(item=item, user=coder).state == ReviewItem.State.ACCEPTED


@pytest.fixture
def claimed(coder_user):
    """The factory's chemotherapy visit (paclitaxel 09:15-12:15, a 10-minute pause: 170
    minutes; ondansetron pushed 09:05-09:07), signed and coded; the coder holds the review."""
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    return encounter, run, item


def test_qa_96409_corrected_to_96413_is_held_before_export(claimed, coder_user):
    """A push (2 minutes) corrected to an hour of infusion: EDIT-INFUSION-TIME, listed under
    "Edits before export", accepting refused until it is overridden with a reason."""
    encounter, run, item = claimed
    assert edits(run) == []
    push = next(line for line in run.lines.all() if line.code in ("96375", "96374", "96409"))
    line_changed(item, coder_user, push, code="96367", units=1, reason="infused, not pushed")
    ((rule, message),) = edits(run)
    assert rule == "EDIT-INFUSION-TIME"
    assert message.startswith("96367 ×1 on 2026-03-02 bills an hour of infusion")
    assert "ondansetron" in message and "ran 2 minutes" in message

    client = Client()
    client.force_login(coder_user)
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    listed = page.split('data-testid="edits"', 1)[1].split("</ul>", 1)[0]
    assert "EDIT-INFUSION-TIME" in listed
    held_until_overridden(
        item, coder_user, rule=rule, message=message,
        reason="The infusion pump record shows 20 minutes; addendum requested.",
    )  # fmt: skip


def test_an_additional_hour_more_than_the_minutes_give_is_held(claimed, coder_user):
    """170 minutes of paclitaxel give two additional hours (96415 ×2); ×3 is held, fewer pass."""
    _, run, item = claimed
    hours = run.lines.get(code="96415")
    assert hours.units == 2
    line_changed(item, coder_user, hours, code="96415", units=3, reason="three hours")
    ((rule, message),) = edits(run)
    assert rule == "EDIT-INFUSION-TIME" and "ran 170 minutes: at most 2" in message
    line_changed(item, coder_user, hours, code="96415", units=1, reason="one hour only")
    assert edits(run) == []


def test_a_visit_with_no_account_number_is_held_before_export_until_overridden(coder_user):
    encounter, run, item = reviewed(account_number="")
    assert run.input_snapshot["encounter"]["account_number"] == ""
    ((rule, message),) = edits(run)
    assert rule == "EDIT-ACCOUNT" and message.startswith("The visit has no account number")
    review_claim(user=coder_user, item_id=item.pk)
    held_until_overridden(
        item, coder_user, rule=rule, message=message,
        reason="Registration gives the account number on the paper claim today.",
    )  # fmt: skip


def test_a_visit_with_an_account_number_passes_and_the_record_carries_it():
    encounter, run, _ = reviewed(account_number="V-1001")
    assert run.input_snapshot["encounter"]["account_number"] == "V-1001"
    assert edits(run) == []


def test_a_run_from_before_records_carried_the_account_number_reads_the_visits():
    """A snapshot without the key (stored before): the visit's number stands in, so a run
    made before this edit is not held for a number the visit has."""
    encounter, run, _ = reviewed(account_number="V-2002")
    snapshot = run.input_snapshot
    del snapshot["encounter"]["account_number"]
    ChargeRun.objects.filter(pk=run.pk).update(input_snapshot=snapshot)
    assert edits(run) == []
    addendum_for_test(encounter)  # the signed-record guard lets the test change the visit
    Encounter.objects.filter(pk=encounter.pk).update(account_number="")
    assert [rule for rule, _ in edits(run)] == ["EDIT-ACCOUNT"]
