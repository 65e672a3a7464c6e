"""State changes of the clinical record, as keyword-only functions (HackSoft style)."""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mar.models import Addendum, Encounter
from mar.ports import charges_port


@transaction.atomic
def signature_store(*, encounter: Encounter, user: AbstractBaseUser) -> Encounter:
    """Sign the record and, once committed, have the charges generated."""
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    if locked.status == Encounter.Status.SIGNED:
        raise ValidationError("This record is already signed; changes go through an addendum.")
    locked.status = Encounter.Status.SIGNED
    locked.signed_by = user
    locked.signed_at = timezone.now()
    locked.save(update_fields=["status", "signed_by", "signed_at"])
    charges_port().charges_owed(encounter_id=locked.pk, trigger="sign")
    return locked


@transaction.atomic
def addendum_store(
    *,
    encounter: Encounter,
    user: AbstractBaseUser,
    what: str,
    why: str,
    answers: Sequence[int] = (),
    record_changed: bool = True,
) -> Addendum:
    """Record an addendum to a signed record and regenerate its charges.

    Make the record's changes in the same transaction, before or after this call: the charges
    are generated after commit from the record as it then stands, and the previous charge run
    is kept (is_current=False) for comparison. `answers`: the coders' open queries the nurse
    says this addendum answers (in words); one its change answers is found by coding from the
    new charges.

    `record_changed=False`: an addendum in words only (her answer to a coder's query), which
    changes nothing the charges are made from: no run is owed (one would be made of the same
    input, and nothing stored). The addendum's `charges_owed` says which it was, for the
    message the nurse reads ("Charges unchanged" or "being regenerated").
    """
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    if locked.status != Encounter.Status.SIGNED:
        raise ValidationError("Only a signed record takes an addendum; edit the record instead.")
    if locked.imported_from:
        raise ValidationError(
            f"This record was charted in {locked.imported_from}: "
            "correct it there and send it again."
        )
    if not what.strip() or not why.strip():
        raise ValidationError("An addendum needs both what changed and why.")
    addendum = Addendum.objects.create(encounter=locked, what=what, why=why, author=user)
    if answers:
        charges_port().queries_answered(addendum=addendum, query_ids=answers)
    if record_changed:
        charges_port().charges_owed(encounter_id=locked.pk, trigger="addendum", reason=why)
    addendum.charges_owed = record_changed  # type: ignore[attr-defined]
    return addendum
