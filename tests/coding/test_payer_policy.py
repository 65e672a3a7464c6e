"""An encounter's payer chooses the policy profile the engine codes it with; each run records
the version; a changed profile re-codes that payer's encounters not yet exported (outbox)."""

import pytest

from coding.exports import export_create
from coding.models import ChargeRun, ReviewItem
from coding.payers import payer_policy_change
from coding.review import review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Encounter, Payer, policy_defaults
from mar.payers import payer_policy_first
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


def test_the_payers_current_policy_goes_to_the_engine_and_the_run_records_its_version(
    coder_user,
) -> None:
    payer = Payer.objects.create(name="Acme Health", financial_class="commercial")
    first = payer_policy_first(payer=payer, by=None)
    encounter, run, _ = reviewed(payer=payer)
    assert run.input_snapshot["policy"] == policy_defaults()
    assert run.payer_policy == first
    plain, plain_run, _ = reviewed()
    assert "policy" not in plain_run.input_snapshot and plain_run.payer_policy is None


def test_a_changed_profile_recodes_the_payers_encounters_not_yet_exported(
    coder_user,
    django_capture_on_commit_callbacks,
) -> None:
    payer = Payer.objects.create(name="Acme Health", financial_class="commercial")
    payer_policy_first(payer=payer, by=None)
    waiting, waiting_run, _ = reviewed(payer=payer)
    billed, _, billed_item = reviewed(payer=payer)
    review_accept(item=review_claim(user=coder_user, item_id=billed_item.pk), user=coder_user)
    export_create(user=coder_user)
    values = dict(policy_defaults(), second_site_modifier="XU", concurrent_min_overlap=31)
    with django_capture_on_commit_callbacks(execute=True):  # the outbox sends after commit
        policy, queued = payer_policy_change(
            payer=payer, values=values, reason="contract 2026: X{EPSU}", by=coder_user
        )
    assert policy is not None and policy.version == 2
    assert queued == [waiting.pk]  # the exported one is left as billed
    new_run = ChargeRun.objects.get(encounter=waiting, is_current=True)
    assert new_run.pk != waiting_run.pk
    assert new_run.payer_policy == policy
    assert new_run.trigger == ChargeRun.Trigger.POLICY_CHANGE
    assert new_run.input_snapshot["policy"]["second_site_modifier"] == "XU"
    assert ReviewItem.objects.get(encounter=billed).state == ReviewItem.State.EXPORTED
    # The same values again make no version and re-code nothing.
    assert payer_policy_change(payer=payer, values=values, reason="again", by=coder_user) == (
        None,
        [],
    )
    assert Encounter.objects.filter(payer=payer).count() == 2
    assert charge_run_generate(encounter_id=waiting.pk)[1] is False
