"""The charting rules the kept-card machines share (tests/mar/test_board_cards.py's board and
tests/mar/test_chart_cards.py's chart): one visit with a fluid and a drug ordered on one site,
the server's clock moving on between any two requests, the nurse's charting clock behind it, and
what a nurse does to it (a start, a flush, a card's buttons, the signature).

A machine mixes these in before `RuleBasedStateMachine`, calls `chart_setup()` in its own
`__init__` and adds its own rules and invariant. Hypothesis finds the rules on the class, so
each machine runs these as its own.
"""

import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.cache import caches
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from mar.models import AccessSite, Administration, Drug, DrugClass, Encounter, Order
from mar.pharmacy.services import drug_save
from mar.services import charting
from mar.services.charting import ChartError
from tests import factories
from tests.mar.test_chart_life_properties import TAPS, Refused  # a card's buttons

# The session's idle sign-off is longer: every request within it is answered by the page, not
# by the sign-in.
WITHIN_THE_SESSION = timedelta(minutes=25)


class ChartingRules:
    now: datetime
    started: datetime
    clock: datetime
    nurse: User
    pharmacist: User
    encounter: Encounter
    site: AccessSite
    drug: Drug
    orders: list[Order]
    signed: bool
    # The last step did nothing the server sees: the nurse's own charting clock moved (no page
    # reads it), or a card's rule found no card to act on. The page is then the one the
    # machine's invariant just compared (the record, the cache and the server's moment as they
    # were), so the invariant skips it (`step_seen`); the next real step is compared as ever.
    idle: bool = False

    def step_seen(self) -> bool:
        """Whether the last step changed anything a page shows (and forget it for the next)."""
        seen, self.idle = not self.idle, False
        return seen

    def chart_setup(self, cache: str) -> None:
        """The visit, its site and its two orders (sodium chloride, a test drug the pharmacist
        may rename), charted from six hours ago; the cards' cache `cache` emptied."""
        caches[cache].clear()
        # The server's moment of each request, moving on; the nurse's charting clock behind it.
        self.now = timezone.now()
        self.started = self.now
        self.clock = (self.now - timedelta(hours=6)).replace(second=0, microsecond=0)
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        self.pharmacist = factories.user_create(
            username=f"rph-{uuid.uuid4().hex}", role="pharmacist"
        )
        self.encounter = factories.encounter_create(arrived_at=self.clock)
        self.site = factories.site_create(self.encounter, placed_at=self.clock)
        self.drug = factories.drug_get(f"testdrug-{uuid.uuid4().hex[:8]}")
        self.orders = [
            factories.order_create(
                self.encounter,
                factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
                indication="E86.0",
                purpose=Order.Purpose.HYDRATION,
                dose="1000 mL",
            ),
            factories.order_create(self.encounter, self.drug, dose="8 mg"),
        ]
        self.clock += timedelta(minutes=5)
        self.signed = False

    def _adm(self, index: int) -> Administration | None:
        adms = list(Administration.objects.filter(encounter=self.encounter).order_by("pk"))
        return adms[index % len(adms)] if adms else None

    def tick(self, seconds: int = 1) -> datetime:
        """The next request's moment: the server's clock moves on between any two."""
        later = min(self.now + timedelta(seconds=seconds), self.started + WITHIN_THE_SESSION)
        self.now = max(later, self.now + timedelta(microseconds=1))
        return self.now

    def drug_renamed(self, suffix: str) -> None:
        """The pharmacist renames the test drug (its name's `~suffix` changed)."""
        name = f"{self.drug.name.split('~')[0]}~{suffix}"
        self.drug = drug_save(
            drug=self.drug, name=name, synonyms="", hcpcs="", billing_unit="",
            note="renamed", user=self.pharmacist,
        )  # fmt: skip

    @rule(minutes=st.integers(min_value=1, max_value=30))
    def charting_clock_moves(self, minutes: int) -> None:
        self.clock = min(self.clock + timedelta(minutes=minutes), self.now)
        self.idle = True

    @rule(seconds=st.integers(min_value=1, max_value=400))
    def time_passes(self, seconds: int) -> None:
        self.tick(seconds)

    # A start or a flush (which take no version) may be refused only as charting refuses.
    @precondition(lambda self: not self.signed)
    @rule(which=st.integers(0, 1), push=st.booleans())
    def start(self, which: int, push: bool) -> None:
        method = Administration.Method.PUSH if push else Administration.Method.INFUSION
        try:
            charting.administration_start(
                order=self.orders[which], site=self.site, start=self.clock, method=method,
                user=self.nurse, now=self.tick(),
            )  # fmt: skip
        except ChartError:
            pass

    @precondition(lambda self: not self.signed)
    @rule()
    def flush(self) -> None:
        try:
            charting.flush_chart(site=self.site, at=self.clock, now=self.tick())
        except ChartError:
            pass

    @rule(index=st.integers(0, 20), action=st.sampled_from(sorted(TAPS)))
    def card_tap(self, index: int, action: str) -> None:
        adm = self._adm(index)
        if adm is None:
            self.idle = True
            return
        try:
            TAPS[action](administration=adm, version=adm.version, at=self.clock, now=self.tick())
        except Refused:
            pass

    @precondition(lambda self: not self.signed)
    @rule()
    def sign(self) -> None:
        try:
            charting.encounter_sign(encounter=self.encounter, user=self.nurse, now=self.tick())
        except charting.SignBlocked as blocked:
            reasons = {charting.finding_key(f): "as charted" for f in blocked.open_errors}
            charting.encounter_sign(
                encounter=self.encounter, user=self.nurse, reasons=reasons, now=self.tick()
            )
        self.signed = True
