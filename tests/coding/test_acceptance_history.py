"""The review page shows every acceptance of an item's charges, not only the latest.

`ReviewItem.accepted_by`/`accepted_at` keep the latest acceptance only (`review_accept` writes
them). The audit trail (mar/audit: every update of a review item copied, with who accepted and
when) keeps the earlier ones: accepted by coder2, reopened, accepted again by coder1, the page
says "Accepted by coder1 on 7 Dec 08:47; earlier by coder2 on 7 Dec 08:10", in one read however
many times the item was accepted (coding/review_reads.py `acceptances`).
"""

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coding import review_reads
from coding.models import ReviewItem
from coding.review import review_accept, review_claim, review_reopen
from coding.run_changes import acceptance_history
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

ZONE = ZoneInfo("America/New_York")  # settings.TIME_ZONE, the page's
FIRST = datetime(2026, 12, 7, 8, 10, tzinfo=ZONE)
SECOND = datetime(2026, 12, 7, 8, 47, tzinfo=ZONE)


def accept_at(item: ReviewItem, user: User, at: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """`user` accepts the charges she holds, the clock reading `at`."""
    with monkeypatch.context() as clock:
        clock.setattr(timezone, "now", lambda: at)
        review_accept(item=ReviewItem.objects.get(pk=item.pk), user=user)


def history(client: Client, encounter_id: int) -> str | None:
    page = client.get(reverse("coding:encounter_charges", args=[encounter_id])).content.decode()
    marker = 'data-testid="acceptance-history">'
    if marker not in page:
        return None
    return page.split(marker, 1)[1].split("</div>", 1)[0]


def test_accepted_reopened_and_accepted_again_by_another_coder_shows_both_acceptances(
    coder_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    coder2 = factories.user_create(username="coder2", role="coder")
    encounter, _, item = reviewed()
    client = Client()
    client.force_login(coder_user)
    review_claim(user=coder2, item_id=item.pk)
    accept_at(item, coder2, FIRST, monkeypatch)
    # Accepted once: the state's own line names her; no history line repeats it.
    assert history(client, encounter.pk) is None
    review_reopen(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    assert history(client, encounter.pk) == "Accepted by coder2 on 7 Dec 08:10"
    accept_at(item, coder_user, SECOND, monkeypatch)
    said = "Accepted by coder1 on 7 Dec 08:47; earlier by coder2 on 7 Dec 08:10"
    assert history(client, encounter.pk) == said
    # The item itself keeps the latest only; the earlier one is the audit trail's.
    kept = ReviewItem.objects.get(pk=item.pk)
    assert (kept.accepted_by, kept.accepted_at) == (coder_user, SECOND)
    # Back in review with coder2: both still said, the latest first.
    review_reopen(item=kept, user=coder2)
    assert history(client, encounter.pk) == said


def test_the_history_costs_the_review_page_one_read_however_many_acceptances(
    coder_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted once, then four times (two coders, reopened in between): the page makes the
    same number of queries, one of them the read of the audit trail of review items."""
    coder2 = factories.user_create(username="coder2", role="coder")
    encounter, _, item = reviewed()
    client = Client()
    client.force_login(coder_user)
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    review_claim(user=coder_user, item_id=item.pk)
    accept_at(item, coder_user, FIRST, monkeypatch)
    client.get(url)  # the statements prepared on this connection
    with CaptureQueriesContext(connection) as once:
        client.get(url)
    for minute, who in ((20, coder2), (30, coder_user), (40, coder2)):
        review_reopen(item=ReviewItem.objects.get(pk=item.pk), user=who)
        accept_at(item, who, FIRST.replace(minute=minute), monkeypatch)
    with CaptureQueriesContext(connection) as many:
        text = history(client, encounter.pk)
    assert text is not None and text.count("earlier by") == 3
    assert len(many.captured_queries) == len(once.captured_queries)
    # The one read of them (a prepared statement): without it, one query less.
    monkeypatch.setattr(review_reads, "acceptances", lambda encounter_id: [])
    with CaptureQueriesContext(connection) as without:
        client.get(url)
    assert len(without.captured_queries) == len(many.captured_queries) - 1


def test_without_an_audit_trail_the_items_own_acceptance_is_the_history() -> None:
    """SQLite (the demo) keeps no history: the item's own acceptance is all there is; a row of
    the trail repeating it is said once; an item never accepted has none."""
    user = SimpleNamespace(pk=1)
    item = SimpleNamespace(accepted_by=user, accepted_by_id=1, accepted_at=SECOND)
    assert [(a.by, a.at) for a in acceptance_history(item, [])] == [(user, SECOND)]
    earlier = SimpleNamespace(accepted_by=None, accepted_by_id=None, accepted_at=FIRST)
    assert [a.at for a in acceptance_history(item, [item, earlier, earlier])] == [SECOND, FIRST]
    never = SimpleNamespace(accepted_by=None, accepted_by_id=None, accepted_at=None)
    assert acceptance_history(never, []) == []
