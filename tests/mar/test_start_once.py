"""A double tap on Start creates one administration (issue 18, item 4b): the start form carries
a key per rendering; a second request with the same key finds the first's administration."""

import re

import pytest

from mar.models import Administration
from tests import factories

pytestmark = pytest.mark.django_db


def start_form_data(html: str, order_pk: int) -> dict[str, str]:
    key = re.search(rf'name="o{order_pk}-request_key" value="([0-9a-f]+)"', html)
    assert key is not None, "the start form carries its request key"
    return {f"o{order_pk}-method": "infusion", f"o{order_pk}-request_key": key[1]}


def test_a_double_tap_on_start_starts_one_administration(client_as) -> None:
    encounter = factories.chemo_encounter_create()
    order = encounter.orders.order_by("pk").first()
    nurse = client_as("nurse")
    url = f"/mar/encounters/{encounter.pk}/orders/{order.pk}/start/"
    before = Administration.objects.filter(order=order).count()
    data = start_form_data(nurse.get(f"/mar/encounters/{encounter.pk}/").content.decode(), order.pk)
    first = nurse.post(url, data, headers={"HX-Request": "true"})
    second = nurse.post(url, data, headers={"HX-Request": "true"})
    assert first.status_code == second.status_code == 200
    assert Administration.objects.filter(order=order).count() == before + 1
    # The page after the start carries a new key: the next tap is a new start.
    again = start_form_data(
        nurse.get(f"/mar/encounters/{encounter.pk}/").content.decode(), order.pk
    )
    assert again != data
    nurse.post(url, again)
    assert Administration.objects.filter(order=order).count() == before + 2


def test_the_service_is_idempotent_per_key(nurse_user) -> None:
    from django.utils import timezone

    from mar.services import charting

    encounter = factories.chemo_encounter_create(arrived_at=timezone.now())
    order = encounter.orders.order_by("pk").first()
    start = timezone.now()
    one = charting.administration_start(order=order, site=None, start=start, request_key="k1")
    two = charting.administration_start(order=order, site=None, start=start, request_key="k1")
    three = charting.administration_start(order=order, site=None, start=start, request_key="k2")
    assert one.pk == two.pk != three.pk


@pytest.mark.parametrize("action", ["pause", "stop"])
def test_pause_and_stop_without_a_version_change_nothing(client_as, action) -> None:
    """Issue 18, item 8: the version is required (it was optional: last save won)."""
    from django.utils import timezone

    encounter = factories.chemo_encounter_create(arrived_at=timezone.now())
    order = encounter.orders.order_by("pk").first()
    from mar.services import charting

    adm = charting.administration_start(order=order, site=None, start=timezone.now())
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/{action}/"
    response = client_as("nurse").post(url, {}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "out of date" in response.content.decode()
    after = Administration.objects.get(pk=adm.pk)
    assert (after.version, after.stop, after.pauses.count()) == (adm.version, None, 0)
