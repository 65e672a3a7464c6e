"""A stateful property test of a visit charted over time at the bedside (issues 18 and 19).

Sequences of what a nurse does on one visit: start an order (infusion or push), flush the site,
pause, resume and stop what runs, chart a dose on a card, tap with a card that is out of date
(another nurse saved since), the clock moving on, and the signature (with a reason for each open
error, an infusion still running among them), after which every change is refused. After every
step:

- the stored summary, which the board and the live checklist read instead of running the engine
  (mar/summary.py), equals one computed afresh from the record as it then stands: the cache is
  never stale, whatever the order of the changes;
- a tap that was refused (out of date, already stopped, not paused...) changed nothing: the
  administrations, their versions, pauses and the flushes are as they were;
- an accepted tap on a card moves its version on by exactly one, and nothing charted is lost:
  every administration started and flush charted is there, with the times the nurse gave;
- once signed, nothing runs: no finding says "running" and none ages with the clock.
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

from coding.engine.checks import is_running_finding
from mar.models import Administration, DrugClass, Encounter, Flush, Order, Pause
from mar.services import charting
from mar.services.charting import ChartError, StaleVersion
from mar.summary import findings_of, summary_for
from tests import factories
from tests.mar.test_summary import assert_current

pytestmark = pytest.mark.django_db

Refused = (ChartError, StaleVersion)
TAPS = {  # a card's buttons
    "pause": charting.administration_pause,
    "resume": charting.administration_resume,
    "stop": charting.administration_stop,
}


def snapshot(encounter: Encounter) -> tuple[object, ...]:
    """What a refused tap must leave as it was."""
    adms = tuple(
        Administration.objects.filter(encounter=encounter)
        .order_by("pk")
        .values_list("pk", "version", "start", "stop", "dose_value")
    )
    pauses = tuple(
        Pause.objects.filter(administration__encounter=encounter)
        .order_by("pk")
        .values_list("pk", "start", "end")
    )
    flushes = tuple(
        Flush.objects.filter(encounter=encounter).order_by("pk").values_list("pk", "at")
    )
    return adms, pauses, flushes


class Bedside(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = timezone.now()  # as the chart's readers take it (assert_current)
        # The time the nurse charts at, in whole minutes as typed, moving on.
        self.clock = (self.now - timedelta(hours=8)).replace(second=0, microsecond=0)
        self.encounter = factories.encounter_create(arrived_at=self.clock)
        self.site = factories.site_create(self.encounter, placed_at=self.clock)
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        self.orders = [
            factories.order_create(
                self.encounter,
                factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
                indication="E86.0",
                purpose=Order.Purpose.HYDRATION,
                dose="1000 mL",
            ),
            factories.order_create(self.encounter, factories.drug_get("ondansetron"), dose="8 mg"),
            factories.order_create(
                self.encounter, factories.drug_get("ceftriaxone"), dose="1 g", indication="A41.9"
            ),
        ]
        self.clock += timedelta(minutes=5)
        self.started: dict[int, object] = {}  # pk -> the start the nurse gave
        self.flushed: list[object] = []  # the flushes' times, as charted
        self.signed = False

    def _adm(self, index: int) -> Administration | None:
        adms = list(Administration.objects.filter(encounter=self.encounter).order_by("pk"))
        return adms[index % len(adms)] if adms else None

    def _tap(self, action, adm: Administration, **kwargs) -> None:
        """A card's tap: accepted, it moves the version on by one; refused, nothing changed."""
        before = snapshot(self.encounter)
        try:
            action(administration=adm, now=self.now, **kwargs)
        except Refused:
            assert snapshot(self.encounter) == before, "a refused tap changed the record"
            return
        version = Administration.objects.values_list("version", flat=True).get(pk=adm.pk)
        assert version == kwargs["version"] + 1

    @rule(minutes=st.integers(min_value=1, max_value=40))
    def time_passes(self, minutes: int) -> None:
        self.clock = min(self.clock + timedelta(minutes=minutes), self.now)

    @rule(which=st.integers(0, 2), push=st.booleans())
    def start(self, which: int, push: bool) -> None:
        method = Administration.Method.PUSH if push else Administration.Method.INFUSION
        try:
            adm = charting.administration_start(
                order=self.orders[which], site=self.site, start=self.clock, method=method,
                user=self.nurse, now=self.now,
            )  # fmt: skip
        except ChartError:
            return
        self.started[adm.pk] = self.clock

    @rule()
    def flush(self) -> None:
        try:
            charting.flush_chart(site=self.site, at=self.clock, now=self.now)
        except ChartError:
            return
        self.flushed.append(self.clock)

    @precondition(lambda self: self.started)
    @rule(index=st.integers(0, 20), action=st.sampled_from(sorted(TAPS)))
    def card_tap(self, index: int, action: str) -> None:
        adm = self._adm(index)
        assert adm is not None
        service = TAPS[action]
        self._tap(service, adm, version=adm.version, at=self.clock)

    @precondition(lambda self: self.started)
    @rule(index=st.integers(0, 20), action=st.sampled_from(sorted(TAPS)))
    def tap_on_a_card_out_of_date(self, index: int, action: str) -> None:
        """Another nurse saved the card since this one was drawn: the tap is refused."""
        adm = self._adm(index)
        assert adm is not None
        service = TAPS[action]
        before = snapshot(self.encounter)
        # Signed, the record refuses it first (changes go through an addendum).
        with pytest.raises(Refused if self.signed else StaleVersion):
            service(administration=adm, version=adm.version - 1, at=self.clock, now=self.now)
        assert snapshot(self.encounter) == before

    @precondition(lambda self: self.started)
    @rule(index=st.integers(0, 20), dose=st.sampled_from([Decimal(4), Decimal(8), Decimal(1000)]))
    def dose_charted(self, index: int, dose: Decimal) -> None:
        adm = self._adm(index)
        assert adm is not None
        unit = "mL" if adm.drug.name.startswith("sodium") else "mg"
        self._tap(
            charting.administration_update, adm, version=adm.version,
            changes={"dose_value": dose, "dose_unit": unit}, user=self.nurse,
        )  # fmt: skip

    @precondition(lambda self: not self.signed)
    @rule(at_signature=st.booleans())
    def sign(self, at_signature: bool) -> None:
        """The nurse signs, giving a reason for each open error (an infusion still running is a
        stop missing then); after it, the start, flush and tap rules are refused."""
        try:
            charting.encounter_sign(encounter=self.encounter, user=self.nurse, now=self.now)
        except charting.SignBlocked as blocked:
            if not at_signature:
                return
            reasons = {charting.finding_key(f): "as charted" for f in blocked.open_errors}
            charting.encounter_sign(
                encounter=self.encounter, user=self.nurse, reasons=reasons, now=self.now
            )
        self.signed = True

    @invariant()
    def the_stored_summary_is_the_records(self) -> None:
        assert_current(self.encounter)

    @invariant()
    def nothing_runs_on_a_signed_record(self) -> None:
        """After the signature no finding says "running", and nothing ages with the clock."""
        if not self.signed:
            return
        summary = summary_for(Encounter.objects.get(pk=self.encounter.pk))
        assert not any(is_running_finding(f) for f in findings_of(summary))
        assert summary.valid_until is None

    @invariant()
    def nothing_charted_is_lost(self) -> None:
        starts = dict(
            Administration.objects.filter(encounter=self.encounter).values_list("pk", "start")
        )
        assert starts == self.started
        flushes = sorted(
            Flush.objects.filter(encounter=self.encounter).values_list("at", flat=True)
        )
        assert flushes == sorted(self.flushed)


def test_a_visit_charted_in_any_order_keeps_its_summary_and_loses_nothing() -> None:
    run_state_machine_as_test(
        Bedside,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
