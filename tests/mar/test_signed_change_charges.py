"""A change to a signed record (an addendum made on a card or a site chip) makes the charges
owed again; the worker makes the new run after the change commits. The htmx answer to the
change sends the chart's charges out of band, saying they are being made again and polling
until the new run is stored, so the nurse never reads the charges of the record as it was
before her addendum as if they were current."""

import pytest
from django.urls import reverse

from coding.models import ChargeOutbox, ChargeRun
from mar import roles
from tests.mar.chart_helpers import SIGN_CONFIRMED, card_data

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _signed(client, encounter, capture) -> None:
    with capture(execute=True):
        client.post(reverse("mar:encounter_sign", args=[encounter.pk]), SIGN_CONFIRMED)
    encounter.refresh_from_db()
    assert encounter.is_signed
    assert ChargeRun.objects.filter(encounter=encounter, is_current=True).exists()


def test_an_addendum_on_a_card_answers_with_the_charges_being_made_again(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    client = client_as(roles.NURSE)
    _signed(client, chemo_encounter, django_capture_on_commit_callbacks)
    adm = chemo_encounter.administrations.order_by("pk").first()
    url = reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk])
    data = card_data(adm, bag="B-7", addendum_why="bag id from the pharmacy label")
    # The worker has not run yet (the task is sent after commit; not executed here).
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(url, data, **HX).content.decode()
    assert ChargeOutbox.objects.filter(encounter=chemo_encounter, done_at=None).exists()
    section = answer[answer.index('<section id="charges"') :]
    section = section[: section.index("</section>")]
    assert 'hx-swap-oob="true"' in section
    assert 'data-testid="charges-pending"' in section
    assert reverse("mar:encounter_charges", args=[chemo_encounter.pk]) in section  # it polls


def test_the_charges_stop_polling_once_the_new_run_is_stored(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    client = client_as(roles.NURSE)
    _signed(client, chemo_encounter, django_capture_on_commit_callbacks)
    adm = chemo_encounter.administrations.order_by("pk").first()
    url = reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk])
    data = card_data(adm, bag="B-7", addendum_why="bag id from the pharmacy label")
    with django_capture_on_commit_callbacks(execute=True):  # Celery eager: the run is made
        client.post(url, data, **HX)
    assert not ChargeOutbox.objects.filter(encounter=chemo_encounter, done_at=None).exists()
    assert ChargeRun.objects.get(encounter=chemo_encounter, is_current=True).trigger == "addendum"
    panel = client.get(
        reverse("mar:encounter_charges", args=[chemo_encounter.pk]), **HX
    ).content.decode()
    assert 'data-testid="charges-pending"' not in panel
    assert "hx-get" not in panel  # nothing owed: no more polling
    assert 'data-testid="charges"' in panel


def test_a_record_in_progress_answers_without_charges(client_as, chemo_encounter) -> None:
    client = client_as(roles.NURSE)
    adm = chemo_encounter.administrations.order_by("pk").first()
    url = reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk])
    answer = client.post(url, card_data(adm, bag="B-7"), **HX).content.decode()
    assert 'id="charges"' not in answer
