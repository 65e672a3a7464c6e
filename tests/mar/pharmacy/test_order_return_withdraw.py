"""A pharmacist withdraws a return to the prescriber without verifying the order (pharmacy.
services.order_return_withdraw, "Withdraw return…" beside each returned order and on its review
page): the order goes back to the queue to verify, unverified and no longer returned; the reason
is required (said beside the field, what was typed kept); refused for an order not returned and on
a signed record; who, when and why in the audit trail; only by a pharmacist. (The bedside after a
withdrawal: tests/mar/test_order_return_start.py.)"""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Order
from mar.pharmacy.services import order_return, order_return_withdraw, order_verify
from tests import factories
from tests.mar.pharmacy.queue_helpers import row_of, section, sign

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
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


def withdraw_url(order: Order) -> str:
    return reverse("pharmacy:order_return_withdraw", args=[order.pk])


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
    client_as(roles.PHARMACIST).post(withdraw_url(returned), {"reason": WHY})
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
    assert context.metadata["url"] == withdraw_url(returned)


# --- the queue (htmx) and its plain-post twin -----------------------------------------------


def test_the_returned_section_offers_withdraw_return_beside_each_order(returned, client_as) -> None:
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = row_of(section(html, "returned-orders"), returned)
    assert "Withdraw return…" in row
    form = row.split('data-testid="order-return-withdraw-form"', 1)[1]
    assert f'action="{withdraw_url(returned)}"' in row
    assert f'hx-post="{withdraw_url(returned)}"' in row
    assert "csrfmiddlewaretoken" in form
    # Not offered on an order to verify (nothing to withdraw there).
    other = factories.ondansetron_order()
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    assert 'data-testid="order-return-withdraw-form"' not in row_of(html, other)


def test_a_withdrawal_by_plain_post_redirects_to_the_queue_where_it_waits_to_be_verified(
    returned, client_as
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(withdraw_url(returned), {"reason": WHY})
    assert response.status_code == 302 and response["Location"] == reverse("pharmacy:orders")
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(said) == 1 and said[0].startswith("Return withdrawn: ondansetron for ")
    assert queue(client) == ([returned], [])
    html = client.get(reverse("pharmacy:orders")).content.decode()
    row = row_of(section(html, "to-verify-orders"), returned)
    assert 'data-testid="order-verify"' in row and 'data-testid="order-returned"' not in row
    assert 'data-testid="order-return-form"' in row  # may be returned again
    assert "No order is waiting for the prescriber." in section(html, "returned-orders")


def test_a_withdrawal_by_htmx_answers_where_it_went_and_the_orders_to_verify_out_of_band(
    returned, client_as
) -> None:
    response = client_as(roles.PHARMACIST).post(withdraw_url(returned), {"reason": WHY}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="order-{returned.pk}-withdrawn"')
    assert "Return withdrawn: ondansetron for" in html
    assert html.count(f'<tr id="order-{returned.pk}"') == 1  # listed once, among those to verify
    assert re.search(r'<template>\s*<tbody id="to-verify-orders"[^>]*hx-swap-oob="morph"', html)
    row = row_of(section(html, "to-verify-orders"), returned)
    assert 'data-testid="order-verify"' in row and 'data-testid="order-returned"' not in row
    assert re.search(r'id="to-verify-count"[^>]*hx-swap-oob="true">1<', html)
    assert re.search(r'id="returned-count"[^>]*hx-swap-oob="true">0<', html)
    returned.refresh_from_db()
    assert not returned.is_returned


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_blank_withdrawal_reason_is_said_beside_the_field(returned, client_as, htmx) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(withdraw_url(returned), {"reason": "  "}, **(HTMX if htmx else {}))
    assert response.status_code == (200 if htmx else 400)
    html = response.content.decode()
    row = row_of(html if htmx else section(html, "returned-orders"), returned)
    assert 'data-testid="order-return-withdraw-reason-error"' in row
    assert "Say why the return is withdrawn" in row
    assert '<details class="order-return-withdraw" open>' in row
    assert 'class="form-control form-control-sm is-invalid"' in row
    returned.refresh_from_db()
    assert returned.is_returned


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_refused_withdrawal_reason_keeps_what_was_typed(returned, client_as, htmx) -> None:
    typed = "The prescriber's answer: keep it " + "x" * 2000
    client = client_as(roles.PHARMACIST)
    response = client.post(withdraw_url(returned), {"reason": typed}, **(HTMX if htmx else {}))
    row = row_of(response.content.decode(), returned)
    assert "at most 2000 characters" in row
    assert f">{typed}</textarea>" in row.replace("&#x27;", "'")
    returned.refresh_from_db()
    assert returned.is_returned


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_withdrawing_an_order_not_returned_is_refused_said_plainly(order, client_as, htmx) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(withdraw_url(order), {"reason": WHY}, **(HTMX if htmx else {}))
    if htmx:
        row = row_of(response.content.decode(), order)
        assert 'data-testid="order-return-withdraw-refused"' in row and NOT_RETURNED in row
    else:
        assert response.status_code == 302 and response["Location"] == reverse("pharmacy:orders")
        assert [str(m) for m in get_messages(response.wsgi_request)] == [NOT_RETURNED]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_return_on_a_signed_record_is_not_withdrawn_said_plainly(
    returned, client_as, htmx
) -> None:
    sign(returned)
    client = client_as(roles.PHARMACIST)
    review = client.get(reverse("pharmacy:order_review", args=[returned.pk])).content.decode()
    assert 'data-testid="order-return-withdraw-form"' not in review  # not offered
    response = client.post(withdraw_url(returned), {"reason": WHY}, **(HTMX if htmx else {}))
    if htmx:
        assert SIGNED in row_of(response.content.decode(), returned)
    else:
        assert [str(m) for m in get_messages(response.wsgi_request)] == [SIGNED]
    returned.refresh_from_db()
    assert returned.is_returned


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_a_pharmacist_may_withdraw_a_return(returned, client_as, role) -> None:
    response = client_as(role).post(withdraw_url(returned), {"reason": WHY})
    assert response.status_code == 403
    returned.refresh_from_db()
    assert returned.is_returned


def test_the_withdraw_endpoint_takes_only_posts(returned, client_as) -> None:
    assert client_as(roles.PHARMACIST).get(withdraw_url(returned)).status_code == 405


def test_the_withdrawal_needs_the_csrf_token(returned, pharmacist_user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    assert client.post(withdraw_url(returned), {"reason": WHY}).status_code == 403
    returned.refresh_from_db()
    assert returned.is_returned


# --- the review page ------------------------------------------------------------------------


def test_the_review_page_offers_withdraw_return_and_comes_back_to_itself(
    returned, client_as
) -> None:
    client = client_as(roles.PHARMACIST)
    review = reverse("pharmacy:order_review", args=[returned.pk])
    html = client.get(review).content.decode()
    assert "Withdraw return…" in html
    assert 'data-testid="order-return-withdraw-form"' in html
    assert 'data-testid="order-return-form"' not in html  # returned once
    assert 'name="origin" value="review"' in html
    response = client.post(withdraw_url(returned), {"reason": WHY, "origin": "review"})
    assert response.status_code == 302 and response["Location"] == review
    html = client.get(review).content.decode()
    assert 'data-testid="order-returned"' not in html
    assert 'data-testid="order-unverified"' in html
    assert 'data-testid="order-return-withdraw-form"' not in html
    assert 'data-testid="order-return-form"' in html and 'data-testid="verify"' in html


def test_a_blank_withdrawal_reason_on_the_review_page_is_said_there_beside_the_field(
    returned, client_as
) -> None:
    response = client_as(roles.PHARMACIST).post(
        withdraw_url(returned), {"reason": "", "origin": "review"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Verify: ondansetron" in html  # the review page, not the queue
    assert 'data-testid="order-return-withdraw-reason-error"' in html
    assert '<details class="order-return-withdraw" open>' in html
