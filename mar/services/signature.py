"""State changes of the clinical record, as keyword-only functions (HackSoft style)."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mar.models import Addendum, Encounter


def _enqueue_charges(*, encounter_id: int, trigger: str, reason: str = "") -> None:
    from coding.outbox import outbox_enqueue

    # An outbox row in this transaction: the charges are owed exactly when the signature (or
    # addendum) commits; the task is sent after commit and re-sent by beat if Redis was down.
    outbox_enqueue(encounter_id=encounter_id, kind=trigger, reason=reason)


@transaction.atomic
def encounter_sign(*, encounter: Encounter, user: AbstractBaseUser) -> Encounter:
    """Sign the record and, once committed, have the charges generated."""
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    if locked.status == Encounter.Status.SIGNED:
        raise ValidationError("This record is already signed; changes go through an addendum.")
    locked.status = Encounter.Status.SIGNED
    locked.signed_by = user
    locked.signed_at = timezone.now()
    locked.save(update_fields=["status", "signed_by", "signed_at"])
    _enqueue_charges(encounter_id=locked.pk, trigger="sign")
    return locked


@transaction.atomic
def addendum_add(*, encounter: Encounter, user: AbstractBaseUser, what: str, why: str) -> Addendum:
    """Record an addendum to a signed record and regenerate its charges.

    Make the record's changes in the same transaction, before or after this call: the charges
    are generated after commit from the record as it then stands, and the previous charge run
    is kept (is_current=False) for comparison.
    """
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    if locked.status != Encounter.Status.SIGNED:
        raise ValidationError("Only a signed record takes an addendum; edit the record instead.")
    if not what.strip() or not why.strip():
        raise ValidationError("An addendum needs both what changed and why.")
    addendum = Addendum.objects.create(encounter=locked, what=what, why=why, author=user)
    _enqueue_charges(encounter_id=locked.pk, trigger="addendum", reason=why)
    return addendum
