"""The pharmacist's scan-compliance report (mar/scan_compliance.py, /pharmacy/scans/): every
administration started in a date range with its wristband and drug scans, overrides and their
reasons, by nurse; the compliance rate per unit and per nurse; CSV through mar/csv_safe.py;
imported administrations and those charted by addendum apart, never counted as non-compliant."""

import csv
import io
from datetime import datetime, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Encounter
from mar.registration.services import administration_import
from mar.scan_compliance import administrations, by_nurse, by_unit, total
from tests import factories
from tests.mar.scan_helpers import start as _start
from tests.mar.scan_helpers import today_ago
from tests.mar.scan_helpers import visit as _visit

pytestmark = pytest.mark.django_db


def _today_range() -> dict[str, str]:
    today = timezone.localdate().isoformat()
    return {"date_from": today, "date_to": today}


def test_the_report_counts_each_start_per_unit_and_per_nurse(nurse_user) -> None:
    other = factories.user_create(username="nurse2", role=roles.NURSE)
    _start(nurse_user, unit="Infusion Center", wristband=True, drug="match")
    _start(nurse_user, unit="Infusion Center", wristband=True, drug="override")
    _start(nurse_user, unit="Infusion Center")
    _start(other, unit="ED", wristband=True)
    today = timezone.localdate()
    read = administrations(date_from=today, date_to=today)
    units = {s.name: s for s in by_unit(read)}
    center, ed = units["Infusion Center"], units["ED"]
    assert (center.started, center.both, center.overridden, center.neither) == (3, 2, 1, 1)
    assert str(center.rate) == "66.7"
    assert (ed.started, ed.both, ed.wristband, ed.drug, ed.neither) == (1, 0, 1, 0, 0)
    assert str(ed.rate) == "0.0"
    nurses = {s.name: s for s in by_nurse(read)}
    assert (nurses["nurse1"].started, nurses["nurse1"].both) == (3, 2)
    assert (nurses["nurse2"].started, nurses["nurse2"].both) == (1, 0)
    everyone = total(by_unit(read))
    assert (everyone.started, everyone.both, str(everyone.rate)) == (4, 2, "50.0")
    assert by_unit(administrations(date_from=today, date_to=today, unit="ED"))[0].name == "ED"


def test_imported_and_addendum_administrations_are_apart_not_non_compliant(nurse_user) -> None:
    _start(nurse_user, wristband=True, drug="match")
    # Imported from another EHR: no nurse here started it.
    encounter, _site, order = _visit(imported_from="Epic FHIR")
    administration_import(
        order=order, start=today_ago(40), stop=None, method="push",
        route="iv",
    )  # fmt: skip
    # Charted after the record was signed (by addendum).
    late = _start(nurse_user)
    Encounter.objects.filter(pk=late.encounter_id).update(
        status=Encounter.Status.SIGNED, signed_at=late.charted_at - timedelta(minutes=5)
    )
    today = timezone.localdate()
    everyone = total(by_unit(administrations(date_from=today, date_to=today)))
    assert (everyone.started, everyone.both, everyone.neither) == (1, 1, 0)
    assert (everyone.imported, everyone.addendum) == (1, 1)
    assert str(everyone.rate) == "100.0"


def test_the_page_lists_each_start_with_its_scans_and_the_override_reason(client_as) -> None:
    nurse = factories.user_create(username="nurse-r", role=roles.NURSE)
    scanned = _start(nurse, wristband=True, drug="match")
    overridden = _start(nurse, wristband=True, drug="override")
    unscanned = _start(nurse)
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:scan_compliance"))
    assert response.status_code == 200
    html = unescape(response.content.decode())

    def row(adm):
        start = html.index(f'data-administration="A{adm.pk}"')
        return html[start : html.index("</tr>", start)]

    assert "Scanned" in row(scanned) and "nurse-r" in row(scanned)
    assert "label misprint" in row(overridden) and "Overridden" in row(overridden)
    assert "Started without scanning" in row(unscanned)
    assert 'data-compliant="no"' in row(unscanned)
    by_nurse_table = html[html.index('data-testid="by-nurse"') :]
    assert "nurse-r" in by_nurse_table and "66.7%" in by_nurse_table


def test_the_page_can_show_only_the_starts_not_fully_scanned(client_as, nurse_user) -> None:
    scanned = _start(nurse_user, wristband=True, drug="match")
    unscanned = _start(nurse_user)
    html = (
        client_as(roles.PHARMACIST)
        .get(reverse("pharmacy:scan_compliance"), {**_today_range(), "show": "gaps"})
        .content.decode()
    )
    assert f'data-administration="A{unscanned.pk}"' in html
    assert f'data-administration="A{scanned.pk}"' not in html


def test_the_range_is_the_hospital_s_day(client_as, nurse_user) -> None:
    """23:30 in New York is the next day in UTC: the report places it on New York's day."""
    encounter, site, order = _visit()
    late = datetime(2026, 3, 2, 23, 30, tzinfo=factories.NEW_YORK)
    adm = factories.administration_create(
        encounter, order, site=site, start=late, stop=None, created_by=nurse_user,
        charted_at=late,
    )  # fmt: skip
    day = timezone.localdate(late)
    assert list(administrations(date_from=day, date_to=day)) == [adm]
    following = day + timedelta(days=1)
    assert not administrations(date_from=following, date_to=following).exists()
    html = (
        client_as(roles.PHARMACIST)
        .get(reverse("pharmacy:scan_compliance"), {"date_from": day, "date_to": day})
        .content.decode()
    )
    assert f'data-administration="A{adm.pk}"' in html and "2026-03-02 23:30" in html


def test_a_range_typed_backwards_is_said_beside_date_to(client_as) -> None:
    html = (
        client_as(roles.PHARMACIST)
        .get(
            reverse("pharmacy:scan_compliance"),
            {"date_from": "2026-03-05", "date_to": "2026-03-01"},
        )
        .content.decode()
    )
    assert "The range ends before it starts" in html


@pytest.mark.parametrize("name", ["pharmacy:scan_compliance", "pharmacy:scan_compliance_export"])
def test_the_report_is_the_pharmacist_s(client_as, name) -> None:
    url = reverse(name)
    for role in (roles.NURSE, roles.CODER, roles.CLERK):
        assert client_as(role).get(url).status_code == 403, role
    for role in (roles.PHARMACIST, roles.ADMIN):
        assert client_as(role).get(url).status_code == 200, role
    assert client_as(roles.PHARMACIST).post(url).status_code == 405


def test_the_pharmacy_tabs_link_the_report(client_as) -> None:
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:overrides")).content.decode()
    assert f'href="{reverse("pharmacy:scan_compliance")}"' in html
    assert "Scan compliance" in html


def test_the_csv_export_has_each_start_and_neutralises_formula_cells(client_as) -> None:
    nurse = factories.user_create(username="nurse-c", role=roles.NURSE)
    _start(nurse, wristband=True, drug="override", patient=factories.patient_create(name="=cmd"))
    imported, _site, order = _visit(imported_from="Epic FHIR")
    administration_import(
        order=order, start=today_ago(40), stop=None, method="push",
        route="iv",
    )  # fmt: skip
    response = client_as(roles.PHARMACIST).get(
        reverse("pharmacy:scan_compliance_export"), _today_range()
    )
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2
    bedside = next(r for r in rows if r["charted"] == "Bedside")
    assert bedside["patient"] == "'=cmd"
    assert (bedside["wristband"], bedside["drug_scan"]) == ("Scanned", "Overridden")
    assert bedside["override_reason"] == "label misprint" and bedside["nurse"] == "nurse-c"
    other = next(r for r in rows if r["charted"] == "Imported")
    assert other["result"].startswith("Imported (Epic FHIR)")
    assert (other["wristband"], other["drug_scan"]) == ("", "")


def test_the_page_reads_a_fixed_number_of_queries(
    client_as, nurse_user, django_assert_max_num_queries
) -> None:
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:scan_compliance")
    _start(nurse_user, wristband=True, drug="override")
    client.get(url)  # the session's first read of the user's roles
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    other = factories.user_create(username="nurse2", role=roles.NURSE)
    for n in range(4):
        _start(other, unit=f"Unit {n}", wristband=bool(n % 2), drug="override" if n else None)
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = client.get(url).content.decode()
    assert html.count("data-administration=") == 5
