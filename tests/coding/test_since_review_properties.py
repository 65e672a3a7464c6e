"""The box "Changed since you reviewed run N" and the worklist's "charges changed since review"
over time (coding/run_changes.py `last_reviewed`, `lines_diff`; coding/worklist_charges.py
`changed_since_review`): whatever the coder claims, queries, accepts or releases and whatever
addenda come, the worklist row says the charges changed exactly when the review page's box lists
a change, and that is exactly when the current charges differ from those of the run a coder
last acted on (kept here by the test itself, from what it did): nothing the coder reviewed
changes unseen, and nothing unchanged is flagged."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.models import ChargeRun, ReviewItem
from coding.review import query_send, review_accept, review_claim, review_release
from coding.services import charge_run_generate
from coding.worklist_charges import CACHE
from mar.models import Addendum, Administration, Flush
from tests import factories
from tests.coding.review_helpers import dexamethasone_visit

pytestmark = pytest.mark.django_db(transaction=True)


def lines_of(run_id: int) -> list[tuple[object, ...]]:
    run = ChargeRun.objects.get(pk=run_id)
    return sorted(
        (ln.code, ln.units, tuple(ln.modifiers), ln.date, tuple(sorted(ln.administrations)))
        for ln in run.lines.all()
    )


class SinceReview(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        caches[CACHE].clear()
        self.coder = factories.user_create(username=f"coder-{uuid.uuid4().hex}", role="coder")
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        self.encounter = dexamethasone_visit(nurse=self.nurse)
        charge_run_generate(encounter_id=self.encounter.pk)
        # The test's own record of what the coder did: (run id, ends the review of it).
        self.acts: list[tuple[int, bool]] = []
        self.claimed_run: int | None = None
        self.client = Client()
        self.client.force_login(self.coder)

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.get(encounter=self.encounter)

    def _current(self) -> int:
        return ChargeRun.objects.get(encounter=self.encounter, is_current=True).pk

    def _claimed(self) -> ReviewItem | None:
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            item = review_claim(user=self.coder, item_id=item.pk)
            self.claimed_run = self._current()
        if item is None or item.state != ReviewItem.State.IN_REVIEW:
            return None
        return item

    def _addendum(self, why: str, change) -> None:
        with transaction.atomic():
            Addendum.objects.create(encounter=self.encounter, author=self.nurse, what=why, why=why)
            change()
        charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum", reason=why)

    @rule(minutes=st.sampled_from([10, 14, 16, 40]))
    def dexamethasone_stop_moved(self, minutes: int) -> None:
        dex = Administration.objects.get(encounter=self.encounter, drug__name="dexamethasone")
        self._addendum(
            "stop moved",
            lambda: Administration.objects.filter(pk=dex.pk).update(
                stop=dex.start + timedelta(minutes=minutes)
            ),
        )

    @rule(minute=st.integers(1, 20))
    def flush_charted_late(self, minute: int) -> None:
        dex = Administration.objects.get(encounter=self.encounter, drug__name="dexamethasone")
        self._addendum(
            "flush",
            lambda: Flush.objects.create(
                encounter=self.encounter,
                site=dex.site,
                at=dex.start - timedelta(minutes=minute, seconds=len(self.acts)),
            ),  # fmt: skip
        )

    @rule()
    def claim(self) -> None:
        self._claimed()

    @rule()
    def query(self) -> None:
        item = self._claimed()
        if item is not None:
            query_send(item=item, user=self.coder, finding=None, question="Was it a push?")
            self.acts.append((self._current(), True))
            self.claimed_run = None

    @rule()
    def accept(self) -> None:
        item = self._claimed()
        if item is None:
            return
        try:
            review_accept(item=item, user=self.coder)
        except ValidationError:
            return  # blocking edits: nothing accepted
        self.acts.append((self._current(), True))
        self.claimed_run = None

    @rule()
    def release(self) -> None:
        item = self._item()
        if item.state == ReviewItem.State.IN_REVIEW:
            review_release(item=item, user=self.coder)
            self.claimed_run = None

    def _expected(self) -> int | None:
        """The run the coder last reviewed, by the test's record; None: nothing to compare."""
        current = self._current()
        acts = list(self.acts)
        if self.claimed_run is not None:
            acts.append((self.claimed_run, False))
        if any(run == current and ends for run, ends in acts):
            return None
        earlier = [run for run, _ in acts if run < current]
        return max(earlier, default=None)

    @invariant()
    def the_worklist_and_the_page_say_what_changed_since_review(self) -> None:
        item = self._item()
        reviewed = self._expected()
        changed = reviewed is not None and lines_of(reviewed) != lines_of(self._current())
        page = self.client.get(
            reverse("coding:encounter_charges", args=[self.encounter.pk])
        ).content.decode()
        box = re.search(r'data-testid="since-review".*?</section>', page, re.S)
        assert (box is not None) == (reviewed is not None)
        listed = re.findall(r'data-testid="since-review-line"', box.group(0)) if box else []
        assert bool(listed) == changed
        if box is not None and not changed:
            assert "No charge changed since run" in re.sub(r"<[^>]+>", "", box.group(0))
        worklist = self.client.get(reverse("coding:worklist")).content.decode()
        start = worklist.index(f'data-encounter="{self.encounter.pk}"')
        row = worklist[start : worklist.index("</tr>", start)]
        waiting = item.state in (ReviewItem.State.NEW, ReviewItem.State.IN_REVIEW)
        assert ('data-testid="changed-since-review"' in row) == (changed and waiting)


def test_the_box_and_the_badge_say_exactly_what_changed_since_review_after_any_steps() -> None:
    run_state_machine_as_test(
        SinceReview,
        settings=settings(
            max_examples=8,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
