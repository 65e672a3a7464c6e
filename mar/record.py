"""The one bridge from the database to the engine: an Encounter's rows as an infusion-record/1.

Record ids map to rows by prefix and primary key: "E<pk>" Encounter, "S<pk>" AccessSite,
"O<pk>" Order, "A<pk>" Administration (see `record_id` and `pk_from_record_id`).
Times are ISO 8601 with the UTC offset they had in the encounter's zone, so a DST change
cannot make them ambiguous. Six queries whatever the size of the record, and six for the
records of many encounters (`record_dicts_from_encounters`, for the board).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from coding.engine import Record

RECORD_FORMAT = "infusion-record/1"


def record_id(prefix: str, pk: int | None) -> str | None:
    return None if pk is None else f"{prefix}{pk}"


def administration_record_id(pk: int) -> str:
    """An administration's record id ("A12"), as the engine, its findings and the coders name it."""
    return f"A{pk}"


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
    """The records of many encounters (the board, the sweep) or of one, in six queries whatever
    their number and size (a seventh for the payers' policies when one has a payer).

    The rows are read as plain values, not model instances (issue 19: building the instances
    and their related managers was most of a bridge run on a large record)."""
    encounters = list(encounters)
    ids = [e.pk for e in encounters]

    def by_key(rows: Iterable[dict[str, Any]], key: str) -> dict[int, list[dict[str, Any]]]:
        grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            grouped[row[key]].append(row)
        return grouped

    in_ids = {"encounter_id__in": ids}
    sites = by_key(
        AccessSite.objects.filter(**in_ids).order_by("pk").values(*_SITE_FIELDS), "encounter_id"
    )
    orders = by_key(
        Order.objects.filter(**in_ids).order_by("pk").values(*_ORDER_FIELDS), "encounter_id"
    )
    adm_rows = list(
        Administration.objects.filter(**in_ids).order_by("pk").values(*_ADMINISTRATION_FIELDS)
    )
    adm_ids = [row["pk"] for row in adm_rows]
    pauses = by_key(
        Pause.objects.filter(administration_id__in=adm_ids)
        .order_by("start", "pk")
        .values("administration_id", "start", "end"),
        "administration_id",
    )
    rate_changes = by_key(
        RateChange.objects.filter(administration_id__in=adm_ids)
        .order_by("at", "pk")
        .values("administration_id", "at", "rate_ml_h"),
        "administration_id",
    )
    flushes = by_key(
        Flush.objects.filter(**in_ids).order_by("at", "pk").values("encounter_id", "site_id", "at"),
        "encounter_id",
    )
    administrations = by_key(adm_rows, "encounter_id")
    policies = payer_policies(e.payer_id for e in encounters)
    return {
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
    if encounter.arrived_at is not None:
        enc["arrived_at"] = at(encounter.arrived_at)
    if encounter.observation_at is not None:
        enc["observation_at"] = at(encounter.observation_at)

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
            "drug_class": adm["order__class_override"] or adm["drug__drug_class"],
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
