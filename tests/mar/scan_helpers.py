"""Bedside starts with or without scans, for the scanning tests (through the start's own
service, mar/services/safety.py), charted relative to the real clock."""

from datetime import timedelta

from django.utils import timezone

from mar.models import Administration, DrugClass, DrugNdc
from mar.services import safety, scanning
from tests import factories

ONDANSETRON_NDC = "99999000110"


def today_ago(minutes: int):
    """`minutes` ago, or the start of today (local) if that was yesterday: the report reads
    starts by their local day, so a test run just after midnight still finds its starts today
    (CI failed a run at 00:35 New York time on starts "30 minutes ago")."""
    now = timezone.localtime()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(minutes=minutes), midnight)


def visit(unit: str = "Infusion Center", **fields):
    now = timezone.now()
    encounter = factories.encounter_create(unit=unit, arrived_at=now - timedelta(hours=2), **fields)
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    drug = factories.drug_get("ondansetron", DrugClass.THERAPEUTIC)
    DrugNdc.objects.get_or_create(drug=drug, ndc=ONDANSETRON_NDC)
    order = factories.order_create(encounter, drug, dose="8 mg")
    return encounter, site, order


def start(nurse, *, unit="Infusion Center", wristband=False, drug=None, **fields):
    """A bedside start through the start's own service. `drug`: "match" (the order's barcode),
    "override" (another drug's barcode, its stop overridden with a reason), None (no scan)."""
    encounter, site, order = visit(unit, **fields)
    if wristband:
        scanning.scan_record(encounter=encounter, raw=encounter.patient.mrn, user=nurse)
    scan = None
    if drug == "match":
        scan = scanning.scan_record(encounter=encounter, raw="99999-001-10", user=nurse)
    elif drug == "override":
        other = factories.drug_get("cisplatin", DrugClass.CHEMO)
        DrugNdc.objects.get_or_create(drug=other, ndc="00703574811")
        scan = scanning.scan_record(encounter=encounter, raw="00703-5748-11", user=nurse)
        scanning.scan_override(scan=scan, user=nurse, reason="label misprint", order=order)
    return safety.administration_start_checked(
        order=order,
        site=site,
        start=today_ago(30),
        method=Administration.Method.PUSH,
        user=nurse,
        checks=safety.StartChecks(scan=scan),
    )
