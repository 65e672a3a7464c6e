"""Rates and volumes (mar/services/rates.py): rate changes as timed events, volumes, pause
reasons, flush solutions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.services import rates
from mar.services.charting import ChartError, StaleVersion
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db


def test_a_rate_change_is_a_timed_event_with_who_and_why(nurse_user) -> None:
    _encounter, adm = running_visit()
    at = adm.start + timedelta(minutes=30)
    change = rates.rate_change_record(
        administration=adm, rate_ml_h=Decimal(125), at=at, reason="titration per protocol",
        user=nurse_user, version=adm.version,
    )  # fmt: skip
    assert (change.at, change.rate_ml_h, change.by) == (at, 125, nurse_user)
    adm.refresh_from_db()
    assert adm.version == 2  # the card's version moves on: a stale card is not saved over it


@pytest.mark.parametrize(
    ("minutes", "rate", "reason", "field"),
    [
        (-5, "100", "x", "at"),  # before the start
        (10, "100", "  ", "reason"),
        (10, "0", "x", "rate_ml_h"),
        (120, "100", "x", "at"),  # in the future
    ],
)
def test_a_rate_change_is_refused_with_its_field(nurse_user, minutes, rate, reason, field) -> None:
    _encounter, adm = running_visit()
    with pytest.raises(ChartError) as refused:
        rates.rate_change_record(
            administration=adm, rate_ml_h=Decimal(rate), reason=reason, user=nurse_user,
            at=adm.start + timedelta(minutes=minutes),
        )  # fmt: skip
    assert field in refused.value.errors


def test_a_stale_card_cannot_change_the_rate(nurse_user) -> None:
    _encounter, adm = running_visit()
    with pytest.raises(StaleVersion):
        rates.rate_change_record(
            administration=adm, rate_ml_h=Decimal(50), reason="x", user=nurse_user,
            at=adm.start + timedelta(minutes=5), version=adm.version - 1,
        )  # fmt: skip


def test_segments_start_at_the_charted_rate(nurse_user) -> None:
    _encounter, adm = running_visit()
    adm.rate_ml_h = Decimal(250)
    adm.save()
    at = timezone.now() - timedelta(minutes=10)
    rates.rate_change_record(
        administration=adm, rate_ml_h=Decimal(100), at=at, reason="reaction", user=nurse_user
    )
    assert rates.rate_segments(adm) == [(adm.start, Decimal(250)), (at, Decimal(100))]


def test_volume_to_be_infused_cannot_exceed_the_bag() -> None:
    _encounter, adm = running_visit()
    with pytest.raises(ChartError) as refused:
        rates.volumes_update(
            administration=adm, rate_ml_h=Decimal(100), bag_volume_ml=Decimal(250),
            vtbi_ml=Decimal(300), volume_infused_ml=None,
        )  # fmt: skip
    assert "vtbi_ml" in refused.value.errors


def test_flush_solution_and_volume_are_charted_with_the_flush_in_one_insert() -> None:
    """Issue 19: "Flush now" with its solution and volume (NS 10 mL as the chip sends it, a
    heparin lock typed) writes the flush once: no UPDATE after its INSERT, the solution
    trimmed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mar.services import charting

    _encounter, adm = running_visit()
    with CaptureQueriesContext(connection) as queries:
        flush = charting.flush_chart(
            site=adm.site, at=adm.start, solution=" heparin 100 units/mL ", volume_ml=Decimal(5)
        )
    assert not [q for q in queries.captured_queries if 'UPDATE "mar_flush"' in q["sql"]]
    flush.refresh_from_db()
    assert (flush.solution, flush.volume_ml) == ("heparin 100 units/mL", 5)
    # A second flush at the same minute is charted once the nurse said so (`again`).
    left_empty = charting.flush_chart(site=adm.site, at=adm.start, again=True)
    left_empty.refresh_from_db()
    assert (left_empty.solution, left_empty.volume_ml) == ("", None)
