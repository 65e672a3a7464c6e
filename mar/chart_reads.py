"""The chart's reads of an encounter's rows, each a function of ids whose SQL is compiled once
(mar/prepared.py, issue 19): the chart page, the htmx answers, the live checklist (and the stored
summary it reads), the care panels and the board's page of cards read through these. Each
returns what the queryset it builds returns, in its order and with its joins;
tests/mar/test_prepared.py holds every read here to its queryset."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.auth.models import Group, User
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections
from django.db.models import (
    Count,
    Exists,
    JSONField,
    Max,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL

from mar.models import (
    AccessSite,
    Addendum,
    Administration,
    BarcodeScan,
    ChartedInError,
    Drug,
    DrugNdc,
    Encounter,
    EncounterSummary,
    FindingAcknowledgement,
    Flush,
    Order,
    PatientMeasure,
    Pause,
    RateChange,
    SafetyOverride,
    SiteAssessment,
    rate_amended_times,
)
from mar.ports import charges_port
from mar.prepared import PreparedRead, prefetched, prepared

M = TypeVar("M", bound=Model)

# Who made a row, joined: the chart names them.
_ADMINISTRATION_JOINS = (
    "drug",
    "order",
    "site",
    "created_by",
    "double_checked_by",
    "drug_scan",  # its time: a start charted before it is said on the card
)


@prepared
def encounter(encounter_id: int) -> QuerySet[Encounter]:
    """The chart's encounter, with its patient and who signed it."""
    return Encounter.objects.filter(pk=encounter_id).select_related("patient", "signed_by")


@prepared
def encounter_with_summary_stored(encounter_id: int) -> QuerySet[Encounter]:
    """The same, and whether its summary is stored (`summary_stored`): the chart page stores one
    only where none is yet."""
    return (
        Encounter.objects.filter(pk=encounter_id)
        .select_related("patient", "signed_by")
        .annotate(summary_stored=Exists(EncounterSummary.objects.filter(encounter=OuterRef("pk"))))
    )


@prepared
def encounter_and_summary(encounter_id: int, user_id: int) -> QuerySet[Encounter]:
    """The encounter with its stored summary joined (`stored_summary`): the live checklist's GET
    reads both in one statement, and on PostgreSQL, in the same statement, the encounter's
    acknowledgements and the administrations its stored findings name (`checklist_rows`), and
    the names of the groups of the user `user_id` (`reader_groups`: the view's role check),
    how many administrations and flushes it holds (`sign_counts`: the sign-off names them) and
    which of its orders are returned by pharmacy (`returned_orders`: a chart drawn with another
    set is drawn again), and the orders given with their doses (`orders_given`: the sign-off's
    notes of a calculated dose without its measures).
    (Not for a view that writes: the summary read here would be the one before its write.)
    With its patient (the age and sex a calculated dose's note reads), not who signed it: the
    checklist does not show it."""
    read = Encounter.objects.filter(pk=encounter_id).select_related("summary", "patient")
    if connections[read.db].vendor != "postgresql":
        return read
    return read.annotate(
        checklist_acknowledgements=RawSQL(_ACKNOWLEDGEMENTS_SQL, (), output_field=JSONField()),
        checklist_administrations=RawSQL(_NAMED_SQL, (), output_field=JSONField()),
        reader_groups=ArraySubquery(Group.objects.filter(user__id=user_id).values("name")),
        sign_administrations=RawSQL(_count_sql(Administration), ()),
        sign_flushes=RawSQL(_count_sql(Flush), ()),
        returned_orders=ArraySubquery(_returned(Order.objects.filter(encounter=OuterRef("pk")))),
        given_orders=RawSQL(_GIVEN_SQL, (), output_field=JSONField()),
    )


def _returned(orders: QuerySet[Order]) -> QuerySet[Order]:
    """The pks of those returned by pharmacy (`Order.is_returned`), in order."""
    return (
        orders.filter(returned_at__isnull=False, verified_at__isnull=True)
        .order_by("pk")
        .values("pk")
    )


def sign_counts(encounter: Encounter) -> tuple[int, int]:
    """The encounter's administrations and flushes: as `encounter_and_summary` read them with
    it (PostgreSQL), else counted."""
    read = (
        getattr(encounter, "sign_administrations", None),
        getattr(encounter, "sign_flushes", None),
    )
    if read[0] is not None and read[1] is not None:
        return int(read[0]), int(read[1])
    return encounter.administrations.count(), encounter.flushes.count()


def returned_orders(encounter: Encounter) -> list[int]:
    """The pks of the encounter's orders returned by pharmacy: as `encounter_and_summary` read
    them with it (PostgreSQL), else read."""
    read = getattr(encounter, "returned_orders", None)
    if read is not None:
        return sorted(read)
    return list(_returned(Order.objects.filter(encounter=encounter)).values_list("pk", flat=True))


def stored_summary(encounter: Encounter) -> list[EncounterSummary]:
    """The summary `encounter_and_summary` read with it: [it], or [] when none is stored."""
    try:
        return [encounter.summary]
    except EncounterSummary.DoesNotExist:
        return []


def _table(model: type[Model]) -> str:
    return f'"{model._meta.db_table}"'


def _column(model: type[Model], name: str) -> str:
    return f'"{model._meta.get_field(name).column}"'


def _pairs(alias: str, model: type[Model], names: tuple[str, ...]) -> str:
    """`jsonb_build_object`'s arguments for these fields of a row: each by its attname."""
    return ", ".join(
        f"'{model._meta.get_field(name).attname}', {alias}.{_column(model, name)}" for name in names
    )


_ENCOUNTER_ID = f"{_table(Encounter)}.{_column(Encounter, 'id')}"
_ACK, _ADM = FindingAcknowledgement, Administration


def _count_sql(model: type[Model]) -> str:
    """How many rows of `model` (administrations, flushes) the encounter has: what the sign-off
    counts."""
    where = f"{_column(model, 'encounter')} = {_ENCOUNTER_ID}"
    return f"SELECT count(*) FROM {_table(model)} WHERE {where}"


# Each acknowledgement, in their order (at, pk), with who gave it: what the checklist shows.
_ACKNOWLEDGEMENTS_SQL = (
    "SELECT coalesce(jsonb_agg(jsonb_build_object("
    f"{_pairs('k', _ACK, ('id', 'rule', 'administrations', 'field', 'message', 'reason', 'by'))}, "
    f"'username', u.{_column(User, User.USERNAME_FIELD)}) "
    f"ORDER BY k.{_column(_ACK, 'at')}, k.{_column(_ACK, 'id')}), '[]'::jsonb) "
    f"FROM {_table(_ACK)} k "
    f"JOIN {_table(User)} u ON u.{_column(User, 'id')} = k.{_column(_ACK, 'by')} "
    f"WHERE k.{_column(_ACK, 'encounter')} = {_ENCOUNTER_ID}"
)
# The administrations the stored findings name ("A12": administration 12), with what the
# checklist shows of them: the drug's name, the order, the site and the purpose (its links and
# notes). A record id that is not an administration's names none.
_NAMED_SQL = (
    "SELECT coalesce(jsonb_agg(jsonb_build_object("
    f"{_pairs('a', _ADM, ('id', 'drug', 'order', 'site', 'purpose'))}, "
    f"'drug_name', d.{_column(Drug, 'name')}) ORDER BY a.{_column(_ADM, 'id')}), '[]'::jsonb) "
    f"FROM {_table(_ADM)} a "
    f"JOIN {_table(Drug)} d ON d.{_column(Drug, 'id')} = a.{_column(_ADM, 'drug')} "
    f"WHERE a.{_column(_ADM, 'encounter')} = {_ENCOUNTER_ID} AND a.{_column(_ADM, 'id')} IN ("
    "SELECT CASE WHEN n ~ '^A[0-9]{1,18}$' THEN substr(n, 2)::bigint END "
    f"FROM jsonb_array_elements({_table(EncounterSummary)}.{_column(EncounterSummary, 'findings')})"
    " AS f, jsonb_array_elements_text(f.value -> 'administrations') AS n)"
)


# The orders given (those with an administration), with their doses and the drug's name: what
# the sign-off's notes of a calculated dose read (`orders_given`). The dose's value as text, so
# it comes back the Decimal it is.
_GIVEN_SQL = (
    "SELECT coalesce(jsonb_agg(jsonb_build_object("
    f"{_pairs('o', Order, ('id', 'drug', 'dose', 'dose_unit', 'dose_basis'))}, "
    f"'dose_value', o.{_column(Order, 'dose_value')}::text, "
    f"'drug_name', d.{_column(Drug, 'name')}) ORDER BY o.{_column(Order, 'id')}), '[]'::jsonb) "
    f"FROM {_table(Order)} o "
    f"JOIN {_table(Drug)} d ON d.{_column(Drug, 'id')} = o.{_column(Order, 'drug')} "
    f"WHERE o.{_column(Order, 'encounter')} = {_ENCOUNTER_ID} AND EXISTS (SELECT 1 FROM "
    f"{_table(_ADM)} g WHERE g.{_column(_ADM, 'order')} = o.{_column(Order, 'id')})"
)


@prepared
def given_orders_read(encounter_id: int) -> QuerySet[Order]:
    """The encounter's orders given (with an administration), with their drugs, in order."""
    return (
        Order.objects.filter(encounter_id=encounter_id)
        .filter(Exists(Administration.objects.filter(order=OuterRef("pk"))))
        .select_related("drug")
        .order_by("pk")
    )


def orders_given(encounter: Encounter) -> list[Order]:
    """The encounter's orders given, in order, each with its drug (its name) and its dose
    (`dose`, `dose_value`, `dose_unit`, `dose_basis`; any other field read when asked for): as
    `encounter_and_summary` read them with it (PostgreSQL), else read."""
    rows = getattr(encounter, "given_orders", None)
    if rows is None:
        return given_orders_read(encounter.pk, encounter=encounter)
    db = encounter._state.db or "default"
    given = []
    for row in rows:
        value = row["dose_value"]
        order = _partial(
            Order,
            db,
            {
                **row,
                "encounter_id": encounter.pk,
                "dose_value": None if value is None else Decimal(value),
            },
        )
        order.encounter = encounter
        order.drug = _partial(Drug, db, {"id": row["drug_id"], "name": row["drug_name"]})
        given.append(order)
    return given


@dataclass
class ChecklistRows:
    """What `encounter_and_summary` read with the encounter for its checklist: its
    acknowledgements, and the administrations its stored findings name (their drug's name, order,
    site and purpose; any other field is read when asked for, as `.only()` reads)."""

    acknowledgements: list[FindingAcknowledgement]
    administrations: list[Administration]


def _partial(model: type[M], db: str, row: dict[str, Any]) -> M:
    """An instance of `model` from the fields of `row` (attnames), the others deferred."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in row]
    return model.from_db(db, names, [row[name] for name in names])


def checklist_rows(encounter: Encounter) -> ChecklistRows | None:
    """The rows `encounter_and_summary` read with `encounter` (None: not read with it, as on
    SQLite). The administrations are those its stored summary names: for another summary (one
    computed since, the stored one having expired) read them again."""
    acks = getattr(encounter, "checklist_acknowledgements", None)
    named = getattr(encounter, "checklist_administrations", None)
    if acks is None or named is None:
        return None
    db = encounter._state.db or "default"
    acknowledgements = []
    for row in acks:
        ack = _partial(FindingAcknowledgement, db, {**row, "encounter_id": encounter.pk})
        ack.encounter = encounter
        ack.by = _partial(User, db, {"id": row["by_id"], User.USERNAME_FIELD: row["username"]})
        acknowledgements.append(ack)
    administrations = []
    for row in named:
        adm = _partial(Administration, db, {**row, "encounter_id": encounter.pk})
        adm.encounter = encounter
        adm.drug = _partial(Drug, db, {"id": row["drug_id"], "name": row["drug_name"]})
        administrations.append(adm)
    return ChecklistRows(acknowledgements, administrations)


@prepared
def summary(encounter_id: int) -> QuerySet[EncounterSummary]:
    """The encounter's stored summary (mar/summary.py), if one is."""
    return EncounterSummary.objects.filter(encounter_id=encounter_id)


@prepared
def site_with_encounter(encounter_id: int, site_id: int) -> QuerySet[AccessSite]:
    """A site of the encounter, with the encounter and its patient (a site's htmx action)."""
    return AccessSite.objects.filter(pk=site_id, encounter_id=encounter_id).select_related(
        "encounter__patient"
    )


@prepared
def order_with_encounter(encounter_id: int, order_id: int) -> QuerySet[Order]:
    """An order of the encounter, with the encounter, its patient and the drug (a start)."""
    return Order.objects.filter(pk=order_id, encounter_id=encounter_id).select_related(
        "encounter__patient", "drug"
    )


@prepared
def administration_with_encounter(
    encounter_id: int, administration_id: int
) -> QuerySet[Administration]:
    """An administration of the encounter, with the encounter, its patient and the drug (a
    card's htmx action)."""
    return Administration.objects.filter(
        pk=administration_id, encounter_id=encounter_id
    ).select_related("encounter__patient", "drug")


@prepared
def sites(encounter_id: int) -> QuerySet[AccessSite]:
    return AccessSite.objects.filter(encounter_id=encounter_id)


@prepared
def site(encounter_id: int, site_id: int) -> QuerySet[AccessSite]:
    return AccessSite.objects.filter(encounter_id=encounter_id, pk=site_id)


@prepared
def orders(encounter_id: int) -> QuerySet[Order]:
    """The chart's orders: those cancelled as entered in error are not on it. Each with
    whether its drug has an active NDC in the formulary (`drug_ndc_on_file`: the Start box says
    a drug with none cannot be scanned), in the same statement (issue 19)."""
    return (
        Order.objects.filter(encounter_id=encounter_id, cancelled_at__isnull=True)
        .select_related("drug", "verified_by", "returned_by", "disposition_by")
        .annotate(
            drug_ndc_on_file=Exists(
                DrugNdc.objects.filter(drug_id=OuterRef("drug_id"), active=True)
            )
        )
    )


@prepared
def administrations(encounter_id: int) -> QuerySet[Administration]:
    return Administration.objects.filter(encounter_id=encounter_id).select_related(
        *_ADMINISTRATION_JOINS
    )


@prepared
def administrations_named(encounter_id: int, ids: list[int]) -> QuerySet[Administration]:
    """Those of `ids` (an htmx answer's card and the ones the findings name)."""
    return Administration.objects.filter(encounter_id=encounter_id, pk__in=ids).select_related(
        *_ADMINISTRATION_JOINS
    )


@prepared
def administrations_named_or_running_on(
    encounter_id: int, ids: list[int], site_id: int
) -> QuerySet[Administration]:
    """Those of `ids`, and the infusions running on the site `site_id` (a flush's answer)."""
    wanted = Q(pk__in=ids) | Q(
        site_id=site_id, stop__isnull=True, method=Administration.Method.INFUSION
    )
    return (
        Administration.objects.filter(encounter_id=encounter_id)
        .filter(wanted)
        .select_related(*_ADMINISTRATION_JOINS)
    )


@prepared
def pauses(administration_ids: list[int]) -> QuerySet[Pause]:
    return Pause.objects.filter(administration_id__in=administration_ids)


@prepared
def acknowledgements(encounter_id: int) -> QuerySet[FindingAcknowledgement]:
    return FindingAcknowledgement.objects.filter(encounter_id=encounter_id).select_related("by")


@prepared
def flushes(encounter_id: int) -> QuerySet[Flush]:
    return Flush.objects.filter(encounter_id=encounter_id)


@prepared
def addenda(encounter_id: int) -> QuerySet[Addendum]:
    return Addendum.objects.filter(encounter_id=encounter_id).select_related("author")


@prepared
def charted_in_error(encounter_id: int) -> QuerySet[ChartedInError]:
    return ChartedInError.objects.filter(encounter_id=encounter_id).select_related("by")


@prepared
def measures(encounter_id: int) -> QuerySet[PatientMeasure]:
    return (
        PatientMeasure.objects.filter(encounter_id=encounter_id)
        .select_related("by")
        .order_by("measured_at", "pk")
    )


@prepared
def scans(encounter_id: int) -> QuerySet[BarcodeScan]:
    """The last 20 scans, newest first (their overrides: `scan_overrides`)."""
    return (
        BarcodeScan.objects.filter(encounter_id=encounter_id)
        .select_related("order__drug", "drug", "by")
        .order_by("-at", "-pk")[:20]
    )


@prepared
def scan_overrides(scan_ids: list[int]) -> QuerySet[SafetyOverride]:
    return SafetyOverride.objects.filter(scan_id__in=scan_ids)


@prepared
def rate_changes(administration_ids: list[int]) -> QuerySet[RateChange]:
    """With `amended_times` (the row's corrections by addendum after the signature, counted in
    the same statement: `rate_amended_times`)."""
    return (
        RateChange.objects.filter(administration_id__in=administration_ids)
        .select_related("by", "amended_by")
        .annotate(amended_times=rate_amended_times())
    )


@prepared
def administration_overrides(administration_ids: list[int]) -> QuerySet[SafetyOverride]:
    return SafetyOverride.objects.filter(administration_id__in=administration_ids).select_related(
        "by"
    )


@prepared
def assessments(site_ids: list[int]) -> QuerySet[SiteAssessment]:
    return SiteAssessment.objects.filter(site_id__in=site_ids).select_related("by")


# --- the board's page of cards (mar/views.py `board`): a page's encounters by their ids --------


@prepared
def board_encounters(encounter_ids: list[int]) -> QuerySet[Encounter]:
    """The page's encounters with their patient and stored summary, whether a coder's query is
    open (`coder_query`), how many administrations were given (`given`) and when the last one
    changed (`last_changed`): what says a card kept on the board is still its record's
    (mar/board_cards.py)."""
    open_query = charges_port().open_queries().filter(encounter_id=OuterRef("pk"))
    return (
        Encounter.objects.filter(pk__in=encounter_ids)
        .annotate(
            coder_query=Exists(open_query),
            given=Count("administrations"),
            last_changed=Max("administrations__updated_at"),
        )
        .select_related("patient", "summary")
    )


@prepared
def board_running(encounter_ids: list[int]) -> QuerySet[Administration]:
    """What runs on them: infusions not stopped, with their drug."""
    return Administration.objects.filter(
        encounter_id__in=encounter_ids,
        stop__isnull=True,
        method=Administration.Method.INFUSION,
    ).select_related("drug")


@prepared
def board_acknowledgements(encounter_ids: list[int]) -> QuerySet[FindingAcknowledgement]:
    return FindingAcknowledgement.objects.filter(encounter_id__in=encounter_ids)


# --- what a charting service reads under its locks (mar/services/charting.py, safety.py) -------
# A change's first statements, on every change: compiled once too (issue 19).

# The encounter's fields the record is made of, read again with its row lock: the record checked
# (and the summary stored) after a change is the one as committed.
RECORD_FIELDS = (
    "status",
    "arrived_at",
    "observation_at",
    "timezone",
    "setting",
    "sequence_of_day",
    "unit",  # an emergency department's (`Encounter.in_emergency_department`)
    "signed_at",
    "account_number",
)


@prepared
def encounter_locked(encounter_id: int) -> QuerySet[Encounter]:
    """The encounter's row locked (FOR UPDATE: a signature cannot slip in mid-change), with its
    status and the record's own fields (`RECORD_FIELDS`) as committed."""
    return Encounter.objects.select_for_update().filter(pk=encounter_id).only(*RECORD_FIELDS)


@prepared
def administration_locked(administration_id: int) -> QuerySet[Administration]:
    """An administration's row locked (FOR UPDATE of it alone: its encounter's is locked first),
    with its encounter read in the same statement (the record checked after the change is read
    through it)."""
    return (
        Administration.objects.select_for_update(of=("self",))
        .select_related("encounter")
        .filter(pk=administration_id)
    )


@prepared
def open_pause(administration_id: int) -> QuerySet[Pause]:
    """The administration's pause not resumed yet, if there is one (the first, as ever)."""
    return Pause.objects.filter(administration_id=administration_id, end__isnull=True).order_by(
        "start", "pk"
    )[:1]


@prepared
def order_to_start(encounter_id: int, order_id: int, request_keys: list[str]) -> QuerySet[Order]:
    """Under a start's lock (mar/services/safety.py), in one statement: the order as it is now,
    with its drug; `earlier_start`, the administration an earlier tap with one of `request_keys`
    (the start form's key) created, if any (its id); `wristband_scan`, the latest wristband scan
    that confirmed the patient on this chart, if any (its id: `scanning.patient_confirmed`)."""
    earlier = Administration.objects.filter(
        encounter_id=encounter_id, request_key__in=request_keys
    ).order_by("pk")
    wristband = BarcodeScan.objects.filter(
        encounter_id=encounter_id,
        kind=BarcodeScan.Kind.PATIENT,
        result=BarcodeScan.Result.MATCH,
    ).order_by("-at", "-pk")
    return (
        Order.objects.filter(pk=order_id, encounter_id=encounter_id)
        .select_related("drug")
        .annotate(
            earlier_start=Subquery(earlier.values("pk")[:1]),
            wristband_scan=Subquery(wristband.values("pk")[:1]),
        )
    )


def with_pauses(rows: list[Administration]) -> list[Administration]:
    """`prefetch_related("pauses")`, through the prepared read."""
    prefetched(rows, "pauses", pauses([a.pk for a in rows]) if rows else [])
    return rows


# Every prepared read of this module (tests/mar/test_prepared.py holds each to its queryset).
READS: dict[str, PreparedRead[Any]] = {
    name: value for name, value in globals().items() if isinstance(value, PreparedRead)
}
