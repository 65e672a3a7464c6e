"""The one bridge from the database to the engine: an Encounter's rows as an infusion-record/1.

Record ids map to rows by prefix and primary key: "E<pk>" Encounter, "S<pk>" AccessSite,
"O<pk>" Order, "A<pk>" Administration (see `record_id` and `pk_from_record_id`).
Times are ISO 8601 with the UTC offset they had in the encounter's zone, so a DST change
cannot make them ambiguous. Six queries whatever the size of the record, and six for the
records of many encounters (`record_dicts_from_encounters`, for the board); on PostgreSQL the six
are sent as one statement (`_rows`, issue 19).
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import QuerySet

from mar.models import (
    AccessSite,
    Administration,
    Encounter,
    Flush,
    Order,
    Pause,
    PayerPolicy,
    RateChange,
)
from mar.prepared import execute_prepared

if TYPE_CHECKING:
    from coding.engine import Record

RECORD_FORMAT = "infusion-record/1"
log = logging.getLogger(__name__)


def record_id(prefix: str, pk: int | None) -> str | None:
    return None if pk is None else f"{prefix}{pk}"


def administration_record_id(pk: int) -> str:
    """An administration's record id ("A12"), as the engine, its findings and the coders name it."""
    return f"A{pk}"


def coded_class(order_override: str | None, drug_class: str | None) -> str | None:
    """The class an administration is coded with: its order's override, else its drug's (None:
    untagged, or "" as stored). The record carries it (`drug_class`); coding compares a billed
    run's with it."""
    return order_override or drug_class


def administration_classes(pks: Iterable[int]) -> dict[str, str | None]:
    """The class each administration is coded with now, by record id ("A12"), in one read."""
    rows = Administration.objects.filter(pk__in=list(pks)).values_list(
        "pk", "order__class_override", "drug__drug_class"
    )
    return {record_id("A", pk) or "": coded_class(o, d) for pk, o, d in rows}


def pk_from_record_id(value: str) -> int:
    """'A12' -> 12 (any of the E/S/O/A prefixes)."""
    if len(value) < 2 or value[0] not in "ESOA" or not value[1:].isdigit():
        raise ValueError(f"not a record id: {value!r}")
    return int(value[1:])


def _number(value: Decimal) -> int | float:
    # JSON-native numbers, so a snapshot compares equal after a round trip through JSONField.
    return int(value) if value == value.to_integral_value() else float(value)


def payer_policies(payer_ids: Iterable[int | None]) -> dict[int, PayerPolicy]:
    """Each payer's current coding-policy version (mar.Payer), in one query."""
    wanted = {pk for pk in payer_ids if pk is not None}
    current: dict[int, PayerPolicy] = {}
    if wanted:
        for policy in PayerPolicy.objects.filter(payer_id__in=wanted).order_by("version"):
            current[policy.payer_id] = policy  # the highest version last
    return current


def record_dict_from_encounter(encounter: Encounter) -> dict[str, Any]:
    return record_dicts_from_encounters([encounter])[encounter.pk]


def record_dict_and_flushes(encounter: Encounter) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`record_dict_from_encounter`, with the flushes' rows it was made of (pk, site_id and `at`
    to the microsecond, in time order): a flush charted is checked against the others in the
    same read (`charting.flush_chart`: a second in a minute is asked first, issue 19)."""
    documents, flushes = _record_dicts([encounter])
    return documents[encounter.pk], flushes[encounter.pk]


_SITE_FIELDS = ("pk", "encounter_id", "kind", "location", "separate_site_reason")
_ORDER_FIELDS = (
    "pk", "encounter_id", "drug__name", "route", "dose", "indication", "purpose",
    "duration_minutes", "disposition", "disposition_reason",
)  # fmt: skip
_ADMINISTRATION_FIELDS = (
    "pk", "encounter_id", "order__class_override", "drug__name", "drug__drug_class", "route",
    "method", "site_id", "order_id", "start", "stop", "bag", "purpose", "started_by", "lesions",
    "pump", "planned_hours", "primary", "dose_value", "dose_unit", "rate_ml_h",
    "volume_infused_ml", "bag_volume_ml", "drug__hcpcs_code", "drug__billing_unit_amount",
    "drug__billing_unit",
)  # fmt: skip


def record_dicts_from_encounters(encounters: Iterable[Encounter]) -> dict[int, dict[str, Any]]:
    """The records of many encounters (the board, the sweep) or of one, in six reads whatever
    their number and size, one statement on PostgreSQL (`_rows`; a query more for the payers'
    policies when one has a payer).

    The rows are read as plain values, not model instances (issue 19: building the instances
    and their related managers was most of a bridge run on a large record)."""
    return _record_dicts(encounters)[0]


def _record_dicts(
    encounters: Iterable[Encounter],
) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """`record_dicts_from_encounters`, and each encounter's flush rows."""
    encounters = list(encounters)
    ids = [e.pk for e in encounters]

    def by_key(rows: Iterable[dict[str, Any]], key: str) -> dict[int, list[dict[str, Any]]]:
        grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            grouped[row[key]].append(row)
        return grouped

    if not ids:
        return {}, {}
    site_rows, order_rows, adm_rows, pause_rows, rate_rows, flush_rows = _rows(ids)
    sites = by_key(site_rows, "encounter_id")
    orders = by_key(order_rows, "encounter_id")
    pauses = by_key(pause_rows, "administration_id")
    rate_changes = by_key(rate_rows, "administration_id")
    flushes = by_key(flush_rows, "encounter_id")
    administrations = by_key(adm_rows, "encounter_id")
    policies = payer_policies(e.payer_id for e in encounters)
    documents = {
        e.pk: _record_dict(
            e,
            policy=policies.get(e.payer_id or 0),
            sites=sites[e.pk],
            orders=orders[e.pk],
            administrations=administrations[e.pk],
            pauses=pauses,
            rate_changes=rate_changes,
            flushes=flushes[e.pk],
        )
        for e in encounters
    }
    return documents, {e.pk: flushes[e.pk] for e in encounters}


def _row_queries(ids: list[int]) -> list[QuerySet[Any, dict[str, Any]]]:
    """The bridge's six reads: the encounters' sites, orders, administrations, their pauses and
    rate changes, and the flushes, each in the order the record lists them."""
    in_ids = {"encounter_id__in": ids}
    return [
        AccessSite.objects.filter(**in_ids).order_by("pk").values(*_SITE_FIELDS),
        # An order cancelled as entered in error is no order of the record (DOC-6 asks nothing of
        # it; `order_cancel` refuses one anything was charted on).
        Order.objects.filter(**in_ids, cancelled_at__isnull=True)
        .order_by("pk")
        .values(*_ORDER_FIELDS),
        Administration.objects.filter(**in_ids).order_by("pk").values(*_ADMINISTRATION_FIELDS),
        Pause.objects.filter(administration__encounter_id__in=ids)
        .order_by("start", "pk")
        .values("pk", "administration_id", "start", "end"),
        RateChange.objects.filter(administration__encounter_id__in=ids)
        .order_by("at", "pk")
        .values("pk", "administration_id", "at", "rate_ml_h"),
        Flush.objects.filter(**in_ids)
        .order_by("at", "pk")
        .values("pk", "encounter_id", "site_id", "at"),
    ]


def _rows(ids: list[int]) -> list[list[dict[str, Any]]]:
    """The rows of each of `_row_queries(ids)`, in its order.

    On PostgreSQL all six in one statement (issue 19: six round trips, six queries built and
    compiled by the ORM, and six result sets were most of a bridge run), compiled once for each
    number of encounters (`_statement`). Elsewhere (SQLite: the demo) each query is read as the
    ORM reads it. tests/mar/test_record_bulk.py holds both to the same rows.
    """
    db = AccessSite.objects.db
    connection = connections[db]
    if connection.vendor != "postgresql":
        return [list(qs) for qs in _row_queries(ids)]
    sql, orders = _statement(db, len(ids))
    # A prepared statement, planned once per connection (mar/prepared.py).
    (texts,) = execute_prepared(db, sql, ids * len(orders))
    result = []
    for order, text in zip(orders, texts, strict=True):
        rows: list[dict[str, Any]] = json.loads(text, parse_float=Decimal)
        for row in rows:
            for name in _TIMES & row.keys():
                if row[name] is not None:
                    row[name] = _time(row[name])
        rows.sort(key=functools.partial(_sort_key, order=order))
        result.append(rows)
    return result


_TIMES = frozenset({"start", "stop", "end", "at"})  # the rows' datetime columns


@functools.lru_cache(maxsize=64)
def _statement(db: str, count: int) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """One SELECT whose columns are the JSON text of each of the six reads for `count`
    encounters, and each read's order.

    Each read is the query Django compiles, aggregated to JSON as a subquery; JSON text is read
    back with the types the ORM gives (numerics as Decimal, times as aware datetimes) and each
    read's rows sorted again by its own order (json_agg keeps a subquery's order only in
    practice). Compiled with stand-in ids, so the only parameters are the encounter ids, once
    for each read: checked here, not assumed.
    """
    stand_in = [-(n + 1) for n in range(count)]
    parts: list[str] = []
    orders: list[tuple[str, ...]] = []
    for qs in _row_queries(stand_in):
        sql, params = qs.query.get_compiler(using=db).as_sql()
        if list(params) != stand_in:
            raise ValueError(f"a bridge read has parameters besides the ids: {params!r}")
        order = tuple(qs.query.order_by)
        if not all(isinstance(n, str) and not n.startswith("-") for n in order):
            raise ValueError(f"only ascending field names are sorted here: {order}")
        parts.append(f"(SELECT coalesce(json_agg(q), '[]')::text FROM ({sql}) q)")
        orders.append(order)
    return "SELECT " + ", ".join(parts), tuple(orders)


def _time(text: str) -> datetime | None:
    """A time from the JSON text; one PostgreSQL holds but Python cannot (year 10000 in UTC)
    is None, logged, as the ORM reads it (mar/apps.py, issue 18 item 4)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        log.error("unreadable timestamp %r read as NULL: %s", text, exc)
        return None


def _sort_key(row: dict[str, Any], order: tuple[str, ...]) -> tuple[Any, ...]:
    """A row's place in its read's order: ascending, nulls last, as PostgreSQL sorts them."""
    return tuple((True, 0) if row[n] is None else (False, row[n]) for n in order)


def _record_dict(
    encounter: Encounter,
    *,
    sites: Iterable[dict[str, Any]],
    orders: Iterable[dict[str, Any]],
    administrations: Iterable[dict[str, Any]],
    pauses: dict[int, list[dict[str, Any]]],
    rate_changes: dict[int, list[dict[str, Any]]],
    flushes: Iterable[dict[str, Any]],
    policy: PayerPolicy | None = None,
) -> dict[str, Any]:
    # A zone that is not one reads as UTC: times stay exact with their UTC offset, and the
    # engine reports the bad zone as a RecordError.
    zone = encounter.zone

    def at(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(zone).isoformat(timespec="seconds")

    enc: dict[str, Any] = {
        "id": record_id("E", encounter.pk),
        # str(): a fresh instance holds its default as a TextChoices member, which hashes by name.
        "setting": str(encounter.setting),
        "timezone": encounter.timezone,
        "sequence_of_day": encounter.sequence_of_day,
    }
    if encounter.in_emergency_department:
        enc["emergency_department"] = True
    if encounter.arrived_at is not None:
        enc["arrived_at"] = at(encounter.arrived_at)
    if encounter.observation_at is not None:
        enc["observation_at"] = at(encounter.observation_at)
    if encounter.is_signed and encounter.signed_at is not None:
        # A signed record is judged at its signature, by the chart and the coder alike (DOC-3).
        # To the microsecond: the chart passes `encounter.signed_at` itself as its moment, which
        # must not read as a wall clock later than the record's signature.
        enc["signed_at"] = encounter.signed_at.astimezone(zone).isoformat()
    # Always said, "" when the clerk left it empty (EDIT-ACCOUNT): a snapshot without the key is
    # one made before records carried it (coding/review.py `edits_record`).
    enc["account_number"] = encounter.account_number.strip()

    site_dicts = []
    for site in sites:
        s: dict[str, Any] = {"id": record_id("S", site["pk"]), "kind": site["kind"]}
        if site["location"]:
            s["location"] = site["location"]
        if site["separate_site_reason"]:
            s["separate_site_reason"] = site["separate_site_reason"]
        site_dicts.append(s)

    order_dicts = []
    for order in orders:
        o: dict[str, Any] = {"id": record_id("O", order["pk"]), "drug": order["drug__name"]}
        o["route"] = order["route"]
        for name in ("dose", "indication", "purpose"):
            if order[name]:
                o[name] = order[name]
        if order["duration_minutes"] is not None:
            o["duration_minutes"] = order["duration_minutes"]
        for name in ("disposition", "disposition_reason"):
            if order[name]:
                o[name] = order[name]
        order_dicts.append(o)

    adm_dicts = []
    for adm in administrations:
        a: dict[str, Any] = {
            "id": record_id("A", adm["pk"]),
            "drug": adm["drug__name"],
            "drug_class": coded_class(adm["order__class_override"], adm["drug__drug_class"]),
            "route": adm["route"],
            "method": adm["method"],
            "site": record_id("S", adm["site_id"]),
            "order": record_id("O", adm["order_id"]),
            "start": at(adm["start"]),
            "stop": at(adm["stop"]),
        }
        adm_pauses = pauses.get(adm["pk"])
        if adm_pauses:
            a["pauses"] = [{"start": at(p["start"]), "end": at(p["end"])} for p in adm_pauses]
        if adm["bag"]:
            a["bag"] = adm["bag"]
        if adm["purpose"]:
            a["purpose"] = adm["purpose"]
        if adm["started_by"] != Administration.StartedBy.FACILITY:
            a["started_by"] = adm["started_by"]
        if adm["lesions"] is not None:
            a["lesions"] = adm["lesions"]
        if adm["pump"]:
            a["pump"] = adm["pump"]
        if adm["planned_hours"] is not None:
            a["planned_hours"] = _number(adm["planned_hours"])
        if adm["primary"]:
            a["primary"] = True
        if adm["dose_value"] is not None:
            a["dose"] = {"value": _number(adm["dose_value"]), "unit": adm["dose_unit"]}
        # The rates it ran at (issue 17, DOC-VOLUME): the start rate at its start, then each
        # change; the volumes charted.
        rates = [(adm["start"], adm["rate_ml_h"])] if adm["rate_ml_h"] is not None else []
        rates += [(c["at"], c["rate_ml_h"]) for c in rate_changes.get(adm["pk"], ())]
        if rates:
            a["rates"] = [{"at": at(moment), "ml_h": _number(ml_h)} for moment, ml_h in rates]
        for name in ("volume_infused_ml", "bag_volume_ml"):
            if adm[name] is not None and adm[name] > 0:
                a[name] = _number(adm[name])
        unit_amount = adm["drug__billing_unit_amount"]
        if adm["drug__hcpcs_code"] and unit_amount and unit_amount > 0:
            # Billed in drug units (coding/drug_lines.py): the engine checks the dose (DRUG-DOSE).
            a["hcpcs"] = adm["drug__hcpcs_code"]
            if adm["drug__billing_unit"].strip():
                a["billing_unit"] = {
                    "value": _number(unit_amount),
                    "unit": adm["drug__billing_unit"],
                }
        adm_dicts.append(a)

    flush_dicts = [{"site": record_id("S", f["site_id"]), "at": at(f["at"])} for f in flushes]

    document: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "encounter": enc,
        "sites": site_dicts,
        "orders": order_dicts,
        "administrations": adm_dicts,
        "flushes": flush_dicts,
    }
    if policy is not None:
        # The payer's profile chooses how the engine codes where sources disagree (every key;
        # coding-rules §7). No payer: the rules' defaults, and no "policy" key.
        document["policy"] = policy.as_engine_policy()
    return document


def record_from_encounter(encounter: Encounter) -> Record:
    """The engine's Record for this encounter; raises the engine's RecordError when invalid."""
    from coding.engine import parse_record  # lazy: keeps Django start-up free of the engine

    return parse_record(record_dict_from_encounter(encounter))
