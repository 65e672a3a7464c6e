"""A time typed alone in a time field ("08:28", "8:28", "0828") is that time today on the
encounter's wall clock, or yesterday when today's would be later than now by more than a device's
clock may run ahead (CLOCK_AHEAD: a visit crossing midnight). QA walkthrough: "08:28" in a site's
"Placed at" was refused with "Enter the date and the 24-hour time". DST hours are still refused
with the engine's words (the nurse then gives the date and the offset). Fixed "now"s, never the
machine's clock."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from coding.engine import RecordError
from mar.clock import CLOCK_AHEAD
from mar.forms import TIME_HINT, TIME_PLACEHOLDER, LocalTimeField, SiteForm, time_alone
from mar.models import Encounter
from tests import factories
from tests.mar.time_alone_cases import ALONE, NOT_READ

NY = factories.NEW_YORK
MORNING = datetime(2026, 12, 7, 8, 33, tzinfo=NY)


@pytest.fixture
def now_is(monkeypatch):
    def set_now(moment: datetime) -> None:
        monkeypatch.setattr("django.utils.timezone.now", lambda: moment.astimezone(UTC))

    return set_now


@pytest.mark.parametrize(("typed", "read"), sorted(ALONE.items()))
def test_a_time_alone_is_read_as_today_or_yesterday_on_the_encounters_wall_clock(
    now_is, typed: str, read: str
) -> None:
    now_is(MORNING)
    value = LocalTimeField(zone=NY).clean(typed)
    local = value.astimezone(NY)
    assert local.strftime("%H:%M") == read
    # 08:28, 00:00 today; 23:59 today would be 15 hours ahead: yesterday's.
    expected_day = "2026-12-06" if read == "23:59" else "2026-12-07"
    assert local.strftime("%Y-%m-%d") == expected_day


@pytest.mark.parametrize("typed", NOT_READ)
def test_a_time_alone_that_is_ambiguous_or_off_the_clock_is_refused_in_words(
    now_is, typed: str
) -> None:
    now_is(MORNING)
    with pytest.raises(ValidationError) as refused:
        LocalTimeField(zone=NY).clean(typed)
    message = refused.value.messages[0]
    assert "24-hour" in message and "14:30 (today)" in message and message.endswith(".")


def test_a_time_alone_crossing_midnight_is_yesterdays_beyond_the_clock_allowance() -> None:
    just_after_midnight = datetime(2026, 12, 8, 0, 10, tzinfo=NY)
    assert time_alone("23:50", NY, just_after_midnight) == datetime(2026, 12, 7, 23, 50, tzinfo=NY)
    # A device's clock a little ahead: 00:14 typed at 00:10 is today's, not yesterday's.
    ahead = just_after_midnight + CLOCK_AHEAD - timedelta(minutes=1)
    assert time_alone(ahead.strftime("%H:%M"), NY, just_after_midnight) == ahead
    beyond = just_after_midnight + CLOCK_AHEAD + timedelta(minutes=1)
    assert time_alone(beyond.strftime("%H:%M"), NY, just_after_midnight) == beyond - timedelta(
        days=1
    )


def test_a_time_alone_is_read_on_the_encounters_zone_not_utc() -> None:
    """At 23:50 in New York it is already the next day in UTC: today is New York's."""
    late = datetime(2026, 12, 7, 23, 50, tzinfo=NY)
    read = time_alone("23:40", NY, late)
    assert read is not None and read.astimezone(NY) == datetime(2026, 12, 7, 23, 40, tzinfo=NY)


def test_a_time_alone_in_the_repeated_dst_hour_asks_for_the_offset(now_is) -> None:
    now_is(datetime(2026, 11, 1, 8, 0, tzinfo=NY))  # clocks went back at 02:00 that night
    with pytest.raises(ValidationError) as refused:
        LocalTimeField(zone=NY).clean("01:30")
    assert refused.value.code == "dst"
    assert "2026-11-01T01:30:00 happens twice" in refused.value.messages[0]
    assert "UTC offset" in refused.value.messages[0]


def test_a_time_alone_in_the_skipped_dst_hour_is_refused(now_is) -> None:
    now_is(datetime(2026, 3, 8, 9, 0, tzinfo=NY))  # clocks went forward at 02:00 that night
    with pytest.raises(ValidationError) as refused:
        LocalTimeField(zone=NY).clean("0230")
    assert refused.value.code == "dst"
    assert "2026-03-08T02:30:00 does not exist" in refused.value.messages[0]


@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_a_time_alone_is_the_latest_such_wall_clock_time_not_in_the_future(
    now: datetime, hour: int, minute: int
) -> None:
    """Whatever the moment: the time read shows what was typed on the wall clock, is not later
    than now by more than the allowance, and is less than a day before that bound (so it is the
    last such time: today's, or yesterday's when today's is in the future)."""
    typed = f"{hour:02d}:{minute:02d}"
    try:
        read = time_alone(typed, NY, now)
    except RecordError as exc:  # a DST hour: the engine's refusal, nothing else
        assert "clocks went" in exc.message
        return
    assert read is not None
    assert read.astimezone(NY).strftime("%H:%M") == typed
    bound = now + CLOCK_AHEAD
    assert read <= bound
    assert bound - read < timedelta(days=1, hours=1)  # a DST day is 25 hours long


def test_a_site_placed_at_a_time_alone_is_kept_with_todays_date(now_is) -> None:
    """The QA case: "Placed at 08:28" on a site's form reads as today's 08:28."""
    now_is(MORNING)
    encounter = Encounter(arrived_at=MORNING - timedelta(hours=1), timezone="America/New_York")
    form = SiteForm(
        {"kind": "peripheral_iv", "location": "L forearm", "placed_at": "08:28"},
        encounter=encounter,
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["placed_at"] == datetime(2026, 12, 7, 8, 28, tzinfo=NY)


def test_the_time_fields_say_a_time_alone_is_today_and_carry_their_zone() -> None:
    html = LocalTimeField(zone=NY).widget.render("at", None)
    assert f'placeholder="{TIME_PLACEHOLDER}"' in html and TIME_PLACEHOLDER.startswith("HH:MM")
    assert "alone is today" in TIME_HINT and TIME_HINT.endswith(".")
    assert 'data-zone="America/New_York"' in html
