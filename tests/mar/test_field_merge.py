"""Two nurses on the encounter's times and a site's details (issue 18, item 8): these forms carry
the values they showed (a hidden base, mar/merge.py), and a save merges field by field: a field
she left as shown never wipes another nurse's change saved meanwhile; the same field changed
two ways is refused beside the field, naming what is stored now, and saving again keeps hers."""

import html as html_lib
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from mar import merge, roles
from mar.models import AccessSite, Encounter
from tests.mar.chart_helpers import local, running_visit

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _base(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match, f"no hidden {name} on the page"
    return html_lib.unescape(match.group(1))


def _chart(client, encounter: Encounter) -> str:
    return client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()


def _times(encounter: Encounter, base: str, **values) -> dict[str, str]:
    data = {
        "enc-arrived_at": local(encounter.arrived_at) if encounter.arrived_at else "",
        "enc-observation_at": "",
        "enc-base": base,
    }
    data.update({f"enc-{k}": v for k, v in values.items()})
    return data


def test_merge_keeps_theirs_where_she_left_a_field_as_shown() -> None:
    base = merge.snapshot({"a": "x", "b": "y"})
    assert merge.merged(
        base=merge.snapshot_read(base), current={"a": "x2", "b": "y"}, mine={"a": "x", "b": "y3"}
    ) == {"a": "x2", "b": "y3"}


def test_merge_refuses_a_field_changed_two_ways_and_names_what_is_stored() -> None:
    base = merge.snapshot_read(merge.snapshot({"a": "x"}))
    with pytest.raises(merge.ChangedMeanwhile) as caught:
        merge.merged(base=base, current={"a": "theirs"}, mine={"a": "mine"})
    assert caught.value.clashes == {"a": "theirs"}
    assert merge.snapshot_read(caught.value.current) == {"a": "theirs"}


def test_merge_without_a_readable_base_is_last_write_wins() -> None:
    assert merge.snapshot_read("not json") is None
    assert merge.snapshot_read('{"a": 1}') is None
    assert merge.merged(base=None, current={"a": "theirs"}, mine={"a": "mine"}) == {"a": "mine"}


def test_a_stale_times_form_keeps_the_other_nurses_observation_time(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_times", args=[encounter.pk])
    base = _base(_chart(client, encounter), "enc-base")  # nurse B's page
    observation = adm.start + timedelta(minutes=30)
    # Nurse A charts the change to observation.
    client.post(url, _times(encounter, base, observation_at=local(observation)))
    # Nurse B, from her page (observation still empty), corrects the arrival.
    arrived = encounter.arrived_at - timedelta(minutes=10)
    client.post(url, _times(encounter, base, arrived_at=local(arrived)), **HX)
    saved = Encounter.objects.get(pk=encounter.pk)
    assert local(saved.arrived_at) == local(arrived)
    assert saved.observation_at is not None and local(saved.observation_at) == local(observation)


def test_an_arrival_changed_two_ways_is_refused_beside_the_field_and_saving_again_keeps_hers(
    client_as,
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_times", args=[encounter.pk])
    base = _base(_chart(client, encounter), "enc-base")
    theirs = encounter.arrived_at - timedelta(minutes=5)
    mine = encounter.arrived_at - timedelta(minutes=15)
    client.post(url, _times(encounter, base, arrived_at=local(theirs)))
    page = client.post(url, _times(encounter, base, arrived_at=local(mine)), **HX)
    html = page.content.decode()
    assert local(Encounter.objects.get(pk=encounter.pk).arrived_at) == local(theirs)
    assert "Changed by someone else while you typed: it is now" in html
    assert theirs.astimezone(encounter.zone).strftime("%H:%M") in html
    assert f'name="enc-arrived_at" value="{local(mine)}"' in html  # hers stays typed
    fresh = _base(html, "enc-base")
    assert fresh != base
    client.post(url, _times(encounter, fresh, arrived_at=local(mine)), **HX)
    assert local(Encounter.objects.get(pk=encounter.pk).arrived_at) == local(mine)


def test_a_stale_site_form_keeps_the_other_nurses_reason(client_as) -> None:
    encounter, adm = running_visit()
    site = adm.site
    assert site is not None
    client = client_as(roles.NURSE)
    url = reverse("mar:site_update", args=[encounter.pk, site.pk])
    base = _base(_chart(client, encounter), f"s{site.pk}-base")
    client.post(
        url,
        {f"s{site.pk}-location": site.location, f"s{site.pk}-separate_site_reason": "vesicant",
         f"s{site.pk}-base": base},
    )  # fmt: skip
    client.post(
        url,
        {f"s{site.pk}-location": "right upper arm", f"s{site.pk}-separate_site_reason": "",
         f"s{site.pk}-base": base},
        **HX,
    )  # fmt: skip
    saved = AccessSite.objects.get(pk=site.pk)
    assert (saved.location, saved.separate_site_reason) == ("right upper arm", "vesicant")


def test_a_site_location_changed_two_ways_is_refused_and_nothing_is_saved(client_as) -> None:
    encounter, adm = running_visit()
    site = adm.site
    assert site is not None
    client = client_as(roles.NURSE)
    url = reverse("mar:site_update", args=[encounter.pk, site.pk])
    base = _base(_chart(client, encounter), f"s{site.pk}-base")
    client.post(
        url,
        {f"s{site.pk}-location": "right hand", f"s{site.pk}-separate_site_reason": "",
         f"s{site.pk}-base": base},
    )  # fmt: skip
    html = client.post(
        url,
        {f"s{site.pk}-location": "right wrist", f"s{site.pk}-separate_site_reason": "burns",
         f"s{site.pk}-base": base},
        **HX,
    ).content.decode()  # fmt: skip
    saved = AccessSite.objects.get(pk=site.pk)
    assert (saved.location, saved.separate_site_reason) == ("right hand", "")
    assert "it is now right hand" in html
    assert 'value="right wrist"' in html  # hers stays typed
