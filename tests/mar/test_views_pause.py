"""The card's Pause and Resume at a typed time, and "Add a pause" (late entry), as a plain form
post and through htmx: a refusal beside the time field, naming the date and time, what was
typed kept; a pause without a reason says so on the card (QA finding)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration, Pause
from tests import factories
from tests.mar.chart_helpers import local, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _wall(moment) -> str:
    return timezone.localtime(moment, factories.NEW_YORK).strftime("%Y-%m-%d %H:%M")


def _minute(moment):
    """A time as typed: to the minute."""
    return moment.replace(second=0, microsecond=0)


def _post(client, name, adm, data, htmx):
    url = reverse(f"mar:{name}", args=[adm.encounter_id, adm.pk])
    return client.post(url, data, **(HX if htmx else {}))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_it_pauses_and_resumes_at_the_times_typed(client_as, htmx) -> None:
    """QA: the pause was 17:00-17:10; she charts it at those times, not now."""
    _encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    paused, resumed = adm.start + timedelta(minutes=10), adm.start + timedelta(minutes=20)
    response = _post(
        client,
        "adm_pause",
        adm,
        {f"at{adm.pk}-version": 1, f"at{adm.pk}-at": local(paused),
         f"at{adm.pk}-reason": "patient_request"},
        htmx,
    )  # fmt: skip
    assert response.status_code == (200 if htmx else 302)
    _post(client, "adm_resume", adm,
          {f"at{adm.pk}-version": 2, f"at{adm.pk}-at": local(resumed)}, htmx)  # fmt: skip
    pause = Pause.objects.get(administration=adm)
    assert (pause.start, pause.end, pause.reason) == (
        _minute(paused),
        _minute(resumed),
        "patient_request",
    )


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_a_pause_before_the_start_is_refused_beside_its_time_with_the_typing_kept(
    client_as, htmx
) -> None:
    _encounter, adm = running_visit()
    typed = local(adm.start - timedelta(minutes=20))
    response = _post(
        client_as(roles.NURSE),
        "adm_pause",
        adm,
        {f"at{adm.pk}-version": 1, f"at{adm.pk}-at": typed, f"at{adm.pk}-reason": "pump_alarm"},
        htmx,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="error_1_id_at{adm.pk}-at"' in html  # beside the field
    assert f"({_wall(adm.start - timedelta(minutes=20))}) is before" in html
    assert _wall(adm.start) in html
    assert f'name="at{adm.pk}-at" value="{typed.replace("T", " ")}"' in html or (
        f'name="at{adm.pk}-at" value="{typed}"' in html
    )
    assert '<option value="pump_alarm" selected>' in html
    assert not Pause.objects.filter(administration=adm).exists()


def test_a_resume_before_its_pause_is_refused_beside_the_resume_time(client_as) -> None:
    _encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    paused = adm.start + timedelta(minutes=30)
    _post(client, "adm_pause", adm,
          {f"at{adm.pk}-version": 1, f"at{adm.pk}-at": local(paused)}, True)  # fmt: skip
    response = _post(
        client,
        "adm_resume",
        adm,
        {f"at{adm.pk}-version": 2, f"at{adm.pk}-at": local(paused - timedelta(minutes=10))},
        True,
    )
    html = response.content.decode()
    assert f'id="error_1_id_at{adm.pk}-at"' in html
    assert f"is before the pause of carboplatin at {_wall(paused)}" in html
    assert Pause.objects.get(administration=adm).end is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_it_adds_a_past_pause_with_both_times(client_as, htmx) -> None:
    _encounter, adm = running_visit()
    start, end = adm.start + timedelta(minutes=10), adm.start + timedelta(minutes=20)
    response = _post(
        client_as(roles.NURSE),
        "pause_add",
        adm,
        {f"pa{adm.pk}-version": 1, f"pa{adm.pk}-start": local(start),
         f"pa{adm.pk}-end": local(end), f"pa{adm.pk}-reason": ""},
        htmx,
    )  # fmt: skip
    assert response.status_code == (200 if htmx else 302)
    pause = Pause.objects.get(administration=adm)
    assert (pause.start, pause.end, pause.reason) == (_minute(start), _minute(end), "")
    assert Administration.objects.get(pk=adm.pk).version == 2


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_an_added_pause_over_another_is_refused_beside_the_field_the_typing_kept(
    client_as, htmx
) -> None:
    _encounter, adm = running_visit()
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=10),
                         end=adm.start + timedelta(minutes=20))  # fmt: skip
    start, end = local(adm.start + timedelta(minutes=15)), local(adm.start + timedelta(minutes=25))
    response = _post(
        client_as(roles.NURSE),
        "pause_add",
        adm,
        {f"pa{adm.pk}-version": 1, f"pa{adm.pk}-start": start, f"pa{adm.pk}-end": end,
         f"pa{adm.pk}-reason": "line_problem"},
        htmx,
    )  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="error_1_id_pa{adm.pk}-start"' in html
    assert "overlaps the pause of carboplatin of " + _wall(adm.start + timedelta(minutes=10)) in (
        html
    )
    assert f'id="adm-{adm.pk}-pause-add" open' in html  # the fold stays open, as typed
    assert f'value="{start}"' in html and f'value="{end}"' in html
    assert '<option value="line_problem" selected>' in html
    assert Pause.objects.filter(administration=adm).count() == 1


def test_an_added_pause_needs_its_resume_time(client_as) -> None:
    _encounter, adm = running_visit()
    response = _post(
        client_as(roles.NURSE),
        "pause_add",
        adm,
        {f"pa{adm.pk}-version": 1, f"pa{adm.pk}-start": local(adm.start + timedelta(minutes=5)),
         f"pa{adm.pk}-end": ""},
        True,
    )  # fmt: skip
    assert f'id="error_1_id_pa{adm.pk}-end"' in response.content.decode()
    assert "Enter when it was resumed." in response.content.decode()
    assert not Pause.objects.filter(administration=adm).exists()


def test_a_stopped_infusion_offers_add_a_pause_and_the_running_one_the_time_fields(
    client_as,
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert f'name="at{adm.pk}-at"' in page  # Pause's time field
    assert "Paused at (empty: now)" in page
    assert 'data-testid="pause-add-open"' in page
    Administration.objects.filter(pk=adm.pk).update(stop=timezone.now() - timedelta(minutes=1))
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert f'name="at{adm.pk}-at"' not in page
    assert 'data-testid="pause-add-open"' in page


def test_a_pause_without_a_reason_says_so_on_the_card(client_as) -> None:
    """record-format and rac-checklist ask a pause's two ends, not its reason: a pause may have
    none, and the card says "no reason given" (the auditor sees it was not given)."""
    encounter, adm = running_visit()
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=10),
                         end=adm.start + timedelta(minutes=20))  # fmt: skip
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=30),
                         end=adm.start + timedelta(minutes=35), reason="pump_alarm")  # fmt: skip
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    html = page.content.decode()
    assert html.count('data-testid="pause-line"') == 2
    assert "no reason given" in html
    assert "pump alarm" in html


@pytest.mark.parametrize("role", [roles.CODER, roles.PHARMACIST])
def test_only_a_nurse_adds_a_pause(client_as, role) -> None:
    _encounter, adm = running_visit()
    response = _post(
        client_as(role),
        "pause_add",
        adm,
        {f"pa{adm.pk}-version": 1, f"pa{adm.pk}-start": local(adm.start),
         f"pa{adm.pk}-end": local(adm.start + timedelta(minutes=5))},
        False,
    )  # fmt: skip
    assert response.status_code == 403
    assert not Pause.objects.filter(administration=adm).exists()


def test_a_pause_added_from_a_card_out_of_date_is_refused_and_kept(client_as) -> None:
    _encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(version=3)
    start = local(adm.start + timedelta(minutes=5))
    response = _post(
        client_as(roles.NURSE),
        "pause_add",
        adm,
        {f"pa{adm.pk}-version": 1, f"pa{adm.pk}-start": start,
         f"pa{adm.pk}-end": local(adm.start + timedelta(minutes=9))},
        True,
    )  # fmt: skip
    html = response.content.decode()
    assert "changed by someone else meanwhile" in html
    assert f'name="pa{adm.pk}-version" value="3"' in html  # adding it again is deliberate
    assert f'value="{start}"' in html
    assert not Pause.objects.filter(administration=adm).exists()
