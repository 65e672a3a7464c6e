"""What a start had of barcode scanning (BCMA) is recorded with it (mar/services/safety.py:
`Administration.patient_scan`, `drug_scan`, `charted_at`), and its card says when it went without
("Started without scanning"): a start without a scan is allowed (no facility setting requires
scans), never silent."""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration
from mar.registration.services import administration_import
from mar.services import scanning
from tests.mar.scan_helpers import start as _start
from tests.mar.scan_helpers import visit as _visit

pytestmark = pytest.mark.django_db


def test_a_start_without_any_scan_records_that_it_had_none(nurse_user) -> None:
    adm = _start(nurse_user)
    adm.refresh_from_db()
    assert adm.charted_at is not None
    assert (adm.patient_scan_id, adm.drug_scan_id) == (None, None)
    assert adm.not_scanned_at_start == ("wristband", "drug")


def test_a_start_after_the_wristband_and_the_drug_scans_records_both(nurse_user) -> None:
    adm = _start(nurse_user, wristband=True, drug="match")
    adm.refresh_from_db()
    assert adm.patient_scan.result == "match" and adm.patient_scan.kind == "patient"
    assert adm.drug_scan.result == "match" and adm.drug_scan.administration_id == adm.pk
    assert adm.not_scanned_at_start == ()


def test_a_wristband_scanned_after_the_start_does_not_count_for_it(nurse_user) -> None:
    adm = _start(nurse_user)
    scanning.scan_record(encounter=adm.encounter, raw=adm.encounter.patient.mrn, user=nurse_user)
    adm.refresh_from_db()
    assert adm.not_scanned_at_start == ("wristband", "drug")


# --- the card ---------------------------------------------------------------------------------


def _card(html: str, adm: Administration) -> str:
    start = html.index(f'id="adm-{adm.pk}"')
    return html[start : html.index("</article>", start)]


def test_a_start_through_the_chart_without_scanning_says_so_on_its_card(client_as) -> None:
    """The start is allowed (no facility setting requires scans) but not silent: the card says
    it, and so does the message the start leaves."""
    encounter, _site, order = _visit()
    client = client_as(roles.NURSE)
    response = client.post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "push"},
        follow=True,
    )
    adm = Administration.objects.get()
    assert (adm.patient_scan_id, adm.drug_scan_id) == (None, None)
    assert adm.created_by.username == "nurse1"
    html = unescape(response.content.decode())
    card = _card(html, adm)
    assert 'data-testid="adm-unscanned"' in card
    assert "Started without scanning: no wristband scan, no drug scan." in card
    assert "without scanning" in html[: html.index(f'id="adm-{adm.pk}"')]  # the start's message
    # And on the chart drawn again.
    again = unescape(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert "Started without scanning: no wristband scan, no drug scan." in _card(again, adm)


def test_a_card_says_which_scan_was_missing(client_as, nurse_user) -> None:
    only_wristband = _start(nurse_user, wristband=True)
    only_drug = _start(nurse_user, drug="match")
    both = _start(nurse_user, wristband=True, drug="match")
    client = client_as(roles.NURSE)

    def card(adm):
        url = reverse("mar:encounter", args=[adm.encounter_id])
        return _card(unescape(client.get(url).content.decode()), adm)

    assert "Started without scanning the drug." in card(only_wristband)
    assert "Started without scanning the wristband." in card(only_drug)
    assert 'data-testid="adm-unscanned"' not in card(both)


def test_an_imported_administration_s_card_says_nothing_of_scanning(client_as) -> None:
    encounter, _site, order = _visit(imported_from="Epic FHIR")
    adm = administration_import(
        order=order, start=timezone.now() - timedelta(minutes=40), stop=None, method="push",
        route="iv",
    )  # fmt: skip
    assert adm.not_scanned_at_start == ()
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    assert 'data-testid="adm-unscanned"' not in _card(html.content.decode(), adm)
