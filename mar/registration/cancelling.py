"""An order cancelled as entered in error, at the ordering desk or by pharmacy.

A clerk (or a pharmacist, or an admin) who typed the wrong drug, dose or patient cancels the
order before anything is charted on it, saying why in words: who, when and why stay on the order
and in the audit trail, and the order is no longer on the chart's orders, the pharmacist's queue
or the engine's record (DOC-6 asks nothing of it, mar/record.py). The clerk's visit page keeps
it, struck through, with the reason. Once a nurse charted anything on it (a start, a not-given)
or the visit is signed, it is not cancelled here: the nurse documents it not given, or an
addendum says what happened.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mar.audit.context import history_context_apart
from mar.models import Encounter, Order
from mar.summary import summary_invalidate
from mar.validators import validate_reason_in_words

SIGNED_REFUSED = (
    "This visit is signed: an order is no longer cancelled here; an addendum says what happened."
)


REASON_MISSING = "Say why the order was entered in error (the wrong drug, dose or patient)."


def order_cancel_refusal(order: Order, encounter: Encounter) -> str | None:
    """Why `order` cannot be cancelled as entered in error now (None: it can)."""
    if order.cancelled_at is not None:
        return "This order is cancelled already."
    if encounter.status == Encounter.Status.SIGNED:
        return SIGNED_REFUSED
    # Read as prefetched on the visit page (one statement for its orders).
    given = min(order.administrations.all(), key=lambda a: (a.start, a.pk), default=None)
    if given is not None:
        return (
            f"A{given.pk} was charted on this order at "
            f"{timezone.localtime(given.start, encounter.zone):%H:%M}: it is not cancelled. The "
            "nurse documents what happened on the chart."
        )
    if order.disposition:
        return (
            f"The nurse documented it {order.get_disposition_display().lower()}: it is accounted "
            "for on the chart, not cancelled."
        )
    return None


@transaction.atomic
def order_cancel(*, order: Order, reason: str, user: AbstractBaseUser) -> Order:
    """Cancel `order` as entered in error, with `reason` in words. The encounter is locked first,
    as a start locks it, so that a start and a cancel take turns: whichever comes second sees
    the other. Raises ValidationError ("reason" keyed for the reason's own problems)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": [REASON_MISSING]})
    try:
        validate_reason_in_words(reason)
    except ValidationError as exc:
        raise ValidationError({"reason": exc.messages}) from None
    encounter = Encounter.objects.select_for_update().get(pk=order.encounter_id)
    locked = Order.objects.select_for_update(of=("self",)).select_related("drug").get(pk=order.pk)
    refusal = order_cancel_refusal(locked, encounter)
    if refusal is not None:
        raise ValidationError(refusal)
    locked.cancelled_by = user  # type: ignore[assignment]
    locked.cancelled_at = timezone.now()
    locked.cancel_reason = reason
    with history_context_apart(action="order_cancel", user=user.pk, reason=reason):
        locked.save(update_fields=["cancelled_by", "cancelled_at", "cancel_reason", "updated_at"])
    summary_invalidate(encounter_ids=[encounter.pk])  # the board's and the checklist's summary
    return locked
