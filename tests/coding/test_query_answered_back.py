"""An answered query brings the item back in review with the coder who asked it
(coding/review.py `_answered`), as a withdrawn one comes back with the coder who withdrew it.

QA: after the nurse answered (an addendum changing what the query asked about, or "It answers
the coder's query" in words), the item went back to New with nobody in "Who has it": the coder
who asked had to claim it again, and any coder could take it. The charges still want her
decision (in review, not accepted; a new run's lines marked changed under her); the asker of
the query answered last has it; an asker no longer active, or no longer a coder, leaves it New
as before."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from coding.models import DocumentationQuery, ReviewItem
from coding.review import changed_in_review, review_claim
from mar import roles
from mar.services.signature import addendum_store
from tests import factories
from tests.coding.test_query_answers import hydration_ordered, queried

pytestmark = pytest.mark.django_db

ANSWERED = "Query answered by addendum"


def answer_in_words(encounter, nurse, *queries) -> None:
    addendum_store(
        encounter=encounter, user=nurse, what="the physician ordered hydration by phone",
        why="coding query", answers=[q.pk for q in queries],
    )  # fmt: skip


def test_an_addendum_answering_the_query_brings_it_back_in_review_with_the_asker(
    coder_user, nurse_user
) -> None:
    encounter, _, item, query = queried(coder_user)
    claimed_at = ReviewItem.objects.get(pk=item.pk).claimed_at
    new_run = hydration_ordered(encounter, nurse_user)

    item = ReviewItem.objects.select_related("run").get(pk=item.pk)
    assert (item.state, item.claimed_by, item.returned_reason) == (
        ReviewItem.State.IN_REVIEW, coder_user, ANSWERED
    )  # fmt: skip
    # Her claim since the same moment: the new run is marked changed under her, to re-review.
    assert item.claimed_at == claimed_at and item.run == new_run
    assert changed_in_review(item, item.run)
    # Nobody else takes it; nor is it among the new ones "Claim the next" gives.
    other = factories.user_create(username="coder2", role=roles.CODER)
    assert review_claim(user=other, item_id=item.pk) is None
    assert review_claim(user=other) is None


def test_an_answer_in_words_brings_it_back_in_review_with_the_asker(coder_user, nurse_user) -> None:
    encounter, run, item, query = queried(coder_user)
    answer_in_words(encounter, nurse_user, query)
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by, item.returned_reason) == (
        ReviewItem.State.IN_REVIEW, coder_user, ANSWERED
    )  # fmt: skip
    # The record unchanged (no new run): nothing changed under her.
    assert item.run_id == run.pk and not changed_in_review(item, run)


def test_the_asker_of_the_query_answered_last_has_it_not_the_coder_holding_it(
    coder_user, nurse_user
) -> None:
    """Two queries of two coders: answered one at a time, the item comes back to the asker of
    the answer's query; answered together, to the one who asked last."""
    encounter, run, item, first = queried(coder_user)
    second_coder = factories.user_create(username="coder2", role=roles.CODER)
    second = DocumentationQuery.objects.create(
        encounter=encounter, run=run, rule="", question="Which pump?", asked_by=second_coder,
        asked_at=timezone.now() + timedelta(seconds=1),
    )  # fmt: skip
    ReviewItem.objects.filter(pk=item.pk).update(claimed_by=second_coder)
    answer_in_words(encounter, nurse_user, first)
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by) == (ReviewItem.State.IN_REVIEW, coder_user)
    # Not her claim's moment (another coder held it): since her question.
    first.refresh_from_db()
    assert item.claimed_at == first.asked_at

    ReviewItem.objects.filter(pk=item.pk).update(state=ReviewItem.State.QUERIED)
    third = DocumentationQuery.objects.create(
        encounter=encounter, run=run, rule="", question="Which bag?", asked_by=coder_user
    )
    DocumentationQuery.objects.filter(pk=third.pk).update(asked_at=second.asked_at - timedelta(1))
    answer_in_words(encounter, nurse_user, second, third)
    assert ReviewItem.objects.get(pk=item.pk).claimed_by == second_coder


@pytest.mark.parametrize("gone", ["inactive", "no longer a coder"])
def test_an_asker_who_can_no_longer_review_leaves_it_new_for_any_coder(
    coder_user, nurse_user, gone
) -> None:
    encounter, _, item, query = queried(coder_user)
    if gone == "inactive":
        coder_user.is_active = False
        coder_user.save(update_fields=["is_active"])
    else:
        coder_user.groups.remove(Group.objects.get(name=roles.CODER))
        coder_user.groups.add(Group.objects.get(name=roles.NURSE))
    hydration_ordered(encounter, nurse_user)
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by, item.claimed_at, item.returned_reason) == (
        ReviewItem.State.NEW, None, None, ANSWERED
    )  # fmt: skip
    other = factories.user_create(username="coder2", role=roles.CODER)
    assert review_claim(user=other, item_id=item.pk) is not None


def test_an_administrator_who_asked_gets_it_back(nurse_user) -> None:
    admin = factories.user_create(username="admin9", role=roles.ADMIN)
    encounter, _, item, query = queried(admin)
    answer_in_words(encounter, nurse_user, query)
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by) == (ReviewItem.State.IN_REVIEW, admin)


def test_the_worklist_shows_it_in_review_with_her_and_why(client, coder_user, nurse_user) -> None:
    encounter, _, item, query = queried(coder_user)
    hydration_ordered(encounter, nurse_user)
    client.force_login(coder_user)
    page = client.get(reverse("coding:worklist")).content.decode()
    row = page[page.index(f'data-encounter="{encounter.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "In review" in row and ANSWERED in row and "coder1" in row
    assert 'data-testid="claim-row"' not in row
