"""Pausing an infusion, late entry (QA): Pause and Resume at a typed time, "Add a pause" with both
times at once (`charting.pause_add`), each checked as the card's other times are: not in the
future, not before the start (nor after the stop), not over another pause, a resume after its
pause; each refusal names the date and time, keyed by the pause's own field."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from coding.engine import code_record
from mar.audit.models import EVENTS
from mar.models import Pause
from mar.record import record_from_encounter
from mar.services import charting
from mar.services.charting import ChartError
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

NY = factories.NEW_YORK


def _wall(moment: datetime) -> str:
    return timezone.localtime(moment, NY).strftime("%Y-%m-%d %H:%M")


def test_it_pauses_and_resumes_at_times_typed_earlier() -> None:
    _encounter, adm = running_visit()
    paused_at = adm.start + timedelta(minutes=10)
    resumed_at = adm.start + timedelta(minutes=20)
    charting.administration_pause(administration=adm, version=1, at=paused_at)
    charting.administration_resume(administration=adm, version=2, at=resumed_at)
    pause = Pause.objects.get(administration=adm)
    assert (pause.start, pause.end) == (paused_at, resumed_at)


def test_a_pause_before_the_start_is_refused_naming_both_dates_and_times() -> None:
    _encounter, adm = running_visit()
    at = adm.start - timedelta(minutes=15)
    with pytest.raises(ChartError) as refused:
        charting.administration_pause(administration=adm, version=1, at=at)
    (message,) = refused.value.errors["start"]
    assert _wall(at) in message and _wall(adm.start) in message
    assert not Pause.objects.filter(administration=adm).exists()


def test_a_pause_in_the_future_is_refused_with_its_date() -> None:
    _encounter, adm = running_visit()
    at = timezone.now() + timedelta(minutes=30)
    with pytest.raises(ChartError) as refused:
        charting.administration_pause(administration=adm, version=1, at=at)
    (message,) = refused.value.errors["start"]
    assert _wall(at) in message and "in the future" in message
    assert not Pause.objects.filter(administration=adm).exists()


def test_a_pause_typed_before_one_already_charted_is_refused_as_overlapping() -> None:
    """A pause from 17:05 with no resume yet would lie over the one charted 17:10-17:20."""
    _encounter, adm = running_visit()
    charting.pause_add(
        administration=adm,
        version=1,
        start=adm.start + timedelta(minutes=10),
        end=adm.start + timedelta(minutes=20),
    )
    at = adm.start + timedelta(minutes=5)
    with pytest.raises(ChartError) as refused:
        charting.administration_pause(administration=adm, version=2, at=at)
    (message,) = refused.value.errors["start"]
    assert "overlaps" in message
    assert _wall(adm.start + timedelta(minutes=10)) in message
    assert Pause.objects.filter(administration=adm).count() == 1


def test_a_resume_before_its_pause_is_refused_beside_the_resume() -> None:
    _encounter, adm = running_visit()
    paused_at = adm.start + timedelta(minutes=30)
    charting.administration_pause(administration=adm, version=1, at=paused_at)
    with pytest.raises(ChartError) as refused:
        charting.administration_resume(
            administration=adm, version=2, at=paused_at - timedelta(minutes=5)
        )
    (message,) = refused.value.errors["end"]
    assert _wall(paused_at) in message
    assert Pause.objects.get(administration=adm).end is None


def test_a_resume_in_the_future_is_refused() -> None:
    _encounter, adm = running_visit()
    charting.administration_pause(
        administration=adm, version=1, at=adm.start + timedelta(minutes=30)
    )
    at = timezone.now() + timedelta(hours=1)
    with pytest.raises(ChartError) as refused:
        charting.administration_resume(administration=adm, version=2, at=at)
    assert "in the future" in refused.value.errors["end"][0]
    assert _wall(at) in refused.value.errors["end"][0]


def test_it_adds_a_past_pause_with_both_times_and_its_reason_to_a_running_infusion() -> None:
    _encounter, adm = running_visit()
    pause = charting.pause_add(
        administration=adm,
        version=1,
        start=adm.start + timedelta(minutes=10),
        end=adm.start + timedelta(minutes=20),
        reason=Pause.Reason.PUMP_ALARM,
    )
    pause.refresh_from_db()
    assert (pause.start, pause.end, pause.reason) == (
        adm.start + timedelta(minutes=10),
        adm.start + timedelta(minutes=20),
        "pump_alarm",
    )
    adm.refresh_from_db()
    assert adm.version == 2  # a change of the card, as a live pause is


def test_a_pause_added_to_a_stopped_infusion_must_end_by_its_stop() -> None:
    _encounter, adm = running_visit()
    stop = adm.start + timedelta(minutes=40)
    charting.administration_stop(administration=adm, version=1, at=stop)
    with pytest.raises(ChartError) as refused:
        charting.pause_add(
            administration=adm,
            version=2,
            start=adm.start + timedelta(minutes=30),
            end=adm.start + timedelta(minutes=50),
        )
    (message,) = refused.value.errors["end"]
    assert _wall(stop) in message and "stopped" in message
    charting.pause_add(
        administration=adm,
        version=2,
        start=adm.start + timedelta(minutes=30),
        end=stop,
    )
    assert Pause.objects.filter(administration=adm).count() == 1


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (5, 15, "end"),  # ends inside 10-20
        (15, 25, "start"),  # starts inside 10-20
        (5, 25, "end"),  # covers it
    ],
)
def test_an_added_pause_over_another_is_refused(start, end, field) -> None:
    _encounter, adm = running_visit()
    charting.pause_add(
        administration=adm,
        version=1,
        start=adm.start + timedelta(minutes=10),
        end=adm.start + timedelta(minutes=20),
    )
    with pytest.raises(ChartError) as refused:
        charting.pause_add(
            administration=adm,
            version=2,
            start=adm.start + timedelta(minutes=start),
            end=adm.start + timedelta(minutes=end),
        )
    assert list(refused.value.errors) == [field]
    assert "overlaps" in refused.value.errors[field][0]
    assert Pause.objects.filter(administration=adm).count() == 1


def test_an_added_pause_touching_another_is_not_an_overlap() -> None:
    _encounter, adm = running_visit()
    for version, (start, end) in enumerate([(10, 20), (20, 30)], start=1):
        charting.pause_add(
            administration=adm,
            version=version,
            start=adm.start + timedelta(minutes=start),
            end=adm.start + timedelta(minutes=end),
        )
    assert Pause.objects.filter(administration=adm).count() == 2


def test_an_added_pause_inside_the_open_one_is_refused() -> None:
    _encounter, adm = running_visit()
    charting.administration_pause(
        administration=adm, version=1, at=adm.start + timedelta(minutes=10)
    )
    with pytest.raises(ChartError) as refused:
        charting.pause_add(
            administration=adm,
            version=2,
            start=adm.start + timedelta(minutes=20),
            end=adm.start + timedelta(minutes=30),
        )
    assert "not resumed" in refused.value.errors["start"][0]


def test_an_added_pause_needs_its_resume_time_and_a_known_reason() -> None:
    _encounter, adm = running_visit()
    with pytest.raises(ChartError) as refused:
        charting.pause_add(
            administration=adm,
            version=1,
            start=adm.start + timedelta(minutes=10),
            end=adm.start + timedelta(minutes=20),
            reason="bored",
        )
    assert list(refused.value.errors) == ["reason"]
    assert not Pause.objects.filter(administration=adm).exists()


def test_a_pause_cannot_be_added_to_a_push() -> None:
    _encounter, adm = running_visit()
    adm.method = adm.Method.PUSH
    adm.stop = adm.start + timedelta(minutes=2)
    adm.save(update_fields=["method", "stop"])
    with pytest.raises(ChartError):
        charting.pause_add(
            administration=adm,
            version=1,
            start=adm.start,
            end=adm.start + timedelta(minutes=1),
        )


def test_the_engine_counts_a_late_entered_pause_as_a_live_one() -> None:
    """coding-rules §2 (minutes less every pause), through the engine's result: an infusion
    09:00-10:30 with a pause 09:30-09:50 charted afterwards counts 70 minutes, as a pause
    tapped live does."""
    results = []
    for late in (True, False):
        encounter = factories.encounter_create()
        site = factories.site_create(encounter)
        order = factories.order_create(encounter, factories.drug_get("vancomycin"), dose="1 g")
        nine = datetime(2026, 3, 2, 9, 0, tzinfo=NY)
        now = nine + timedelta(minutes=100)  # at the bedside, that morning
        adm = factories.administration_create(encounter, order, site=site, start=nine, stop=None)
        if late:
            charting.administration_stop(
                administration=adm, version=1, at=nine + timedelta(minutes=90), now=now
            )
            charting.pause_add(
                administration=adm,
                version=2,
                start=nine + timedelta(minutes=30),
                end=nine + timedelta(minutes=50),
                now=now,
            )
        else:
            charting.administration_pause(
                administration=adm, version=1, at=nine + timedelta(minutes=30), now=now
            )
            charting.administration_resume(
                administration=adm, version=2, at=nine + timedelta(minutes=50), now=now
            )
            charting.administration_stop(
                administration=adm, version=3, at=nine + timedelta(minutes=90), now=now
            )
        result = code_record(record_from_encounter(encounter))
        (line,) = [c for c in result.charges if c.code == "96365"]
        assert "70 min counted (90 run, 20 paused)" in line.why
        assert line.units == 1
        results.append([(c.code, c.units) for c in result.charges])
    assert results[0] == results[1]


@pytest.mark.postgresql("the audit trail is PostgreSQL triggers")
def test_an_added_pause_is_in_the_audit_trail_as_a_late_entry() -> None:
    pause_event = EVENTS[Pause]
    _encounter, adm = running_visit()
    pause = charting.pause_add(
        administration=adm,
        version=1,
        start=adm.start + timedelta(minutes=10),
        end=adm.start + timedelta(minutes=20),
    )
    event = pause_event.objects.get(pgh_obj_id=pause.pk, pgh_context__metadata__action="pause_add")
    assert (event.start, event.end) == (pause.start, pause.end)


def test_pause_and_resume_tapped_again_and_again_within_a_minute_are_each_accepted() -> None:
    """As the benchmarks tap them (benchmarks/checklist.py "pause/resume"): a pause right after
    a resume, in the same minute, follows it and does not overlap it."""
    _encounter, adm = running_visit()
    now = timezone.now()
    for i in range(6):
        at = now + timedelta(seconds=i)
        action = charting.administration_pause if i % 2 == 0 else charting.administration_resume
        action(administration=adm, version=i + 1, at=at, now=at)
    assert Pause.objects.filter(administration=adm, end__isnull=False).count() == 3
