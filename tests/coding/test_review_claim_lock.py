"""Two coders claiming at once on PostgreSQL: never the same item (FOR UPDATE SKIP LOCKED).

Each coder runs in its own thread, hence its own database connection and transaction.
"""

import threading

import pytest
from django.db import connection, transaction

from coding.models import ReviewItem
from coding.review import review_claim
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(target):
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def coders():
    return (
        factories.user_create(username="coder-a", role="coder"),
        factories.user_create(username="coder-b", role="coder"),
    )


@pytest.mark.postgresql("row locks need PostgreSQL")
def test_while_one_coder_holds_the_only_item_the_other_gets_none(coders) -> None:
    a, b = coders
    _, _, item = reviewed()
    claimed_a, claimed_b = {}, {}
    holding = threading.Event()
    b_done = threading.Event()

    def coder_a() -> None:
        with transaction.atomic():
            claimed_a["item"] = review_claim(user=a)
            holding.set()
            b_done.wait(timeout=20)  # keep the row locked while b tries

    def coder_b() -> None:
        holding.wait(timeout=20)
        claimed_b["item"] = review_claim(user=b)
        b_done.set()

    threads = [in_thread(coder_a), in_thread(coder_b)]
    for thread in threads:
        thread.join(timeout=30)
    assert claimed_a["item"].pk == item.pk
    assert claimed_b["item"] is None  # skipped, not blocked, not the same item
    assert ReviewItem.objects.get(pk=item.pk).claimed_by == a


@pytest.mark.postgresql("row locks need PostgreSQL")
def test_two_coders_claiming_together_never_get_the_same_item(coders) -> None:
    for _ in range(3):
        reviewed()
    results: dict[str, list[int | None]] = {"a": [], "b": []}
    rounds = 3
    barrier = threading.Barrier(2)

    def coder(name: str, user) -> None:
        for _ in range(rounds):
            barrier.wait(timeout=20)
            with transaction.atomic():
                item = review_claim(user=user)
                results[name].append(item.pk if item else None)
                barrier.wait(timeout=20)  # both hold their lock before either commits

    a, b = coders
    threads = [in_thread(lambda: coder("a", a)), in_thread(lambda: coder("b", b))]
    for thread in threads:
        thread.join(timeout=60)
    got = [pk for pk in results["a"] + results["b"] if pk is not None]
    assert len(got) == len(set(got)) == 3  # every item claimed once, by one coder
    assert results["a"].count(None) + results["b"].count(None) == 2 * rounds - 3
    by_a = ReviewItem.objects.filter(claimed_by=a).values_list("pk", flat=True)
    assert set(by_a) == {pk for pk in results["a"] if pk}
