"""Barcode scanning compliance (BCMA): for each administration started in a date range, whether
the patient's wristband and the drug were scanned, a scan's stop overridden (with its reason), or
neither; the compliance rate (both scanned / started) per unit and per nurse.

What a start had is recorded with it (`Administration.patient_scan`, `drug_scan`, `charted_at`:
mar/services/safety.py), not inferred afterwards from the scans' times (a start typed as a late
entry would read wrong). Only bedside starts count towards the rate; the others are listed apart,
never counted as non-compliant:

- imported: charted in another EHR and imported (`Encounter.imported_from`, coding/fhir), no
  nurse here started it;
- by addendum: charted after the record was signed;
- not recorded: charted before starts recorded their scans (migration 0024), or with no nurse;
- no NDC on file: the drug had no active package (`DrugNdc`) in the formulary at the start, so
  there was no barcode the chart could match: listed with its drug (`no_ndc_drugs`), for the
  pharmacist to add its package. Whether it had one when the start was charted (`charted_at`:
  when the scan would have been made; a start typed late is judged when typed) is read from the
  audit trail (`DrugNdcEvent`, mar/audit: each NDC's state as of its last change before then;
  DrugNdc itself keeps no creation time, and `retired_at` only the retirement in force); an NDC
  the trail has no row of (SQLite, the demo: no triggers) is judged by what it holds now: active,
  or retired after the charting.

An override counts as scanned: the barcode was scanned, and its stop (wrong drug, expired lot,
retired package) overridden with a reason, which the report shows (all overrides are on
/pharmacy/overrides/ too). A wrong patient's wristband is never overridden.

Days are the hospital's (settings.TIME_ZONE), by the administration's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from mar.audit.models import EVENTS
from mar.clock import date_hhmm
from mar.models import Administration, BarcodeScan, DrugNdc, SafetyOverride

# How an administration came to be charted: only "bedside" is the bedside's to scan.
BEDSIDE, IMPORTED, ADDENDUM, NOT_RECORDED = "bedside", "imported", "addendum", "not_recorded"
NO_NDC = "no_ndc"

_NDC_EVENTS = EVENTS[DrugNdc].objects
# An NDC of the administration's drug active at its start, as the audit trail has it: its
# last event at or before the start says active (a delete event leaves it out).
_NDC_ACTIVE_THEN = (
    _NDC_EVENTS.filter(
        drug_id=OuterRef("drug_id"), pgh_created_at__lte=OuterRef("charted_at"), active=True
    )
    .exclude(pgh_label="delete")
    .exclude(
        Exists(
            _NDC_EVENTS.filter(
                pgh_obj_id=OuterRef("pgh_obj_id"),
                pgh_created_at__lte=OuterRef(OuterRef("charted_at")),
                pgh_id__gt=OuterRef("pgh_id"),
            )
        )
    )
)
# An NDC the trail has no row of (no triggers: SQLite): by what it holds now.
_NDC_ACTIVE_UNTRACKED = (
    DrugNdc.objects.filter(drug_id=OuterRef("drug_id"))
    .exclude(Exists(_NDC_EVENTS.filter(pgh_obj_id=OuterRef("pk"))))
    .filter(Q(active=True) | Q(retired_at__gt=OuterRef("charted_at")))
)
_NDC_ON_FILE = Q(Exists(_NDC_ACTIVE_THEN)) | Q(Exists(_NDC_ACTIVE_UNTRACKED))

_IMPORTED = ~Q(encounter__imported_from="")
_NOT_RECORDED = ~_IMPORTED & (Q(charted_at__isnull=True) | Q(created_by__isnull=True))
_ADDENDUM = (
    ~_IMPORTED
    & ~_NOT_RECORDED
    & Q(encounter__signed_at__isnull=False, charted_at__gt=F("encounter__signed_at"))
)
_NO_NDC = ~_IMPORTED & ~_NOT_RECORDED & ~_ADDENDUM & ~_NDC_ON_FILE
_BEDSIDE = ~_IMPORTED & ~_NOT_RECORDED & ~_ADDENDUM & _NDC_ON_FILE
_WRISTBAND = Q(patient_scan__isnull=False)
_DRUG = Q(drug_scan__isnull=False)
_OVERRIDDEN = _DRUG & ~Q(drug_scan__result=BarcodeScan.Result.MATCH)

# The counts of each summary row (unit or nurse).
_COUNTS = {
    "started": _BEDSIDE,
    "both": _BEDSIDE & _WRISTBAND & _DRUG,
    "wristband": _BEDSIDE & _WRISTBAND,
    "drug": _BEDSIDE & _DRUG,
    "overridden": _BEDSIDE & _OVERRIDDEN,
    "neither": _BEDSIDE & ~_WRISTBAND & ~_DRUG,
    "imported": _IMPORTED,
    "addendum": _ADDENDUM,
    "not_recorded": _NOT_RECORDED,
    "no_ndc": _NO_NDC,
}
GAPS = _BEDSIDE & ~(_WRISTBAND & _DRUG)


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole in percent, one decimal (None: nothing started)."""
    if not whole:
        return None
    return (Decimal(100 * part) / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class Summary:
    """One unit's or one nurse's counts."""

    name: str
    started: int
    both: int
    wristband: int
    drug: int
    overridden: int
    neither: int
    imported: int
    addendum: int
    not_recorded: int
    no_ndc: int

    @property
    def rate(self) -> Decimal | None:
        """Compliance: both the wristband and the drug scanned, of the bedside starts."""
        return percent(self.both, self.started)

    @property
    def wristband_rate(self) -> Decimal | None:
        return percent(self.wristband, self.started)

    @property
    def drug_rate(self) -> Decimal | None:
        return percent(self.drug, self.started)


@dataclass
class Row:
    """One administration as the report shows it."""

    administration: Administration
    how: str  # BEDSIDE, IMPORTED, ADDENDUM, NOT_RECORDED, NO_NDC
    overrides: list[SafetyOverride]

    @property
    def wristband(self) -> str:
        """The wristband: "scanned", "not_scanned", or "" (not the bedside's)."""
        if self.how != BEDSIDE:
            return ""
        return "scanned" if self.administration.patient_scan_id else "not_scanned"

    @property
    def drug(self) -> str:
        """The drug: "scanned", "overridden", "not_scanned", or "" (not the bedside's)."""
        if self.how != BEDSIDE:
            return ""
        scan = self.administration.drug_scan
        if scan is None:
            return "not_scanned"
        return "scanned" if scan.result == BarcodeScan.Result.MATCH else "overridden"

    @property
    def result(self) -> str:
        """What the row's badge says."""
        if self.how == IMPORTED:
            source = self.administration.encounter.imported_from
            return f"Imported ({source}): not a bedside start"
        if self.how == ADDENDUM:
            return "Charted by addendum: not a bedside start"
        if self.how == NOT_RECORDED:
            return "Not recorded: charted before starts recorded their scans"
        if self.how == NO_NDC:
            return (
                f"Could not be scanned: no NDC on file for {self.administration.drug.name} "
                "at the start"
            )
        missing = self.administration.not_scanned_at_start
        if not missing:
            return "Scanned, with an override" if self.drug == "overridden" else "Scanned"
        if len(missing) == 2:
            return "Started without scanning"
        return f"Started without scanning the {missing[0]}"

    @property
    def compliant(self) -> bool | None:
        """Both scanned (None: not a bedside start)."""
        if self.how != BEDSIDE:
            return None
        return not self.administration.not_scanned_at_start


def _how(adm: Administration) -> str:
    encounter = adm.encounter
    if encounter.imported_from:
        return IMPORTED
    if adm.charted_at is None or adm.created_by_id is None:
        return NOT_RECORDED
    if encounter.signed_at is not None and adm.charted_at > encounter.signed_at:
        return ADDENDUM
    if not getattr(adm, "ndc_on_file", True):  # rows_read's annotation
        return NO_NDC
    return BEDSIDE


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def administrations(*, date_from: date, date_to: date, unit: str = "") -> QuerySet[Administration]:
    """The administrations started from `date_from` to `date_to` (hospital days, both included),
    in one unit if `unit` is given."""
    read = Administration.objects.filter(
        start__gte=_day_start(date_from), start__lt=_day_start(date_to + timedelta(days=1))
    )
    if unit:
        read = read.filter(encounter__unit=unit)
    return read


def rows_read(administrations: QuerySet[Administration]) -> QuerySet[Administration]:
    """The report's rows, newest start first, with what they show joined (one statement)."""
    return (
        administrations.select_related(
            "encounter__patient", "drug", "created_by", "patient_scan", "drug_scan"
        )
        .annotate(ndc_on_file=ExpressionWrapper(_NDC_ON_FILE, output_field=BooleanField()))
        .order_by("-start", "-pk")
    )


def no_ndc_drugs(administrations: QuerySet[Administration]) -> list[dict[str, Any]]:
    """The drugs of the starts that could not be scanned (no NDC on file at the start), each
    with `drug_id`, `drug__name`, `starts` and whether it has an active NDC now (`on_file_now`:
    the pharmacy has added its package since); most starts first."""
    now_active = DrugNdc.objects.filter(drug_id=OuterRef("drug_id"), active=True)
    return list(
        administrations.filter(_NO_NDC)
        .values("drug_id", "drug__name")
        .annotate(starts=Count("pk"), on_file_now=Exists(now_active))
        .order_by("-starts", "drug__name")
    )


def rows(page: Iterable[Administration]) -> list[Row]:
    """Rows of administrations read by `rows_read`; the overrides of their drug scans in one
    more read."""
    read = list(page)
    scan_ids = [a.drug_scan_id for a in read if a.drug_scan_id is not None]
    overrides: dict[int, list[SafetyOverride]] = {}
    if scan_ids:
        read_overrides = SafetyOverride.objects.filter(scan_id__in=scan_ids).select_related("by")
        for override in read_overrides.order_by("at", "pk"):
            assert override.scan_id is not None
            overrides.setdefault(override.scan_id, []).append(override)
    return [
        Row(adm, _how(adm), overrides.get(adm.drug_scan_id, []) if adm.drug_scan_id else [])
        for adm in read
    ]


def _summaries(administrations: QuerySet[Administration], by: str) -> list[Summary]:
    counts = {name: Count("pk", filter=q) for name, q in _COUNTS.items()}
    grouped = administrations.values(by).annotate(**counts).order_by(by)
    return [Summary(name=row[by] or "", **{name: row[name] for name in _COUNTS}) for row in grouped]


def by_unit(administrations: QuerySet[Administration]) -> list[Summary]:
    return _summaries(administrations, "encounter__unit")


def by_nurse(administrations: QuerySet[Administration]) -> list[Summary]:
    """Per nurse who started them (imported ones have none: left out here, counted by unit)."""
    return [s for s in _summaries(administrations, "created_by__username") if s.name]


def total(summaries: Sequence[Summary]) -> Summary:
    sums: dict[str, Any] = {name: sum(getattr(s, name) for s in summaries) for name in _COUNTS}
    return Summary(name="All", **sums)


WRISTBAND_WORDS = {"scanned": "Scanned", "not_scanned": "Not scanned", "": ""}
DRUG_WORDS = {
    "scanned": "Scanned",
    "overridden": "Overridden",
    "not_scanned": "Not scanned",
    "": "",
}
HOW_WORDS = {
    BEDSIDE: "Bedside",
    IMPORTED: "Imported",
    ADDENDUM: "By addendum",
    NOT_RECORDED: "Not recorded",
    NO_NDC: "No NDC on file",
}

CSV_HEADER = (
    "start",
    "unit",
    "chair",
    "patient",
    "mrn",
    "administration",
    "drug",
    "nurse",
    "charted",
    "wristband",
    "wristband_scanned_at",
    "drug_scan",
    "override",
    "override_reason",
    "result",
)


def csv_row(row: Row) -> list[Any]:
    """One row of the export, in CSV_HEADER's order (times on the hospital's wall clock)."""
    adm = row.administration
    encounter = adm.encounter
    zone = timezone.get_current_timezone()
    patient_scan = adm.patient_scan
    return [
        date_hhmm(adm.start, zone),
        encounter.unit,
        encounter.location_label,
        encounter.patient.name,
        encounter.patient.mrn,
        f"A{adm.pk}",
        adm.drug.name,
        adm.created_by.get_username() if adm.created_by else "",
        HOW_WORDS[row.how],
        WRISTBAND_WORDS[row.wristband],
        date_hhmm(patient_scan.at, zone) if patient_scan and row.wristband else "",
        DRUG_WORDS[row.drug],
        "; ".join(o.get_kind_display() for o in row.overrides),
        "; ".join(o.reason for o in row.overrides),
        row.result,
    ]
