"""Two nurses on one administration card (issue 18, item 8): a save made from an older version is
merged field by field against the version it was typed from, so another nurse's dose is never
wiped by a card that still showed the old one; only the same field changed two ways is a
conflict, and saving again from it writes only the nurse's own fields."""

from decimal import Decimal

import pytest
from django.urls import reverse

from mar import roles
from mar.models import Administration
from tests.mar.chart_helpers import card_data, running_visit

pytestmark = pytest.mark.django_db
# Without the history (SQLite, the demo) the merge reads the version kept when the card was drawn
# (the tests at the end of this file).
MERGE_FROM_HISTORY = "the merge reads the version typed from out of the audit trail (triggers)"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.postgresql(MERGE_FROM_HISTORY)
def test_a_stale_card_changing_another_field_is_merged_and_keeps_the_other_nurses_dose(
    client_as,
) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    stale = card_data(adm)  # nurse B's page, loaded at version 1
    # Nurse A charts the dose: 750 mg.
    client.post(url, card_data(adm, dose_value="750", dose_unit="mg"))
    # Nurse B, from version 1 (dose still empty on her page), charts the bag id.
    stale[f"a{adm.pk}-bag"] = "B2"
    html = client.post(url, stale, **HX).content.decode()
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value, saved.dose_unit) == ("B2", Decimal(750), "mg")
    assert saved.version == 3
    assert 'data-testid="conflict"' not in html


@pytest.mark.postgresql(MERGE_FROM_HISTORY)
def test_the_same_field_changed_two_ways_is_a_conflict_naming_it(client_as) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    stale = card_data(adm)
    client.post(url, card_data(adm, dose_value="750", dose_unit="mg", bag="B1"))
    stale[f"a{adm.pk}-bag"] = "B2"
    html = client.post(url, stale, **HX).content.decode()
    assert Administration.objects.get(pk=adm.pk).bag == "B1"
    assert 'data-testid="conflict"' in html
    assert "changing the same field (bag id)" in html
    assert "Yours differs in: bag id." in html  # the dose only they changed is not hers
    # Her bag stays typed; the dose only the other nurse changed is shown as saved.
    assert f'name="a{adm.pk}-bag" value="B2"' in html
    assert f'name="a{adm.pk}-dose_value" value="750"' in html
    assert f'name="a{adm.pk}-version" value="2"' in html
    assert f'name="a{adm.pk}-base_version" value="1"' in html


@pytest.mark.postgresql(MERGE_FROM_HISTORY)
def test_saving_again_from_a_conflict_writes_only_her_fields(client_as) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    stale = card_data(adm)
    client.post(url, card_data(adm, dose_value="750", dose_unit="mg", bag="B1"))
    stale[f"a{adm.pk}-bag"] = "B2"
    client.post(url, stale, **HX)  # the conflict
    # Saved again deliberately: version 2, started from 1, still with the old (empty) dose in
    # the post (a form that kept her whole page): the other nurse's dose is not wiped.
    again = {**stale, f"a{adm.pk}-version": 2, f"a{adm.pk}-base_version": 1}
    client.post(url, again, **HX)
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value, saved.version) == ("B2", Decimal(750), 3)


def test_an_unchanged_card_saved_from_an_old_version_changes_nothing(client_as) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    stale = card_data(adm)
    client.post(url, card_data(adm, dose_value="750", dose_unit="mg"))
    client.post(url, stale, **HX)
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.dose_value, saved.dose_unit) == (Decimal(750), "mg")


# --- without the audit trail (SQLite, the demo): the version the card was drawn at is kept ---


@pytest.fixture
def no_history(monkeypatch):
    """As on SQLite: no audit trail to read a card's earlier version from (the demo's database)."""
    from django.core.cache import cache

    from mar.services import charting

    monkeypatch.setattr(charting, "_has_card_history", lambda: False)
    cache.clear()


def test_without_history_a_stale_card_drawn_on_the_chart_is_merged_not_written_whole(
    client_as, no_history
) -> None:
    """QA, two tabs on the SQLite demo: tab A saved bag BAG-A; tab B, drawn before, saved the dose
    and the card was written whole from B's page: bag BAG-A was gone, no conflict seen by anyone.
    The version B's card was drawn at is kept when the chart draws it, and the merge reads it."""
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    assert client.get(reverse("mar:encounter", args=[encounter.pk])).status_code == 200  # tab B
    stale = card_data(adm)
    client.post(url, card_data(adm, bag="BAG-A"))  # tab A
    stale[f"a{adm.pk}-dose_value"], stale[f"a{adm.pk}-dose_unit"] = "900", "mg"
    html = client.post(url, stale, **HX).content.decode()
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value, saved.dose_unit) == ("BAG-A", Decimal(900), "mg")
    assert 'data-testid="conflict"' not in html


def test_without_history_saving_again_after_a_conflict_writes_only_her_fields(
    client_as, no_history
) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    client.get(reverse("mar:encounter", args=[encounter.pk]))
    stale = card_data(adm)
    client.post(url, card_data(adm, bag="B1", dose_value="750", dose_unit="mg"))
    stale[f"a{adm.pk}-bag"] = "B2"
    assert 'data-testid="conflict"' in client.post(url, stale, **HX).content.decode()
    again = {**stale, f"a{adm.pk}-version": 2, f"a{adm.pk}-base_version": 1}
    client.post(url, again, **HX)
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value, saved.version) == ("B2", Decimal(750), 3)


def test_without_history_or_a_kept_version_a_stale_card_is_refused_not_written(
    client_as, no_history
) -> None:
    """Nothing kept for the version it was typed from (never drawn here, or kept too long ago):
    refused as out of date with the conflict box, as before; never saved whole unseen."""
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    stale = card_data(adm)  # posted without the chart ever drawn
    client.post(url, card_data(adm, bag="BAG-A"))
    stale[f"a{adm.pk}-dose_value"], stale[f"a{adm.pk}-dose_unit"] = "900", "mg"
    html = client.post(url, stale, **HX).content.decode()
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.dose_value) == ("BAG-A", None)
    assert 'data-testid="conflict"' in html
