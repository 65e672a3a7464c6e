"""A payer's coding policy changed: the new version, and re-coding what is not yet billed.

`payer_policy_change` adds the version (mar.payers.payer_policy_set: every key, who, why) and
puts each signed encounter of that payer whose charges are not exported into the charge
outbox (coding/outbox.py), in the same transaction: each gets a new run coded with the new
version (ChargeRun.payer_policy), and the coders' corrections follow it (coding/corrections.py).
Exported encounters are left as billed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from coding.models import ChargeRun, ReviewItem
from coding.outbox import outbox_enqueue
from mar.models import Encounter, Payer, PayerPolicy
from mar.payers import payer_policy_set


@transaction.atomic
def payer_policy_change(
    *, payer: Payer, values: dict[str, Any], reason: str, by: AbstractBaseUser
) -> tuple[PayerPolicy | None, list[int]]:
    """The new version (None: nothing changed) and the encounters queued for re-coding."""
    policy = payer_policy_set(payer=payer, values=values, reason=reason, by=by)
    if policy is None:
        return None, []
    encounter_ids = list(
        Encounter.objects.filter(payer=payer, status=Encounter.Status.SIGNED)
        .exclude(review_item__state=ReviewItem.State.EXPORTED)
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    for encounter_id in encounter_ids:
        outbox_enqueue(
            encounter_id=encounter_id,
            kind=ChargeRun.Trigger.POLICY_CHANGE,
            reason=f"{payer.name} coding policy v{policy.version}: {reason.strip()}",
        )
    return policy, encounter_ids
