"""A drug with no active NDC in the formulary cannot be scanned (no barcode matches it): its
starts are counted apart in the scan-compliance report ("could not be scanned: no NDC on file"),
not against the nurse's rate, with the drug listed; the chart's Start box says so; the
pharmacist's worklist lists such drugs given or ordered recently (QA: vancomycin and
teprotumumab started "Not scanned" against the nurse, with no word on the chart)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration, DrugClass, DrugNdc
from mar.pharmacy.services import NO_NDC_RECENT_DAYS, drug_ndc_add, drugs_without_ndc
from mar.scan_compliance import (
    administrations,
    by_nurse,
    by_unit,
    no_ndc_drugs,
    rows,
    rows_read,
    total,
)
from mar.services import safety
from tests import factories
from tests.mar.scan_helpers import start as scanned_start
from tests.mar.scan_helpers import today_ago

pytestmark = pytest.mark.django_db

NOTE = "No NDC on file for vancomycin: it cannot be scanned; pharmacy adds its package."


def _vancomycin_visit():
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    drug = factories.drug_get("vancomycin", DrugClass.THERAPEUTIC)
    order = factories.order_create(encounter, drug, dose="1 g")
    return encounter, site, order


def _vancomycin_start(nurse) -> Administration:
    _encounter, site, order = _vancomycin_visit()
    return safety.administration_start_checked(
        order=order,
        site=site,
        start=today_ago(30),
        method=Administration.Method.PUSH,
        user=nurse,
        checks=safety.StartChecks(scan=None),
    )


def _today():
    today = timezone.localdate()
    return administrations(date_from=today, date_to=today)


def test_a_start_of_a_drug_with_no_ndc_is_counted_apart_not_against_the_nurse(nurse_user):
    scanned_start(nurse_user, wristband=True, drug="match")
    vanco = _vancomycin_start(nurse_user)
    nurse = {s.name: s for s in by_nurse(_today())}["nurse1"]
    assert (nurse.started, nurse.both, nurse.neither, nurse.no_ndc) == (1, 1, 0, 1)
    assert str(nurse.rate) == "100.0"
    assert total(by_unit(_today())).no_ndc == 1
    [drug] = no_ndc_drugs(_today())
    assert (drug["drug__name"], drug["starts"], drug["on_file_now"]) == ("vancomycin", 1, False)
    row = next(r for r in rows(rows_read(_today())) if r.administration.pk == vanco.pk)
    assert row.compliant is None
    assert row.result == "Could not be scanned: no NDC on file for vancomycin at the start"


def test_a_retired_ndc_is_no_ndc_on_file(nurse_user):
    vanco = _vancomycin_start(nurse_user)
    DrugNdc.objects.create(
        drug=vanco.drug, ndc="00409655001", active=False, retired_at=vanco.charted_at
    )
    assert [d["drug__name"] for d in no_ndc_drugs(_today())] == ["vancomycin"]


@pytest.mark.postgresql("the audit trail's triggers say when the NDC was added")
def test_a_package_added_after_the_start_leaves_the_start_apart(nurse_user):
    vanco = _vancomycin_start(nurse_user)
    DrugNdc.objects.create(drug=vanco.drug, ndc="00409655001")
    # Charted before the package was added (the trail's time is the transaction's).
    Administration.objects.filter(pk=vanco.pk).update(
        charted_at=vanco.charted_at - timedelta(hours=1)
    )
    [drug] = no_ndc_drugs(_today())
    assert (drug["drug__name"], drug["on_file_now"]) == ("vancomycin", True)
    # ... and a start charted once it was on file counts as the bedside's, not scanned.
    _vancomycin_start(nurse_user)
    nurse = by_nurse(_today())[0]
    assert (nurse.started, nurse.neither, nurse.no_ndc) == (1, 1, 1)


def test_the_report_page_lists_the_drug_for_pharmacy(client_as, nurse_user):
    _vancomycin_start(nurse_user)
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:scan_compliance")).content.decode()
    assert "Could not be scanned: no NDC on file" in page
    assert 'data-testid="scan-no-ndc-drug"' in page and "vancomycin</a>: 1 start" in page
    assert "1 could not be scanned (no NDC on file)" in page


def test_the_start_box_says_an_order_without_ndc_cannot_be_scanned(client_as):
    encounter, _site, order = _vancomycin_visit()
    chart = reverse("mar:encounter", args=[encounter.pk])
    page = client_as(roles.NURSE).get(chart).content.decode()
    assert NOTE in page
    drug_ndc_add(drug=order.drug, ndc="00409655001")  # the pharmacy adds its package
    page = client_as(roles.NURSE).get(chart).content.decode()
    assert NOTE not in page and "barcode before starting." in page


def test_the_worklist_lists_recent_drugs_with_no_ndc(client_as, nurse_user):
    _vancomycin_start(nurse_user)
    scanned_start(nurse_user, drug="match")  # ondansetron: its NDC on file
    encounter, _site, _order = _vancomycin_visit()
    tepro = factories.drug_get("teprotumumab", DrugClass.THERAPEUTIC)
    factories.order_create(encounter, tepro, dose="10 mg/kg")
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:worklist")).content.decode()
    assert 'data-no-ndc="vancomycin"' in page and 'data-no-ndc="teprotumumab"' in page
    assert 'data-no-ndc="ondansetron"' not in page
    assert "given 1 time" in page and "ordered, not given yet" in page


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_only_the_pharmacist_reads_the_lists(client_as, role):
    assert client_as(role).get(reverse("pharmacy:worklist")).status_code == 403
    assert client_as(role).get(reverse("pharmacy:scan_compliance")).status_code == 403


def test_the_worklist_list_is_recent_use_and_counts_a_retired_package_as_none(nurse_user):
    vanco = _vancomycin_start(nurse_user)
    DrugNdc.objects.create(drug=vanco.drug, ndc="00409655001", active=False)
    old = factories.drug_get("teprotumumab", DrugClass.THERAPEUTIC)
    encounter, _site, _order = _vancomycin_visit()
    order = factories.order_create(encounter, old, dose="10 mg/kg")
    type(order).objects.filter(pk=order.pk).update(
        created_at=timezone.now() - timedelta(days=NO_NDC_RECENT_DAYS + 1)
    )
    assert [d.name for d in drugs_without_ndc()] == ["vancomycin"]


def test_the_start_box_reads_the_ndc_with_the_orders_and_a_retired_one_is_none(client_as):
    """Whether an order's drug has an active NDC is read with the orders (mar/chart_reads.py
    `orders`, no statement of its own: issue 19); a retired package is none on file, an active
    one is, per order, and orders read without that column (care_context with no rows) say the
    same through scanning.drugs_without_ndc."""
    from django.test import RequestFactory

    from mar.care_context import care_context
    from mar.chart_reads import orders as orders_read

    encounter, _site, vanco = _vancomycin_visit()
    DrugNdc.objects.create(drug=vanco.drug, ndc="00409655001", active=False)
    tepro = factories.order_create(
        encounter, factories.drug_get("teprotumumab", DrugClass.THERAPEUTIC), dose="10 mg/kg"
    )
    DrugNdc.objects.create(drug=tepro.drug, ndc="00409655002")
    read = {o.pk: o for o in orders_read(encounter.pk, encounter=encounter)}
    assert (read[vanco.pk].drug_ndc_on_file, read[tepro.pk].drug_ndc_on_file) == (False, True)
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    assert page.content.decode().count('data-testid="order-no-ndc"') == 1
    assert NOTE in page.content.decode()
    request = RequestFactory().get("/")
    request.user = page.wsgi_request.user
    plain = care_context(request, encounter)["care"].orders  # the orders read here
    assert (plain[vanco.pk]["no_ndc"], plain[tepro.pk]["no_ndc"]) == (NOTE, "")
