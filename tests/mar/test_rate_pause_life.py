"""A stateful property test of an infusion's rate changes and pauses charted in any order (QA
walkthrough: a rate change at 18:22 inside a pause 18:20-18:25, and two rate changes at the same
minute, were charted without a word).

Rules: a rate change added at any minute (before the start, inside the run, after the stop),
removed when charted in error; a past pause added (late entry) over any span.

After every step:
- a rate change is charted iff its time is within the run, not inside a pause (after its start,
  before its resume: at either end it is allowed) and not at the minute of another one;
- a pause over a rate change is refused (whatever else the pause rules say);
- what is stored is what was accepted: no rate change lies inside a pause and no two share a
  minute, however the steps came.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
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

from mar.models import Administration, Pause, RateChange
from mar.services import charting, rates
from mar.services.charting import ChartError
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

RUN_MINUTES = 120  # started 3 h ago, stopped an hour ago
MINUTES = st.integers(min_value=-5, max_value=RUN_MINUTES + 5)


class RatesAndPauses(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        start = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
        _encounter, adm = running_visit(arrived_at=start - timedelta(minutes=30))
        Administration.objects.filter(pk=adm.pk).update(
            start=start, stop=start + timedelta(minutes=RUN_MINUTES), rate_ml_h=Decimal(100)
        )
        self.adm = Administration.objects.get(pk=adm.pk)
        self.rows: dict[int, int] = {}  # rate change pk: its minute
        self.pauses: list[tuple[int, int]] = []  # (paused, resumed) minutes

    def _at(self, minute: int):
        return self.adm.start + timedelta(minutes=minute)

    def _version(self) -> int:
        return Administration.objects.get(pk=self.adm.pk).version

    @rule(minute=MINUTES, rate=st.sampled_from([Decimal(50), Decimal(125)]))
    def add_rate_change(self, minute: int, rate: Decimal) -> None:
        in_pause = any(start < minute < end for start, end in self.pauses)
        ok = 0 <= minute <= RUN_MINUTES and not in_pause and minute not in self.rows.values()
        try:
            change = rates.rate_change_record(
                administration=self.adm,
                rate_ml_h=rate,
                at=self._at(minute),
                reason="titration per protocol",
                user=self.nurse,
            )
        except ChartError as refused:
            assert not ok, refused.errors
            said = " ".join(refused.errors.get("at", []))
            if in_pause and 0 <= minute <= RUN_MINUTES:
                assert "The infusion was paused" in said
            elif minute in self.rows.values():
                assert "is charted already" in said
            return
        assert ok
        self.rows[change.pk] = minute

    @precondition(lambda self: self.rows)
    @rule(data=st.data())
    def remove_rate_change(self, data) -> None:
        pk = data.draw(st.sampled_from(sorted(self.rows)))
        rates.rate_change_remove(
            rate_change=RateChange.objects.get(pk=pk), version=self._version(), user=self.nurse
        )
        del self.rows[pk]

    @rule(start=MINUTES, length=st.integers(min_value=1, max_value=20))
    def add_pause(self, start: int, length: int) -> None:
        over = any(start < minute < start + length for minute in self.rows.values())
        try:
            charting.pause_add(
                administration=self.adm,
                version=self._version(),
                start=self._at(start),
                end=self._at(start + length),
            )
        except ChartError:
            return  # over a rate change, or refused by the pause's own rules
        assert not over, "a pause over a rate change was charted"
        self.pauses.append((start, start + length))

    @invariant()
    def stored_is_what_was_accepted(self) -> None:
        stored = RateChange.objects.filter(administration=self.adm)
        assert {rc.pk: rc.at for rc in stored} == {pk: self._at(m) for pk, m in self.rows.items()}
        pauses = Pause.objects.filter(administration=self.adm)
        assert sorted((p.start, p.end) for p in pauses) == sorted(
            (self._at(s), self._at(e)) for s, e in self.pauses
        )

    @invariant()
    def no_rate_change_inside_a_pause_nor_two_at_one_minute(self) -> None:
        minutes = list(self.rows.values())
        assert len(minutes) == len(set(minutes))
        assert not [m for m in minutes for s, e in self.pauses if s < m < e]


def test_rate_changes_and_pauses_in_any_order_never_overlap_nor_double() -> None:
    run_state_machine_as_test(
        RatesAndPauses,
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
