"""Reports for HIM: which documentation findings recur, and charge reconciliation.

Encounters are placed in the range by their arrival date (the date of service), in the
server's time zone. Findings are those of each encounter's current charge run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from coding.models import ChargeCorrection, ChargeFinding, ReviewItem
from mar.models import Encounter


def _in_range(prefix: str, date_from: date, date_to: date) -> Q:
    return Q(**{f"{prefix}arrived_at__date__gte": date_from}) & Q(
        **{f"{prefix}arrived_at__date__lte": date_to}
    )


def _signed_findings(date_from: date, date_to: date, include_info: bool) -> QuerySet[ChargeFinding]:
    findings = ChargeFinding.objects.filter(
        _in_range("run__encounter__", date_from, date_to),
        run__is_current=True,
        run__encounter__status=Encounter.Status.SIGNED,
    )
    return findings if include_info else findings.exclude(severity="info")


def findings_by_nurse_and_unit(
    *, date_from: date, date_to: date, include_info: bool = False
) -> list[dict[str, Any]]:
    """Rows (nurse, unit, rule, severity, findings, encounters), most frequent first.

    The nurse is the encounter's nurse, else whoever signed it. Info-level findings (they
    change no charge: DRUG-WASTE "container not stated") only with `include_info`.
    """
    rows = (
        _signed_findings(date_from, date_to, include_info)
        .annotate(
            nurse=Coalesce(
                F("run__encounter__nurse__username"),
                F("run__encounter__signed_by__username"),
                Value("(unknown)"),
            ),
            unit=F("run__encounter__unit"),
        )
        .values("nurse", "unit", "rule", "severity")
        .annotate(findings=Count("pk"), encounters=Count("run__encounter", distinct=True))
        .order_by("-findings", "rule", "nurse", "unit")
    )
    return list(rows)


def findings_by_rule(
    *, date_from: date, date_to: date, include_info: bool = False
) -> list[dict[str, Any]]:
    """Which items recur: per rule, how many findings, encounters, nurses and units (info-level
    findings only with `include_info`)."""
    rows = (
        _signed_findings(date_from, date_to, include_info)
        .values("rule")
        .annotate(
            findings=Count("pk"),
            encounters=Count("run__encounter", distinct=True),
            nurses=Count(
                Coalesce("run__encounter__nurse_id", "run__encounter__signed_by_id"),
                distinct=True,
            ),
            units=Count("run__encounter__unit", distinct=True),
        )
        .order_by("-findings", "rule")
    )
    return list(rows)


@dataclass
class Reconciliation:
    not_accepted: QuerySet[Encounter]
    corrections: QuerySet[ChargeCorrection]


def reconciliation(*, date_from: date, date_to: date) -> Reconciliation:
    """Signed encounters whose charges are not accepted yet; every coder's correction and why,
    as it stands on the encounter's current charges: applied, carried forward, waiting for
    re-review, kept, adapted or dropped (coding/corrections.py)."""
    done = [ReviewItem.State.ACCEPTED, ReviewItem.State.EXPORTED]
    not_accepted = (
        Encounter.objects.filter(_in_range("", date_from, date_to), status=Encounter.Status.SIGNED)
        .exclude(review_item__state__in=done)
        .select_related("patient", "review_item", "review_item__claimed_by")
        .order_by("arrived_at", "pk")
    )
    corrections = (
        ChargeCorrection.objects.filter(
            _in_range("run__encounter__", date_from, date_to), run__is_current=True
        )
        .select_related("run__encounter__patient", "by", "line", "decided_by")
        .order_by("at", "pk")
    )
    return Reconciliation(not_accepted=not_accepted, corrections=corrections)
