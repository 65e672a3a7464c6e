"""A coder withdraws a documentation query (coding/review.py `query_withdraw`): sent by mistake,
or settled another way. With a reason: it leaves the nurse's chart and board ("Query from
coding") and the worklist's waiting state, stays in the history as withdrawn (who, when, why;
audited), and no addendum written afterwards answers it. An answered query is not withdrawn."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from coding.models import DocumentationQuery, ReviewItem
from coding.ports import CodingChargesPort
from coding.review import query_send, query_withdraw, review_claim
from mar import roles
from mar.services.signature import addendum_store
from tests import factories
from tests.coding.review_helpers import ondansetron_infused
from tests.coding.test_query_answers import hydration_ordered, queried

pytestmark = pytest.mark.django_db


def board_card(client, encounter) -> str:
    page = client.get(reverse("mar:board")).content.decode()
    cards = re.findall(r'<a class="card board-card.*?</a>', page, re.S)
    mine = [c for c in cards if reverse("mar:encounter", args=[encounter.pk]) in c]
    return mine[0] if mine else ""


def withdraw_url(encounter, query) -> str:
    return reverse("coding:query_withdraw", args=[encounter.pk, query.pk])


def test_a_withdrawn_query_leaves_the_nurses_chart_and_board_and_the_item_waits_no_more(
    client_as, coder_user
) -> None:
    encounter, _, item, query = queried(coder_user)
    nurse = client_as(roles.NURSE)
    assert "Query from coding" in board_card(nurse, encounter)
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.QUERIED

    query_withdraw(query=query, user=coder_user, reason="Sent by mistake: the order is on file.")

    query.refresh_from_db()
    assert not query.is_open and query.is_withdrawn and query.answered_at is None
    assert query.withdrawn_by == coder_user and query.withdrawn_at is not None
    assert query.withdrawn_reason == "Sent by mistake: the order is on file."
    assert not CodingChargesPort().open_queries().filter(pk=query.pk).exists()
    html = render_to_string("mar/_queries.html", {"encounter": encounter})
    assert "coder-queries" not in html and "Is there an order for hydration?" not in html
    # Signed days ago and nothing else keeps it there: the card leaves the board.
    assert board_card(nurse, encounter) == ""
    # Off the worklist's waiting state: back in review with the coder who withdrew it.
    item.refresh_from_db()
    assert item.state == ReviewItem.State.IN_REVIEW and item.claimed_by == coder_user
    assert item.returned_reason == "Query withdrawn"


def test_a_withdrawal_needs_a_reason_and_changes_nothing_without_one(coder_user) -> None:
    _, _, item, query = queried(coder_user)
    with pytest.raises(ValidationError) as refused:
        query_withdraw(query=query, user=coder_user, reason="  ")
    assert "reason" in refused.value.message_dict
    query.refresh_from_db()
    assert query.is_open and query.withdrawn_at is None
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.QUERIED


def test_an_answered_query_cannot_be_withdrawn(coder_user, nurse_user) -> None:
    encounter, _, _, query = queried(coder_user)
    addendum_store(
        encounter=encounter, user=nurse_user, what="order on file", why="query",
        answers=[query.pk],
    )  # fmt: skip
    query.refresh_from_db()
    with pytest.raises(ValidationError, match="already answered"):
        query_withdraw(query=query, user=coder_user, reason="settled")
    query.refresh_from_db()
    assert query.answered_at is not None and query.withdrawn_at is None


def test_a_query_withdrawn_twice_is_refused_the_second_time(coder_user) -> None:
    _, _, _, query = queried(coder_user)
    query_withdraw(query=query, user=coder_user, reason="settled by phone")
    with pytest.raises(ValidationError, match="already withdrawn"):
        query_withdraw(query=query, user=coder_user, reason="again")
    query.refresh_from_db()
    assert query.withdrawn_reason == "settled by phone"


def test_no_addendum_written_after_the_withdrawal_answers_it(coder_user, nurse_user) -> None:
    """Neither an addendum that changes what it asked about (RAC-1 cleared) nor the nurse's word
    (a form she opened before the withdrawal, "It answers the coder's query")."""
    encounter, _, _, query = queried(coder_user)
    query_withdraw(query=query, user=coder_user, reason="asked the unit manager instead")
    hydration_ordered(encounter, nurse_user)  # RAC-1 cleared: would have answered it
    addendum_store(
        encounter=encounter, user=nurse_user, what="order on file", why="query",
        answers=[query.pk],
    )  # fmt: skip
    query.refresh_from_db()
    assert query.answered_at is None and query.answered_by_addendum is None
    assert query.is_withdrawn
    # The new charges bring the item back as new, for the charges' sake, not as "answered".
    item = ReviewItem.objects.get(encounter=encounter)
    assert item.returned_reason != "Query answered by addendum"


def test_with_another_query_open_the_item_still_waits_for_the_nurse(coder_user) -> None:
    encounter, run, item, first = queried(coder_user)
    # The item is QUERIED: take it back to ask a second question (the coder withdraws nothing
    # yet), as the service would let her once back in review.
    ReviewItem.objects.filter(pk=item.pk).update(state=ReviewItem.State.IN_REVIEW)
    item.refresh_from_db()
    second = query_send(item=item, user=coder_user, finding=None, question="Which site?")
    query_withdraw(query=first, user=coder_user, reason="settled")
    item.refresh_from_db()
    assert item.state == ReviewItem.State.QUERIED
    assert list(CodingChargesPort().open_queries().filter(encounter=encounter)) == [second]


def test_a_query_is_not_withdrawn_while_another_coder_reviews_the_encounter(
    coder_user, nurse_user
) -> None:
    """An addendum about something else made new charges (the item back to new, the query still
    open) and another coder claimed them: only she withdraws it now."""
    encounter, _, item, query = queried(coder_user)
    ondansetron_infused(encounter, nurse_user)
    other = factories.user_create(username="coder2", role=roles.CODER)
    review_claim(user=other, item_id=item.pk)
    with pytest.raises(ValidationError, match="coder2 is reviewing"):
        query_withdraw(query=query, user=coder_user, reason="not mine to withdraw")
    query.refresh_from_db()
    assert query.is_open
    query_withdraw(query=query, user=other, reason="settled by the new charges")
    item.refresh_from_db()
    assert item.state == ReviewItem.State.IN_REVIEW and item.claimed_by == other


def test_withdraw_by_form_post_the_query_shown_withdrawn_with_who_when_why(
    client_as, coder_user
) -> None:
    encounter, _, item, query = queried(coder_user)
    client = client_as(roles.CODER)
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert 'data-testid="withdraw-form"' in page  # on a queried item, which has no other action
    prefix = f"w{query.pk}"
    # Without a reason: refused beside the field, on the page, nothing withdrawn.
    refused = client.post(withdraw_url(encounter, query), {f"{prefix}-reason": ""})
    assert refused.status_code == 200
    shown = refused.content.decode()
    assert "Say why the query is withdrawn" in shown
    assert DocumentationQuery.objects.get(pk=query.pk).is_open
    done = client.post(
        withdraw_url(encounter, query), {f"{prefix}-reason": "Sent to the wrong visit."}
    )
    assert done.status_code == 302
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    shown = page[page.index('data-testid="query"') :]
    shown = shown[: shown.index("</li>")]
    assert "Withdrawn" in shown and "Sent to the wrong visit." in shown and "coder1" in shown
    assert "Open" not in shown and 'data-testid="withdraw-form"' not in shown
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.IN_REVIEW


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST, roles.CLERK])
def test_only_coders_withdraw_a_query(client_as, coder_user, role) -> None:
    encounter, _, _, query = queried(coder_user)
    response = client_as(role).post(
        withdraw_url(encounter, query), {f"w{query.pk}-reason": "not a coder"}
    )
    assert response.status_code == 403
    assert DocumentationQuery.objects.get(pk=query.pk).is_open


def test_the_withdraw_post_needs_csrf(coder_user) -> None:
    from django.test import Client

    encounter, _, _, query = queried(coder_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(coder_user)
    response = client.post(
        withdraw_url(encounter, query), {f"w{query.pk}-reason": "asked by mistake"}
    )
    assert response.status_code == 403
    assert DocumentationQuery.objects.get(pk=query.pk).is_open


def test_a_query_of_another_encounter_is_not_found_under_this_one(client_as, coder_user) -> None:
    encounter, _, _, query = queried(coder_user)
    other, _, _, _ = queried(coder_user)
    response = client_as(roles.CODER).post(
        withdraw_url(other, query), {f"w{query.pk}-reason": "asked by mistake"}
    )
    assert response.status_code == 404
    assert DocumentationQuery.objects.get(pk=query.pk).is_open


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_withdrawal_is_in_the_audit_trail(coder_user) -> None:
    from mar.audit.models import EVENTS

    _, _, _, query = queried(coder_user)
    query_withdraw(query=query, user=coder_user, reason="duplicate of an earlier query")
    events = EVENTS[DocumentationQuery].objects.filter(pgh_obj_id=query.pk).order_by("pgh_id")
    last = events.last()
    assert last.pgh_label == "update"
    assert last.withdrawn_reason == "duplicate of an earlier query"
    assert last.withdrawn_by_id == coder_user.pk
    assert timezone.now() - last.withdrawn_at < timedelta(minutes=1)
