"""A pharmacist returns an order to the prescriber with a reason (pharmacy.services.order_return,
the queue's Return): who, when and why kept and audited; refused without a reason (said beside
the field, what was typed kept), for a verified order and for a signed record; only by a
pharmacist. A verification after the return is the decision and clears it; the ordering system's
change (HL7 ORC-1 XO) clears it too and sends the order back to verify."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Order
from mar.pharmacy.services import order_return, order_verify
from mar.registration.services import OrderEntry, order_change
from tests import factories
from tests.mar.pharmacy.queue_helpers import row_of, section, sign

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
REASON = "Dose 900 mg is over the maximum for BSA 1.6 m²: please review"
TRIGGERS = "the audit trail and the signed-record guard are PostgreSQL's triggers"


def entry(dose: str = "8") -> OrderEntry:
    return factories.ondansetron_entry(dose)


@pytest.fixture
def order() -> Order:
    return factories.ondansetron_order()


def return_url(order: Order) -> str:
    return reverse("pharmacy:order_return", args=[order.pk])


def commit_checks() -> None:
    """The guard's deferred checks, run now as a commit would (tests/security/test_audit_trail)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# --- the service ----------------------------------------------------------------------------


def test_returning_an_order_keeps_the_reason_the_pharmacist_and_the_time(
    order, pharmacist_user
) -> None:
    order_return(order=order, reason=f"  {REASON} ", user=pharmacist_user)
    order.refresh_from_db()
    assert order.return_reason == REASON
    assert order.returned_by == pharmacist_user
    assert order.returned_at is not None
    assert timezone.now() - order.returned_at < timedelta(minutes=1)
    assert order.is_returned
    assert order.verified_at is None


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_return_without_a_reason_is_refused_naming_the_reason(
    order, pharmacist_user, reason
) -> None:
    with pytest.raises(ValidationError) as refused:
        order_return(order=order, reason=reason, user=pharmacist_user)
    assert "reason" in refused.value.message_dict
    order.refresh_from_db()
    assert order.returned_at is None


def test_a_verified_order_cannot_be_returned(order, pharmacist_user) -> None:
    order_verify(order=order, user=pharmacist_user)
    with pytest.raises(ValidationError, match="already verified: it cannot be returned"):
        order_return(order=order, reason=REASON, user=pharmacist_user)
    order.refresh_from_db()
    assert order.returned_at is None and order.verified_at is not None


def test_an_order_of_a_signed_record_cannot_be_returned(order, pharmacist_user) -> None:
    sign(order)
    with pytest.raises(ValidationError, match="This record is signed"):
        order_return(order=order, reason=REASON, user=pharmacist_user)
    order.refresh_from_db()
    assert order.returned_at is None


def test_an_order_is_returned_once(order, pharmacist_user, admin_role_user) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    with pytest.raises(ValidationError, match="already returned by pharm1"):
        order_return(order=order, reason="another reason", user=admin_role_user)
    order.refresh_from_db()
    assert (order.returned_by, order.return_reason) == (pharmacist_user, REASON)


def test_verifying_a_returned_order_clears_the_return(
    order, pharmacist_user, admin_role_user
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    order_verify(order=order, user=admin_role_user)
    order.refresh_from_db()
    assert order.verified_by == admin_role_user
    assert (order.returned_by, order.returned_at, order.return_reason) == (None, None, "")
    assert not order.is_returned


def test_the_ordering_systems_change_clears_the_return_and_sends_it_back_to_verify(
    order, pharmacist_user, client_as
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    done = order_change(encounter=order.encounter, entry=entry("4"))
    assert done.changed
    order.refresh_from_db()
    assert (order.returned_by, order.returned_at, order.return_reason) == (None, None, "")
    assert order.revision == 1 and order.verified_at is None
    queue = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders"))
    assert list(queue.context["unverified"]) == [order]
    assert list(queue.context["returned"]) == []


@pytest.mark.postgresql(TRIGGERS)
def test_the_return_is_in_the_audit_trail_with_who_when_and_why(order, client_as) -> None:
    client = client_as(roles.PHARMACIST)
    client.post(return_url(order), {"reason": REASON})
    order.refresh_from_db()
    events = EVENTS[Order].objects.filter(pgh_obj_id=order.pk).order_by("pgh_id")
    returned = [e for e in events if e.returned_at is not None]
    assert len(returned) == 1
    event = returned[0]
    assert event.pgh_label == "update"
    assert (event.returned_by_id, event.return_reason) == (order.returned_by_id, REASON)
    assert event.returned_at == order.returned_at
    context = event.pgh_context
    assert context is not None
    assert context.metadata["action"] == "order_return"
    assert context.metadata["reason"] == REASON
    assert context.metadata["user"] == order.returned_by_id
    assert context.metadata["url"] == return_url(order)


@pytest.mark.postgresql(TRIGGERS)
def test_the_verification_that_clears_a_return_is_audited_with_the_reason_it_cleared(
    order, pharmacist_user
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    order_verify(order=order, user=pharmacist_user)
    last = EVENTS[Order].objects.filter(pgh_obj_id=order.pk).order_by("-pgh_id").first()
    assert last is not None and last.verified_at is not None and last.returned_at is None
    assert last.pgh_context is not None
    assert last.pgh_context.metadata["action"] == "order_verify"
    assert last.pgh_context.metadata["returned_reason"] == REASON


@pytest.mark.postgresql(TRIGGERS)
def test_a_returned_order_signed_unverified_is_verified_after_and_the_guard_still_holds(
    order, pharmacist_user
) -> None:
    """Returned, then the visit signed (the nurse documented it not given): the pharmacist may
    still verify it (the guard lets a first verification through and nothing else), the return
    staying on the row beside the verification; clearing the return on the signed record is a
    change to it, refused without an addendum."""
    order_return(order=order, reason=REASON, user=pharmacist_user)
    sign(order)
    with transaction.atomic():
        order_verify(order=order, user=pharmacist_user)
        commit_checks()
    order.refresh_from_db()
    assert order.verified_by == pharmacist_user
    assert order.return_reason == REASON and order.returned_at is not None
    assert not order.is_returned  # the verification decided
    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE mar_order SET returned_by_id = NULL, returned_at = NULL, "
                "return_reason = '' WHERE id = %s",
                (order.pk,),
            )
        commit_checks()


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_offers_return_beside_verify(order, client_as) -> None:
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    row = row_of(html, order)
    assert 'data-testid="order-verify"' in row
    assert 'data-testid="order-return-form"' in row
    assert f'action="{return_url(order)}"' in row and f'hx-post="{return_url(order)}"' in row
    assert "csrfmiddlewaretoken" in row.split('data-testid="order-return-form"', 1)[1]


def test_a_return_by_plain_post_redirects_to_the_queue_where_it_waits_for_the_prescriber(
    order, client_as, pharmacist_user
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(return_url(order), {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == reverse("pharmacy:orders")
    assert any("Returned to the prescriber" in str(m) for m in get_messages(response.wsgi_request))
    queue = client.get(reverse("pharmacy:orders"))
    assert list(queue.context["unverified"]) == []
    assert list(queue.context["returned"]) == [order]
    html = queue.content.decode()
    assert "Returned, waiting for the prescriber" in html
    assert "No order to verify: those returned wait for the prescriber, below." in html
    returned = section(html, "returned-orders")
    assert 'data-testid="order-returned"' in returned
    assert f"Returned by pharmacy:</strong> {REASON} (pharm1, " in returned
    order.refresh_from_db()
    stamp = timezone.localtime(order.returned_at)
    assert f"{stamp:%Y-%m-%d}</span> {stamp:%H:%M})" in returned
    # Still verifiable there, but not returned twice.
    assert 'data-testid="order-verify"' in returned
    assert 'data-testid="order-return-form"' not in returned


def test_a_return_by_htmx_answers_where_it_went_and_the_returned_section_out_of_band(
    order, client_as
) -> None:
    """In its place in the queue a line says where it went; it is listed once, under "Returned,
    waiting for the prescriber" (out of band), and the counts beside the headings follow."""
    response = client_as(roles.PHARMACIST).post(return_url(order), {"reason": REASON}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="order-{order.pk}-returned"')
    assert "Returned to the prescriber: ondansetron for" in html
    assert html.count(f'<tr id="order-{order.pk}"') == 1
    assert re.search(r'<template>\s*<tbody id="returned-orders"[^>]*hx-swap-oob="morph"', html)
    returned = section(html, "returned-orders")
    assert 'data-testid="order-returned"' in returned and REASON in returned
    assert re.search(r'id="to-verify-count"[^>]*hx-swap-oob="true">0<', html)
    assert re.search(r'id="returned-count"[^>]*hx-swap-oob="true">1<', html)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_blank_reason_is_said_beside_the_field(order, client_as, htmx) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(return_url(order), {"reason": "  "}, **(HTMX if htmx else {}))
    assert response.status_code == (200 if htmx else 400)
    row = row_of(response.content.decode(), order)
    assert 'data-testid="order-return-reason-error"' in row
    assert "Say why the order goes back to the prescriber" in row
    assert '<details class="order-return" open>' in row
    assert 'class="form-control form-control-sm is-invalid"' in row
    order.refresh_from_db()
    assert order.returned_at is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_refused_reason_keeps_what_was_typed(order, client_as, htmx) -> None:
    typed = "Interaction with the patient's warfarin " + "x" * 2000
    client = client_as(roles.PHARMACIST)
    response = client.post(return_url(order), {"reason": typed}, **(HTMX if htmx else {}))
    row = row_of(response.content.decode(), order)
    assert "at most 2000 characters" in row
    assert f">{typed}</textarea>" in row.replace("&#x27;", "'")
    order.refresh_from_db()
    assert order.returned_at is None


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_a_pharmacist_may_return_an_order(order, client_as, role) -> None:
    response = client_as(role).post(return_url(order), {"reason": REASON})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.returned_at is None


def test_the_return_endpoint_takes_only_posts(order, client_as) -> None:
    assert client_as(roles.PHARMACIST).get(return_url(order)).status_code == 405


def test_the_return_needs_the_csrf_token(order, pharmacist_user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    assert client.post(return_url(order), {"reason": REASON}).status_code == 403
    order.refresh_from_db()
    assert order.returned_at is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_verified_order_cannot_be_returned_said_plainly(
    order, client_as, pharmacist_user, htmx
) -> None:
    order_verify(order=order, user=pharmacist_user)
    client = client_as(roles.PHARMACIST)
    response = client.post(return_url(order), {"reason": REASON}, **(HTMX if htmx else {}))
    message = "This order is already verified: it cannot be returned to the prescriber."
    if htmx:
        row = row_of(response.content.decode(), order)
        assert 'data-testid="order-return-refused"' in row and message in row
        assert 'data-testid="order-verified"' in row
    else:
        assert response.status_code == 302
        assert [str(m) for m in get_messages(response.wsgi_request)] == [message]
    order.refresh_from_db()
    assert order.returned_at is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_an_order_of_a_signed_record_is_not_returned_said_plainly(order, client_as, htmx) -> None:
    """Given, then signed unverified (listed to verify after the fact): not returned."""
    factories.administration_create(
        order.encounter, order, site=None, start=order.encounter.arrived_at, stop=None
    )
    sign(order)
    client = client_as(roles.PHARMACIST)
    queue = client.get(reverse("pharmacy:orders")).content.decode()
    assert 'data-testid="order-return-form"' not in row_of(queue, order)  # not offered
    response = client.post(return_url(order), {"reason": REASON}, **(HTMX if htmx else {}))
    message = "This record is signed: its orders are no longer returned to the prescriber."
    if htmx:
        assert message in row_of(response.content.decode(), order)
    else:
        assert [str(m) for m in get_messages(response.wsgi_request)] == [message]
    order.refresh_from_db()
    assert order.returned_at is None


def test_a_returned_order_verified_by_htmx_leaves_the_returned_section(
    order, client_as, pharmacist_user
) -> None:
    order_return(order=order, reason=REASON, user=pharmacist_user)
    client = client_as(roles.PHARMACIST)
    response = client.post(reverse("pharmacy:order_verify", args=[order.pk]), **HTMX)
    html = response.content.decode()
    row = row_of(html, order)
    assert 'data-testid="order-verified"' in row and 'data-testid="order-returned"' not in row
    # In its row's place under "Returned", a line saying where it went (listed once).
    assert 'data-testid="order-verify-done"' in html.split("<template>", 1)[0]
    assert 'id="returned-orders"' not in html
    assert re.search(r'id="returned-count"[^>]*hx-swap-oob="true">0<', html)
    assert f'id="order-{order.pk}"' in section(html, "recently-verified")
    queue = client.get(reverse("pharmacy:orders"))
    assert list(queue.context["returned"]) == [] and list(queue.context["verified"]) == [order]


def test_the_worklist_does_not_count_a_returned_order_among_those_to_verify(
    order, client_as, pharmacist_user
) -> None:
    client = client_as(roles.PHARMACIST)
    assert "1 order to verify" in client.get(reverse("pharmacy:worklist")).content.decode()
    order_return(order=order, reason=REASON, user=pharmacist_user)
    html = client.get(reverse("pharmacy:worklist")).content.decode()
    assert 'data-testid="orders-to-verify"' not in html


# --- the review page ------------------------------------------------------------------------


def test_the_review_page_offers_return_and_comes_back_to_itself(order, client_as) -> None:
    client = client_as(roles.PHARMACIST)
    review = reverse("pharmacy:order_review", args=[order.pk])
    html = client.get(review).content.decode()
    assert 'data-testid="order-return-form"' in html and 'name="origin" value="review"' in html
    response = client.post(return_url(order), {"reason": REASON, "origin": "review"})
    assert response.status_code == 302 and response["Location"] == review
    html = client.get(review).content.decode()
    assert f"Returned by pharmacy:</strong> {REASON}" in html
    assert 'data-testid="order-return-form"' not in html  # returned once
    assert 'data-testid="verify"' in html  # still verifiable


def test_a_blank_reason_on_the_review_page_is_said_there_beside_the_field(order, client_as) -> None:
    response = client_as(roles.PHARMACIST).post(
        return_url(order), {"reason": "", "origin": "review"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Verify: ondansetron" in html  # the review page, not the queue
    assert 'data-testid="order-return-reason-error"' in html
    assert '<details class="order-return" open>' in html


def returned_badge(html: str) -> tuple[str, str]:
    """The "Returned, waiting for the prescriber" count: its badge colour and its number."""
    found = re.search(r'<span class="badge (text-bg-\w+)" id="returned-count"[^>]*>(\d+)<', html)
    assert found, "the returned count"
    return found.group(1), found.group(2)


def test_the_returned_count_is_red_only_above_zero_on_the_page_and_out_of_band(
    order, client_as
) -> None:
    """Only an order waiting for the prescriber is an alarm: grey at 0 as the to-verify count,
    red above (QA walkthrough: red at 0); the count swapped out of band after a return, a verify
    and a withdrawal takes its colour with its number."""
    client = client_as(roles.PHARMACIST)
    assert returned_badge(client.get(reverse("pharmacy:orders")).content.decode()) == (
        "text-bg-secondary",
        "0",
    )
    answer = client.post(return_url(order), {"reason": REASON}, **HTMX).content.decode()
    assert returned_badge(answer) == ("text-bg-danger", "1")
    assert returned_badge(client.get(reverse("pharmacy:orders")).content.decode()) == (
        "text-bg-danger",
        "1",
    )
    withdraw = reverse("pharmacy:order_return_withdraw", args=[order.pk])
    answer = client.post(withdraw, {"reason": "Returned by mistake"}, **HTMX).content.decode()
    assert returned_badge(answer) == ("text-bg-secondary", "0")
    client.post(return_url(order), {"reason": REASON}, **HTMX)
    verify = reverse("pharmacy:order_verify", args=[order.pk])
    answer = client.post(verify, **HTMX).content.decode()
    assert returned_badge(answer) == ("text-bg-secondary", "0")
