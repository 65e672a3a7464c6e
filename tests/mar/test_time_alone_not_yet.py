"""A time typed alone that is later than now is read as yesterday's (mar/forms.py `time_alone`);
when yesterday's would be before the visit's arrival or before the start in the same form,
today's was meant: the field says it is later than now and cannot be charted yet, not "Read as
yesterday" (QA: a stop 15:55 typed at 15:15 on an infusion started at 14:20)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.forms import AdministrationForm
from tests import factories
from tests.mar.chart_helpers import card_data, running_visit

pytestmark = pytest.mark.django_db

NY = factories.NEW_YORK


def _typed_later_today(minutes: int = 40) -> str:
    now = timezone.now().astimezone(NY)
    later = now + timedelta(minutes=minutes)
    if later.date() != now.date():
        pytest.skip("within the last minutes of the day: later is tomorrow's")
    return later.strftime("%H:%M")


def _card_form(adm, **typed):
    encounter = adm.encounter
    form = AdministrationForm(
        card_data(adm, **typed),
        encounter=encounter,
        sites=list(encounter.sites.all()),
        prefix=f"a{adm.pk}",
    )
    form.is_valid()
    return form


def test_a_stop_typed_later_than_now_whose_yesterday_is_before_the_start_is_not_yet():
    encounter, adm = running_visit()
    typed = _typed_later_today()
    form = _card_form(adm, stop=typed)
    now = timezone.now().astimezone(NY).strftime("%H:%M")
    assert form.errors["stop"] == [
        f"This time ({typed}) is later than now ({now}): it cannot be charted yet."
    ]
    assert form["stop"].value() == typed  # kept as typed


def test_a_time_alone_whose_yesterday_is_within_the_visit_is_still_read_as_yesterday():
    """A visit crossing midnight: "23:50" typed at 00:10 is last night's, charted."""
    now = timezone.now()
    encounter, adm = running_visit(arrived_at=now - timedelta(hours=30))
    adm.start = now - timedelta(hours=28)
    adm.save()
    typed = _typed_later_today()
    form = _card_form(adm, stop=typed)
    assert "stop" not in form.errors
    stop = form.cleaned_data["stop"]
    assert stop.astimezone(NY).date() < now.astimezone(NY).date()
