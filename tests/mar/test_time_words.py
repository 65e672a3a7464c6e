"""Messages that name a time say its date too (bedside finding 2): "14:05 is in the future" is
ambiguous near midnight and on a visit of several days. Each refusal naming a time says
"YYYY-MM-DD HH:MM" on the visit's wall clock (America/New_York), as the time fields are typed;
a refusal against now says now the same way. Fixed datetimes across local midnight, never now().
An acknowledgement given to a finding in the old words (time only) still answers it."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from coding.engine import check_record
from mar.forms import LocalTimeField, PauseForm, ZonedForm
from mar.models import DrugClass, FindingAcknowledgement
from mar.record import record_from_encounter
from mar.services import charting, rates
from mar.services.charting import ChartError, acknowledgement_key, finding_key
from tests import factories

pytestmark = pytest.mark.django_db

NY = factories.NEW_YORK
# 23:50 on Dec 7 in New York is 04:50 UTC on Dec 8: the UTC date is not the local one.
NOW = datetime(2025, 12, 7, 23, 50, tzinfo=NY)
AFTER_MIDNIGHT = datetime(2025, 12, 8, 0, 10, tzinfo=NY)


def _visit(start: datetime, stop: datetime | None = None):
    encounter = factories.encounter_create(arrived_at=start - timedelta(hours=1))
    site = factories.site_create(encounter, placed_at=start - timedelta(hours=1))
    order = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="AUC 5"
    )
    adm = factories.administration_create(encounter, order, site=site, start=start, stop=stop)
    return encounter, site, adm


def _messages(encounter, rule: str = "DOC-3") -> list[str]:
    findings = check_record(record_from_encounter(encounter), now=NOW)
    return [f.message for f in findings if f.rule == rule]


def test_a_service_time_later_than_now_names_both_with_their_dates() -> None:
    with pytest.raises(ChartError) as refused:
        charting.times_not_in_the_future(NOW, zone=NY, at=AFTER_MIDNIGHT)
    assert refused.value.errors["at"] == [
        "This time (2025-12-08 00:10) is later than now (2025-12-07 23:50)."
    ]


def test_the_engine_names_a_start_in_the_future_with_its_date() -> None:
    encounter, _site, _adm = _visit(datetime(2025, 12, 7, 23, 0, tzinfo=NY))
    encounter.administrations.update(start=AFTER_MIDNIGHT)
    assert "The start time of carboplatin (2025-12-08 00:10) is in the future" in _messages(
        encounter
    )


def test_the_engine_names_a_flush_and_the_arrival_in_the_future_with_their_dates() -> None:
    encounter, site, _adm = _visit(datetime(2025, 12, 7, 22, 0, tzinfo=NY), NOW)
    encounter.flushes.create(site=site, at=AFTER_MIDNIGHT)
    type(encounter).objects.filter(pk=encounter.pk).update(observation_at=AFTER_MIDNIGHT)
    encounter.refresh_from_db()
    said = _messages(encounter)
    assert f"A flush on S{site.pk} is charted in the future (2025-12-08 00:10)" in said
    assert "The change to observation time (2025-12-08 00:10) is in the future" in said


def test_a_stop_before_its_start_across_midnight_names_both_dates() -> None:
    """Started 23:55, the stop typed 00:05 on the same date (meant the next day)."""
    start = datetime(2025, 12, 7, 23, 30, tzinfo=NY)
    encounter, _site, _adm = _visit(start, datetime(2025, 12, 7, 0, 5, tzinfo=NY))
    assert (
        "The stop time of carboplatin (2025-12-07 00:05) is not after its start (2025-12-07 23:30)"
    ) in _messages(encounter)


def test_a_rate_change_before_the_start_names_both_dates() -> None:
    user = factories.user_create(username="nurse-rate", role="nurse")
    _encounter, _site, adm = _visit(datetime(2025, 12, 7, 23, 30, tzinfo=NY))
    with pytest.raises(ChartError) as refused:
        rates.rate_change_record(
            administration=adm, rate_ml_h=Decimal(100), reason="titration",
            at=datetime(2025, 12, 7, 0, 5, tzinfo=NY), user=user, now=AFTER_MIDNIGHT,
        )  # fmt: skip
    assert refused.value.errors["at"] == [
        "This time (2025-12-07 00:05) is before the infusion started (2025-12-07 23:30)."
    ]


def test_a_resume_before_its_pause_names_both_dates() -> None:
    encounter, _site, adm = _visit(datetime(2025, 12, 7, 22, 0, tzinfo=NY))
    form = PauseForm(
        {"start": "2025-12-07 23:55", "end": "2025-12-07 00:05", "version": adm.version},
        encounter=encounter,
    )
    assert not form.is_valid()
    assert form.errors["end"] == [
        "The resume time (2025-12-07 00:05) is before the pause at 2025-12-07 23:55: a resume "
        "comes after its pause."
    ]


def test_a_time_days_ahead_names_it_and_now_with_their_dates() -> None:
    class At(ZonedForm):
        at = LocalTimeField()

    encounter = factories.encounter_create(arrived_at=NOW - timedelta(hours=1))
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        form = At({"at": "2025-12-10 00:10"}, encounter=encounter)
        assert not form.is_valid()
    assert form.errors["at"] == [
        "This time (2025-12-10 00:10) is later than now (2025-12-07 23:50): check the date and "
        "the year."
    ]


def test_an_acknowledgement_in_the_old_words_still_answers_the_finding() -> None:
    """Given before the messages said dates ("(00:10)"), it answers the finding now worded
    "(2025-12-08 00:10)": the signed record's checklist does not reopen it."""
    encounter, site, _adm = _visit(datetime(2025, 12, 7, 22, 0, tzinfo=NY), NOW)
    encounter.flushes.create(site=site, at=AFTER_MIDNIGHT)
    findings = check_record(record_from_encounter(encounter), now=NOW)
    (flush,) = [f for f in findings if f.field == "flushes[0]"]
    ack = FindingAcknowledgement(
        encounter=encounter, rule="DOC-3", administrations="", field="flushes[0]",
        message=f"A flush on S{site.pk} is charted in the future (00:10)", reason="x",
    )  # fmt: skip
    assert acknowledgement_key(ack) == finding_key(flush)
    other = FindingAcknowledgement(
        encounter=encounter, rule="DOC-3", administrations="", field="flushes[0]",
        message=f"A flush on S{site.pk} is charted in the future (00:20)", reason="x",
    )  # fmt: skip
    assert acknowledgement_key(other) != finding_key(flush)
