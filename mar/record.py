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


def _change_order(change: RateChange) -> tuple[datetime, int]:
    return (change.at, change.pk)


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
    return _record_dict(
        encounter,
        policy=payer_policies([encounter.payer_id]).get(encounter.payer_id or 0),
        sites=encounter.sites.order_by("pk"),
        orders=encounter.orders.select_related("drug").order_by("pk"),
        administrations=encounter.administrations.select_related("drug", "order")
        .prefetch_related("pauses", "rate_changes")
        .order_by("pk"),
        flushes=encounter.flushes.order_by("at", "pk"),
    )


def record_dicts_from_encounters(encounters: Iterable[Encounter]) -> dict[int, dict[str, Any]]:
    """The same records for many encounters (the board), in six queries whatever their number."""
    encounters = list(encounters)
    ids = [e.pk for e in encounters]

    def by_encounter(rows: Iterable[Any]) -> dict[int, list[Any]]:
        grouped: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[row.encounter_id].append(row)
        return grouped

    sites = by_encounter(AccessSite.objects.filter(encounter_id__in=ids).order_by("pk"))
    orders = by_encounter(
        Order.objects.filter(encounter_id__in=ids).select_related("drug").order_by("pk")
    )
    administrations = by_encounter(
        Administration.objects.filter(encounter_id__in=ids)
        .select_related("drug", "order")
        .prefetch_related("pauses", "rate_changes")
        .order_by("pk")
    )
    flushes = by_encounter(Flush.objects.filter(encounter_id__in=ids).order_by("at", "pk"))
    policies = payer_policies(e.payer_id for e in encounters)
    return {
        e.pk: _record_dict(
            e,
            policy=policies.get(e.payer_id or 0),
            sites=sites[e.pk],
            orders=orders[e.pk],
            administrations=administrations[e.pk],
            flushes=flushes[e.pk],
        )
        for e in encounters
    }


def _record_dict(
    encounter: Encounter,
    *,
    sites: Iterable[AccessSite],
    orders: Iterable[Order],
    administrations: Iterable[Administration],
    flushes: Iterable[Flush],
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
        s: dict[str, Any] = {"id": record_id("S", site.pk), "kind": site.kind}
        if site.location:
            s["location"] = site.location
        if site.separate_site_reason:
            s["separate_site_reason"] = site.separate_site_reason
        site_dicts.append(s)

    order_dicts = []
    for order in orders:
        o: dict[str, Any] = {"id": record_id("O", order.pk), "drug": order.drug.name}
        o["route"] = order.route
        if order.dose:
            o["dose"] = order.dose
        if order.indication:
            o["indication"] = order.indication
        if order.purpose:
            o["purpose"] = order.purpose
        if order.duration_minutes is not None:
            o["duration_minutes"] = order.duration_minutes
        if order.disposition:
            o["disposition"] = order.disposition
        if order.disposition_reason:
            o["disposition_reason"] = order.disposition_reason
        order_dicts.append(o)

    adm_dicts = []
    for adm in administrations:
        drug_class = adm.order.class_override if adm.order else None
        a: dict[str, Any] = {
            "id": record_id("A", adm.pk),
            "drug": adm.drug.name,
            "drug_class": drug_class or adm.drug.drug_class,
            "route": adm.route,
            "method": adm.method,
            "site": record_id("S", adm.site_id),
            "order": record_id("O", adm.order_id),
            "start": at(adm.start),
            "stop": at(adm.stop),
        }
        pauses = sorted(adm.pauses.all(), key=lambda p: (p.start, p.pk))
        if pauses:
            a["pauses"] = [{"start": at(p.start), "end": at(p.end)} for p in pauses]
        if adm.bag:
            a["bag"] = adm.bag
        if adm.purpose:
            a["purpose"] = adm.purpose
        if adm.started_by != adm.StartedBy.FACILITY:
            a["started_by"] = adm.started_by
        if adm.lesions is not None:
            a["lesions"] = adm.lesions
        if adm.pump:
            a["pump"] = adm.pump
        if adm.planned_hours is not None:
            a["planned_hours"] = _number(adm.planned_hours)
        if adm.primary:
            a["primary"] = True
        if adm.dose_value is not None:
            a["dose"] = {"value": _number(adm.dose_value), "unit": adm.dose_unit}
        # The rates it ran at (issue 17, DOC-VOLUME): the start rate at its start, then each
        # change; the volumes charted.
        rates = [(adm.start, adm.rate_ml_h)] if adm.rate_ml_h is not None else []
        rates += [(c.at, c.rate_ml_h) for c in sorted(adm.rate_changes.all(), key=_change_order)]
        if rates:
            a["rates"] = [{"at": at(moment), "ml_h": _number(ml_h)} for moment, ml_h in rates]
        if adm.volume_infused_ml is not None and adm.volume_infused_ml > 0:
            a["volume_infused_ml"] = _number(adm.volume_infused_ml)
        if adm.bag_volume_ml is not None and adm.bag_volume_ml > 0:
            a["bag_volume_ml"] = _number(adm.bag_volume_ml)
        drug = adm.drug
        if drug.hcpcs_code and drug.billing_unit_amount and drug.billing_unit_amount > 0:
            # Billed in drug units (coding/drug_lines.py): the engine checks the dose (DRUG-DOSE).
            a["hcpcs"] = drug.hcpcs_code
            if drug.billing_unit.strip():
                a["billing_unit"] = {
                    "value": _number(drug.billing_unit_amount),
                    "unit": drug.billing_unit,
                }
        adm_dicts.append(a)

    flush_dicts = [{"site": record_id("S", f.site_id), "at": at(f.at)} for f in flushes]

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
