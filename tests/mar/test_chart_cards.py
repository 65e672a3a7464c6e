"""The chart's administration cards kept drawn while what they show is unchanged
(mar/chart_cards.py, issue 19).

A kept card must never say anything other than the card drawn afresh: after any change a nurse
or a pharmacist makes (a start, a flush, a pause, a resume, a stop, a rate change, the volumes, a
pause added late, a dose charted on the card, an administration charted in error, the
signature, an addendum to the card, the drug renamed), and as the server's clock moves on (the
running badge's minutes and moment), the chart page drawn with the cards kept is the page drawn
with the cache cleared, and the page drawn with no card kept at all (the template's own
include), byte for byte but the CSRF tokens; for a nurse, a nurse writing an addendum and a
coder (who may not chart) on the same cache. And a page loaded again with nothing changed draws
no card: that is what keeping them is for.
"""

import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from mar import chart_cards
from mar.chart_cards import CACHE
from mar.models import Administration, DrugClass, Order
from mar.pharmacy.services import drug_save
from mar.services import charting, rates
from tests import factories
from tests.mar.charting_rules import ChartingRules
from tests.mar.test_chart_life_properties import Refused  # a card's buttons

pytestmark = pytest.mark.django_db


def page_at(client: Client, url: str, now: datetime, *, kept: bool = True) -> tuple[str, int]:
    """The chart as loaded at `now` (the CSRF tokens and the Start forms' keys taken out: new
    on every response), and how many cards were drawn (not kept) for it."""
    with (
        mock.patch("django.utils.timezone.now", return_value=now),
        mock.patch.object(chart_cards, "KEEP", kept),
        mock.patch.object(chart_cards, "_draw", wraps=chart_cards._draw) as draw,
    ):
        response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    page = re.sub(r'"X-CSRFToken": "[^"]+"', "", page)
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
    # a start's key, new with each drawn Start form (a double tap starts one administration)
    page = re.sub(r'value="[0-9a-f]{32}" id="id_o\d+-request_key"', "", page)
    return page, draw.call_count


def card_list(page: str) -> list[str]:
    return re.findall(r'<article class="card adm-card.*?</article>', page, re.S)


class Chart(ChartingRules, RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chart_setup(CACHE)
        self.coder = factories.user_create(username=f"cd-{uuid.uuid4().hex}", role="coder")
        self.clients = {}
        for name, user in (("nurse", self.nurse), ("coder", self.coder)):
            self.clients[name] = Client()
            self.clients[name].force_login(user)

    @rule(index=st.integers(0, 20), rate=st.sampled_from([Decimal(50), Decimal("125.5")]))
    def rate_changed(self, index: int, rate: Decimal) -> None:
        adm = self._adm(index)
        if adm is None:
            self.idle = True
            return
        try:
            rates.rate_change_record(
                administration=adm, rate_ml_h=rate, at=self.clock, reason="per protocol",
                user=self.nurse, version=adm.version, now=self.tick(),
            )  # fmt: skip
        except Refused:
            pass

    # 20 mL at 100 mL/h ends after 12 minutes: a running card past its expected end, its note's
    # minutes moving with the clock; 1000 mL ends after ten hours: the note drawn hidden.
    @rule(
        index=st.integers(0, 20),
        infused=st.sampled_from([None, Decimal(250), Decimal(990)]),
        volume=st.sampled_from([Decimal(1000), Decimal(20)]),
    )
    def volumes_charted(self, index: int, infused: Decimal | None, volume: Decimal) -> None:
        adm = self._adm(index)
        if adm is None:
            self.idle = True
            return
        try:
            rates.volumes_update(
                administration=adm, rate_ml_h=Decimal(100), bag_volume_ml=volume,
                vtbi_ml=volume, volume_infused_ml=infused,
            )  # fmt: skip
        except Refused:
            pass

    @rule(index=st.integers(0, 20), minutes=st.integers(1, 20))
    def pause_added_late(self, index: int, minutes: int) -> None:
        adm = self._adm(index)
        if adm is None:
            self.idle = True
            return
        start = adm.start + timedelta(minutes=1)
        try:
            charting.pause_add(
                administration=adm, version=adm.version, start=start,
                end=start + timedelta(minutes=minutes), reason="pump_alarm", now=self.tick(),
            )  # fmt: skip
        except Refused:
            pass

    @rule(index=st.integers(0, 20), dose=st.sampled_from([Decimal(4), Decimal(8), Decimal(1000)]))
    def dose_charted_on_the_card(self, index: int, dose: Decimal) -> None:
        """A card's field saved; on a signed record, as an addendum."""
        adm = self._adm(index)
        if adm is None:
            self.idle = True
            return
        unit = "mL" if adm.drug.name.startswith("sodium") else "mg"
        try:
            charting.administration_update(
                administration=adm, version=adm.version,
                changes={"dose_value": dose, "dose_unit": unit}, user=self.nurse,
                addendum_why="dose read from the pump" if self.signed else "", now=self.tick(),
            )  # fmt: skip
        except Refused:
            pass

    @rule(index=st.integers(0, 20))
    def charted_in_error(self, index: int) -> None:
        adm = self._adm(index)
        if adm is None:
            self.idle = True
            return
        try:
            charting.administration_remove(
                administration=adm, version=adm.version, reason="double tap", user=self.nurse,
                addendum_why="charted twice" if self.signed else "",
            )  # fmt: skip
        except Refused:
            pass

    @rule(suffix=st.sampled_from(["a", "b"]))
    def pharmacist_renames_the_drug(self, suffix: str) -> None:
        self.drug_renamed(suffix)

    @rule(earlier=st.sampled_from([10, 40]))
    def arrival_charted_earlier(self, earlier: int) -> None:
        """The visit's arrival moved (every time field on the page says it: `data-arrived`,
        chart.js's day of a time typed alone); on a signed record, as an addendum."""
        self.encounter.refresh_from_db()
        try:
            charting.encounter_times_update(
                encounter=self.encounter,
                arrived_at=self.encounter.arrived_at - timedelta(minutes=earlier),
                observation_at=self.encounter.observation_at,
                user=self.nurse,
                addendum_why="arrival read from the desk's log" if self.signed else "",
            )
        except Refused:
            pass
        self.encounter.refresh_from_db()

    @invariant()
    def a_kept_card_is_the_card_drawn_afresh(self) -> None:
        if not self.step_seen():
            return  # nothing changed since the last comparison (ChartingRules.idle)
        url = reverse("mar:encounter", args=[self.encounter.pk])
        views = [("nurse", url), ("coder", url)]
        if self.signed:
            views.append(("nurse", f"{url}?addendum=1"))
        for who, address in views:
            client = self.clients[who]
            now = self.tick()
            kept, _ = page_at(client, address, now)
            again, drawn_again = page_at(client, address, now)
            caches[CACHE].clear()
            afresh, _ = page_at(client, address, now)
            included, _ = page_at(client, address, now, kept=False)
            assert card_list(kept) == card_list(afresh), [
                (a, b) for a, b in zip(card_list(kept), card_list(afresh), strict=False) if a != b
            ]
            assert kept == afresh == included == again
            shown = len(card_list(kept))
            assert shown == Administration.objects.filter(encounter=self.encounter).count()
            # Loaded again with nothing changed: every card kept, none drawn.
            assert drawn_again == 0


def test_a_kept_chart_card_is_the_card_drawn_afresh_after_any_change() -> None:
    run_state_machine_as_test(
        Chart,
        settings=settings(
            max_examples=10,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_a_kept_running_card_counts_its_minutes_at_each_load(client_as) -> None:
    """The running badge's minutes and moment are filled per response, never kept."""
    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    order = factories.order_create(
        encounter,
        factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        indication="E86.0",
        purpose=Order.Purpose.HYDRATION,
        dose="1000 mL",
    )
    nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
    charting.administration_start(
        order=order, site=site, start=now - timedelta(minutes=35), user=nurse, now=now
    )
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    first, drawn = page_at(client, url, now)
    later, drawn_later = page_at(client, url, now + timedelta(minutes=10))
    assert drawn == 1 and drawn_later == 0  # the card kept
    badge = r'data-minutes="(\d+)" data-since="([^"]+)">(\d+)</span> min'
    zone = encounter.zone
    assert re.findall(badge, first) == [("35", now.astimezone(zone).isoformat(), "35")]
    ten_later = (now + timedelta(minutes=10)).astimezone(zone).isoformat()
    assert re.findall(badge, later) == [("45", ten_later, "45")]
    caches[CACHE].clear()
    assert page_at(client, url, now + timedelta(minutes=10))[0] == later


def test_a_drug_renamed_by_the_pharmacist_shows_on_the_kept_card(client_as) -> None:
    caches[CACHE].clear()
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    drug = factories.drug_get(f"testdrug-{uuid.uuid4().hex[:8]}")
    order = factories.order_create(encounter, drug, dose="8 mg")
    nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
    pharmacist = factories.user_create(username=f"rph-{uuid.uuid4().hex}", role="pharmacist")
    charting.administration_start(
        order=order, site=site, start=now - timedelta(minutes=35), user=nurse, now=now,
        method=Administration.Method.PUSH,
    )  # fmt: skip
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    assert page_at(client, url, now)[1] == 1
    renamed = drug_save(
        drug=drug, name=f"{drug.name}-renamed", synonyms="", hcpcs="", billing_unit="",
        note="renamed", user=pharmacist,
    )  # fmt: skip
    page, drawn = page_at(client, url, now)
    assert drawn == 1
    assert [f'<h3 class="h5 mb-0">{renamed.name} ' in card for card in card_list(page)] == [True]
