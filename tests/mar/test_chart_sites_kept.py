"""The parts of the chart's site chips a flush does not change (their care, their one-tap actions,
their details form) and the "+ Add site" form, kept drawn while what they show is unchanged
(mar/chart_cards.py, `sites_draw`, issue 19).

A kept part must never say anything other than the part drawn afresh: after what changes a site's
chip (a flush charted or removed, the site assessed, its condition charted, its device and gauge,
its location and reason, its placed time corrected, discontinued and reopened, a second site
placed, an infusion started on it or stopped) as well as every change of the cards' and order
rows' machines, the chart page drawn with chips kept is the page drawn with the cache cleared and
the page drawn with nothing kept, byte for byte but the CSRF tokens and the Start forms' keys.
"""

import importlib
import re
from contextlib import ExitStack
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from mar.chart_cards import CACHE
from mar.models import AccessSite, Flush
from mar.services import charting, measures
from tests import factories
from tests.mar.test_chart_cards import page_at
from tests.mar.test_chart_orders_kept import ChartOrders, Refused

pytestmark = pytest.mark.django_db


def chips(page: str) -> list[str]:
    return re.findall(
        r'<div class="site-chip.*?(?=<div class="site-chip|<details class="mt-2" id="add-site")',
        page,
        re.S,
    )


class ChartSites(ChartOrders):
    """The order rows' machine with what changes a site's chip."""

    def _site(self, which: int) -> AccessSite | None:
        sites = list(AccessSite.objects.filter(encounter=self.encounter).order_by("pk"))
        return sites[which % len(sites)] if sites else None

    @rule(which=st.integers(0, 3))
    def flush_removed(self, which: int) -> None:
        flushes = list(Flush.objects.filter(encounter=self.encounter).order_by("pk"))
        if not flushes:
            self.idle = True
            return
        try:
            charting.flush_remove(
                flush=flushes[which % len(flushes)], user=self.nurse,
                addendum_why="charted on the wrong site" if self.signed else "",
            )  # fmt: skip
        except Refused:
            pass

    @precondition(lambda self: not self.signed)
    @rule(which=st.integers(0, 1))
    def assessed(self, which: int) -> None:
        site = self._site(which)
        if site is not None:
            try:
                charting.site_assess(site=site, at=self.clock)
            except Refused:
                pass

    @rule(which=st.integers(0, 1), grade=st.integers(0, 2), note=st.sampled_from(["", "tender"]))
    def condition_charted(self, which: int, grade: int, note: str) -> None:
        site = self._site(which)
        if site is None:
            return
        try:
            measures.site_condition_record(
                site=site, user=self.nurse, at=self.clock, infiltration=grade, phlebitis=0,
                blood_return="yes" if grade else "", note=note,
            )  # fmt: skip
        except Refused:
            pass

    @precondition(lambda self: not self.signed)  # the device form, before signing only
    @rule(which=st.integers(0, 1), gauge=st.sampled_from(["", "20G", "22G"]))
    def device_charted(self, which: int, gauge: str) -> None:
        site = self._site(which)
        if site is not None:
            AccessSite.objects.filter(pk=site.pk).update(gauge=gauge, device="catheter", attempts=1)

    @rule(which=st.integers(0, 1), location=st.sampled_from(["", "left forearm", "R hand"]))
    def site_updated(self, which: int, location: str) -> None:
        site = self._site(which)
        if site is None:
            return
        try:
            charting.site_update(
                site=site, location=location, separate_site_reason=site.separate_site_reason,
                user=self.nurse, addendum_why="location was charted wrong" if self.signed else "",
            )  # fmt: skip
        except Refused:
            pass

    @precondition(lambda self: not self.signed)
    @rule(which=st.integers(0, 1), stop=st.booleans())
    def discontinued(self, which: int, stop: bool) -> None:
        site = self._site(which)
        if site is None:
            return
        try:
            charting.site_discontinue(site=site, at=self.clock, stop_running=stop, now=self.tick())
        except Refused:
            pass

    @precondition(lambda self: not self.signed)
    @rule(which=st.integers(0, 1))
    def reopened(self, which: int) -> None:
        site = self._site(which)
        if site is None:
            return
        try:
            charting.site_reopen(site=site, user=self.nurse)
        except Refused:
            pass

    @precondition(lambda self: not self.signed)
    @rule()
    def second_site_placed(self) -> None:
        try:
            charting.site_place(
                encounter=self.encounter, kind=AccessSite.Kind.PERIPHERAL_IV, location="left hand",
                placed_at=self.clock - timedelta(minutes=1),
                separate_site_reason="first site infiltrated, a new line is needed",
            )  # fmt: skip
        except Refused:
            pass


def test_a_kept_site_chip_is_the_chip_drawn_afresh_after_any_change() -> None:
    run_state_machine_as_test(
        ChartSites,
        settings=settings(
            max_examples=8,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


SITE_FORMS = (
    "mar.forms.SiteForm", "mar.forms.SiteUpdateForm", "mar.forms.FlushForm",
    "mar.forms.SiteAssessForm", "mar.forms.SiteDiscontinueForm",
    "mar.care_forms.SiteDetailsForm", "mar.care_forms.SiteConditionForm",
)  # fmt: skip


def test_a_chart_loaded_again_builds_none_of_the_site_chips_forms(client_as) -> None:
    """What keeping them is for: a chart loaded again with nothing changed builds none of the
    chips' forms nor the "+ Add site" form (they are drawn from the kept chips), and shows the
    same chips."""
    caches[CACHE].clear()
    encounter = factories.encounter_create()
    for location in ("right forearm", "left hand"):
        factories.site_create(encounter, placed_at=encounter.arrived_at, location=location)
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    first, _ = page_at(client, url, timezone.now())
    with ExitStack() as stack:
        built = [
            stack.enter_context(
                mock.patch(f"{path}.__init__", autospec=True, side_effect=_init_of(path))
            )
            for path in SITE_FORMS
        ]
        again, _ = page_at(client, url, timezone.now())
    assert [init.call_count for init in built] == [0] * len(SITE_FORMS)
    assert chips(again) == chips(first) and len(chips(first)) == 2
    assert 'id="add-site"' in again


def _init_of(path: str) -> object:
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    return cls.__init__
