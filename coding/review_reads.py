"""The coder's review page's reads of an encounter, each a function of ids whose SQL is compiled
once (mar/prepared.py, issue 19): building and compiling the review's two dozen statements cost
more than PostgreSQL took to answer them (a third of the page). Each read returns what the
queryset it builds returns, in its order and with its joins; what the page used to prefetch
(`prefetch_related("lines", ...)`) is read by a read of its own and given to its parents as the
prefetch gives it (`prefetched`). The sites, flushes and addenda are the chart's own reads
(mar/chart_reads.py). tests/coding/test_review_reads.py holds every read here to its queryset."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from coding.models import (
    ChargeCorrection,
    ChargeFinding,
    ChargeLine,
    ChargeRun,
    ClassChangeAfterExport,
    DocumentationQuery,
    EditOverride,
    LedgerEntry,
    ReviewItem,
)
from mar.audit.models import EVENTS
from mar.chart_reads import with_pauses
from mar.models import Administration, DrugClass, DrugNdc, Encounter, Order
from mar.prepared import PreparedRead, prefetched, prepared


@prepared
def encounter(encounter_id: int) -> QuerySet[Encounter]:
    """The encounter under review, with its patient, who signed it and its nurse."""
    return Encounter.objects.filter(pk=encounter_id).select_related("patient", "signed_by", "nurse")


@prepared
def review_item(encounter_id: int) -> QuerySet[ReviewItem]:
    """The encounter's worklist item (one at most), with who claimed it and who accepted it."""
    return ReviewItem.objects.filter(encounter_id=encounter_id).select_related(
        "claimed_by", "accepted_by"
    )


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
    """The record's administrations with their drug, order (and its drug), site and who charted
    each (their pauses: below): what the page shows and what the claim's details read
    (`facts_administrations`), in one statement."""
    return Administration.objects.filter(encounter_id=encounter_id).select_related(
        "drug", "order__drug", "site", "created_by"
    )


@prepared
def orders(encounter_id: int) -> QuerySet[Order]:
    """The orders, with who verified, returned and documented one not given (QA: the coder did
    not see a dose held, nor why)."""
    return Order.objects.filter(encounter_id=encounter_id).select_related(
        "drug", "verified_by", "returned_by", "disposition_by"
    )


@prepared
def queries(encounter_id: int) -> QuerySet[DocumentationQuery]:
    """The coders' documentation queries, with who asked, the addendum that answered and who
    withdrew."""
    return DocumentationQuery.objects.filter(encounter_id=encounter_id).select_related(
        "asked_by", "answered_by_addendum__author", "withdrawn_by"
    )


@prepared
def class_changes_after_export(run_ids: list[int]) -> QuerySet[ClassChangeAfterExport]:
    """The pharmacist's changes (class, billing data, NDCs) that flagged the runs once exported,
    oldest first, with the coder who decided each (coding/class_after_export.py)."""
    return ClassChangeAfterExport.objects.filter(run_id__in=run_ids).select_related("decided_by")


@prepared
def acceptances(encounter_id: int) -> QuerySet[Any]:
    """The audit trail's rows of the encounter's review item that carry an acceptance (who
    accepted its charges and when, `ReviewItem.accepted_by`/`accepted_at`: mar/audit, every
    update of the item copied), latest first, with who accepted: each acceptance is there once
    or more (every later update repeats it; `run_changes.acceptance_history` says each once)."""
    return (
        EVENTS[ReviewItem]
        .objects.filter(pgh_obj__encounter_id=encounter_id, accepted_at__isnull=False)
        .select_related("accepted_by")
        .order_by("-accepted_at", "-pgh_id")
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
    """`encounter.administrations.select_related("drug", "order__drug", "site", "created_by")
    .prefetch_related("pauses")`."""
    return with_pauses(administrations(encounter_row.pk, encounter=encounter_row))


# --- the worklist's page (coding/views.py `worklist`) ---------------------------------------


@prepared
def worklist_encounters(encounter_ids: list[int]) -> QuerySet[Encounter]:
    """A worklist page's encounters (their ids read first, by the page's filters and order),
    newest first, with the patient, the review item and who claimed it, the number of findings
    of the current run (`finding_count`) and what of it was last sent to billing: the run
    (`billed_run`, None when nothing ever was) and when (`billed_at`), so a change after
    billing is told from charges only taken back into review; and what of a pharmacist's change
    of a drug's class, billing data or NDCs waits for the coder on the current run, exported
    (`after_export`: the open flag's changes, None when none waits); whether billing holds
    charges sent without the account number the visit has now (`account_after_export`:
    registration entered it after export; coding/ledger.py `sent_without_account`)."""
    findings = (
        ChargeFinding.objects.filter(run__encounter=OuterRef("pk"), run__is_current=True)
        .order_by()
        .values("run__encounter")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_sent = LedgerEntry.objects.filter(encounter_id=OuterRef("pk")).order_by("-pk")
    without_account = LedgerEntry.objects.filter(
        encounter_id=OuterRef("pk"), kind=LedgerEntry.Kind.CHARGE, reversed_by__isnull=True
    ).exclude(account_number=OuterRef("account_number"))
    after_export = ClassChangeAfterExport.objects.filter(
        run__encounter=OuterRef("pk"),
        run__is_current=True,
        state=ClassChangeAfterExport.State.OPEN,
    )
    # CLAIM-HCPCS told on the row (the review page's `claim_findings`, computed there and never
    # stored, so not in `finding_count`): a drug given on the visit, classified on its order or
    # in the formulary and not a hydration fluid, that has no HCPCS code or billing unit in the
    # formulary as it is now, so no drug line charges it (`drug_not_charged`: the first by name);
    # not a drug a pharmacist decided has no drug line (packaged, supplied free or by the patient).
    own_class = Q(order__class_override__isnull=False) & ~Q(order__class_override="")
    drug_class = Q(drug__drug_class__isnull=False) & ~Q(drug__drug_class=DrugClass.HYDRATION)
    not_charged = (
        Administration.objects.filter(encounter_id=OuterRef("pk"))
        .filter(Q(drug__hcpcs_code="") | Q(drug__billing_unit_amount__isnull=True))
        .filter(drug__no_drug_line="")  # a pharmacist decided it has none (`claim.py`)
        .filter(
            (own_class & ~Q(order__class_override=DrugClass.HYDRATION)) | (~own_class & drug_class)
        )
        .order_by("drug__name")
        .values("drug__name")[:1]
    )
    return (
        Encounter.objects.filter(pk__in=encounter_ids)
        .select_related("patient", "review_item", "review_item__claimed_by")
        .annotate(
            finding_count=Subquery(findings, output_field=IntegerField()),
            drug_not_charged=Subquery(not_charged),
            billed_run=Subquery(last_sent.values("run_id")[:1]),
            billed_at=Subquery(last_sent.values("at")[:1]),
            after_export=Subquery(after_export.values("changes")[:1], output_field=JSONField()),
            account_after_export=Exists(without_account),
        )
        .order_by("-arrived_at", "-pk")
    )


@prepared
def current_runs(encounter_ids: list[int]) -> QuerySet[ChargeRun]:
    """The encounters' current charge runs, without the record, the billing and formulary facts
    and the engine's output each keeps (four JSON documents a run a worklist row does not
    show), with how many edit overrides each has (`override_count`)."""
    overrides = (
        EditOverride.objects.filter(run=OuterRef("pk"))
        .order_by()
        .values("run")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        ChargeRun.objects.filter(encounter_id__in=encounter_ids, is_current=True)
        .defer("input_snapshot", "billing_snapshot", "formulary_snapshot", "result")
        # How many edits coders overrode on it (never deleted): part of the key the worklist
        # keeps its blocking edits under (coding/worklist_charges.py).
        .annotate(
            override_count=Coalesce(Subquery(overrides, output_field=IntegerField()), Value(0))
        )
    )


@prepared
def reviewed_runs(encounter_ids: list[int]) -> QuerySet[ChargeRun]:
    """The encounters' runs a coder acted on (coding/run_changes.py `review_acts`), each with
    what was done (`queried`, `corrected`: a correction made on it or a re-review decided,
    `overridden`, `accepted`, `claimed`: made before the claim of the coder holding the item),
    without their JSON documents: the worklist's "charges changed
    since review"."""
    corrected = ChargeCorrection.objects.filter(run=OuterRef("pk")).filter(
        Q(carried_from__isnull=True) | Q(decided_at__isnull=False)
    )
    return (
        ChargeRun.objects.filter(encounter_id__in=encounter_ids)
        .annotate(
            queried=Exists(DocumentationQuery.objects.filter(run=OuterRef("pk"))),
            corrected=Exists(corrected),
            overridden=Exists(EditOverride.objects.filter(run=OuterRef("pk"))),
            accepted=Exists(ReviewItem.objects.filter(accepted_run=OuterRef("pk"))),
            # Made before the claim of the coder holding the item: the latest is the run she
            # claimed (coding/review.py `run_when_claimed`).
            claimed=Exists(
                ReviewItem.objects.filter(
                    encounter_id=OuterRef("encounter_id"),
                    state=ReviewItem.State.IN_REVIEW,
                    claimed_at__gte=OuterRef("created_at"),
                )
            ),
        )
        .filter(
            Q(queried=True)
            | Q(corrected=True)
            | Q(overridden=True)
            | Q(accepted=True)
            | Q(claimed=True)
        )
        .only("pk", "encounter_id", "created_at", "is_current")
        .order_by("pk")
    )


def worklist_rows(encounter_ids: list[int]) -> list[Encounter]:
    """A worklist page's rows as `worklist_encounters` reads them, each with `current_runs` (its
    current run in a list, as `Prefetch(..., to_attr="current_runs")` gave it). What each run's
    row says of its charges (its lines, corrections and prices) is coding/worklist_charges.py's,
    kept while none of it changed."""
    rows = worklist_encounters(encounter_ids) if encounter_ids else []
    runs_read = current_runs([row.pk for row in rows]) if rows else []
    by_encounter: dict[int, list[ChargeRun]] = {}
    for run in runs_read:
        by_encounter.setdefault(run.encounter_id, []).append(run)
    for row in rows:
        # "Drug class", "Billing data" or both changed after export ("" when nothing waits).
        row.after_export_what = ClassChangeAfterExport.what_changed(row.after_export or [])  # type: ignore[attr-defined]
        # No number yet: nothing to send again (`sent_without_account`).
        row.account_after_export = bool(row.account_number and row.account_after_export)  # type: ignore[attr-defined]
        row.current_runs = by_encounter.get(row.pk, [])  # type: ignore[attr-defined]
        for run in row.current_runs:  # type: ignore[attr-defined]
            run.encounter = row
    return rows


# Every prepared read of this module (tests/coding/test_review_reads.py holds each to its
# queryset).
READS: dict[str, PreparedRead[Any]] = {
    name: value for name, value in globals().items() if isinstance(value, PreparedRead)
}
