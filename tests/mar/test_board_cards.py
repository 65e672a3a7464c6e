"""The board's cards kept while their record has not changed (mar/board_cards.py, issue 19).

A kept card must never show anything other than the card built afresh: after any change a nurse,
a clerk or a pharmacist makes, and as the clock moves on, the board read with the cards kept is
the board built with nothing kept. And a board loaded again with nothing changed does not read
what runs on its cards (nor its pauses): that is what keeping them is for.
"""

import re
from datetime import timedelta
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

from mar import chart_reads
from mar.board_cards import CACHE
from mar.models import EncounterSummary
from mar.pharmacy.services import drug_save
from mar.registration.services import patient_update
from mar.services import charting
from tests import factories
from tests.mar.charting_rules import ChartingRules

pytestmark = pytest.mark.django_db


def board_at(client: Client, now) -> tuple[str, int]:
    """The board as a nurse loads it at `now`, and how many times it read what runs on cards
    (the read a kept card spares; spied on, as a prepared read's SQL is not in the log)."""
    with (
        mock.patch("django.utils.timezone.now", return_value=now),
        mock.patch.object(
            chart_reads, "board_running", wraps=chart_reads.board_running
        ) as running_read,
    ):
        response = client.get(reverse("mar:board"))
    assert response.status_code == 200
    return response.content.decode(), running_read.call_count


def cards(page: str) -> str:
    """The page less its CSRF tokens (masked anew on every response)."""
    page = re.sub(r'"X-CSRFToken": "[^"]+"', "", page)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)


def _cards(page: str) -> list[str]:
    return re.findall(r'<div class="col-12 col-sm-6.*?</a></div>', cards(page))


class Board(ChartingRules, RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chart_setup(CACHE)
        # A second visit that never changes, arrived as the first did.
        self.other = factories.chemo_encounter_create(arrived_at=self.encounter.arrived_at)
        self.client = Client()
        self.client.force_login(self.nurse)

    @rule(name=st.sampled_from(["Ada Lovelace", "Ada King", "Grace Hopper"]))
    def registration_corrects_the_name(self, name: str) -> None:
        patient_update(patient=self.encounter.patient, name=name)

    @rule(suffix=st.sampled_from(["a", "b", "c"]))
    def pharmacist_renames_the_drug(self, suffix: str) -> None:
        self.drug_renamed(suffix)

    @rule()
    def findings_age(self) -> None:
        """A summary whose findings depend on the clock reaches its `valid_until`."""
        EncounterSummary.objects.filter(encounter=self.encounter).update(valid_until=self.now)

    @invariant()
    def a_kept_board_is_the_board_built_afresh(self) -> None:
        if not self.step_seen():
            return  # nothing changed since the last comparison (ChartingRules.idle)
        now = self.tick()
        kept, _ = board_at(self.client, now)
        board_at(self.client, now)  # a summary aged by the clock was stored anew by the first
        again, running_reads = board_at(self.client, now)
        caches[CACHE].clear()
        afresh, _ = board_at(self.client, now)
        assert 'data-testid="encounter-card"' in afresh
        assert _cards(kept) == _cards(afresh), [
            (a, b) for a, b in zip(_cards(kept), _cards(afresh), strict=False) if a != b
        ]
        assert _cards(again) == _cards(afresh)
        # Loaded again with nothing changed: every card kept, so what runs is not read.
        assert running_reads == 0


def test_a_kept_board_is_the_board_built_afresh_after_any_change() -> None:
    run_state_machine_as_test(
        Board,
        settings=settings(
            max_examples=12,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_a_kept_cards_minutes_follow_the_clock(client_as) -> None:
    """What runs is kept with its start and pauses, not its minutes: seven minutes later the
    card says seven minutes more, with no row read again."""
    client = client_as("nurse")
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(minutes=40))
    order = factories.order_create(encounter, factories.drug_get("carboplatin", "chemo"))
    site = factories.site_create(encounter, placed_at=now - timedelta(minutes=40))
    charting.administration_start(
        order=order, site=site, start=now - timedelta(minutes=35), now=now
    )
    first, first_reads = board_at(client, now)
    later, later_reads = board_at(client, now + timedelta(minutes=7))
    assert "Running: carboplatin, 35 min" in first
    assert "Running: carboplatin, 42 min" in later
    assert (first_reads, later_reads) == (1, 0)


def test_a_change_shows_on_the_next_board_load(client_as) -> None:
    """Each change makes a new key: a stop, a corrected name, a renamed drug show at once."""
    client = client_as("nurse")
    pharmacist = factories.user_create(username="rph-board", role="pharmacist")
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(minutes=40))
    drug = factories.drug_get("vancomycin")
    order = factories.order_create(encounter, drug)
    site = factories.site_create(encounter, placed_at=now - timedelta(minutes=40))
    adm = charting.administration_start(
        order=order, site=site, start=now - timedelta(minutes=30), now=now
    )
    assert "Running: vancomycin, 30 min" in board_at(client, now)[0]
    drug_save(
        drug=drug, name="vancomycin HCl", synonyms="", hcpcs="", billing_unit="", note="",
        user=pharmacist,
    )  # fmt: skip
    assert "Running: vancomycin HCl, 30 min" in board_at(client, now)[0]
    patient_update(patient=encounter.patient, name="Grace Hopper")
    assert "Grace Hopper" in board_at(client, now)[0]
    charting.administration_stop(administration=adm, version=adm.version, at=now, now=now)
    page = board_at(client, now)[0]
    assert "Running: vancomycin" not in page
