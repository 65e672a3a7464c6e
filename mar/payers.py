"""Payers and their versioned coding policy (the engine's Policy, coding-rules §7).

A policy version is never changed: `payer_policy_set` adds the next version with who and why.
Re-coding the payer's encounters after a change is the caller's flow (coding.payers), because
mar does not generate charges.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from mar.models import Payer, PayerPolicy, policy_clean, policy_defaults


def payer_policy_first(*, payer: Payer, by: AbstractBaseUser | None) -> PayerPolicy:
    """Version 1 (the rules' defaults) for a payer that has none yet; its current one otherwise."""
    current = payer.current_policy()
    if current is not None:
        return current
    return PayerPolicy.objects.create(
        payer=payer,
        version=1,
        values=policy_defaults(),
        reason="Created with the rules' defaults",
        by=by,  # type: ignore[misc]
    )


@transaction.atomic
def payer_policy_set(
    *, payer: Payer, values: dict[str, Any], reason: str, by: AbstractBaseUser
) -> PayerPolicy | None:
    """The next version of the payer's policy; None when `values` equal the current ones."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the policy changes"]})
    cleaned = policy_clean(values)
    Payer.objects.select_for_update().filter(pk=payer.pk).first()  # one version at a time
    current = payer.current_policy()
    if current is not None and policy_clean(current.values) == cleaned:
        return None
    latest = payer.policies.aggregate(v=Max("version"))["v"] or 0
    return PayerPolicy.objects.create(
        payer=payer, version=latest + 1, values=cleaned, reason=reason.strip(), by=by
    )


def payer_policy_for(payer: Payer | None) -> PayerPolicy | None:
    """The policy version an encounter of this payer is coded with (None: the defaults)."""
    return None if payer is None else payer.current_policy()
