"""Which order a drug scan is for (mar/services/scanning.py `_orders_for`): only an order that
may start (not returned by pharmacy, not charted not given / held / refused), a verified one
before one not verified, and when more than one is left the nurse says which by starting it;
the start of the order carries the scan (QA: the scan went to ondansetron 4 g, returned by
pharmacy, and the verified 4 mg order started "without scanning the drug")."""

from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration, BarcodeScan
from mar.services import safety, scanning
from tests.mar.scan_helpers import today_ago
from tests.mar.scan_helpers import visit as _visit

pytestmark = pytest.mark.django_db

NDC = "99999-001-10"  # ONDANSETRON_NDC of scan_helpers


def _pharmacist():
    user, _ = get_user_model().objects.get_or_create(username="pharm-scan")
    return user


def _returned_and_verified(order):
    """QA's visit: ondansetron 4 g returned by pharmacy (unit error) entered first, then 4 mg
    verified."""
    wrong = order
    wrong.dose = "4 g"
    wrong.returned_by = _pharmacist()
    wrong.returned_at = timezone.now() - timedelta(minutes=30)
    wrong.return_reason = "Unit error: 4 g, meant 4 mg"
    wrong.save()
    right = type(order).objects.create(
        encounter=order.encounter,
        drug=order.drug,
        dose="4 mg",
        route="iv",
        indication="R11.2",
        verified_by=_pharmacist(),
        verified_at=timezone.now() - timedelta(minutes=20),
    )
    return wrong, right


def test_a_drug_scan_skips_an_order_returned_by_pharmacy_for_the_verified_one(nurse_user):
    encounter, _site, order = _visit()
    wrong, right = _returned_and_verified(order)
    scan = scanning.scan_record(encounter=encounter, raw=NDC, user=nurse_user)
    assert (scan.result, scan.order) == ("match", right)
    assert "Matches the order ondansetron 4 mg" in scan.message
    assert "4 g" not in scan.message


def test_a_drug_scan_skips_an_order_charted_not_given(nurse_user):
    encounter, _site, order = _visit()
    order.disposition, order.disposition_reason = "not_given", "Patient declined"
    order.save()
    later = type(order).objects.create(
        encounter=encounter, drug=order.drug, dose="4 mg", route="iv", indication="R11.2"
    )
    scan = scanning.scan_record(encounter=encounter, raw=NDC, user=nurse_user)
    assert (scan.result, scan.order) == ("match", later)


def test_a_drug_scan_prefers_the_verified_order_over_one_not_verified(nurse_user):
    encounter, _site, unverified = _visit()
    verified = type(unverified).objects.create(
        encounter=encounter,
        drug=unverified.drug,
        dose="4 mg",
        route="iv",
        indication="R11.2",
        verified_by=_pharmacist(),
        verified_at=timezone.now(),
    )
    scan = scanning.scan_record(encounter=encounter, raw=NDC, user=nurse_user)
    assert scan.order == verified


def test_a_drug_scan_matching_only_orders_that_cannot_start_says_why_and_stops(nurse_user):
    encounter, _site, order = _visit()
    order.returned_by, order.returned_at = _pharmacist(), timezone.now()
    order.save()
    scan = scanning.scan_record(encounter=encounter, raw=NDC, user=nurse_user)
    assert (scan.result, scan.order) == ("wrong_drug", None)
    assert f"ondansetron 8 mg (O{order.pk}) was returned by pharmacy: call pharmacy" in (
        scan.message
    )


def test_a_drug_scan_matching_two_startable_orders_asks_which_and_goes_with_the_one_started(
    nurse_user,
):
    encounter, site, first = _visit()
    second = type(first).objects.create(
        encounter=encounter, drug=first.drug, dose="4 mg", route="iv", indication="R11.2"
    )
    scan = scanning.scan_record(encounter=encounter, raw=NDC, user=nurse_user)
    assert (scan.result, scan.order) == ("match", None)
    assert (
        f"Matches 2 orders: ondansetron 8 mg (O{first.pk}), ondansetron 4 mg (O{second.pk})."
        in scan.message
    )
    assert "Which are you giving?" in scan.message
    assert scanning.scan_usable_for(scan, first) and scanning.scan_usable_for(scan, second)
    adm = safety.administration_start_checked(
        order=second,
        site=site,
        start=today_ago(5),
        method=Administration.Method.PUSH,
        user=nurse_user,
        checks=safety.StartChecks(scan=scan),
    )
    scan.refresh_from_db()
    assert (scan.order, scan.administration, adm.drug_scan) == (second, adm, scan)
    assert not scanning.scan_usable_for(scan, first)  # used once


def test_the_verified_orders_start_on_the_chart_carries_the_scan_and_counts_as_scanned(
    client_as,
):
    """QA's walkthrough through the chart: scan, the 4 mg order's start form carries the scan,
    the start records it (not "Started without scanning the drug")."""
    encounter, _site, order = _visit()
    wrong, right = _returned_and_verified(order)
    client = client_as(roles.NURSE)
    client.post(reverse("mar:scan", args=[encounter.pk]), {"scan-code": NDC})
    scan = BarcodeScan.objects.get(encounter=encounter)
    html = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert f'name="o{right.pk}-scan" value="{scan.pk}"' in html
    assert f'name="o{wrong.pk}-scan" value="{scan.pk}"' not in html
    response = client.post(
        reverse("mar:order_start", args=[encounter.pk, right.pk]),
        {f"o{right.pk}-method": "push", f"o{right.pk}-scan": scan.pk},
        follow=True,
    )
    adm = Administration.objects.get(encounter=encounter)
    assert (adm.order, adm.drug_scan) == (right, scan)
    assert adm.not_scanned_at_start == ("wristband",)
    assert "without scanning the drug" not in unescape(response.content.decode())
