"""The per-encounter summary: the engine's findings on a record, stored when the record changes.

The board and the live checklist show, for each open encounter, what the engine finds on its
record. Deriving that costs the bridge (six reads, one statement on PostgreSQL, and the record
built in Python) and an engine run per encounter; the board did it for every encounter in
progress on every load. Here it is derived once per change and stored (`EncounterSummary`),
so a GET reads one row.

Who keeps it right:
- Every charting service (mar/services/charting.py) is wrapped in `refreshes_summary`, inside its
  transaction: after the change, the summary is recomputed from the record as it now stands and
  stored in the same transaction (the record the service's own engine check read is reused).
  A test walks every public service of mar/services/charting.py and checks it refreshes (tests/mar/
  test_summary.py), and one compares the stored summary with a fresh one after each service.
- Changes made elsewhere that alter records (a pharmacist's class decision, an order entered)
  call `summary_invalidate`; the reader then recomputes.
- The engine's findings depend on the clock in a few places (a time in the future; an infusion
  running over 24 hours without a pump; an infusion still running counts until now). They change
  only when the clock passes one of the record's own times, or 24 h after a pumpless infusion's
  start: the earliest such moment after the computation is stored as `valid_until`, and a reader
  at or past it recomputes.
- A reader that recomputes (missing, expired or invalidated row) stores its result only if the
  row is still as it found it (insert if absent, or update if unchanged since read), so it never
  overwrites what a concurrent change stored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from coding.engine import Finding, Record, RecordError, Result, code_record, parse_record
from coding.engine.timing import MAX_HOURS_WITHOUT_PUMP
from mar import chart_reads as reads
from mar.models import Encounter, EncounterSummary
from mar.record import record_dict_from_encounter, record_dicts_from_encounters

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class _Read:
    """The record a service read (and the engine's result on it, at `now`), for the refresh."""

    encounter_id: int
    document: dict[str, Any]
    result: Result | None = None
    now: datetime | None = None


_last_read: ContextVar[_Read | None] = ContextVar("mar_summary_last_read", default=None)


def record_read(encounter_id: int, document: dict[str, Any]) -> None:
    """A service read the record to check it: the refresh may reuse it (nothing may change the
    record after this call in that service, other than through another read)."""
    _last_read.set(_Read(encounter_id, document))


def result_computed(encounter_id: int, result: Result, now: datetime) -> None:
    """The engine's result on the record last read, at `now`."""
    read = _last_read.get()
    if read is not None and read.encounter_id == encounter_id:
        read.result, read.now = result, now


@dataclass
class Written:
    """The record as the last change of a request left it, and the engine's result on it (what
    its summary was computed from): the htmx answer to that change shows it without reading the
    record or running the engine again (issue 19). `record` is None when the record cannot be
    read (`summary.record_error` says why)."""

    summary: EncounterSummary
    record: Record | None
    result: Result | None
    # The findings stored before this request's first change (None: no summary was stored): the
    # answer resends every card whose own list of findings the change altered.
    before: list[dict[str, Any]] | None = None

    def usable(self, now: datetime) -> bool:
        """Still what the engine would say at `now` (its findings have not aged)."""
        return is_fresh(self.summary, now)


_written: ContextVar[dict[int, Written] | None] = ContextVar("mar_summary_written", default=None)


@contextmanager
def written_kept() -> Iterator[dict[int, Written]]:
    """Within this block, each summary refresh keeps what it computed, by encounter (the last
    refresh of an encounter wins). A view wraps its change in it and answers from what it kept;
    nothing is kept outside such a block."""
    kept: dict[int, Written] = {}
    token = _written.set(kept)
    try:
        yield kept
    finally:
        _written.reset(token)


def findings_of(summary: EncounterSummary) -> tuple[Finding, ...]:
    return tuple(
        Finding(f["rule"], f["severity"], f["message"], tuple(f["administrations"]), f.get("field"))
        for f in summary.findings
    )


def is_fresh(summary: EncounterSummary, now: datetime) -> bool:
    return summary.valid_until is None or now < summary.valid_until


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _times(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if _TIME.match(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _times(item)
    elif isinstance(value, list):
        for item in value:
            yield from _times(item)


def valid_until(document: dict[str, Any], now: datetime) -> datetime | None:
    """The first moment at or after `now` when the engine's findings on this record may change
    by the clock alone: any time of the record still ahead, or 24 h after the start of an
    infusion running without a pump (DOC-3). None: nothing ahead."""
    moments = []
    for text in _times(document):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            continue  # the engine reports it as a record error, which does not age
        if moment.utcoffset() is not None:
            moments.append(moment)
    for adm in document.get("administrations") or ():
        if isinstance(adm, dict) and not adm.get("stop") and not adm.get("pump"):
            try:
                start = datetime.fromisoformat(adm["start"])
            except (KeyError, TypeError, ValueError):
                continue
            if start.utcoffset() is not None:
                moments.append(start + timedelta(hours=MAX_HOURS_WITHOUT_PUMP))
    ahead = [m for m in moments if m >= now]
    return min(ahead) if ahead else None


def summary_compute(
    encounter_id: int,
    document: dict[str, Any],
    now: datetime,
    result: Result | None = None,
    *,
    signed_at: datetime | None = None,
) -> EncounterSummary:
    """The summary of one record at `now` (not stored); `signed_at`: see `_computed`."""
    return _computed(encounter_id, document, now, result, signed_at=signed_at).summary


def signed_moment(encounter: Encounter) -> datetime | None:
    """When the record was signed (None: it is still being charted)."""
    return encounter.signed_at if encounter.is_signed else None


def _computed(
    encounter_id: int,
    document: dict[str, Any],
    now: datetime,
    result: Result | None = None,
    *,
    record_needed: bool = False,
    signed_at: datetime | None = None,
) -> Written:
    """`signed_at` (a signed record): the record is judged as the signature judged it, at the
    moment of signing: an infusion with no stop is a stop missing (RAC-7, acknowledged at the
    signature), never "running", and no finding ages with the clock (no `valid_until`)."""
    record = None
    if signed_at is not None:
        result = None  # a result computed at the bedside judged it as running
    if result is None or record_needed:
        try:
            record = parse_record(document)
        except RecordError as exc:
            summary = EncounterSummary(
                encounter_id=encounter_id,
                computed_at=now,
                valid_until=None,
                record_error=f"{exc.field}: {exc.message}",
                findings=[],
            )
            return Written(summary, None, None)
        if result is None:
            if signed_at is not None:
                result = code_record(record, now=signed_at, signing=True)
            else:
                result = code_record(record, now=now)
    summary = EncounterSummary(
        encounter_id=encounter_id,
        computed_at=now,
        valid_until=None if signed_at is not None else valid_until(document, now),
        record_error="",
        findings=[f.to_json() for f in result.findings],
    )
    return Written(summary, record, result)


_FIELDS = ["computed_at", "valid_until", "record_error", "findings"]


def summary_evaluate(*, encounter: Encounter, now: datetime) -> Written:
    """The record as it stands, read and coded at `now` (the chart's view of it). Its summary is
    stored where none is yet (a record charted before summaries, or imported), so the next
    change's answer knows which cards' findings it altered (`Written.before`). An encounter
    read with `summary_stored` annotated (the chart page's read) skips that insert when its
    summary is there (a write, and its transaction, on every page load otherwise)."""
    written = _computed(
        encounter.pk,
        record_dict_from_encounter(encounter),
        now,
        record_needed=True,
        signed_at=signed_moment(encounter),
    )
    if not getattr(encounter, "summary_stored", False):
        EncounterSummary.objects.bulk_create([written.summary], ignore_conflicts=True)
    return written


def summary_refresh(*, encounter: Encounter, now: datetime | None = None) -> EncounterSummary:
    """Recompute and store the summary (call inside the transaction of the change)."""
    read = _last_read.get()
    if read is not None and read.encounter_id != encounter.pk:
        read = None
    now = now or (read.now if read is not None else None) or timezone.now()
    kept = _written.get()
    signed_at = signed_moment(encounter)
    if read is not None:
        result = read.result if read.now == now else None
        written = _computed(
            encounter.pk,
            read.document,
            now,
            result,
            record_needed=kept is not None,
            signed_at=signed_at,
        )
    else:
        written = _computed(
            encounter.pk, record_dict_from_encounter(encounter), now, signed_at=signed_at
        )
    summary = written.summary
    if kept is not None:
        # What the chart showed before: the summary as this request found it (read once, at
        # its first change of this encounter, before storing the new one).
        earlier = kept.get(encounter.pk)
        kept[encounter.pk] = written
        if earlier is not None:
            written.before = earlier.before
        elif connection.vendor == "postgresql":
            written.before = _stored_returning_before(summary)
            return summary
        else:
            written.before = (
                EncounterSummary.objects.filter(encounter_id=encounter.pk)
                .values_list("findings", flat=True)
                .first()
            )
    EncounterSummary.objects.bulk_create(
        [summary], update_conflicts=True, unique_fields=["encounter"], update_fields=_FIELDS
    )
    return summary


def _stored_returning_before(summary: EncounterSummary) -> list[Any] | None:
    """Store `summary` as the encounter's (insert or update, as `bulk_create` above does) and
    return the findings stored before it (None: none was), in one statement: the statement's
    snapshot is taken before its insert, so its first part reads the row as it was (issue 19:
    one round trip fewer a change)."""
    meta = EncounterSummary._meta
    columns = ", ".join(f'"{name}"' for name in _FIELDS)
    updates = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in _FIELDS)
    values = [
        meta.get_field(name).get_db_prep_value(getattr(summary, name), connection)
        for name in _FIELDS
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f'WITH before AS (SELECT "findings" FROM "{meta.db_table}" WHERE "encounter_id" = %s) '
            f'INSERT INTO "{meta.db_table}" ("encounter_id", {columns}) '
            f"VALUES (%s{', %s' * len(_FIELDS)}) "
            f'ON CONFLICT ("encounter_id") DO UPDATE SET {updates} '
            'RETURNING (SELECT "findings" FROM before)',
            [summary.encounter_id, summary.encounter_id, *values],
        )
        (before,) = cursor.fetchone()
    if isinstance(before, str | bytes):
        before = json.loads(before)
    return before  # type: ignore[no-any-return]


EXPIRED = datetime(2000, 1, 1, tzinfo=UTC)


def summary_invalidate(*, encounter_ids: Iterable[int] = (), drug_id: int | None = None) -> None:
    """The records of these encounters changed outside the charting services (an order entered,
    a class overridden), or a drug's name or class changed (`drug_id`: every encounter that
    orders or gives it): their summaries are marked expired (call it in the change's
    transaction), and the next reader recomputes them.

    Marked rather than deleted: a reader that read the record before this change commits cannot
    then store its summary (it only inserts where no row is, or updates the row it saw)."""
    now = timezone.now()
    marks = [
        EncounterSummary(encounter_id=pk, computed_at=now, valid_until=EXPIRED, findings=[])
        for pk in set(encounter_ids)
    ]
    if marks:
        EncounterSummary.objects.bulk_create(
            marks, update_conflicts=True, unique_fields=["encounter"], update_fields=_FIELDS
        )
    if drug_id is not None:
        EncounterSummary.objects.filter(
            Q(encounter__orders__drug_id=drug_id) | Q(encounter__administrations__drug_id=drug_id)
        ).update(computed_at=now, valid_until=EXPIRED)


def _store_if_unchanged(
    computed: list[EncounterSummary], seen: dict[int, EncounterSummary]
) -> None:
    """Store what a reader recomputed, unless a change stored a summary meanwhile."""
    missing = [s for s in computed if s.encounter_id not in seen]
    if missing:
        EncounterSummary.objects.bulk_create(missing, ignore_conflicts=True)
    for summary in computed:
        old = seen.get(summary.encounter_id)
        if old is not None:
            EncounterSummary.objects.filter(
                encounter_id=summary.encounter_id, computed_at=old.computed_at
            ).update(**{name: getattr(summary, name) for name in _FIELDS})


def summaries_for(
    encounters: Iterable[Encounter],
    *,
    now: datetime | None = None,
    stored: list[EncounterSummary] | None = None,
) -> dict[int, EncounterSummary]:
    """The current summary of each encounter: one query, plus the bulk bridge (six reads in one
    statement) and an engine run for each one missing or expired (none once every change has
    stored its own)."""
    now = now or timezone.now()
    encounters = list(encounters)
    if stored is None:  # else read already, with its encounter (`stored_summary`)
        if len(encounters) == 1:  # the chart's, the checklist's: its SQL compiled once
            stored = reads.summary(encounters[0].pk)
        else:  # the board's page: as many as it shows
            ids = [e.pk for e in encounters]
            stored = list(EncounterSummary.objects.filter(encounter_id__in=ids))
    seen = {s.encounter_id: s for s in stored}
    stale = [e for e in encounters if e.pk not in seen or not is_fresh(seen[e.pk], now)]
    found = {pk: s for pk, s in seen.items() if is_fresh(s, now)}
    if stale:
        documents = record_dicts_from_encounters(stale)
        computed = [
            summary_compute(e.pk, documents[e.pk], now, signed_at=signed_moment(e)) for e in stale
        ]
        _store_if_unchanged(computed, seen)
        found.update((s.encounter_id, s) for s in computed)
    return found


def summary_for(
    encounter: Encounter,
    *,
    now: datetime | None = None,
    stored: list[EncounterSummary] | None = None,
) -> EncounterSummary:
    """The encounter's current summary; `stored`: what is stored, as read with the encounter
    ([] for none), not read again (a stale or missing one is computed as always)."""
    return summaries_for([encounter], now=now, stored=stored)[encounter.pk]


def _encounter_of(kwargs: dict[str, Any], out: object) -> Encounter:
    if isinstance(out, Encounter):
        return out  # as the service left it (signed by encounter_sign, say)
    for name in ("encounter", "site", "flush", "order", "administration", "pause", "rate_change"):
        value = kwargs.get(name)
        if value is None:
            continue
        if name == "encounter":
            return value  # type: ignore[no-any-return]
        if name in ("pause", "rate_change"):
            return value.administration.encounter  # type: ignore[no-any-return]
        return value.encounter  # type: ignore[no-any-return]
    encounter = getattr(out, "encounter", None)
    if isinstance(encounter, Encounter):
        return encounter
    raise TypeError("refreshes_summary: the service names no encounter")


def refreshes_summary(service: Callable[P, T]) -> Callable[P, T]:
    """Wrap a charting service (inside its @transaction.atomic): after it changed the record,
    store the record's summary in the same transaction."""

    @functools.wraps(service)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        token = _last_read.set(None)
        try:
            out = service(*args, **kwargs)
            now = kwargs.get("now")
            summary_refresh(
                encounter=_encounter_of(kwargs, out),
                now=now if isinstance(now, datetime) else None,
            )
            return out
        finally:
            _last_read.reset(token)

    wrapper.refreshes_summary = True  # type: ignore[attr-defined]
    return wrapper
