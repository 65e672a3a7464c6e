"""A running infusion's expected end, and the amber note once it has run past it (QA: 250 mL at
500 mL/h said "Running 93 min" and only "chart its stop time when it ends"): reckoned from its
volume to be infused (else its bag) at the rates it ran at, else its order's duration, less its
pauses (mar/chart_context.py `expected_end`); the note's minutes are a slot of the kept card,
filled per response (mar/chart_cards.py), and static/js/chart.js keeps them right between
loads."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from mar.chart_cards import CACHE
from mar.chart_context import expected_end, overrun_minutes
from mar.models import Administration, Pause, RateChange
from tests import factories
from tests.mar.test_chart_cards import page_at

pytestmark = pytest.mark.django_db


def _running(minutes_ago: int, **fields):
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=3))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=3))
    order = factories.order_create(
        encounter, factories.drug_get("vancomycin"), dose="1 g",
        duration_minutes=fields.pop("duration_minutes", None),
    )  # fmt: skip
    adm = factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=minutes_ago), stop=None,
        **fields,
    )  # fmt: skip
    return now, encounter, adm


def test_the_expected_end_is_the_volume_at_the_rate() -> None:
    _now, _encounter, adm = _running(93, rate_ml_h=Decimal(500), bag_volume_ml=Decimal(250))
    end = expected_end(adm)
    assert end is not None
    assert end.at == adm.start + timedelta(minutes=30)
    assert end.basis == "250 mL at 500 mL/h"


def test_the_volume_to_be_infused_counts_before_the_bag_and_pauses_do_not_count() -> None:
    _now, _encounter, adm = _running(
        93, rate_ml_h=Decimal(500), bag_volume_ml=Decimal(500), vtbi_ml=Decimal(250)
    )
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=10),
                         end=adm.start + timedelta(minutes=20))  # fmt: skip
    assert expected_end(adm).at == adm.start + timedelta(minutes=40)


def test_a_rate_change_moves_the_expected_end() -> None:
    """100 mL at 100 mL/h for 30 min (50 mL), then 200 mL/h: the 50 mL left take 15 min."""
    _now, _encounter, adm = _running(93, rate_ml_h=Decimal(100), vtbi_ml=Decimal(100))
    RateChange.objects.create(administration=adm, at=adm.start + timedelta(minutes=30),
                              rate_ml_h=Decimal(200), reason="per protocol",
                              by=factories.user_create(username="rn-rate"))  # fmt: skip
    end = expected_end(adm)
    assert end.at == adm.start + timedelta(minutes=45)
    assert end.basis == "100 mL at 100 then 200 mL/h"


def test_without_a_rate_the_order_s_duration_less_pauses() -> None:
    _now, _encounter, adm = _running(93, duration_minutes=60)
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=5),
                         end=adm.start + timedelta(minutes=12))  # fmt: skip
    end = expected_end(adm)
    assert end.at == adm.start + timedelta(minutes=67)
    assert end.basis == "ordered over 60 min"


def test_no_expected_end_without_volume_and_rate_or_duration_or_while_paused() -> None:
    _now, _encounter, adm = _running(93, bag_volume_ml=Decimal(250))  # no rate
    assert expected_end(adm) is None
    _now, _encounter, paused = _running(93, rate_ml_h=Decimal(500), bag_volume_ml=Decimal(250))
    Pause.objects.create(administration=paused, start=paused.start + timedelta(minutes=5))
    assert expected_end(paused) is None


def test_overrun_minutes_are_whole_minutes_past_the_end() -> None:
    now = timezone.now()
    assert overrun_minutes(now, now + timedelta(seconds=59)) == 0
    assert overrun_minutes(now, now + timedelta(minutes=34, seconds=59)) == 34
    assert overrun_minutes(now, now - timedelta(minutes=5)) == 0


_NOTE = (
    r'data-testid="adm-overrun" data-end="([^"]+)"( hidden)?>Past its expected end '
    r'\((\d\d:\d\d)\) by <span class="overrun-minutes">(\d+)</span> min: chart its stop, or the '
    r"rate if it changed\.</div>"
)


def test_the_overrun_note_shows_only_past_the_expected_end_on_kept_cards(client_as) -> None:
    """Started 25 min ago, 250 mL at 500 mL/h: ends in 5 min, the note drawn hidden; as the
    server's clock moves on, the same kept card shows it with the minutes past (the card not
    drawn again), as the card drawn afresh does."""
    caches[CACHE].clear()
    now, encounter, adm = _running(25, rate_ml_h=Decimal(500), bag_volume_ml=Decimal(250))
    end = adm.start + timedelta(minutes=30)
    shown_end = end.astimezone(encounter.zone)
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    first, drawn = page_at(client, url, now)
    assert drawn == 1
    assert f"Expected to end {shown_end:%H:%M} (250 mL at 500 mL/h)." in first
    hidden = [(shown_end.isoformat(), " hidden", f"{shown_end:%H:%M}", "0")]
    assert re.findall(_NOTE, first) == hidden
    # Exactly at its end, and 59 s after: not past a whole minute yet.
    at_end, drawn = page_at(client, url, end + timedelta(seconds=59))
    assert drawn == 0 and re.findall(_NOTE, at_end)[0][1] == " hidden"
    later = end + timedelta(minutes=7, seconds=10)
    past, drawn = page_at(client, url, later)
    assert drawn == 0  # the kept card, its slots filled for this moment
    assert re.findall(_NOTE, past) == [(shown_end.isoformat(), "", f"{shown_end:%H:%M}", "7")]
    caches[CACHE].clear()
    assert page_at(client, url, later)[0] == past
    assert page_at(client, url, later, kept=False)[0] == past


def test_no_note_on_a_stopped_or_a_paused_infusion(client_as) -> None:
    caches[CACHE].clear()
    now, encounter, adm = _running(93, rate_ml_h=Decimal(500), bag_volume_ml=Decimal(250))
    Pause.objects.create(administration=adm, start=now - timedelta(minutes=5))
    client = client_as("nurse")
    url = reverse("mar:encounter", args=[encounter.pk])
    page, _ = page_at(client, url, now)
    assert 'data-testid="adm-overrun"' not in page
    Pause.objects.filter(administration=adm).update(end=now - timedelta(minutes=1))
    Administration.objects.filter(pk=adm.pk).update(stop=now, version=adm.version + 1)
    page, _ = page_at(client, url, now)
    assert 'data-testid="adm-overrun"' not in page
    assert "Expected to end" not in page
