"""The coder's review page's reads of an encounter, each a function of ids whose SQL is compiled
once (mar/prepared.py, issue 19): building and compiling the review's two dozen statements cost
more than PostgreSQL took to answer them (a third of the page). Each read returns what the
queryset it builds returns, in its order and with its joins; what the page used to prefetch
(`prefetch_related("lines", ...)`) is read by a read of its own and given to its parents as the
prefetch gives it (`prefetched`). The sites, flushes and addenda are the chart's own reads
(mar/chart_reads.py). tests/coding/test_review_reads.py holds every read here to its queryset."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from coding.models import (
    ChargeCorrection,
    ChargeFinding,
    ChargeLine,
    ChargeRun,
    DocumentationQuery,
    EditOverride,
    LedgerEntry,
    ReviewItem,
)
from mar.chart_reads import with_pauses
from mar.models import Administration, DrugNdc, Encounter, Order
from mar.prepared import PreparedRead, prefetched, prepared


@prepared
def encounter(encounter_id: int) -> QuerySet[Encounter]:
    """The encounter under review, with its patient, who signed it and its nurse."""
    return Encounter.objects.filter(pk=encounter_id).select_related("patient", "signed_by", "nurse")


@prepared
def review_item(encounter_id: int) -> QuerySet[ReviewItem]:
    """The encounter's worklist item (one at most), with who claimed it."""
    return ReviewItem.objects.filter(encounter_id=encounter_id).select_related("claimed_by")


@prepared
def runs(encounter_id: int) -> QuerySet[ChargeRun]:
    """Every charge run of the encounter, newest first."""
    return ChargeRun.objects.filter(encounter_id=encounter_id)


@prepared
def lines(run_ids: list[int]) -> QuerySet[ChargeLine]:
    return ChargeLine.objects.filter(run_id__in=run_ids)


@prepared
def findings(run_ids: list[int]) -> QuerySet[ChargeFinding]:
    return ChargeFinding.objects.filter(run_id__in=run_ids)


@prepared
def corrections(run_ids: list[int]) -> QuerySet[ChargeCorrection]:
    """A run's corrections, with who made and who decided each and the line it corrects."""
    return ChargeCorrection.objects.filter(run_id__in=run_ids).select_related(
        "by", "decided_by", "line"
    )


@prepared
def edit_overrides(run_ids: list[int]) -> QuerySet[EditOverride]:
    return EditOverride.objects.filter(run_id__in=run_ids).select_related("by")


@prepared
def administrations(encounter_id: int) -> QuerySet[Administration]:
    """The record's administrations with their drug, order and site (their pauses: below)."""
    return Administration.objects.filter(encounter_id=encounter_id).select_related(
        "drug", "order", "site"
    )


@prepared
def orders(encounter_id: int) -> QuerySet[Order]:
    return Order.objects.filter(encounter_id=encounter_id).select_related("drug", "verified_by")


@prepared
def queries(encounter_id: int) -> QuerySet[DocumentationQuery]:
    """The coders' documentation queries, with who asked and the addendum that answered."""
    return DocumentationQuery.objects.filter(encounter_id=encounter_id).select_related(
        "asked_by", "answered_by_addendum__author"
    )


@prepared
def standing_charges(encounter_id: int) -> QuerySet[LedgerEntry]:
    """The encounter's charges the billing system holds now (sent, not reversed)."""
    return LedgerEntry.objects.filter(
        encounter_id=encounter_id,
        kind=LedgerEntry.Kind.CHARGE,
        reversed_by__isnull=True,
    ).order_by("pk")


@prepared
def ledger_first(encounter_id: int) -> QuerySet[LedgerEntry]:
    """Whether anything of the encounter was ever sent to billing: its first ledger entry."""
    return LedgerEntry.objects.filter(encounter_id=encounter_id).only("pk").order_by("pk")[:1]


@prepared
def facts_administrations(encounter_id: int) -> QuerySet[Administration]:
    """The administrations a claim line's details read (coding/claim.py `record_facts`)."""
    return Administration.objects.filter(encounter_id=encounter_id).select_related(
        "drug", "order__drug", "created_by"
    )


@prepared
def ndcs(drug_ids: list[int]) -> QuerySet[DrugNdc]:
    """The drugs' NDCs, preferred first."""
    return DrugNdc.objects.filter(drug_id__in=drug_ids).order_by("-preferred", "ndc")


def runs_with_children(encounter_row: Encounter) -> list[ChargeRun]:
    """The encounter's runs as `prefetch_related("lines", "findings", "corrections__by",
    "corrections__decided_by", "corrections__line", "edit_overrides__by")` gives them."""
    rows = runs(encounter_row.pk, encounter=encounter_row)
    ids = [run.pk for run in rows]
    for name, read in (
        ("lines", lines),
        ("findings", findings),
        ("corrections", corrections),
        ("edit_overrides", edit_overrides),
    ):
        prefetched(rows, name, read(ids) if ids else [])
    return rows


def administrations_with_pauses(encounter_row: Encounter) -> list[Administration]:
    """`encounter.administrations.select_related("drug", "order", "site")
    .prefetch_related("pauses")`."""
    return with_pauses(administrations(encounter_row.pk, encounter=encounter_row))


# Every prepared read of this module (tests/coding/test_review_reads.py holds each to its
# queryset).
READS: dict[str, PreparedRead[Any]] = {
    name: value for name, value in globals().items() if isinstance(value, PreparedRead)
}
