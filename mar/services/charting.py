"""Charting at the bedside: the state changes of a record, each checked by the engine.

Every change runs in a transaction. Before it commits, the engine reads the record as it now
stands and runs its checks (`check_record`); an input error (DOC-3: stop before start, a pause
outside its administration, a time in the future, more than 24 h without a pump) on the
administration that changed (or on the flush charted: a flush in the future) refuses the
change: the transaction rolls back and `ChartError` carries the engine's messages keyed by the
engine's field name ("stop", "pauses[0].end", "flushes"), for the form to show beside its
fields. Nothing here decides what is plausible: the engine does, so the live checklist, the form
errors and the sign-off never disagree.

Two nurses on one administration: every change names the `version` it was made from; a stale
version raises `StaleVersion` with the saved row, and nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from coding.engine import Finding, Record, RecordError, code_record, parse_record
from coding.engine import Flush as RecordFlush
from coding.engine import check_record as check_record  # the tests ask it as charting does
from mar import chart_reads as reads
from mar import merge
from mar.audit.context import history_context
from mar.clock import date_hhmm, hhmm
from mar.models import (
    ADMINISTRATION_CARD_FIELDS,
    AccessSite,
    Addendum,
    Administration,
    ChartedInError,
    Encounter,
    FindingAcknowledgement,
    Flush,
    Order,
    Pause,
)
from mar.record import (
    administration_record_id,
    record_dict_and_flushes,
    record_dict_from_encounter,
    record_id,
)
from mar.services import signature
from mar.summary import record_read, refreshes_summary, result_computed


class ChartError(Exception):
    """The change was refused; `errors` maps a field (None: the whole form) to messages."""

    def __init__(self, errors: Mapping[str | None, list[str]]) -> None:
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = dict(errors)


class StaleVersion(Exception):
    """Someone saved the administration since this form was loaded; `current` is their version.

    `clashes`: the fields both nurses changed to different values (empty when the version alone
    is known to be stale, e.g. without the history to merge from)."""

    def __init__(
        self,
        current: Administration,
        clashes: frozenset[str] = frozenset(),
        theirs: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(f"{administration_record_id(current.pk)} is at version {current.version}")
        self.current = current
        self.clashes = clashes
        self.theirs = theirs  # changed meanwhile by the other nurse only


class RecordSigned(ChartError):
    """A change made from a page drawn before the record was signed: refused like any change
    to a signed record without an addendum, but the view says so beside what was typed (who
    signed it and when, the change offered as an addendum) instead of drawing the form again on
    a record now read-only (QA walkthrough: a value typed in a second tab vanished)."""

    def __init__(self, encounter: Encounter, errors: Mapping[str | None, list[str]]) -> None:
        super().__init__(errors)
        self.encounter = encounter


class SignBlocked(Exception):
    """Error findings that are neither resolved nor acknowledged with a reason."""

    def __init__(self, open_errors: tuple[Finding, ...]) -> None:
        n = len(open_errors)
        super().__init__(f"{n} error finding{'' if n == 1 else 's'} open")
        self.open_errors = open_errors


# A date before a time in a finding's message ("(2025-12-08 00:10)"): the key reads the time
# alone, so an acknowledgement given when the engine named times without their dates
# ("(00:10)", before bedside finding 2) still answers its finding.
_DATED_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2} (\d{2}:\d{2})\b")
_TIME_ALONE = r"\1"


def _key(rule: str, administrations: str, field: str, message: str) -> str:
    raw = f"{rule}|{administrations}|{field}|{_DATED_TIME.sub(_TIME_ALONE, message)}"
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:12]


def finding_key(finding: Finding) -> str:
    """A short stable name for one finding: rule, administrations, field and message.

    The message is part of it: two findings of one rule on the visit (no administration) can
    name the same field, and each needs its own reason to sign anyway; an acknowledgement
    covers the finding it was given for, and not another with other words.
    """
    administrations = ",".join(finding.administrations)
    return _key(finding.rule, administrations, finding.field or "", finding.message)


def acknowledgement_key(ack: FindingAcknowledgement) -> str:
    """The key of the finding `ack` acknowledged (it keeps the finding's rule, administrations,
    field and message)."""
    return _key(ack.rule, ack.administrations, ack.field, ack.message)


_RECORD_PATH = re.compile(r"^administrations\[\d+\]\.")


def _record_error(exc: RecordError) -> ChartError:
    # "administrations[2].stop" -> "stop": the form is already about that administration.
    return ChartError({_RECORD_PATH.sub("", exc.field): [exc.message]})


def record_checked(encounter: Encounter) -> Record:
    return _record_parsed(encounter, record_dict_from_encounter(encounter))


def _record_parsed(encounter: Encounter, document: dict[str, Any]) -> Record:
    """The record read (`document`), checked readable; kept for the summary's refresh."""
    record_read(encounter.pk, document)  # the summary's refresh reuses it (mar/summary.py)
    try:
        return parse_record(document)
    except RecordError as exc:
        raise _record_error(exc) from exc


def _checked_findings(
    encounter: Encounter, record: Record, now: datetime, *, signing: bool = False
) -> tuple[Finding, ...]:
    """The engine's findings (`check_record`), its result kept for the summary's refresh.

    `signing`: as the signature checks the record (an infusion still running has a stop time
    missing: RAC-7 error); that result is not the bedside's, so it is not kept for the summary.
    """
    result = code_record(record, now=now, signing=signing)
    if not signing:
        result_computed(encounter.pk, result, now)
    return result.findings


_PAUSE_OUTSIDE = re.compile(r"^pauses\[\d+\]$")  # DOC-3: a pause not within start and stop


def _refuse_input_errors(
    encounter: Encounter, administration_id: int | None, now: datetime, *, run_times: bool = False
) -> None:
    """Ask the engine; raise ChartError for DOC-3 errors on the administration that changed.

    `run_times`: the change was to the administration's own start or stop. When one of them is
    wrong (a stop before the start), a pause "not within its start and stop" follows from it and
    is asked again once it is right: only the field to fix is named, not a second alert.
    """
    record = record_checked(encounter)
    if administration_id is None:
        return
    changed = administration_record_id(administration_id)
    errors: dict[str | None, list[str]] = {}
    for finding in _checked_findings(encounter, record, now):
        if (
            finding.rule == "DOC-3"
            and finding.severity == "error"
            and changed in finding.administrations
        ):
            errors.setdefault(finding.field, []).append(finding.message)
    if run_times and errors.keys() & {"start", "stop"}:
        errors = {k: v for k, v in errors.items() if not _PAUSE_OUTSIDE.match(k or "")}
    if errors:
        raise ChartError(errors)


def _is_signed(encounter: Encounter) -> bool:
    """The status as committed, with the row locked: a signature cannot slip in mid-change."""
    # The record's own fields are re-read with the lock too: the record checked (and the
    # summary stored, mar/summary.py) must be the one as committed, not as this request loaded it.
    # A prepared read (its SQL compiled once: every change begins with it, issue 19).
    row = _found(reads.encounter_locked(encounter.pk), Encounter)
    for name in reads.RECORD_FIELDS:
        setattr(encounter, name, getattr(row, name))
    return row.status == Encounter.Status.SIGNED


def _found(rows: list[Any], model: type[Any]) -> Any:
    """The one row a prepared read by primary key found (DoesNotExist, as `.get()`, if none)."""
    if not rows:
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist.")
    return rows[0]


def _signed_change_allowed(
    encounter: Encounter, *, user: AbstractBaseUser | None, addendum_why: str
) -> bool:
    """Whether the record is signed; a signed record changes only as an addendum with a reason."""
    signed = _is_signed(encounter)
    if signed and not (addendum_why.strip() and user is not None):
        raise RecordSigned(
            encounter,
            {"addendum_why": ["This record is signed: changes go through an addendum (say why)."]},
        )
    return signed


def _addendum_for(
    encounter: Encounter, *, user: AbstractBaseUser | None, subject: str, what: list[str], why: str
) -> Addendum:
    """The addendum (what changed, from and to; why; who; when) in the change's transaction."""
    if not what:
        # Pressed Save after the card's autosave wrote the addendum (the field changed with the
        # reason already typed): say it is saved, not something that reads as a failure.
        earlier = (
            Addendum.objects.filter(
                encounter=encounter, author=user, what__startswith=f"{subject}: "
            )
            .order_by("-at", "-pk")
            .first()
        )
        if earlier is not None:
            at = timezone.localtime(earlier.at, encounter.zone)
            raise ChartError(
                {
                    None: [
                        f"Already saved: your addendum of {at:%H:%M} has this; nothing more "
                        "changed since, so no new addendum is written."
                    ]
                }
            )
        raise ChartError({None: ["Nothing changed: no addendum written."]})
    assert user is not None
    what_changed = f"{subject}: " + "; ".join(what)
    return signature.addendum_store(encounter=encounter, user=user, what=what_changed, why=why)


def signed_change_allowed(
    encounter: Encounter, *, user: AbstractBaseUser | None, addendum_why: str
) -> bool:
    """For the other charting services (`services/rates.py`): whether the record is signed (the
    encounter's row locked), refused beside `addendum_why` when it is and no reason was given;
    a reason over the limit refused beside it too."""
    _text_limit(addendum_why=addendum_why)
    return _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)


def signed_change_addendum(
    encounter: Encounter, *, user: AbstractBaseUser | None, subject: str, what: list[str], why: str
) -> Addendum:
    """The addendum of a change made after `signed_change_allowed` said the record is signed,
    in the change's transaction (the charges owed again after commit)."""
    return _addendum_for(encounter, user=user, subject=subject, what=what, why=why)


SIGNED_REFUSAL = "This record is signed: changes go through an addendum."


def _require_in_progress(encounter: Encounter) -> None:
    if _is_signed(encounter):
        raise RecordSigned(encounter, {None: [SIGNED_REFUSAL]})


def _locked(administration: Administration, version: int) -> Administration:
    # Its encounter (locked already, `_is_signed`) read in the same statement: the record
    # checked after the change is read through it, without a read of its own.
    current: Administration = _found(reads.administration_locked(administration.pk), Administration)
    if current.version != version:
        raise StaleVersion(current)
    return current


def _bump(administration: Administration, changed: Sequence[str] | None = None) -> None:
    """The administration saved with its version one up; `changed`: the only fields the change
    set (the row is locked, `_locked`: the others are as read), so the update writes those alone
    (its SQL is a few columns' rather than every column's)."""
    administration.version += 1
    if changed is None:
        administration.save()
    else:
        administration.save(update_fields=[*changed, "version", "updated_at"])


# --- access sites and flushes ---------------------------------------------------------------


@transaction.atomic
@refreshes_summary
def site_place(
    *,
    encounter: Encounter,
    kind: str,
    location: str,
    placed_at: datetime,
    separate_site_reason: str = "",
) -> AccessSite:
    _require_in_progress(encounter)
    _text_limit(separate_site_reason=separate_site_reason)
    times_not_in_the_future(zone=encounter.zone, placed_at=placed_at)
    site = AccessSite.objects.create(
        encounter=encounter,
        kind=kind,
        location=location,
        placed_at=placed_at,
        separate_site_reason=separate_site_reason,
    )
    record_checked(encounter)
    return site


def times_not_in_the_future(
    now: datetime | None = None,
    *,
    zone: tzinfo,
    allowance: timedelta = timedelta(0),
    **times: datetime,
) -> None:
    """DOC-3 (nothing in the future) for the times a service keeps that the engine's record does
    not hold (a site's placing and assessments, a rate change, a measure): each one later than
    now (plus `allowance`, a bedside device's clock a little ahead) refused beside its field, in
    one wording (walk19: a site "placed" two hours ahead was kept), naming it and now with their
    dates on the wall clock of `zone` (bedside finding 2: "14:05" alone is ambiguous near
    midnight)."""
    now = now or timezone.now()
    errors = {
        name: [f"This time ({date_hhmm(at, zone)}) is later than now ({date_hhmm(now, zone)})."]
        for name, at in times.items()
        if at > now + allowance
    }
    if errors:
        raise ChartError(errors)


TEXT_LIMIT = 2000  # a free-text reason or note, as the forms limit it (issue 18, item 7)


def _text_limit(**texts: str) -> None:
    """Refuse a reason longer than TEXT_LIMIT beside its field (the forms say so first; this
    holds for every other caller)."""
    errors = {
        name: [f"At most {TEXT_LIMIT:,} characters (this has {len(text):,})."]
        for name, text in texts.items()
        if len(text) > TEXT_LIMIT
    }
    if errors:
        raise ChartError(errors)


def site_details(site: AccessSite) -> dict[str, Any]:
    """The site's fields its details form shows (the merge's base and current values)."""
    return {"location": site.location, "separate_site_reason": site.separate_site_reason}


def encounter_times(encounter: Encounter) -> dict[str, Any]:
    """The encounter's times its form shows (the merge's base and current values)."""
    return {"arrived_at": encounter.arrived_at, "observation_at": encounter.observation_at}


def _merged_save(
    row: AccessSite | Encounter,
    *,
    encounter: Encounter,
    shows: Callable[[Any], dict[str, Any]],
    base: merge.Canonical | None,
    mine: dict[str, Any],
    labels: dict[str, str],
) -> list[str]:
    """A small form's save (mar/merge.py): the row locked and read again, the fields the form
    shows (`shows`: site_details, encounter_times) merged one by one from what it showed
    (`base`), what is stored now and what she typed (`mine`), the result saved (those fields
    only). Returns what changed, for the addendum: "label: before -> after"."""
    stored = type(row).objects.select_for_update().get(pk=row.pk)
    current = shows(stored)
    for name, value in current.items():
        setattr(row, name, value)
    values = merge.merged(base=base, current=current, mine=mine)
    what = [
        f"{labels[name]}: {_shown(before, encounter)} -> {_shown(values[name], encounter)}"
        for name, before in current.items()
        if before != values[name]
    ]
    for name in current:
        setattr(row, name, values[name])
    row.save(update_fields=list(current))
    return what


@transaction.atomic
@refreshes_summary
def site_update(
    *,
    site: AccessSite,
    location: str,
    separate_site_reason: str,
    user: AbstractBaseUser | None = None,
    addendum_why: str = "",
    base: merge.Canonical | None = None,
) -> AccessSite:
    """A site's location and why it was necessary (RAC-4); on a signed record, an addendum.

    `base`: the values the form showed (mar/merge.py); a field another nurse saved meanwhile and
    she left as shown keeps theirs; one changed both ways raises merge.ChangedMeanwhile."""
    encounter = site.encounter
    _text_limit(separate_site_reason=separate_site_reason, addendum_why=addendum_why)
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    what = _merged_save(
        site,
        encounter=encounter,
        shows=site_details,
        base=base,
        mine={"location": location, "separate_site_reason": separate_site_reason},
        labels={"location": "location", "separate_site_reason": "separate site reason"},
    )
    if signed:
        _addendum_for(encounter, user=user, subject=f"S{site.pk}", what=what, why=addendum_why)
    return site


@transaction.atomic
@refreshes_summary
def site_assess(*, site: AccessSite, at: datetime) -> AccessSite:
    """Assessed now, or at a typed time (late entry)."""
    _require_in_progress(site.encounter)
    times_not_in_the_future(zone=site.encounter.zone, at=at)
    site.assessed_at = at
    site.save(update_fields=["assessed_at"])
    return site


def site_running(site: AccessSite) -> list[Administration]:
    """The infusions running on a site now (no stop yet): what discontinuing it would strand."""
    return list(
        Administration.objects.filter(
            site=site, stop__isnull=True, method=Administration.Method.INFUSION
        )
        .select_related("drug")
        .order_by("start", "pk")
    )


def running_names(running: list[Administration]) -> str:
    return ", ".join(f"{adm.drug.name} ({administration_record_id(adm.pk)})" for adm in running)


@transaction.atomic
@refreshes_summary
def site_discontinue(
    *,
    site: AccessSite,
    at: datetime,
    stop_running: bool = False,
    now: datetime | None = None,
) -> list[Administration]:
    """Discontinue a site, now or at a typed time (late entry). An infusion still running on it
    would run on a line that is out: refused unless `stop_running` (the nurse confirmed, having
    been told what runs), which stops each at the same time (its pause, if open, ends then too).
    Returns the infusions stopped."""
    _require_in_progress(site.encounter)
    times_not_in_the_future(now, zone=site.encounter.zone, at=at)
    site = AccessSite.objects.select_for_update().get(pk=site.pk)
    if site.discontinued_at is not None:
        raise ChartError({None: [f"Site S{site.pk} was already discontinued."]})
    running = site_running(site)
    if running and not stop_running:
        raise ChartError(
            {
                "stop_running": [
                    f"{running_names(running)} is running on S{site.pk}: stop it with the "
                    "site, or stop it first."
                ]
            }
        )
    if site.placed_at is not None and at < site.placed_at:
        raise ChartError(
            {
                "at": [
                    f"S{site.pk} was placed at {date_hhmm(site.placed_at, site.encounter.zone)}: "
                    "it cannot be discontinued before that."
                ]
            }
        )
    site.discontinued_at = at
    site.save(update_fields=["discontinued_at"])
    for adm in running:
        current = Administration.objects.select_for_update().get(pk=adm.pk)
        pause = _open_pause(current)
        if pause is not None:
            pause.end = at
            pause.save(update_fields=["end"])
        current.stop = at
        _bump(current)
    if running:
        record = record_checked(site.encounter)
        stopped = {administration_record_id(adm.pk) for adm in running}
        errors = [
            f.message
            for f in _checked_findings(site.encounter, record, now or timezone.now())
            if f.rule == "DOC-3" and f.severity == "error" and stopped & set(f.administrations)
        ]
        if errors:
            raise ChartError({"at": errors})
    return running


@transaction.atomic
@refreshes_summary
def site_reopen(*, site: AccessSite, user: AbstractBaseUser | None = None) -> AccessSite:
    """Undo a discontinue charted by mistake: the site is open again (the audit trail keeps the
    discontinue and the reopening, with who did it). Infusions stopped with it stay stopped."""
    _require_in_progress(site.encounter)
    site = AccessSite.objects.select_for_update().get(pk=site.pk)
    if site.discontinued_at is None:
        raise ChartError({None: [f"Site S{site.pk} is not discontinued."]})
    was = date_hhmm(site.discontinued_at, site.encounter.zone)
    with history_context(action="site_reopen", discontinued_at=was):
        site.discontinued_at = None
        site.save(update_fields=["discontinued_at"])
    return site


@transaction.atomic
@refreshes_summary
def site_placed_correct(
    *,
    site: AccessSite,
    placed_at: datetime,
    was: datetime | None,
    user: AbstractBaseUser | None = None,
    addendum_why: str = "",
) -> AccessSite:
    """Correct when a site was placed. `was` is the placed time the nurse saw: if someone
    changed it meanwhile, nothing is overwritten (ChartError beside the field, naming the time
    saved meanwhile). On a signed record, an addendum with a reason. Audited (the trail keeps
    the time before)."""
    encounter = site.encounter
    _text_limit(addendum_why=addendum_why)
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    current = AccessSite.objects.select_for_update().get(pk=site.pk)
    zone = encounter.zone

    def shown(moment: datetime | None) -> str:
        return date_hhmm(moment, zone) if moment is not None else "(none)"

    def minute(moment: datetime | None) -> datetime | None:
        return moment.replace(second=0, microsecond=0) if moment is not None else None

    if minute(current.placed_at) != minute(was):
        raise ChartError(
            {
                "placed_at": [
                    f"Someone changed the placed time of S{site.pk} meanwhile (now "
                    f"{shown(current.placed_at)}): check it and save again."
                ]
            }
        )
    if minute(current.placed_at) == minute(placed_at):
        return current
    times_not_in_the_future(zone=encounter.zone, placed_at=placed_at)
    if current.discontinued_at is not None and placed_at > current.discontinued_at:
        raise ChartError(
            {
                "placed_at": [
                    f"S{site.pk} was discontinued at {shown(current.discontinued_at)}: "
                    "placed after that cannot be right."
                ]
            }
        )
    first = (
        Administration.objects.filter(site=current)
        .select_related("drug")
        .order_by("start", "pk")
        .first()
    )
    if first is not None and _minute(first.start) < _minute(placed_at):
        raise ChartError(
            {
                "placed_at": [
                    f"{first.drug.name} ({administration_record_id(first.pk)}) started on "
                    f"S{site.pk} at {shown(first.start)}: placed after that cannot be right."
                ]
            }
        )
    before = current.placed_at
    with history_context(action="site_placed_correct", placed_was=shown(before)):
        current.placed_at = placed_at
        current.save(update_fields=["placed_at"])
    record_checked(encounter)
    if signed:
        _addendum_for(
            encounter,
            user=user,
            subject=f"S{site.pk}",
            what=[f"placed: {shown(before)} -> {shown(placed_at)}"],
            why=addendum_why,
        )
    site.placed_at = placed_at
    return current


_FLUSH_FIELD = re.compile(r"^flushes\[(\d+)\]")


def flush_named(record: Record, field: str | None) -> RecordFlush | None:
    """The record's flush an engine finding names ("flushes[2]": the third in time order)."""
    match = _FLUSH_FIELD.match(field or "")
    if match is None or int(match[1]) >= len(record.flushes):
        return None
    return record.flushes[int(match[1])]


def _flush_create(
    *,
    site: AccessSite,
    at: datetime,
    now: datetime,
    solution: str = "",
    volume_ml: Decimal | None = None,
    ask_again: bool = False,
) -> Flush:
    """Chart a flush; refused (ChartError on "flushes") for the engine's input errors on it
    (DOC-3: a flush in the future). `ask_again`: asked first (ChartError on "again") when the
    site has a flush at the same minute already; the caller's transaction is then rolled back,
    the flush inserted here with it (nothing is charted)."""
    encounter = site.encounter
    flush = Flush.objects.create(
        encounter=encounter, site=site, at=at, solution=solution.strip(), volume_ml=volume_ml
    )
    # The site's other flushes are in the record's read (issue 19: no read of their own, the
    # statement a first flush in a minute sent more). It runs after the insert, under the
    # encounter's lock (`_require_in_progress`): a flush of the same site committed by a tap that
    # held the lock before this one is in it, so two taps at once cannot both pass.
    document, flushes = record_dict_and_flushes(encounter)
    if ask_again and (earlier := _same_minute(flushes, site.pk, at, but=flush.pk)) is not None:
        raise ChartError({"again": [flush_again_question(site, earlier)]})
    record = _record_parsed(encounter, document)
    this = (record_id("S", site.pk), at.replace(microsecond=0))  # as the bridge reads it
    errors = []
    for finding in _checked_findings(encounter, record, now):
        named = flush_named(record, finding.field)
        if (
            finding.rule == "DOC-3"
            and finding.severity == "error"
            and named is not None
            and (named.site, named.at) == this
        ):
            errors.append(finding.message)
    if errors:
        raise ChartError({"flushes": errors})
    return flush


def _flushed_before_placed(site: AccessSite, at: datetime) -> str | None:
    """Why a flush at `at` cannot be on `site`: it was placed after (QA: a flush "earlier" and
    an addendum's flush were charted before the site existed; discontinuing it before its
    placement was refused already)."""
    if site.placed_at is None or at >= site.placed_at:
        return None
    return (
        f"S{site.pk} was placed at {date_hhmm(site.placed_at, site.encounter.zone)}: a flush "
        "before that cannot be on it."
    )


# A flush's volume (QA walkthrough: 0 mL and 99,999 mL were charted): more than 0, at most a
# litre (a flush is a 10 mL syringe, a 50-250 mL bag at the most: a litre is no flush).
FLUSH_VOLUME_MAX_ML = Decimal(1000)
FLUSH_VOLUME_NONE = "A flush has a volume: more than 0 mL (10 for a usual flush)."
FLUSH_VOLUME_TOO_LARGE = "A flush is at most 1,000 mL: check the volume."


def flush_volume_refused(volume_ml: Decimal | None) -> str | None:
    """Why a flush's volume cannot be charted (0 or less, more than a litre); None when it can
    (empty included: a flush charted by a service or the record's import need not say it)."""
    if volume_ml is None:
        return None
    if volume_ml <= 0:
        return FLUSH_VOLUME_NONE
    if volume_ml > FLUSH_VOLUME_MAX_ML:
        return FLUSH_VOLUME_TOO_LARGE
    return None


def _near(flush_at: datetime, at: datetime) -> bool:
    """The same minute on the chart's clock, or less than a minute apart (the first implies the
    second: one test)."""
    return abs(flush_at - at) < timedelta(minutes=1)


def flush_same_minute(site: AccessSite, at: datetime) -> Flush | None:
    """A flush already charted on `site` at the minute of `at` (the same minute on the chart's
    clock, or less than a minute apart): a second one then is most often a double entry."""
    near = Flush.objects.filter(
        site=site, at__gt=at - timedelta(minutes=1), at__lt=at + timedelta(minutes=1)
    )
    for flush in near.order_by("at", "pk"):
        if _near(flush.at, at):
            return flush
    return None


def _same_minute(
    rows: list[dict[str, Any]], site_id: int, at: datetime, *, but: int
) -> datetime | None:
    """`flush_same_minute` over the record's flush rows (in time order), the flush `but` (the
    one being charted) aside: the first one's time, or None."""
    for row in rows:
        if (
            row["site_id"] == site_id
            and row["pk"] != but
            and row["at"] is not None
            and _near(row["at"], at)
        ):
            return row["at"]  # type: ignore[no-any-return]
    return None


def flush_again_question(site: AccessSite, earlier: datetime) -> str:
    """What is asked before a second flush of `site` at the same minute (at `earlier`) is
    charted (nothing is doubled silently; a second flush in one minute, before and after a quick
    push, happens)."""
    return (
        f"A flush of S{site.pk} was charted at {hhmm(earlier, site.encounter.zone)}: "
        "chart it again?"
    )


@transaction.atomic
@refreshes_summary
def flush_chart(
    *,
    site: AccessSite,
    at: datetime,
    now: datetime | None = None,
    solution: str = "",
    volume_ml: Decimal | None = None,
    again: bool = False,
) -> Flush:
    """A flush on a site, now or at a typed time, with its solution and volume (NS 10 mL; a
    heparin lock); DOC-3 refuses one in the future. Its volume more than 0 and at most a litre
    (`flush_volume_refused`); a second flush of the site at the same minute only when the nurse
    said so (`again`; else asked on "again" first, `flush_again_question`, and nothing charted:
    checked in the record's read after the insert, which is then rolled back)."""
    _require_in_progress(site.encounter)
    if site.discontinued_at is not None and site.discontinued_at < at:
        raise ChartError({None: [f"Site S{site.pk} was discontinued: it cannot be flushed."]})
    if (placed := _flushed_before_placed(site, at)) is not None:
        raise ChartError({"at": [placed]})
    if (volume := flush_volume_refused(volume_ml)) is not None:
        raise ChartError({"volume_ml": [volume]})
    return _flush_create(
        site=site,
        at=at,
        now=now or timezone.now(),
        solution=solution,
        volume_ml=volume_ml,
        ask_again=not again,
    )


@transaction.atomic
@refreshes_summary
def flush_remove(
    *, flush: Flush, user: AbstractBaseUser | None = None, addendum_why: str = ""
) -> None:
    """Remove a flush charted by mistake (a double tap, the wrong time or site).

    On a record in progress it is simply deleted (the audit trail keeps the row and who removed
    it); on a signed record only as an addendum with a reason, written in the same transaction.
    """
    encounter = flush.encounter
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    # The encounter row is locked (above): two removals of one flush take turns.
    if not Flush.objects.filter(pk=flush.pk).exists():
        raise ChartError({None: ["This flush was already removed."]})
    what = [f"removed the flush on S{flush.site_id} at {_shown(flush.at, encounter)}"]
    Flush.objects.filter(pk=flush.pk).delete()
    record_checked(encounter)
    if signed:
        _addendum_for(encounter, user=user, subject="Flush", what=what, why=addendum_why)


# --- administrations --------------------------------------------------------------------------


_AMOUNT = re.compile(r"\s*(\d{1,8}(?:\.\d{1,4})?)\s*([a-zA-Zµμ]{1,12})\s*")


def ordered_amount(dose: str) -> tuple[Decimal, str] | None:
    """The amount an order's dose states, if it is one ("8 mg", "1000 mL"), else None."""
    match = _AMOUNT.fullmatch(dose or "")
    if match is None or Decimal(match[1]) <= 0:
        return None
    return Decimal(match[1]), match[2]


@transaction.atomic
@refreshes_summary
def order_disposition_set(
    *,
    order: Order,
    disposition: str,
    reason: str,
    user: AbstractBaseUser | None,
    at: datetime | None = None,
    addendum_why: str = "",
) -> Order:
    """Document an order as not given, held or refused, with the reason (DOC-6), or clear it
    ("": undo, the order is to give after all). Who and when are recorded; on a signed record
    only as an addendum with a reason."""
    encounter = order.encounter
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    reason = reason.strip()
    if disposition and disposition not in Order.Disposition.values:
        raise ChartError({"disposition": [f"{disposition!r} is not not given, held or refused."]})
    if disposition and not reason:
        raise ChartError({"reason": ["Say why it was not given (the auditor asks)."]})
    words = dict(Order.Disposition.choices)
    before = f"{words.get(order.disposition, 'to give')}" + (
        f" ({order.disposition_reason})" if order.disposition_reason else ""
    )
    order.disposition = disposition
    order.disposition_reason = reason if disposition else ""
    order.disposition_by = user if disposition else None  # type: ignore[assignment]
    order.disposition_at = (at or timezone.now()) if disposition else None
    order.save(
        update_fields=["disposition", "disposition_reason", "disposition_by", "disposition_at"]
    )
    record_checked(encounter)
    if signed:
        after = f"{words.get(disposition, 'to give')}" + (f" ({reason})" if disposition else "")
        what = [f"{before} -> {after}"] if before != after else []
        _addendum_for(
            encounter, user=user, subject=f"O{order.pk} {order.drug.name}", what=what,
            why=addendum_why,
        )  # fmt: skip
    return order


def start_lock(encounter: Encounter, request_key: str) -> Administration | None:
    """Before a start, in its transaction: the encounter row locked (two taps arriving together
    take turns: the second sees the first) and a signed record refused; the administration an
    earlier tap with the same `request_key` (the start form's) created, if there is one."""
    signed = _is_signed(encounter)
    if request_key:
        earlier = Administration.objects.filter(encounter=encounter, request_key=request_key)
        if (existing := earlier.first()) is not None:
            return existing
    if signed:
        raise RecordSigned(encounter, {None: [SIGNED_REFUSAL]})
    return None


def start_lock_read(order: Order, request_key: str) -> tuple[Administration | None, Order]:
    """`start_lock` for a start after its safety checks (mar/services/safety.py), with what they
    read under the lock in one statement after it (`chart_reads.order_to_start`, issue 19): the
    order as it is now (with its drug; `wristband_scan`: the id of the latest wristband scan that
    confirmed the patient, or None); and the administration an earlier tap with the same
    `request_key` created, if there is one (returned, as `start_lock` returns it)."""
    encounter = order.encounter
    signed = _is_signed(encounter)
    current: Order = _found(
        reads.order_to_start(
            encounter.pk, order.pk, [request_key] if request_key else [], encounter=encounter
        ),
        Order,
    )
    earlier = current.earlier_start  # type: ignore[attr-defined]
    if earlier is not None:
        return Administration.objects.get(pk=earlier), current
    if signed:
        raise ChartError({None: ["This record is signed: changes go through an addendum."]})
    return None, current


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def start_before_placed(site: AccessSite | None, start: datetime) -> str | None:
    """Why an administration cannot start at `start` on `site`: the site was placed after it
    (QA: a chemotherapy start typed at 07:00 was taken on a site placed at 08:28). A bedside
    input check, as the flush's and the discontinue's (rac-checklist DOC-3's refusals); the
    engine codes records as charted and is not asked. Compared to the minute, as both are
    typed."""
    if site is None or site.placed_at is None or _minute(start) >= _minute(site.placed_at):
        return None
    zone = site.encounter.zone
    placed, started = site.placed_at.astimezone(zone), start.astimezone(zone)
    same_day = placed.date() == started.date()
    show = hhmm if same_day else date_hhmm
    return (
        f"S{site.pk} was placed at {show(placed, zone)}: a start at {show(started, zone)} "
        "comes before it. Correct the start, or the site's placed time."
    )


def _administration_create(
    *,
    order: Order,
    site: AccessSite | None,
    start: datetime,
    method: str,
    user: AbstractBaseUser | None,
    now: datetime | None,
    request_key: str,
    dose: tuple[Decimal, str] | None = None,
) -> Administration:
    """The administration of a start, once the encounter is locked (`start_lock`). `dose`: the
    dose to carry over when the order's text states none (a calculated dose worked out from
    the visit's measures: `measures.order_carried_dose`)."""
    encounter = order.encounter
    if (before := start_before_placed(site, start)) is not None:
        raise ChartError({"start": [before]})
    dose_value, dose_unit = ordered_amount(order.dose) or dose or (None, "")
    administration = Administration.objects.create(
        request_key=request_key,
        encounter=encounter,
        order=order,
        drug=order.drug,
        site=site,
        route=order.route,
        method=method,
        start=start,
        purpose=order.purpose if order.purpose == Order.Purpose.HYDRATION else "",
        dose_value=dose_value,
        dose_unit=dose_unit,
        created_by=user,
        charted_at=now or timezone.now(),
    )
    _refuse_input_errors(encounter, administration.pk, now or timezone.now())
    return administration


@transaction.atomic
@refreshes_summary
def administration_start(
    *,
    order: Order,
    site: AccessSite | None,
    start: datetime,
    method: str = Administration.Method.INFUSION,
    user: AbstractBaseUser | None = None,
    now: datetime | None = None,
    request_key: str = "",
) -> Administration:
    """Start giving an order: drug and route carried over from it, and its dose when the order
    states an amount ("8 mg"; not "175 mg/m2" or "per protocol", which the nurse charts).

    Idempotent per tap: with a `request_key` (the start form's), a second request with the same
    key returns the administration the first one created (a double tap starts one)."""
    existing = start_lock(order.encounter, request_key)
    if existing is not None:
        return existing
    return _administration_create(
        order=order, site=site, start=start, method=method, user=user, now=now,
        request_key=request_key,
    )  # fmt: skip


# `administration_start` for a caller that has taken `start_lock` in its own transaction (the
# start after its safety checks, mar/services/safety.py): the same start, without a second lock,
# lookup and savepoint; the summary stored as every charting service stores it.
administration_start_locked = refreshes_summary(_administration_create)


@transaction.atomic
@refreshes_summary
def administration_update(
    *,
    administration: Administration,
    version: int,
    changes: Mapping[str, Any],
    now: datetime | None = None,
    user: AbstractBaseUser | None = None,
    addendum_why: str = "",
    base_version: int | None = None,
) -> Administration:
    """Save the card's fields; refused on an engine input error.

    Two nurses on one card (issue 18, item 8): a save made from an older version is merged
    field by field against the version it was made from (`base_version`, by default `version`;
    read back from the audit trail): the fields she changed are written, the others keep what
    was saved meanwhile. Only when both changed the same field to different values is it
    refused (StaleVersion naming those fields); saved again from the conflict (`version` the
    current one, `base_version` the one she started from), still only her fields are written.

    On a signed record the change is an addendum: it needs `addendum_why` and a `user`, and the
    Addendum (what changed, from and to, why, who, when) is written in the same transaction, which
    regenerates the charges after commit.
    """
    encounter = administration.encounter
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    unknown = set(changes) - set(ADMINISTRATION_CARD_FIELDS)
    if unknown:
        raise ValueError(f"not editable here: {sorted(unknown)}")
    current = Administration.objects.select_for_update().get(pk=administration.pk)
    base_version = version if base_version is None else base_version
    if current.version != version:
        if _already_saved(current, changes):
            return current  # the same edit sent twice (a change event and the Save button)
        changes = _merged(current, changes, base_version)
    elif base_version != version:
        # Saved again after a conflict: still only the fields she changed since she loaded it.
        base = _card_as_of(current.pk, base_version)
        if base is not None:  # else she was told saving again replaces theirs with hers
            changes = {n: v for n, v in changes.items() if _card_value(n, v) != base[n]}
    what = []
    moved: set[str] = set()
    for name, value in changes.items():
        if name == "site":  # compared by id: the site saved is not read for it
            before: object = f"S{current.site_id}" if current.site_id else None
            after: object = f"S{value.pk}" if isinstance(value, AccessSite) else value
        else:
            before, after = getattr(current, name), value
        if before != after:
            # The field's words ("dose value"), not its name in the code ("dose_value"): coders
            # and auditors read the addendum (QA walkthrough).
            label = Administration._meta.get_field(name).verbose_name
            what.append(f"{label}: {_shown(before, encounter)} -> {_shown(after, encounter)}")
            moved.add(name)
        setattr(current, name, value)
    if moved & {"start", "site"}:
        # Only when the start or the site is changed: a card charted before the rule keeps
        # saving its other fields.
        site = current.site if current.site_id is not None else None
        if (placed := start_before_placed(site, current.start)) is not None:
            raise ChartError({"start" if "start" in moved else "site": [placed]})
    _bump(current)
    try:
        _refuse_input_errors(encounter, current.pk, now or timezone.now(), run_times=True)
    except ChartError as refused:
        # Nothing of this save is stored (the transaction rolls back whole: a start and stop
        # sent together are saved together or not at all); the card has no pause field, so a
        # pause the new times leave outside is said beside the time it lies beyond.
        raise ChartError(_pauses_beside_times(current, refused.errors)) from None
    if signed:
        subject = f"{administration_record_id(current.pk)} {current.drug.name}"
        _addendum_for(encounter, user=user, subject=subject, what=what, why=addendum_why)
    return current


def _pauses_beside_times(
    adm: Administration, errors: Mapping[str | None, list[str]]
) -> dict[str | None, list[str]]:
    """DOC-3's "a pause not within its start and stop" (the engine's rule) on a card save, said
    beside the card's start or stop that the pause lies beyond ("The pause at 05:26 is after
    it."): the card has no pause field, and "see why in the card" did not say which time to fix
    (QA). A pause the engine names that neither time explains keeps the engine's words."""
    if not any(_PAUSE_OUTSIDE.match(name or "") for name in errors):
        return dict(errors)
    said = {name: list(messages) for name, messages in errors.items()}
    zone = adm.encounter.zone
    beside: dict[str | None, list[str]] = {}
    for pause in adm.pauses.order_by("start", "pk"):
        at = hhmm(pause.start, zone)
        if pause.start < adm.start:
            beside.setdefault("start", []).append(f"The pause at {at} is before it.")
        elif adm.stop is not None and pause.start > adm.stop:
            beside.setdefault("stop", []).append(f"The pause at {at} is after it.")
        elif adm.stop is not None and pause.end is not None and pause.end > adm.stop:
            beside.setdefault("stop", []).append(
                f"The pause at {at} goes on after it (resumed {hhmm(pause.end, zone)})."
            )
    if not beside:
        return said
    said = {
        name: messages for name, messages in said.items() if not _PAUSE_OUTSIDE.match(name or "")
    }
    for name, messages in beside.items():
        said.setdefault(name, []).extend(messages)
    return said


def _card_value(name: str, value: Any) -> Any:
    """A card field's value as compared across versions (a site by its id; times to the minute,
    as the form shows them)."""
    if name == "site":
        return value.pk if isinstance(value, AccessSite) else value
    if isinstance(value, datetime):
        return value.replace(second=0, microsecond=0)
    return value


def _has_card_history() -> bool:
    """Whether the audit trail holds each version of a card (PostgreSQL's triggers; SQLite, the
    demo's database, has none)."""
    return connection.vendor == "postgresql"


def _card_key(pk: int, version: int) -> str:
    return f"mar:card:{pk}:{version}"


def card_version_keep(adm: Administration) -> None:
    """Without an audit trail (the SQLite demo), keep the card's fields as this version is drawn:
    a save from it, made after another nurse's, is merged against them (`_card_as_of`). Every
    version a form can send back as its `base_version` was drawn through here
    (`AdministrationForm.initial_for`). Before this, on SQLite a save made again after a conflict
    wrote every field of the card and undid the other nurse's change (QA, two tabs)."""
    if _has_card_history():
        return
    values = {
        n: _card_value(n, getattr(adm, "site_id" if n == "site" else n))
        for n in ADMINISTRATION_CARD_FIELDS
    }
    cache.set(_card_key(adm.pk, adm.version), values, timeout=CARD_VERSION_KEPT_S)


# A card's drawn version is kept a shift and a half: a form older than that is merged as one
# without a base, i.e. refused as out of date first (the conflict box), never saved whole
# unseen.
CARD_VERSION_KEPT_S = 36 * 3600


def _card_as_of(pk: int, version: int) -> dict[str, Any] | None:
    """The card's fields as they were at `version`: from the audit trail, or without one (SQLite)
    as the version was drawn (`card_version_keep`); None when neither has it."""
    if not _has_card_history():
        kept: dict[str, Any] | None = cache.get(_card_key(pk, version))
        return kept
    event_model = apps.get_model("audit", "AdministrationEvent")
    row = (
        event_model.objects.filter(pgh_obj_id=pk, version=version)
        .order_by("-pgh_id")
        .values(*[("site_id" if n == "site" else n) for n in ADMINISTRATION_CARD_FIELDS])
        .first()
    )
    if row is None:
        return None
    return {
        n: _card_value(n, row["site_id" if n == "site" else n]) for n in ADMINISTRATION_CARD_FIELDS
    }


def card_as_drawn(pk: int, version: int) -> dict[str, Any] | None:
    """The card's fields as a page drew them at `version` (see `_card_as_of`): what a nurse
    changed on it is what she posts that differs from these (views._card_unsent)."""
    return _card_as_of(pk, version)


def _merged(
    current: Administration, changes: Mapping[str, Any], base_version: int
) -> dict[str, Any]:
    """Her changes since `base_version`, if none clashes with what was saved meanwhile."""
    base = _card_as_of(current.pk, base_version)
    if base is None:
        raise StaleVersion(current)
    mine = {n: v for n, v in changes.items() if _card_value(n, v) != base[n]}
    theirs = {
        n for n in ADMINISTRATION_CARD_FIELDS if _card_value(n, getattr(current, n)) != base[n]
    }
    clashes = frozenset(
        n
        for n in mine
        if n in theirs and _card_value(n, mine[n]) != _card_value(n, getattr(current, n))
    )
    if clashes:
        raise StaleVersion(current, clashes, frozenset(theirs - set(mine)))
    return mine


def _already_saved(current: Administration, changes: Mapping[str, Any]) -> bool:
    for name, value in changes.items():
        if name == "site":
            if current.site_id != (value.pk if value is not None else None):
                return False
        elif getattr(current, name) != value:
            return False
    return True


def _shown(value: object, encounter: Encounter) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, datetime):
        return date_hhmm(value, encounter.zone)
    if isinstance(value, AccessSite):
        return f"S{value.pk}"
    if isinstance(value, Decimal):
        # As typed, not as stored: 1000.0000 is "1000", 2.5000 is "2.5" (never "1E+3").
        return f"{value.normalize():f}"
    return str(value)


def _open_pause(administration: Administration) -> Pause | None:
    found = reads.open_pause(administration.pk, administration=administration)
    return found[0] if found else None


@transaction.atomic
@refreshes_summary
def administration_pause(
    *, administration: Administration, version: int, at: datetime, now: datetime | None = None
) -> Pause:
    """Pause now, or at a typed time (late entry): refused beside the pause's time (`start`)
    when it is in the future, before the start or over a pause already charted."""
    _require_in_progress(administration.encounter)
    current = _locked(administration, version)
    if current.stop is not None:
        raise ChartError({None: [f"{current.drug.name} is already stopped."]})
    if _open_pause(current) is not None:
        raise ChartError({None: [f"{current.drug.name} is already paused."]})
    now = now or timezone.now()
    _pause_times_refused(current, start=at, end=None, now=now)
    if (over := _pause_over_rate_change(current, start=at, end=None)) is not None:
        raise ChartError({"start": [over]})
    pause = Pause.objects.create(administration=current, start=at)
    _bump(current, [])
    _refuse_input_errors(current.encounter, current.pk, now)
    return pause


@transaction.atomic
@refreshes_summary
def administration_resume(
    *, administration: Administration, version: int, at: datetime, now: datetime | None = None
) -> Pause:
    """Resume now, or at a typed time (late entry): refused beside the resume (`end`) when it
    is before its pause or in the future."""
    _require_in_progress(administration.encounter)
    current = _locked(administration, version)
    pause = _open_pause(current)
    if pause is None:
        raise ChartError({None: [f"{current.drug.name} is not paused."]})
    now = now or timezone.now()
    _pause_times_refused(current, start=pause.start, end=at, now=now, pause=pause)
    if (over := _pause_over_rate_change(current, start=pause.start, end=at)) is not None:
        raise ChartError({"end": [over]})
    pause.end = at
    pause.save(update_fields=["end"])
    _bump(current, [])
    _refuse_input_errors(current.encounter, current.pk, now)
    return pause


@transaction.atomic
@refreshes_summary
def pause_add(
    *,
    administration: Administration,
    version: int,
    start: datetime,
    end: datetime,
    reason: str = "",
    now: datetime | None = None,
) -> Pause:
    """Late entry of a past pause, both its times at once ("Add a pause" on a running or
    stopped infusion): the same checks as a pause and resume tapped at those times, and the
    engine's arithmetic sees it as it sees them (a Pause row like theirs). Audited as a late
    entry (`action` "pause_add" in the trail's context). The reason is optional: the record
    and the RAC list ask for a pause's two ends only (the card says "no reason given")."""
    _require_in_progress(administration.encounter)
    current = _locked(administration, version)
    if current.method != Administration.Method.INFUSION:
        raise ChartError(
            {None: [f"{current.drug.name} is not an infusion: only an infusion is paused."]}
        )
    if reason not in {"", *Pause.Reason.values}:
        raise ChartError({"reason": [f"Unknown pause reason {reason!r}."]})
    now = now or timezone.now()
    _pause_times_refused(current, start=start, end=end, now=now)
    if (over := _pause_over_rate_change(current, start=start, end=end)) is not None:
        raise ChartError({"end": [over]})
    with history_context(action="pause_add"):
        pause = Pause.objects.create(administration=current, start=start, end=end, reason=reason)
    _bump(current, [])
    _refuse_input_errors(current.encounter, current.pk, now)
    return pause


def _pause_times_refused(
    administration: Administration,
    *,
    start: datetime,
    end: datetime | None,
    now: datetime,
    pause: Pause | None = None,
) -> None:
    """A pause's times as the nurse typed or tapped them, refused beside the field at fault
    (`start`: the pause, `end`: the resume) with the dates and times she needs to fix it.

    These are the engine's DOC-3 rules for pauses (in the future, not within the start and
    stop, over another pause: coding/engine/checks.py), asked before the change so that the
    words name the date as well as the time (a late entry may be typed a day off, and the
    checklist's HH:MM would not show it); the engine checks the record after the change all
    the same (`_refuse_input_errors`). `pause`: the one being changed (not an "other")."""
    zone = administration.encounter.zone
    drug = administration.drug.name
    errors: dict[str | None, list[str]] = {}

    def said(moment: datetime) -> str:
        return date_hhmm(moment, zone)

    if start > now:
        errors["start"] = [f"The pause time ({said(start)}) is in the future (now {said(now)})."]
    elif start < administration.start:
        errors["start"] = [
            f"The pause time ({said(start)}) is before {drug} was started "
            f"({said(administration.start)}): a pause comes after the start."
        ]
    elif administration.stop is not None and start >= administration.stop:
        errors["start"] = [
            f"The pause time ({said(start)}) is not before {drug} was stopped "
            f"({said(administration.stop)})."
        ]
    if end is not None:
        if end < start:
            errors["end"] = [_resume_before_pause(administration, start, end)]
        elif end > now:
            errors["end"] = [f"The resume time ({said(end)}) is in the future (now {said(now)})."]
        elif administration.stop is not None and end > administration.stop:
            errors["end"] = [
                f"The resume time ({said(end)}) is after {drug} was stopped "
                f"({said(administration.stop)}): a pause ends by the stop."
            ]
    if errors:
        raise ChartError(errors)

    # Over another pause: by the minute, as the engine counts it (one may start in the minute
    # the last one resumed); an open one lasts until the stop, or on while it runs.
    def minute(moment: datetime) -> datetime:
        return moment.replace(second=0, microsecond=0)

    def reach(end: datetime | None) -> datetime | None:
        return minute(end) if end is not None else administration.stop

    mine_end = reach(end)
    for other in administration.pauses.exclude(pk=pause.pk if pause else None):
        other_end = reach(other.end)
        if (other_end is None or minute(start) < other_end) and (
            mine_end is None or minute(other.start) < mine_end
        ):
            inside = minute(other.start) <= minute(start)
            span = f"{said(other.start)} (not resumed)"
            if other.end is not None:
                resumed = said(other.end)
                same_day = resumed[:10] == said(other.start)[:10]
                span = f"{said(other.start)}-{resumed[11:] if same_day else resumed}"
            which = "pause" if inside or end is None else "resume"
            moment = start if which == "pause" else end
            assert moment is not None
            raise ChartError(
                {
                    ("start" if which == "pause" else "end"): [
                        f"The {which} time ({said(moment)}) overlaps the pause of {drug} of "
                        f"{span}: one pause ends before the next begins."
                    ]
                }
            )


@transaction.atomic
@refreshes_summary
def administration_stop(
    *, administration: Administration, version: int, at: datetime, now: datetime | None = None
) -> Administration:
    """Stop now; a pause still open ends when the administration does."""
    _require_in_progress(administration.encounter)
    current = _locked(administration, version)
    if current.stop is not None:
        raise ChartError({None: [f"{current.drug.name} is already stopped."]})
    pause = _open_pause(current)
    if pause is not None:
        pause.end = at
        pause.save(update_fields=["end"])
    current.stop = at
    _bump(current, ["stop"])
    _refuse_input_errors(current.encounter, current.pk, now or timezone.now(), run_times=True)
    return current


@transaction.atomic
@refreshes_summary
def administration_remove(
    *,
    administration: Administration,
    version: int,
    reason: str,
    user: AbstractBaseUser,
    addendum_why: str = "",
) -> ChartedInError:
    """Take an administration charted in error out of the record (issue 18, 4b), with why.

    What it was and why it went are kept (ChartedInError, shown on the chart); the row itself,
    its pauses and rate changes stay in the audit trail. Scans and safety overrides that named
    it are safety records: they stay, no longer tied to it. On a signed record only as an
    addendum (say why); `version` is the card's, so a card changed meanwhile is not removed."""
    encounter = administration.encounter
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    reason = reason.strip()
    if not reason:
        raise ChartError({"reason": ["Say why this was charted in error."]})
    if not Administration.objects.filter(pk=administration.pk).exists():
        raise ChartError({None: ["This administration was already removed."]})
    current = _locked(administration, version)
    ref = administration_record_id(current.pk)
    stop = f" to {_shown(current.stop, encounter)}" if current.stop else ""
    what = (
        f"{ref} {current.drug.name} {current.get_method_display().lower()}, "
        f"{_shown(current.start, encounter)}{stop}"
    )
    current.pauses.all().delete()
    current.rate_changes.all().delete()
    current.scans.update(administration=None)
    current.overrides.update(administration=None)
    current.delete()
    entry = ChartedInError.objects.create(
        encounter=encounter, administration_ref=ref, what=what[:300], reason=reason, by=user
    )
    record_checked(encounter)
    if signed:
        _addendum_for(
            encounter,
            user=user,
            subject="Administration",
            what=[f"charted in error: {what} ({reason})"],
            why=addendum_why,
        )
    return entry


@transaction.atomic
@refreshes_summary
def pause_update(
    *,
    pause: Pause,
    version: int,
    start: datetime,
    end: datetime | None,
    now: datetime | None = None,
    user: AbstractBaseUser | None = None,
    addendum_why: str = "",
    reason: str | None = None,
) -> Pause:
    """Late entry of a pause's times and its reason (None: the reason as it is); `version` is
    the administration's.

    On a signed record the correction is an addendum, as for a card (administration_update): it
    needs `addendum_why` and a `user`, and the Addendum is written in the same transaction.
    """
    administration = pause.administration
    encounter = administration.encounter
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    current = _locked(administration, version)
    if end is not None and end < start:
        # The engine would say the pause is "not within its start and stop", about the pause:
        # the time to fix is the resume (issue 15, item 8).
        raise ChartError({"end": [_resume_before_pause(current, start, end)]})
    if reason is not None and reason not in {"", *Pause.Reason.values}:
        raise ChartError({"reason": [f"Unknown pause reason {reason!r}."]})
    if (over := _pause_over_rate_change(current, start=start, end=end)) is not None:
        raise ChartError({"end" if end is not None else "start": [over]})
    what = [
        f"{name}: {_shown(before, encounter)} -> {_shown(after, encounter)}"
        for name, before, after in (("paused", pause.start, start), ("resumed", pause.end, end))
        if before != after
    ]
    changes: dict[str, Any] = {"start": start, "end": end}
    if reason is not None and reason != pause.reason:
        said = dict(Pause.Reason.choices)
        what.append(f"reason: {said.get(pause.reason, '(none)')} -> {said.get(reason, '(none)')}")
        changes["reason"] = reason
    for name, value in changes.items():  # the row's fields (not an engine result's)
        setattr(pause, name, value)
    pause.save(update_fields=list(changes))
    _bump(current)
    _refuse_input_errors(encounter, current.pk, now or timezone.now())
    if signed:
        subject = f"{administration_record_id(current.pk)} {current.drug.name} pause"
        _addendum_for(encounter, user=user, subject=subject, what=what, why=addendum_why)
    return pause


def _resume_before_pause(administration: Administration, start: datetime, end: datetime) -> str:
    zone = administration.encounter.zone
    return (
        f"The resume time ({date_hhmm(end, zone)}) is before the pause of "
        f"{administration.drug.name} at {date_hhmm(start, zone)}: a resume comes after its pause."
    )


def _pause_over_rate_change(
    administration: Administration, *, start: datetime, end: datetime | None
) -> str | None:
    """Why a pause from `start` to `end` (None: still paused) cannot be charted: a rate change
    of the infusion is charted inside it (after its start, before its end), when it ran at no
    rate. The rate change's own service refuses the other way round (`rates.rate_change_record`:
    QA walkthrough, a rate change at 18:22 inside a pause 18:20-18:25 was charted)."""
    # By the minute, as the rate change's own check (a rate change at the minute a pause
    # begins or ends is at its edge, not inside it).
    inside = administration.rate_changes.filter(
        at__gte=start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    )
    if end is not None:
        inside = inside.filter(at__lt=end.replace(second=0, microsecond=0))
    change = inside.order_by("at", "pk").first()
    if change is None:
        return None
    zone = administration.encounter.zone
    return (
        f"A rate change is charted at {hhmm(change.at, zone)} "
        f"({change.rate_ml_h.normalize():f} mL/h): the infusion ran then, so a pause over it "
        "cannot be charted. Correct or remove that rate change first."
    )


# --- the encounter ----------------------------------------------------------------------------


@transaction.atomic
@refreshes_summary
def encounter_times_update(
    *,
    encounter: Encounter,
    arrived_at: datetime | None,
    observation_at: datetime | None,
    user: AbstractBaseUser | None = None,
    addendum_why: str = "",
    base: merge.Canonical | None = None,
) -> Encounter:
    """Arrival (RAC-8: minutes before it do not count) and the change to observation (RAC-9);
    on a signed record, an addendum.

    `base`: the values the form showed (mar/merge.py); a time another nurse saved meanwhile and
    she left as shown keeps theirs; one changed both ways raises merge.ChangedMeanwhile."""
    signed = _signed_change_allowed(encounter, user=user, addendum_why=addendum_why)
    what = _merged_save(
        encounter,
        encounter=encounter,
        shows=encounter_times,
        base=base,
        mine={"arrived_at": arrived_at, "observation_at": observation_at},
        labels={"arrived_at": "arrived", "observation_at": "observation"},
    )
    record_checked(encounter)
    if signed:
        _addendum_for(encounter, user=user, subject="Encounter", what=what, why=addendum_why)
    return encounter


def open_errors(
    findings: tuple[Finding, ...] | list[Finding], acknowledged: set[str]
) -> list[Finding]:
    if not acknowledged:  # no key to compute
        return [f for f in findings if f.severity == "error"]
    return [f for f in findings if f.severity == "error" and finding_key(f) not in acknowledged]


@transaction.atomic
@refreshes_summary
def encounter_sign(
    *,
    encounter: Encounter,
    user: AbstractBaseUser,
    reasons: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Encounter:
    """Sign once every error finding is resolved or acknowledged with a reason.

    `reasons` maps `finding_key(finding)` to the nurse's reason; each non-empty one is stored as a
    FindingAcknowledgement. Raises SignBlocked (nothing stored) while an error stays open.
    """
    reasons = reasons or {}
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    _require_in_progress(locked)
    now = now or timezone.now()
    findings = _checked_findings(locked, record_checked(locked), now, signing=True)
    acknowledged = {acknowledgement_key(a) for a in locked.acknowledgements.all()}
    new: list[FindingAcknowledgement] = []
    for finding in open_errors(findings, acknowledged):
        reason = reasons.get(finding_key(finding), "").strip()
        if reason:
            new.append(
                FindingAcknowledgement(
                    encounter=locked,
                    rule=finding.rule,
                    administrations=",".join(finding.administrations),
                    field=finding.field or "",
                    message=finding.message,
                    reason=reason,
                    by=user,
                )
            )
            acknowledged.add(finding_key(finding))
    still_open = open_errors(findings, acknowledged)
    if still_open:
        raise SignBlocked(tuple(still_open))
    FindingAcknowledgement.objects.bulk_create(new)
    return signature.signature_store(encounter=locked, user=user)


@transaction.atomic
@refreshes_summary
def addendum_write(
    *,
    encounter: Encounter,
    user: AbstractBaseUser,
    what: str,
    why: str,
    flush_site: AccessSite | None = None,
    flush_at: datetime | None = None,
    flush_solution: str = "",
    flush_volume_ml: Decimal | None = None,
    now: datetime | None = None,
    answers: Sequence[int] = (),
) -> Addendum:
    """An addendum to a signed record (what, why; who and when are recorded); charges rerun
    when it charts a flush (in words only, nothing the charges read changed: no run).

    It may chart a flush that was given but not charted (the usual answer to a RAC-5 query),
    with its solution and volume as `flush_chart` records them; the addendum says them. As at
    the bedside, not on a site after it was discontinued, nor on another visit's site.
    `answers`: the coders' open queries the nurse says it answers (in words).
    """
    if flush_site is not None and flush_at is not None:
        if flush_site.encounter_id != encounter.pk:
            raise ChartError({"flush_site": [f"S{flush_site.pk} is not a site of this visit."]})
        if (placed := _flushed_before_placed(flush_site, flush_at)) is not None:
            raise ChartError({"flush_at": [placed]})
        out = flush_site.discontinued_at
        if out is not None and out < flush_at:
            raise ChartError(
                {
                    "flush_at": [
                        f"S{flush_site.pk} was discontinued at {date_hhmm(out, encounter.zone)}: "
                        "a flush after it cannot be charted on it."
                    ]
                }
            )
        if (volume := flush_volume_refused(flush_volume_ml)) is not None:
            raise ChartError({"flush_volume_ml": [volume]})
        if (earlier := flush_same_minute(flush_site, flush_at)) is not None:
            # A missed flush is one not on the record: at the minute of one charted, it is the
            # same flush charted twice (the bedside asks first; an addendum is not asked twice).
            raise ChartError(
                {
                    "flush_at": [
                        f"A flush of S{flush_site.pk} is charted at "
                        f"{hhmm(earlier.at, encounter.zone)} already: a missed flush is one not "
                        "on the record."
                    ]
                }
            )
        try:
            flush = _flush_create(
                site=flush_site,
                at=flush_at,
                now=now or timezone.now(),
                solution=flush_solution,
                volume_ml=flush_volume_ml,
            )
        except ChartError as exc:
            # The form's field is "flush_at"; the engine's, "flushes".
            errors = {("flush_at" if k == "flushes" else k): v for k, v in exc.errors.items()}
            raise ChartError(errors) from exc
        zone_time = _shown(flush_at, encounter)
        details = " ".join(
            part
            for part in (
                flush.solution,
                f"{_shown(flush.volume_ml, encounter)} mL" if flush.volume_ml is not None else "",
            )
            if part
        )
        charted = f"Flush charted on S{flush_site.pk} at {zone_time}"
        what = f"{what}\n{charted}: {details}." if details else f"{what}\n{charted}."
    # In words only (no flush charted): nothing the charges are made from changed, no run owed.
    return signature.addendum_store(
        encounter=encounter,
        user=user,
        what=what,
        why=why,
        answers=answers,
        record_changed=flush_site is not None and flush_at is not None,
    )
