"""A pharmacist withdraws a return to the prescriber without verifying the order (pharmacy.
services.order_return_withdraw): the order goes back to the queue to verify, unverified and no
longer returned; the reason is required; refused for an order not returned and on a signed record;
who, when and why in the audit trail. (The bedside after a withdrawal:
tests/mar/test_order_return_start.py.)"""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Encounter, Order
from mar.pharmacy.services import order_return, order_return_withdraw, order_verify
from tests import factories

pytestmark = pytest.mark.django_db

RETURNED = "Dose 900 mg is over the maximum for BSA 1.6 m²: please review"
WHY = "Dr. Okafor confirmed the dose by phone: verify it against today's weight"
TRIGGERS = "the audit trail is PostgreSQL's triggers"
NOT_RETURNED = "This order is not returned to the prescriber: there is no return to withdraw."
SIGNED = "This record is signed: a return of its orders is no longer withdrawn."


@pytest.fixture
def order() -> Order:
    return factories.ondansetron_order()


@pytest.fixture
def returned(order: Order, pharmacist_user) -> Order:
    order_return(order=order, reason=RETURNED, user=pharmacist_user)
    return order


def sign(order: Order) -> None:
    Encounter.objects.filter(pk=order.encounter_id).update(status=Encounter.Status.SIGNED)


def queue(client: Client) -> tuple[list[Order], list[Order]]:
    context = client.get(reverse("pharmacy:orders")).context
    return list(context["unverified"]), list(context["returned"])


# --- the service ----------------------------------------------------------------------------


def test_withdrawing_a_return_clears_it_and_puts_the_order_back_in_the_queue_unverified(
    returned, client_as, admin_role_user
) -> None:
    client = client_as(roles.PHARMACIST)
    assert queue(client) == ([], [returned])
    order_return_withdraw(order=returned, reason=f"  {WHY} ", user=admin_role_user)
    assert (returned.returned_by, returned.returned_at, returned.return_reason) == (None, None, "")
    returned.refresh_from_db()
    assert (returned.returned_by, returned.returned_at, returned.return_reason) == (None, None, "")
    assert not returned.is_returned
    assert (returned.verified_by, returned.verified_at) == (None, None)
    assert queue(client) == ([returned], [])


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_withdrawal_without_a_reason_is_refused_naming_the_reason(
    returned, pharmacist_user, reason
) -> None:
    with pytest.raises(ValidationError) as refused:
        order_return_withdraw(order=returned, reason=reason, user=pharmacist_user)
    assert refused.value.message_dict == {"reason": ["Say why the return is withdrawn."]}
    returned.refresh_from_db()
    assert returned.is_returned and returned.return_reason == RETURNED


def test_an_order_never_returned_has_no_return_to_withdraw(order, pharmacist_user) -> None:
    with pytest.raises(ValidationError) as refused:
        order_return_withdraw(order=order, reason=WHY, user=pharmacist_user)
    assert refused.value.messages == [NOT_RETURNED]


def test_a_return_cleared_by_a_verification_is_not_withdrawn_after(
    returned, pharmacist_user
) -> None:
    order_verify(order=returned, user=pharmacist_user)
    with pytest.raises(ValidationError, match=re.escape(NOT_RETURNED)):
        order_return_withdraw(order=returned, reason=WHY, user=pharmacist_user)
    returned.refresh_from_db()
    assert returned.verified_by == pharmacist_user  # the verification stands


def test_a_return_is_withdrawn_once(returned, pharmacist_user) -> None:
    order_return_withdraw(order=returned, reason=WHY, user=pharmacist_user)
    with pytest.raises(ValidationError, match=re.escape(NOT_RETURNED)):
        order_return_withdraw(order=returned, reason=WHY, user=pharmacist_user)


def test_a_return_on_a_signed_record_is_not_withdrawn(returned, pharmacist_user) -> None:
    sign(returned)
    with pytest.raises(ValidationError) as refused:
        order_return_withdraw(order=returned, reason=WHY, user=pharmacist_user)
    assert refused.value.messages == [SIGNED]
    returned.refresh_from_db()
    assert returned.is_returned and returned.return_reason == RETURNED


def test_an_order_withdrawn_can_be_returned_again(returned, pharmacist_user) -> None:
    order_return_withdraw(order=returned, reason=WHY, user=pharmacist_user)
    order_return(order=returned, reason="Interaction with warfarin", user=pharmacist_user)
    returned.refresh_from_db()
    assert returned.is_returned and returned.return_reason == "Interaction with warfarin"


# --- the audit trail ------------------------------------------------------------------------


@pytest.mark.postgresql(TRIGGERS)
def test_the_withdrawal_is_in_the_audit_trail_with_who_when_why_and_the_return_it_cleared(
    returned, client_as, pharmacist_user
) -> None:
    before = timezone.now()
    order_return_withdraw(order=returned, reason=WHY, user=pharmacist_user)
    returned.refresh_from_db()
    assert not returned.is_returned
    events = list(EVENTS[Order].objects.filter(pgh_obj_id=returned.pk).order_by("pgh_id"))
    # The return's event keeps what was returned, by whom and when.
    assert [(e.return_reason, e.returned_by_id) for e in events if e.returned_at] == [
        (RETURNED, pharmacist_user.pk)
    ]
    last = events[-1]
    assert last.pgh_label == "update"
    assert (last.returned_by_id, last.returned_at, last.return_reason) == (None, None, "")
    assert last.verified_at is None
    # When: the row's own time of the change (pgh_created_at is the test transaction's start).
    assert timedelta(0) <= last.updated_at - before < timedelta(minutes=1)
    context = last.pgh_context
    assert context is not None
    assert context.metadata["action"] == "order_return_withdraw"
    assert context.metadata["user"] == pharmacist_user.pk  # who
    assert context.metadata["reason"] == WHY  # why
    assert context.metadata["returned_reason"] == RETURNED  # the return it cleared
