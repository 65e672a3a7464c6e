from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Encounter
from tests import factories


def test_board_lists_todays_encounters_with_their_state(client_as) -> None:  # type: ignore[no-untyped-def]
    client = client_as(roles.NURSE)
    now = timezone.now()
    today = factories.encounter_create(arrived_at=now, location_label="7")
    signed_yesterday = factories.encounter_create(
        arrived_at=now - timedelta(days=1), status=Encounter.Status.SIGNED
    )
    page = client.get(reverse("mar:board")).content.decode()
    assert today.patient.name in page
    assert "In progress" in page
    assert signed_yesterday.patient.name not in page


def test_board_shows_what_is_running(client_as) -> None:  # type: ignore[no-untyped-def]
    client = client_as(roles.NURSE)
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(minutes=40))
    order = factories.order_create(encounter, factories.drug_get("carboplatin", "chemo"))
    factories.administration_create(
        encounter, order, site=None, start=now - timedelta(minutes=35), stop=None
    )
    page = client.get(reverse("mar:board")).content.decode()
    assert "Running: carboplatin, 35" in page


def test_board_queries_stay_fixed_as_encounters_grow(
    client_as, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    client = client_as(roles.NURSE)
    for _ in range(12):
        factories.chemo_encounter_create(arrived_at=timezone.now())
    with django_assert_max_num_queries(8):
        assert client.get(reverse("mar:board")).status_code == 200
