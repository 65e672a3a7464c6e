"""An administration charted in error (issue 18, 4b): it leaves the record with a reason that
stays on the chart; its rows stay in the audit trail; a signed record changes only by addendum;
a card changed meanwhile is not removed; scans and overrides that named it are kept."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import (
    Addendum,
    Administration,
    BarcodeScan,
    ChartedInError,
    Pause,
)
from mar.record import record_dict_from_encounter
from mar.services import charting
from mar.services.charting import ChartError, StaleVersion
from mar.services.signature import signature_store
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def second_start(encounter, adm) -> Administration:
    """The double tap on Start: a second running administration of the same order."""
    return factories.administration_create(
        encounter, adm.order, site=adm.site, start=adm.start + timedelta(minutes=1), stop=None
    )


def test_the_duplicate_leaves_the_record_and_the_reason_stays_on_the_chart(nurse_user) -> None:
    encounter, adm = running_visit()
    twin = second_start(encounter, adm)
    entry = charting.administration_remove(
        administration=twin, version=twin.version, reason="double tap on Start", user=nurse_user
    )
    assert list(encounter.administrations.values_list("pk", flat=True)) == [adm.pk]
    ids = [a["id"] for a in record_dict_from_encounter(encounter)["administrations"]]
    assert f"A{twin.pk}" not in ids
    assert (entry.administration_ref, entry.reason, entry.by) == (
        f"A{twin.pk}",
        "double tap on Start",
        nurse_user,
    )
    assert "carboplatin" in entry.what


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_its_row_stays_in_the_audit_trail(nurse_user) -> None:
    encounter, adm = running_visit()
    twin = second_start(encounter, adm)
    pk = twin.pk
    charting.administration_remove(
        administration=twin, version=twin.version, reason="charted twice", user=nurse_user
    )
    labels = list(
        EVENTS[Administration].objects.filter(pgh_obj_id=pk).values_list("pgh_label", flat=True)
    )
    assert labels[0] == "insert" and labels[-1] == "delete"
    assert EVENTS[ChartedInError].objects.filter(reason="charted twice").exists()


def test_a_reason_is_required(nurse_user) -> None:
    encounter, adm = running_visit()
    with pytest.raises(ChartError) as excinfo:
        charting.administration_remove(
            administration=adm, version=adm.version, reason="  ", user=nurse_user
        )
    assert "reason" in excinfo.value.errors
    assert Administration.objects.filter(pk=adm.pk).exists()


def test_a_card_changed_meanwhile_is_not_removed(nurse_user) -> None:
    encounter, adm = running_visit()
    stale = adm.version
    adm.bag = "B2"
    adm.version += 1
    adm.save()
    with pytest.raises(StaleVersion):
        charting.administration_remove(
            administration=adm, version=stale, reason="wrong drug", user=nurse_user
        )
    assert Administration.objects.filter(pk=adm.pk).exists()


def test_its_pauses_go_with_it_and_its_scans_stay_as_safety_records(nurse_user) -> None:
    encounter, adm = running_visit()
    Pause.objects.create(administration=adm, start=timezone.now() - timedelta(minutes=10))
    scan = BarcodeScan.objects.create(
        encounter=encounter, administration=adm, raw="0100312345678906", by=nurse_user
    )
    charting.administration_remove(
        administration=adm, version=adm.version, reason="wrong patient's bag", user=nurse_user
    )
    assert not Pause.objects.exists()
    scan.refresh_from_db()
    assert scan.administration_id is None


def test_on_a_signed_record_only_as_an_addendum(nurse_user) -> None:
    encounter, adm = running_visit()
    twin = second_start(encounter, adm)
    now = timezone.now()
    Administration.objects.filter(pk__in=[adm.pk, twin.pk]).update(stop=now)
    twin.refresh_from_db()
    signature_store(encounter=encounter, user=nurse_user)
    with pytest.raises(ChartError) as excinfo:
        charting.administration_remove(
            administration=twin, version=twin.version, reason="double tap", user=nurse_user
        )
    assert "addendum_why" in excinfo.value.errors
    charting.administration_remove(
        administration=twin,
        version=twin.version,
        reason="double tap",
        user=nurse_user,
        addendum_why="duplicate found at review",
    )
    addendum = Addendum.objects.get(encounter=encounter)
    assert f"charted in error: A{twin.pk}" in addendum.what
    assert addendum.why == "duplicate found at review"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_the_view_removes_it_and_shows_it_under_charted_in_error(client_as, htmx) -> None:
    encounter, adm = running_visit()
    twin = second_start(encounter, adm)
    client = client_as(roles.NURSE)
    response = client.post(
        reverse("mar:adm_remove", args=[encounter.pk, twin.pk]),
        {f"rm{twin.pk}-reason": "double tap", f"rm{twin.pk}-version": twin.version},
        **(HX if htmx else {}),
    )
    assert response.status_code in (200, 302)
    assert not Administration.objects.filter(pk=twin.pk).exists()
    html = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-testid="charted-in-error"' in html
    assert "double tap" in html
    assert f'id="adm-{twin.pk}"' not in html


def test_the_view_refuses_a_missing_reason_beside_the_field_and_keeps_the_card(client_as) -> None:
    encounter, adm = running_visit()
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:adm_remove", args=[encounter.pk, adm.pk]),
            {f"rm{adm.pk}-reason": "", f"rm{adm.pk}-version": adm.version},
            **HX,
        )
        .content.decode()
    )
    assert f'id="error_1_id_rm{adm.pk}-reason"' in html
    assert "Say why this was charted in error." in html
    assert Administration.objects.filter(pk=adm.pk).exists()


@pytest.mark.parametrize("role", [roles.CODER, roles.PHARMACIST])
def test_only_a_nurse_may_remove_one(client_as, role) -> None:
    encounter, adm = running_visit()
    response = client_as(role).post(
        reverse("mar:adm_remove", args=[encounter.pk, adm.pk]),
        {f"rm{adm.pk}-reason": "double tap", f"rm{adm.pk}-version": adm.version},
    )
    assert response.status_code == 403
    assert Administration.objects.filter(pk=adm.pk).exists()
