"""Reading an `infusion-record/1` document into a `Record` (record-format.md).

Every problem is a `RecordError` naming the field (`administrations[2].stop`) and what is wrong, so
the command line can exit 2 with a message and never a traceback. Times without an offset are local
to the encounter's zone; a local time that is ambiguous or skipped at a DST change is an input
error, because the minutes it implies cannot be known.

Lists are put in a canonical order here (by time, then id), so nothing downstream depends on the
order in which the input listed them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .record import (
    DISPOSITIONS,
    DRUG_CLASSES,
    METHODS,
    POLICY_CHOICES,
    POLICY_MAX_MINUTES,
    POLICY_MINUTES_MIN,
    PURPOSES,
    ROUTES,
    SETTINGS,
    SITE_KINDS,
    Administration,
    Dose,
    Encounter,
    Flush,
    Order,
    Pause,
    Policy,
    RateEvent,
    Record,
    Site,
)

FORMAT = "infusion-record/1"
MAX_NUMBER = 1e9  # doses and planned hours: far above anything real, far below float trouble
FIRST_YEAR, LAST_YEAR = 1900, 2200  # times outside this range are typing errors, not care

T = TypeVar("T")


class RecordError(ValueError):
    """The document is not a valid record; `field` names where, `message` says what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def zone_named(name: object, field: str = "encounter.timezone") -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise RecordError(field, "must be an IANA time zone name such as America/New_York")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecordError(field, f"unknown time zone {name!r}") from None


# Every real zone changes its offset on a quarter hour, so a wall-clock quarter hour has one
# answer: its offset, or the reason it has none. Caching it keeps DST checks off the hot path.
_OFFSETS: dict[tuple[str, int, int, int, int, int], timezone | str] = {}
_OFFSET_CACHE_LIMIT = 50_000
# One tzinfo object per offset: datetimes sharing a tzinfo compare without asking it for offsets.
_FIXED: dict[timedelta, timezone] = {}


def _offset(naive: datetime, zone: ZoneInfo) -> timezone | str:
    key = (zone.key, naive.year, naive.month, naive.day, naive.hour, naive.minute // 15)
    found = _OFFSETS.get(key)
    if found is None:
        early = naive.replace(tzinfo=zone, fold=0)
        late = naive.replace(tzinfo=zone, fold=1)
        offset = early.utcoffset()
        if offset is not None and offset == late.utcoffset():
            found = _FIXED.setdefault(offset, timezone(offset))
        elif early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            found = "does not exist in {zone} (clocks went forward)"
        else:
            found = "happens twice in {zone} (clocks went back): give the UTC offset"
        if len(_OFFSETS) >= _OFFSET_CACHE_LIMIT:
            _OFFSETS.clear()
        _OFFSETS[key] = found
    return found


def local_time(naive: datetime, zone: ZoneInfo, field: str) -> datetime:
    """Attach `zone` to a wall-clock time, refusing times a DST change makes ambiguous or skips.

    The result carries the fixed UTC offset in force at that moment (the instant is exact).
    """
    offset = _offset(naive, zone)
    if isinstance(offset, str):
        raise RecordError(field, f"{naive.isoformat()} " + offset.format(zone=zone.key))
    # combine() rather than replace(tzinfo=...): the same instant, without keyword parsing, at a
    # quarter of the cost (fold is 0 either way: the time is unambiguous).
    return datetime.combine(naive, naive.time(), offset)


# A bedside system writes the same minute many times (a stop, the next start, a flush), so a
# time read once is kept: the same text in the same zone is the same instant. One dict per zone,
# so a lookup is by the text alone.
_TIMES: dict[str, dict[str, datetime]] = {}
_TIME_CACHE_LIMIT = 100_000


def _times_in(zone: ZoneInfo) -> dict[str, datetime]:
    times = _TIMES.get(zone.key)
    if times is None:
        times = _TIMES[zone.key] = {}
    return times


def parse_time(value: object, zone: ZoneInfo, field: str) -> datetime:
    if type(value) is str:
        times = _times_in(zone)
        found = times.get(value)
        if found is None:
            found = _parse_time(value, zone, field)
            if len(times) >= _TIME_CACHE_LIMIT:
                times.clear()
            times[value] = found
        return found
    return _parse_time(value, zone, field)


def _parse_time(value: object, zone: ZoneInfo, field: str) -> datetime:
    if not isinstance(value, str):
        raise RecordError(field, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(field, f"{value!r} is not an ISO 8601 date-time") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise RecordError(field, f"{value!r} is not a date between {FIRST_YEAR} and {LAST_YEAR}")
    if parsed.tzinfo is None:
        return local_time(parsed, zone, field)
    return _with_shared_offset(parsed)


def _with_shared_offset(moment: datetime) -> datetime:
    """The same instant with the one tzinfo object of its UTC offset (`_FIXED`). A time written
    with its offset (as the database bridge writes every time) gets a new tzinfo object from
    `fromisoformat`, and comparing datetimes with different tzinfo objects asks both for their
    offsets: eight times slower than comparing two that share one."""
    offset = moment.utcoffset()
    assert offset is not None
    fixed = _FIXED.get(offset)
    if fixed is None:
        fixed = _FIXED[offset] = timezone(offset)
    if moment.tzinfo is fixed:
        return moment
    return datetime.combine(moment, moment.time(), fixed)


class _Reader:
    """Field-path bookkeeping for one document."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.times = _times_in(zone)  # parse_time's cache for this zone

    @staticmethod
    def mapping(value: object, field: str) -> Mapping[str, Any]:
        if type(value) is dict:  # the usual case, without the abstract-class check
            return value
        if not isinstance(value, Mapping):
            raise RecordError(field, "must be an object")
        return value

    @staticmethod
    def items(value: object, field: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise RecordError(field, "must be a list")
        return value

    @staticmethod
    def text(obj: Mapping[str, Any], key: str, field: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if type(value) is str and value.strip():  # the usual case, first
            return value
        if value is None or (isinstance(value, str) and not value.strip() and not required):
            if required:
                raise RecordError(f"{field}.{key}", "is required")
            return None
        if not isinstance(value, str):
            raise RecordError(f"{field}.{key}", "must be text")
        if required and not value.strip():
            raise RecordError(f"{field}.{key}", "must not be empty")
        return value

    def entries(self, value: object, field: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Each object of the list `value` (absent: none) with its own field path, `field[i]`."""
        for i, entry in enumerate(self.items(value, field)):
            entry_field = f"{field}[{i}]"
            yield entry_field, self.mapping(entry, entry_field)

    def required_time(self, obj: Mapping[str, Any], key: str, field: str) -> datetime:
        value = self.time(obj, key, field)
        if value is None:
            raise RecordError(f"{field}.{key}", "is required")
        return value

    def required_text(self, obj: Mapping[str, Any], key: str, field: str) -> str:
        value = self.text(obj, key, field, required=True)
        assert value is not None
        return value

    @staticmethod
    def choice(
        obj: Mapping[str, Any],
        key: str,
        field: str,
        choices: tuple[T, ...],
        default: T | None = None,
    ) -> T | None:
        value = obj.get(key)
        if value is None:
            return default
        if type(value) is str and value in choices:  # the usual case: one of the words
            return value
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
        allowed = ", ".join(str(c) for c in choices)
        raise RecordError(f"{field}.{key}", f"{value!r} is not one of: {allowed}")

    def time(self, obj: Mapping[str, Any], key: str, field: str) -> datetime | None:
        value = obj.get(key)
        if value is None:
            return None
        if type(value) is str:  # the usual case: a time read before, by its text
            found = self.times.get(value)
            if found is not None:
                return found
        return parse_time(value, self.zone, f"{field}.{key}")

    @staticmethod
    def integer(
        obj: Mapping[str, Any], key: str, field: str, *, minimum: int, maximum: int = 100_000
    ) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(f"{field}.{key}", "must be a whole number")
        if value < minimum:
            raise RecordError(f"{field}.{key}", f"must be at least {minimum}")
        if value > maximum:
            raise RecordError(f"{field}.{key}", f"must be at most {maximum}")
        return value

    @staticmethod
    def number(obj: Mapping[str, Any], key: str, field: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError(f"{field}.{key}", "must be a number")
        if not -MAX_NUMBER < value < MAX_NUMBER or not math.isfinite(value):
            raise RecordError(f"{field}.{key}", f"must be a number below {MAX_NUMBER:g}")
        if value <= 0:
            raise RecordError(f"{field}.{key}", "must be more than zero")
        return float(value)


def parse_record(data: object) -> Record:
    """Validate an `infusion-record/1` document and return the typed record."""
    if not isinstance(data, Mapping):
        raise RecordError("record", "must be a JSON object")
    if data.get("format", FORMAT) != FORMAT:
        raise RecordError("format", f"must be {FORMAT!r}")
    raw_encounter = _Reader.mapping(data.get("encounter"), "encounter")
    zone = zone_named(raw_encounter.get("timezone"))
    reader = _Reader(zone)
    encounter = _encounter(reader, raw_encounter, zone)
    sites = [
        _site(reader, raw, f"sites[{i}]")
        for i, raw in enumerate(reader.items(data.get("sites"), "sites"))
    ]
    orders = [
        _order(reader, raw, f"orders[{i}]")
        for i, raw in enumerate(reader.items(data.get("orders"), "orders"))
    ]
    administrations = [
        _administration(reader, raw, f"administrations[{i}]")
        for i, raw in enumerate(reader.items(data.get("administrations"), "administrations"))
    ]
    flushes = [
        _flush(reader, raw, f"flushes[{i}]")
        for i, raw in enumerate(reader.items(data.get("flushes"), "flushes"))
    ]
    site_ids = _check_unique("sites", [s.id for s in sites])
    order_ids = _check_unique("orders", [o.id for o in orders])
    _check_unique("administrations", [a.id for a in administrations])
    for i, adm in enumerate(administrations):
        if adm.site is not None and adm.site not in site_ids:
            raise RecordError(f"administrations[{i}].site", f"no site with id {adm.site!r}")
        if adm.order is not None and adm.order not in order_ids:
            raise RecordError(f"administrations[{i}].order", f"no order with id {adm.order!r}")
    for i, flush in enumerate(flushes):
        if flush.site is not None and flush.site not in site_ids:
            raise RecordError(f"flushes[{i}].site", f"no site with id {flush.site!r}")
    if len(sites) > 1:
        sites.sort(key=_by_id)
    if len(orders) > 1:
        orders.sort(key=_by_id)
    if len(administrations) > 1:
        administrations.sort(key=_by_start_and_id)
    if len(flushes) > 1:
        flushes.sort(key=_by_time_and_site)
    policy = data.get("policy")
    return Record(
        encounter,
        tuple(sites),
        tuple(orders),
        tuple(administrations),
        tuple(flushes),
        DEFAULT_POLICY if policy is None else _policy(reader, policy),
    )


# The canonical order of the record's lists (sorting is stable: equal keys keep the input order).
def _by_id(item: Site | Order) -> str:
    return item.id


def _by_start_and_id(adm: Administration) -> tuple[datetime, str]:
    return (adm.start, adm.id)


def _by_time_and_site(flush: Flush) -> tuple[datetime, str]:
    return (flush.at, flush.site or "")


def _by_start(pause: Pause) -> datetime:
    return pause.start


def _by_moment(event: RateEvent) -> datetime:
    return event.at


DEFAULT_POLICY = Policy()  # frozen: one instance serves every record without a policy


def _check_unique(field: str, ids: list[str]) -> set[str]:
    """The ids, each once; a second use of one is an error naming it."""
    seen = set(ids)
    if len(seen) == len(ids):
        return seen
    seen = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            raise RecordError(f"{field}[{i}].id", f"duplicate id {ident!r}")
        seen.add(ident)
    return seen


def _encounter(reader: _Reader, raw: Mapping[str, Any], zone: ZoneInfo) -> Encounter:
    field = "encounter"
    date_of_service: date | None = None
    if raw.get("date_of_service") is not None:
        value = raw["date_of_service"]
        try:
            date_of_service = date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            date_of_service = None
        if date_of_service is None:
            raise RecordError("encounter.date_of_service", "must be a date such as 2026-03-02")
    emergency = raw.get("emergency_department", False)
    if not isinstance(emergency, bool):
        raise RecordError("encounter.emergency_department", "must be true or false")
    return Encounter(
        id=reader.required_text(raw, "id", field),
        timezone=zone.key,
        setting=reader.choice(raw, "setting", field, SETTINGS, "facility") or "facility",
        date_of_service=date_of_service,
        arrived_at=reader.time(raw, "arrived_at", field),
        observation_at=reader.time(raw, "observation_at", field),
        sequence_of_day=reader.integer(raw, "sequence_of_day", field, minimum=1) or 1,
        emergency_department=emergency,
        signed_at=reader.time(raw, "signed_at", field),
        account_number=(reader.text(raw, "account_number", field) or "").strip() or None,
    )


def _site(reader: _Reader, value: object, field: str) -> Site:
    raw = value if type(value) is dict else reader.mapping(value, field)
    get = raw.get
    kind = get("kind")
    if not (type(kind) is str and kind in SITE_KINDS):
        kind = reader.choice(raw, "kind", field, SITE_KINDS)
        if kind is None:
            raise RecordError(f"{field}.kind", "is required")
    ident = get("id")
    if not (type(ident) is str and ident.strip()):
        ident = reader.required_text(raw, "id", field)
    location = get("location")
    if not (type(location) is str and location.strip()):
        location = reader.text(raw, "location", field) or ""
    reason = get("separate_site_reason")
    if reason is not None and not (type(reason) is str and reason.strip()):
        reason = reader.text(raw, "separate_site_reason", field)
    return Site(ident, kind, location, reason)


def _order(reader: _Reader, value: object, field: str) -> Order:
    raw = value if type(value) is dict else reader.mapping(value, field)
    get = raw.get
    ident = get("id")
    if not (type(ident) is str and ident.strip()):
        ident = reader.required_text(raw, "id", field)
    drug = get("drug")
    if not (type(drug) is str and drug.strip()):
        drug = reader.required_text(raw, "drug", field)
    dose = get("dose")
    if dose is not None and not (type(dose) is str and dose.strip()):
        dose = reader.text(raw, "dose", field)
    route = get("route")
    if route is not None and not (type(route) is str and route.strip()):
        route = reader.text(raw, "route", field)
    indication = get("indication")
    if indication is not None and not (type(indication) is str and indication.strip()):
        indication = reader.text(raw, "indication", field)
    purpose: Any = get("purpose")
    if purpose is not None and not (type(purpose) is str and purpose == "hydration"):
        purpose = reader.choice(raw, "purpose", field, ("hydration",))
    duration = get("duration_minutes")
    if duration is not None:
        duration = reader.integer(raw, "duration_minutes", field, minimum=1)
    disposition = get("disposition")
    if disposition is not None and not (type(disposition) is str and disposition in DISPOSITIONS):
        disposition = reader.choice(raw, "disposition", field, DISPOSITIONS)
    reason = get("disposition_reason")
    if reason is not None and not (type(reason) is str and reason.strip()):
        reason = reader.text(raw, "disposition_reason", field)
    return Order(ident, drug, dose, route, indication, purpose, duration, disposition, reason)


def _administration(reader: _Reader, value: object, field: str) -> Administration:
    """The usual case of each field (absent, or a plain valid value) is taken inline; anything
    else goes to the reader's checks, in the order the fields are listed here, so the first
    problem reported is always the same one."""
    raw = value if type(value) is dict else reader.mapping(value, field)
    if "drug_class" not in raw:
        raise RecordError(f"{field}.drug_class", "is required (null when not yet tagged)")
    get = raw.get
    route = get("route")
    if not (type(route) is str and route in ROUTES):
        route = reader.choice(raw, "route", field, ROUTES)
    method = get("method")
    if not (type(method) is str and method in METHODS):
        method = reader.choice(raw, "method", field, METHODS)
    times = reader.times  # a time read before is found by its text, without a call
    start = get("start")
    start = times.get(start) if type(start) is str else None
    if start is None:
        start = reader.time(raw, "start", field)
    if route is None:
        raise RecordError(f"{field}.route", "is required")
    if method is None:
        raise RecordError(f"{field}.method", "is required")
    if start is None:
        raise RecordError(f"{field}.start", "is required")
    pauses: list[Pause] = []
    raw_pauses = get("pauses")
    if raw_pauses is not None:  # most have none: no generator made for them
        pauses = [
            Pause(reader.required_time(pause, "start", where), reader.time(pause, "end", where))
            for where, pause in reader.entries(raw_pauses, f"{field}.pauses")
        ]
    rates: list[RateEvent] = []
    raw_rates = get("rates")
    if raw_rates is not None:
        for where, rate in reader.entries(raw_rates, f"{field}.rates"):
            rate_at = reader.required_time(rate, "at", where)
            ml_h = reader.number(rate, "ml_h", where)
            if ml_h is None:
                raise RecordError(f"{where}.ml_h", "is required")
            rates.append(RateEvent(rate_at, ml_h))
    primary = get("primary")
    if primary is not None and not isinstance(primary, bool):
        raise RecordError(f"{field}.primary", "must be true or false")
    site = get("site")
    order = get("order")
    if site is not None and not isinstance(site, str):
        raise RecordError(f"{field}.site", "must be an id (text) or null")
    if order is not None and not isinstance(order, str):
        raise RecordError(f"{field}.order", "must be an id (text) or null")
    ident = get("id")
    if not (type(ident) is str and ident.strip()):
        ident = reader.required_text(raw, "id", field)
    drug = get("drug")
    if not (type(drug) is str and drug.strip()):
        drug = reader.required_text(raw, "drug", field)
    drug_class = get("drug_class")
    if drug_class is not None and not (type(drug_class) is str and drug_class in DRUG_CLASSES):
        drug_class = reader.choice(raw, "drug_class", field, DRUG_CLASSES)
    stop = get("stop")
    if stop is not None:
        stop = times.get(stop) if type(stop) is str else None
        if stop is None:
            stop = reader.time(raw, "stop", field)
    purpose = get("purpose")
    if purpose is not None and not (type(purpose) is str and purpose in PURPOSES):
        purpose = reader.choice(raw, "purpose", field, PURPOSES)
    bag = get("bag")
    if bag is not None and not (type(bag) is str and bag.strip()):
        bag = reader.text(raw, "bag", field)
    started_by: Any = get("started_by")
    if started_by is None:
        started_by = "facility"
    elif not (type(started_by) is str and started_by in STARTED_BY):
        started_by = reader.choice(raw, "started_by", field, STARTED_BY, "facility") or "facility"
    lesions = get("lesions")
    if lesions is not None:
        lesions = reader.integer(raw, "lesions", field, minimum=1)
    pump = get("pump")
    if pump is not None and not (type(pump) is str and pump in PUMPS):
        pump = reader.choice(raw, "pump", field, PUMPS)
    planned_hours = get("planned_hours")
    if planned_hours is not None:
        planned_hours = reader.number(raw, "planned_hours", field)
    dose = get("dose")
    if dose is not None:
        dose = _dose(reader, dose, f"{field}.dose")
    hcpcs = get("hcpcs")
    if hcpcs is not None and not (type(hcpcs) is str and hcpcs.strip()):
        hcpcs = reader.text(raw, "hcpcs", field)
    billing_unit = get("billing_unit")
    if billing_unit is not None:
        billing_unit = _dose(reader, billing_unit, f"{field}.billing_unit")
    volume_infused_ml = get("volume_infused_ml")
    if volume_infused_ml is not None:
        volume_infused_ml = reader.number(raw, "volume_infused_ml", field)
    bag_volume_ml = get("bag_volume_ml")
    if bag_volume_ml is not None:
        bag_volume_ml = reader.number(raw, "bag_volume_ml", field)
    if len(pauses) > 1:
        pauses.sort(key=_by_start)
    if len(rates) > 1:
        rates.sort(key=_by_moment)
    return Administration(
        ident,
        drug,
        drug_class,
        route,
        method,
        start,
        stop,
        site or None,
        order or None,
        tuple(pauses),
        purpose,
        bag,
        started_by,
        lesions,
        pump,
        planned_hours,
        bool(primary),
        dose,
        hcpcs,
        billing_unit,
        tuple(rates),
        volume_infused_ml,
        bag_volume_ml,
    )


STARTED_BY: tuple[Literal["facility", "ems"], ...] = ("facility", "ems")
PUMPS: tuple[Literal["portable", "implanted"], ...] = ("portable", "implanted")


def _dose(reader: _Reader, value: object, field: str) -> Dose | None:
    if value is None:
        return None
    raw = reader.mapping(value, field)
    amount = reader.number(raw, "value", field)
    if amount is None:
        raise RecordError(f"{field}.value", "is required")
    return Dose(value=amount, unit=reader.required_text(raw, "unit", field))


def _flush(reader: _Reader, value: object, field: str) -> Flush:
    raw = value if type(value) is dict else reader.mapping(value, field)
    at = raw.get("at")
    at = reader.times.get(at) if type(at) is str else None
    if at is None:
        at = reader.required_time(raw, "at", field)
    site = raw.get("site")
    if site is not None and not isinstance(site, str):
        raise RecordError(f"{field}.site", "must be a site id")
    return Flush(site or None, at)


def _policy(reader: _Reader, value: object) -> Policy:
    if value is None:
        return Policy()
    raw = reader.mapping(value, "policy")
    chosen: dict[str, Any] = {}
    for key, choices in POLICY_CHOICES.items():
        if key in raw:
            chosen[key] = reader.choice(raw, key, "policy", choices)
    for key, least in POLICY_MINUTES_MIN.items():
        if key in raw:
            chosen[key] = reader.integer(
                raw, key, "policy", minimum=least, maximum=POLICY_MAX_MINUTES
            )
    unknown = sorted(set(raw) - set(POLICY_CHOICES) - set(POLICY_MINUTES_MIN))
    if unknown:
        raise RecordError(f"policy.{unknown[0]}", "is not a policy key this engine knows")
    return Policy(**{k: v for k, v in chosen.items() if v is not None})
