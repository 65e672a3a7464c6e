"""A stateful property test of an infusion's rate changes over its record's life: added,
corrected in their row (rate, time), removed when charted in error, from a card out of date
(another nurse saved since), with the rate or time wrong (0 mL/h, before the start, after the
stop, at the minute of another row), then signed, after which each change is an addendum (with
or without its reason).

After every step:
- every rate change is stored as the nurse last gave it, none lost, none doubled (the rows are
  what the accepted adds, corrections and removals say, and the card's rate now is the last);
- a change refused changed nothing: the rows and the card's version are as they were;
- an accepted one moves the card's version on by exactly one;
- after the signature every accepted change wrote exactly one addendum (a refused one none);
- the stored summary (DOC-VOLUME reads the rates) equals one computed afresh;
- a row shows the amended mark ("corrected by addendum", on the card and stored) iff it was
  corrected after the record was signed (a correction before it is the original record), and
  says how many times when more than once ("twice, last ...", "3 times, last ..."), read with
  the rows (`chart_reads.rate_changes`' `amended_times`).
"""

import html as html_lib
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mar import chart_reads
from mar.models import Addendum, Administration, RateChange
from mar.services import rates
from mar.services.charting import ChartError, StaleVersion
from mar.services.signature import signature_store
from tests import factories
from tests.mar.chart_helpers import running_visit
from tests.mar.test_summary import assert_current

pytestmark = pytest.mark.django_db

Refused = (ChartError, StaleVersion)
RUN_MINUTES = 150  # started 3 h ago, stopped 30 min ago
MINUTES = st.integers(min_value=-20, max_value=RUN_MINUTES + 20)
RATES = st.sampled_from([Decimal(0), Decimal(50), Decimal(125), Decimal(152)])


class RateRows(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        start = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
        self.encounter, adm = running_visit(arrived_at=start - timedelta(minutes=30))
        Administration.objects.filter(pk=adm.pk).update(
            start=start, stop=start + timedelta(minutes=RUN_MINUTES), rate_ml_h=Decimal(100)
        )
        self.adm = Administration.objects.get(pk=adm.pk)
        self.rows: dict[int, tuple[object, Decimal]] = {}  # pk: (at, mL/h), as she gave them
        self.version = self.adm.version
        self.signed = False
        self.addenda = 0
        self.amended: dict[int, int] = {}  # the rows corrected after the signature: how often
        self.client = Client()
        self.client.force_login(self.nurse)
        self.drawn: tuple[int, bool] | None = None  # (version, signed) the page was last read at
        self.read_since = True  # the page read after the last step

    def _at(self, minute: int):
        return self.adm.start + timedelta(minutes=minute)

    def _fits(self, minute: int, rate: Decimal, row: int | None = None) -> bool:
        # Not at the minute of another row (two rate changes at one minute are refused).
        taken = {at for pk, (at, _rate) in self.rows.items() if pk != row}
        return 0 <= minute <= RUN_MINUTES and rate > 0 and self._at(minute) not in taken

    def _why(self, give: bool) -> str:
        return "read from the pump again" if give else ""

    def _accepted(self) -> None:
        self.version += 1
        self.addenda += 1 if self.signed else 0

    @rule(minute=MINUTES, rate=RATES, why=st.booleans())
    def add(self, minute: int, rate: Decimal, why: bool) -> None:
        ok = self._fits(minute, rate) and (why or not self.signed)
        try:
            change = rates.rate_change_record(
                administration=self.adm,
                rate_ml_h=rate,
                at=self._at(minute),
                reason="titration per protocol",
                user=self.nurse,
                version=self.version,
                addendum_why=self._why(why),
            )
        except Refused:
            assert not ok
            return
        assert ok
        self.rows[change.pk] = (self._at(minute), rate)
        self._accepted()

    @precondition(lambda self: self.rows)
    @rule(data=st.data(), minute=MINUTES, rate=RATES, why=st.booleans(), stale=st.booleans())
    def correct(self, data, minute: int, rate: Decimal, why: bool, stale: bool) -> None:
        pk = data.draw(st.sampled_from(sorted(self.rows)))
        same = self.rows[pk] == (self._at(minute), rate)
        ok = self._fits(minute, rate, row=pk) and not stale and (why or not self.signed)
        try:
            rates.rate_change_update(
                rate_change=RateChange.objects.get(pk=pk),
                rate_ml_h=rate,
                at=self._at(minute),
                version=self.version - 1 if stale else self.version,
                user=self.nurse,
                addendum_why=self._why(why),
            )
        except Refused:
            # Saved as it was on a signed record: "Nothing changed", no addendum of nothing.
            assert not ok or (same and self.signed)
            return
        assert ok
        if not same:
            self.rows[pk] = (self._at(minute), rate)
            self._accepted()
            if self.signed:
                self.amended[pk] = self.amended.get(pk, 0) + 1

    @precondition(lambda self: self.rows)
    @rule(data=st.data(), why=st.booleans(), stale=st.booleans())
    def remove(self, data, why: bool, stale: bool) -> None:
        pk = data.draw(st.sampled_from(sorted(self.rows)))
        ok = not stale and (why or not self.signed)
        try:
            rates.rate_change_remove(
                rate_change=RateChange.objects.get(pk=pk),
                version=self.version - 1 if stale else self.version,
                user=self.nurse,
                addendum_why=self._why(why),
            )
        except Refused:
            assert not ok
            return
        assert ok
        del self.rows[pk]
        self.amended.pop(pk, None)
        self._accepted()

    @precondition(lambda self: not self.signed)
    @rule()
    def sign(self) -> None:
        signature_store(encounter=self.encounter, user=self.nurse)
        self.encounter.refresh_from_db()
        self.signed = True

    @invariant()
    def every_rate_is_there_as_last_given(self) -> None:
        stored = {
            rc.pk: (rc.at, rc.rate_ml_h)
            for rc in RateChange.objects.filter(administration=self.adm)
        }
        assert stored == self.rows
        # The card's "Rate" now: the last change in time (a tie: the later charted), else 100.
        adm = Administration.objects.get(pk=self.adm.pk)
        last = max(self.rows, key=lambda pk: (self.rows[pk][0], pk), default=None)
        assert rates.rate_segments(adm)[-1][1] == (self.rows[last][1] if last else Decimal(100))

    @invariant()
    def each_accepted_change_moves_the_version_on_by_one(self) -> None:
        assert Administration.objects.get(pk=self.adm.pk).version == self.version

    @invariant()
    def after_signing_each_change_is_one_addendum(self) -> None:
        assert Addendum.objects.filter(encounter=self.encounter).count() == self.addenda

    @invariant()
    def the_stored_summary_is_the_records(self) -> None:
        assert_current(self.encounter)

    @invariant()
    def a_row_shows_the_amended_mark_iff_corrected_after_signing(self) -> None:
        marked = RateChange.objects.filter(administration=self.adm, amended_at__isnull=False)
        assert {rc.pk for rc in marked} == set(self.amended)
        assert all(rc.amended_by_id == self.nurse.pk for rc in marked)
        read = chart_reads.rate_changes([self.adm.pk])
        assert {rc.pk: rc.amended_times for rc in read if rc.amended_times} == self.amended
        # The card as the nurse reads it, read again whenever what it shows may have changed:
        # an accepted change (the version moved on, checked above against the stored one) or the
        # signature. A refused step changed nothing stored (the invariants above hold with the
        # same rows, version, addenda and marks), so its page is the one already read; with no
        # row there is no mark to look for.
        if self.rows and self.drawn != (self.version, self.signed):
            self.the_card_shows_the_amended_marks()
        else:
            self.read_since = False

    def teardown(self) -> None:
        # The run's last page, read even when its last steps were refused ones.
        if self.rows and not self.read_since:
            self.the_card_shows_the_amended_marks()

    def the_card_shows_the_amended_marks(self) -> None:
        """The card as the nurse reads it (the rows with their forms; on a signed record the
        addendum's), each row's line up to its forms: the amended mark iff corrected after the
        signature."""
        url = reverse("mar:encounter", args=[self.encounter.pk])
        page = self.client.get(url + ("?addendum=1" if self.signed else "")).content.decode()
        page = html_lib.unescape(page)
        shown = {}
        for pk in self.rows:
            at = page.index(f'id="rate-{pk}"')
            line = page[at : page.index('class="rate-row-actions"', at)]
            if "corrected by addendum" in line:
                times = re.search(r"corrected by addendum (twice|(\d+) times)?", line)
                assert times is not None
                shown[pk] = 2 if times[1] == "twice" else int(times[2] or 1)
        assert shown == self.amended
        self.drawn = (self.version, self.signed)
        self.read_since = True


def test_rate_rows_added_corrected_removed_and_signed_keep_what_the_nurse_gave() -> None:
    run_state_machine_as_test(
        RateRows,
        settings=settings(
            max_examples=10,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
