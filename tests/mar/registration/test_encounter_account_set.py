"""Registration's account number entered later (mar/registration/services.py
`encounter_account_set`): a visit whose number is blank gets one, in progress or signed; the
signed visit's charges are owed again as an addendum owes them, so EDIT-ACCOUNT clears on the
coder's review, the coder's decisions carried and nothing billed twice (charges billed without
the number are sent again under it: tests/coding/test_account_after_export.py).

QA: a signed visit with no account number could not get one: `encounter_update` refused every
change to a signed visit and the only way past EDIT-ACCOUNT was the coder's override."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from coding.exports import export_create, ledger_sum
from coding.models import ChargeCorrection, ChargeOutbox, ChargeRun, LedgerEntry, ReviewItem
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    effective_lines,
    review_accept,
    review_claim,
)
from mar.models import Encounter, EncounterSummary
from mar.registration.services import encounter_account_set
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

DESK = "registration desk"


def current(encounter: Encounter) -> ChargeRun:
    return ChargeRun.objects.get(encounter=encounter, is_current=True)


def edit_rules(run: ChargeRun) -> list[str]:
    return [e.finding.rule for e in charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).items]


def test_a_blank_account_number_on_a_signed_visit_is_set_and_the_charges_rerun_clear_edit_account(
    django_capture_on_commit_callbacks,
) -> None:
    encounter, run, _ = reviewed(account_number="")
    assert edit_rules(run) == ["EDIT-ACCOUNT"]
    with django_capture_on_commit_callbacks(execute=True):
        assert encounter_account_set(encounter=encounter, account_number="  v-5501 ", source=DESK)
    encounter.refresh_from_db()
    assert encounter.account_number == "v-5501"  # trimmed, as typed
    new = current(encounter)
    assert new.pk != run.pk and new.trigger == ChargeRun.Trigger.ACCOUNT
    assert new.get_trigger_display() == "Account number entered"  # no nurse wrote an addendum
    assert "v-5501" in new.reason and DESK in new.reason
    assert new.input_snapshot["encounter"]["account_number"] == "v-5501"
    assert edit_rules(new) == []
    assert sorted((ln.code, ln.units) for ln in new.lines.all()) == sorted(
        (ln.code, ln.units) for ln in run.lines.all()
    )
    assert ReviewItem.objects.get(encounter=encounter).run_id == new.pk


def test_the_visits_stored_summary_is_invalidated() -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    EncounterSummary.objects.filter(encounter=encounter).delete()
    encounter_account_set(encounter=encounter, account_number="V-5502", source=DESK)
    summary = EncounterSummary.objects.get(encounter=encounter)
    assert summary.valid_until <= summary.computed_at  # marked expired: the next reader recomputes


def test_an_in_progress_visit_gets_its_number_and_no_charge_run_is_owed() -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    assert encounter_account_set(encounter=encounter, account_number="V-5503", source=DESK)
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-5503"
    assert not ChargeRun.objects.filter(encounter=encounter).exists()
    assert not ChargeOutbox.objects.filter(encounter=encounter).exists()


def test_a_number_in_use_is_refused_case_insensitively_with_the_message_of_opening_a_visit(
    django_capture_on_commit_callbacks,
) -> None:
    other = factories.chemo_encounter_create(account_number="V-6600")
    encounter, run, _ = reviewed(account_number="")
    with pytest.raises(ValidationError) as refused:
        encounter_account_set(encounter=encounter, account_number=" v-6600", source=DESK)
    assert refused.value.message_dict == {
        "account_number": [
            f"Already open: account number V-6600 is already in use (visit {other.pk})."
        ]
    }
    assert Encounter.objects.get(pk=encounter.pk).account_number == ""
    assert current(encounter).pk == run.pk


def test_an_account_number_already_set_on_a_signed_visit_is_not_changed() -> None:
    encounter, run, _ = reviewed(account_number="V-7700")
    with pytest.raises(ValidationError) as refused:
        encounter_account_set(encounter=encounter, account_number="V-7701", source=DESK)
    (message,) = refused.value.message_dict["account_number"]
    assert "is signed" in message and "not changed" in message and "V-7700" in message
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-7700"
    # The same number again is no change, not a refusal (an ADT feed resends).
    assert encounter_account_set(encounter=encounter, account_number="v-7700", source=DESK) is False
    assert current(encounter).pk == run.pk


def test_an_empty_or_too_long_number_is_refused_beside_the_field() -> None:
    encounter = factories.chemo_encounter_create(account_number="")
    with pytest.raises(ValidationError) as empty:
        encounter_account_set(encounter=encounter, account_number="   ", source=DESK)
    assert empty.value.message_dict == {"account_number": ["Enter the account number."]}
    with pytest.raises(ValidationError) as long:
        encounter_account_set(encounter=encounter, account_number="V" * 41, source=DESK)
    assert list(long.value.message_dict) == ["account_number"]


def test_a_coders_decision_on_another_line_survives_the_rerun_and_nothing_is_billed_twice(
    coder_user, django_capture_on_commit_callbacks
) -> None:
    """Billed first under the coder's override of EDIT-ACCOUNT, with her modifier on the push:
    the number entered later re-runs the charges; her correction is carried (not back for
    re-review), and the next export credits what was billed without the number and charges it
    again under it: each service billed once, with her modifier."""
    encounter, run, item = reviewed(account_number="")
    review_claim(user=coder_user, item_id=item.pk)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, line=push, action="change", code="96375",
        units=1, modifiers=["59"], reason="second site per the flowsheet",
    )  # fmt: skip
    (account,) = [e.finding for e in charge_edits_for_run(run).items]
    edit_override_create(
        item=item, user=coder_user, rule=account.rule, message=account.message,
        reason="Registration gives the account number on the paper claim today.",
    )  # fmt: skip
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    export_create(user=coder_user)
    billed = sorted(LedgerEntry.objects.filter(encounter=encounter).values_list("pk", flat=True))
    assert billed

    with django_capture_on_commit_callbacks(execute=True):
        encounter_account_set(encounter=encounter, account_number="V-8800", source=DESK)
    new = current(encounter)
    assert new.pk != run.pk
    carried = new.corrections.get()
    assert carried.state == ChargeCorrection.State.CARRIED
    assert carried.reason == "second site per the flowsheet"
    assert next(ln for ln in effective_lines(new) if ln.code == "96375").modifiers == ("59",)
    assert edit_rules(new) == []  # EDIT-ACCOUNT gone: no override needed this time

    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    units = ledger_sum(encounter.pk)
    outcome = export_create(user=coder_user)
    # Billed without the number: each charge credited and charged again under it, her
    # correction with it (tests/coding/test_account_after_export.py); none billed twice.
    sent = LedgerEntry.objects.filter(export=outcome.export)
    assert sorted(e.reverses_id for e in sent if e.kind == "CD") == billed
    assert {e.account_number for e in sent} == {"V-8800"}
    assert ledger_sum(encounter.pk) == units
    push = sent.get(kind="CG", code="96375")
    assert push.modifiers == ["59"]
