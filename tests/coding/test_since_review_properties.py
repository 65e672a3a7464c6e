"""The box "Changed since run N was reviewed by ..." and the worklist's "charges changed since
review" over time (coding/run_changes.py `last_reviewed`, `lines_diff`; coding/worklist_charges.py
`changed_since_review`): whatever the coder claims, queries, accepts or releases and whatever
addenda come, the worklist row says the charges changed exactly when the review page's box lists
a change, and that is exactly when the current charges differ from those of the run a coder
last acted on (kept here by the test itself, from what it did): nothing the coder reviewed
changes unseen, and nothing unchanged is flagged.

Two coders take turns (claim, correct a line, query, accept, release, take accepted charges back
into review) while addenda make new runs; the box's heading names the coder who last reviewed the
run it compares with, and when ("Changed since run 3 was reviewed by coder-b on 5 Dec 14:02"),
never a coder who reviewed only a later run: who accepted a run is kept with it
(`ReviewItem.accepted_by`, `accepted_at`) when new runs come, a reopen or a query's answer."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.models import ChargeRun, ReviewItem
from coding.review import (
    charge_line_correct,
    query_send,
    review_accept,
    review_claim,
    review_release,
    review_reopen,
)
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


@dataclass(frozen=True)
class Act:
    """What a coder did to a run's charges, as the test saw it: ends the review of it
    (accepted, queried), who and when."""

    run: int
    ends: bool
    by: str
    at: datetime


def on(at: datetime) -> str:
    """A time as the box's heading says it, in the hospital's zone: "5 Dec 14:02"."""
    return dateformat.format(timezone.localtime(at), "j M H:i")


CODERS = st.integers(0, 1)


class SinceReview(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        caches[CACHE].clear()
        tag = uuid.uuid4().hex[:8]
        self.coders = [
            factories.user_create(username=f"coder-{name}-{tag}", role="coder")
            for name in ("a", "b")
        ]
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        self.encounter = dexamethasone_visit(nurse=self.nurse)
        charge_run_generate(encounter_id=self.encounter.pk)
        # The test's own record of what the coders did.
        self.acts: list[Act] = []
        # The claim of the coder holding the item (an act while she holds it).
        self.claimed: Act | None = None
        # The pages are read by a third coder: every reviewer is named by her user name.
        reader = factories.user_create(username=f"reader-{tag}", role="coder")
        self.client = Client()
        self.client.force_login(reader)
        # The last step changed nothing stored (a coder's act the item's state refused before
        # anything was written): the pages are the ones just read, the invariant skips them.
        self.idle = False

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.get(encounter=self.encounter)

    def _current(self) -> int:
        return ChargeRun.objects.get(encounter=self.encounter, is_current=True).pk

    def _claimed(self, who: int) -> ReviewItem | None:
        """The item in review by coder `who` (claimed now when new); None when it cannot be."""
        coder = self.coders[who]
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            item = review_claim(user=coder, item_id=item.pk)
            if item is not None:
                self.claimed = Act(self._current(), False, coder.username, item.claimed_at)
        if item is None or item.state != ReviewItem.State.IN_REVIEW:
            return None
        if item.claimed_by_id != coder.pk:
            return None
        return item

    def _done(self, item: ReviewItem, ends: bool, at: datetime) -> None:
        self.acts.append(Act(self._current(), ends, item.claimed_by.username, at))
        if ends:
            self.claimed = None

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

    @rule(who=CODERS)
    def claim(self, who: int) -> None:
        self._claimed(who)

    @rule(who=CODERS, modifier=st.sampled_from(["59", "XU"]))
    def correct_a_line(self, who: int, modifier: str) -> None:
        """A correction of the chemotherapy's line (the addenda leave it as it was: carried,
        never waiting for re-review)."""
        item = self._claimed(who)
        if item is None:
            self.idle = True  # nothing claimed, nothing corrected
            return
        line = ChargeRun.objects.get(pk=self._current()).lines.get(code="96413")
        try:
            correction = charge_line_correct(
                item=item, user=self.coders[who], line=line, action="change", code="96413",
                units=line.units, modifiers=[modifier], reason="a distinct site",
            )  # fmt: skip
        except ValidationError:
            return  # nothing changed: no correction made
        self._done(item, False, correction.at)

    @rule(who=CODERS)
    def query(self, who: int) -> None:
        item = self._claimed(who)
        if item is None:
            self.idle = True
            return
        query = query_send(
            item=item, user=self.coders[who], finding=None, question="Was it a push?"
        )
        self._done(item, True, query.asked_at)

    @rule(who=CODERS)
    def accept(self, who: int) -> None:
        item = self._claimed(who)
        if item is None:
            self.idle = True
            return
        try:
            accepted = review_accept(item=item, user=self.coders[who])
        except ValidationError:
            return  # blocking edits: nothing accepted
        self._done(item, True, accepted.accepted_at)

    @rule(who=CODERS)
    def reopen(self, who: int) -> None:
        """Accepted charges taken back into review: a claim of the run accepted."""
        item = self._item()
        if item.state != ReviewItem.State.ACCEPTED:
            self.idle = True
            return
        item = review_reopen(item=item, user=self.coders[who])
        self.claimed = Act(self._current(), False, self.coders[who].username, item.claimed_at)

    @rule()
    def release(self) -> None:
        item = self._item()
        if item.state != ReviewItem.State.IN_REVIEW:
            self.idle = True
            return
        review_release(item=item, user=item.claimed_by)
        self.claimed = None

    def _last_review(self) -> Act | None:
        """The last act on the run last reviewed before the current one, by the test's record;
        None: nothing to compare (nothing reviewed before, or the current run reviewed since)."""
        current = self._current()
        acts = list(self.acts)
        if self.claimed is not None:
            acts.append(self.claimed)
        if any(act.run == current and act.ends for act in acts):
            return None
        earlier = [act for act in acts if act.run < current]
        return max(earlier, key=lambda act: (act.run, act.at), default=None)

    def _run_number(self, run: int) -> int:
        runs = ChargeRun.objects.filter(encounter=self.encounter).order_by("created_at", "pk")
        return [r.pk for r in runs].index(run) + 1

    @invariant()
    def the_worklist_and_the_page_say_what_changed_since_review(self) -> None:
        if self.idle:
            self.idle = False
            return
        item = self._item()
        last = self._last_review()
        reviewed = last.run if last is not None else None
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
        if box is not None and last is not None:
            # The heading names who last reviewed the run compared with, and when; never a
            # coder who reviewed only a later run (the current one, under way).
            heading = re.search(
                r'data-testid="since-review-heading">(.*?)</h3>', box.group(0), re.S
            )
            assert heading is not None
            said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", heading.group(1))).strip()
            assert said.endswith(
                f"since run {self._run_number(last.run)} was reviewed by {last.by} on {on(last.at)}"
            ), said
            later = {act.by for act in self.acts if act.run > last.run} - {last.by}
            assert not any(name in said for name in later), said
        worklist = self.client.get(reverse("coding:worklist")).content.decode()
        start = worklist.index(f'data-encounter="{self.encounter.pk}"')
        row = worklist[start : worklist.index("</tr>", start)]
        waiting = item.state in (ReviewItem.State.NEW, ReviewItem.State.IN_REVIEW)
        assert ('data-testid="changed-since-review"' in row) == (changed and waiting)


def test_the_box_and_the_badge_say_exactly_what_changed_since_review_after_any_steps() -> None:
    run_state_machine_as_test(
        SinceReview,
        settings=settings(
            # PROPERTY_EXAMPLES widens a run on demand (tests/engine/test_properties.py).
            max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 10)),
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
