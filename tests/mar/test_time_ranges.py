"""Every typed time is range-checked where it enters (issue 18, item 4): year 1, year 9999 and
offsets that push a time past either end are refused beside the field, never a 500; a time far
from the encounter is refused as implausible; a bad time already stored does not take the board
or the chart down."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mar import forms as mar_forms
from mar.models import AccessSite, Administration
from tests import factories

pytestmark = pytest.mark.django_db

BAD_TIMES = [
    "0001-01-01T00:00",
    "0001-01-01T00:00+14:00",
    "9999-12-31T23:59",
    "9999-12-31T23:59-12:00",
    "1900-01-01T08:00",
    "2999-01-01T08:00",
]

TIME_FIELDS = [
    (mar_forms.SiteForm, "placed_at"),
    (mar_forms.AtForm, "at"),
    (mar_forms.FlushForm, "at"),
    (mar_forms.StartForm, "at"),
    (mar_forms.AdministrationForm, "start"),
    (mar_forms.AdministrationForm, "stop"),
    (mar_forms.PauseForm, "start"),
    (mar_forms.PauseForm, "end"),
    (mar_forms.EncounterTimesForm, "arrived_at"),
    (mar_forms.EncounterTimesForm, "observation_at"),
    (mar_forms.AddendumForm, "flush_at"),
]


@pytest.mark.parametrize("value", BAD_TIMES)
@pytest.mark.parametrize(("form_class", "field"), TIME_FIELDS)
def test_an_impossible_time_is_refused_beside_its_field(form_class, field, value) -> None:
    encounter = factories.encounter_create()
    form = form_class(data={field: value}, encounter=encounter)
    assert not form.is_valid()
    assert field in form.errors, form.errors
    text = " ".join(form.errors[field])
    assert "check the year" in text


def test_a_time_days_away_from_the_encounter_is_implausible() -> None:
    encounter = factories.encounter_create()
    earliest, latest = mar_forms.plausible_window(encounter)
    zone = encounter.zone
    for moment, ok in (
        (earliest + timedelta(minutes=1), True),
        (earliest - timedelta(minutes=1), False),
        (latest - timedelta(minutes=1), True),
        (latest + timedelta(minutes=1), False),
    ):
        typed = moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        form = mar_forms.AtForm(data={"at": typed}, encounter=encounter)
        assert form.is_valid() is ok, (typed, form.errors)


def test_a_time_far_from_the_visit_says_which_way_not_a_two_year_window() -> None:
    """A year typed wrong says what it is ("in the future", "two years before this visit"),
    not "outside this encounter (2024-12-06 02:13 to 2026-12-08 03:14)", which read as if the
    visit spanned two years (walk19)."""
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    zone = encounter.zone
    arrived = encounter.arrived_at.astimezone(zone)
    ahead = arrived.replace(year=arrived.year + 1)
    for moment, words in (
        # the time and now, each with its date (bedside finding 2; tests/mar/test_time_words.py)
        (ahead, re.compile(rf"This time \({ahead:%Y-%m-%d %H:%M}\) is later than now \(\d{{4}}-"
                           r"\d\d-\d\d \d\d:\d\d\): check the date and the year\.$")),
        (
            arrived.replace(year=arrived.year - 3),
            re.compile(re.escape("This time is more than two years before this visit "
                                 f"({arrived.strftime('%Y-%m-%d')}): check the year.") + "$"),
        ),
    ):  # fmt: skip
        form = mar_forms.SiteForm(
            data={"kind": "peripheral_iv", "placed_at": moment.strftime("%Y-%m-%dT%H:%M")},
            encounter=encounter,
        )
        (said,) = form.errors["placed_at"]
        assert words.match(said), said


@pytest.mark.parametrize("value", ["9999-12-31T23:59", "0001-01-01T00:00+14:00"])
def test_site_and_flush_posts_with_impossible_times_are_refused_not_500(client_as, value) -> None:
    encounter = factories.chemo_encounter_create()
    site = encounter.sites.get()
    nurse = client_as("nurse")
    base = f"/mar/encounters/{encounter.pk}/"
    posts = [
        (f"sites/{site.pk}/assess/", {f"assess{site.pk}-at": value}),
        (f"sites/{site.pk}/discontinue/", {f"discontinue{site.pk}-at": value}),
        (f"sites/{site.pk}/flush/", {f"flush{site.pk}-at": value, f"flush{site.pk}-late": "on"}),
        ("times/", {"enc-arrived_at": value}),
    ]
    for path, data in posts:
        response = nurse.post(base + path, data, follow=True)
        assert response.status_code == 200, path
    site.refresh_from_db()
    assert site.assessed_at is None and site.discontinued_at is None
    assert nurse.get("/mar/board/").status_code == 200
    assert nurse.get(base).status_code == 200


@pytest.mark.postgresql("a time past year 9999 in UTC, stored with PostgreSQL's SQL (timestamptz)")
def test_a_bad_time_already_stored_does_not_take_the_board_or_chart_down(client_as) -> None:
    """Stored before the forms checked (9999-12-31 23:59 New York is year 10000 in UTC)."""
    encounter = factories.chemo_encounter_create(arrived_at=timezone.now())
    site = encounter.sites.get()
    adm = encounter.administrations.order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AccessSite._meta.db_table} SET discontinued_at = "
            "'9999-12-31T23:59:00-05:00'::timestamptz WHERE id = %s",
            [site.pk],
        )
        cursor.execute(
            f"UPDATE {Administration._meta.db_table} SET stop = "
            "'9999-12-31T23:59:00-05:00'::timestamptz WHERE id = %s",
            [adm.pk],
        )
    for who in ("nurse", "coder"):
        client = client_as(who)
        if who == "nurse":
            assert client.get("/mar/board/").status_code == 200
        assert client.get(f"/mar/encounters/{encounter.pk}/").status_code == 200
