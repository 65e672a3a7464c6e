"""Rates and volumes of an infusion: the rate it ran at, its changes (titrations), the bag, the
volume to be infused and the volume infused when stopped; a pause's reason; a flush's solution.

A rate change is a timed event (`RateChange`: new rate, who, when, why) within the run of a
started, unstopped-at-that-time infusion. One charted wrong is corrected in its row
(`rate_change_update`: its rate and time, checked as a new one is) or removed when charted in
error (`rate_change_remove`), each audited with the row before (and after). On a signed record
a rate change (added, corrected, removed) and the volumes are addenda, as the card's other
fields are (`charting.signed_change_allowed`: a reason asked,
the `Addendum` written in the same transaction, the charges owed again; QA: a wrong volume
found after signing, which feeds DRUG-DOSE and DOC-VOLUME, could not be corrected).

Whether the minutes charted and the volume infused at the charted rates agree is the engine's
check DOC-VOLUME (it reads them from the record), so each service here stores the encounter's
summary afresh (`refreshes_summary`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from mar.audit.context import history_context
from mar.clock import date_hhmm, hhmm
from mar.models import Administration, Pause, RateChange
from mar.record import administration_record_id
from mar.services.charting import (
    ChartError,
    StaleVersion,
    signed_change_addendum,
    signed_change_allowed,
    times_not_in_the_future,
)
from mar.summary import refreshes_summary

VOLUME_FIELDS = ("rate_ml_h", "bag_volume_ml", "vtbi_ml", "volume_infused_ml")

# A rate's plausibility (QA walkthrough: 999,999 mL/h was charted). Most volumetric pumps top
# out at 999 mL/h (a few at 1,200 in a rapid mode): above it a rate change is asked about first
# (`rate_confirm`); above 6,000 mL/h (100 mL a minute, a pressure-bag bolus) no infusion of an
# infusion centre runs, and it is refused.
RATE_USUAL_MAX_ML_H = Decimal(999)
RATE_MAX_ML_H = Decimal(6000)
RATE_TOO_HIGH = "No infusion runs faster than 6,000 mL/h (100 mL a minute): check the rate."
RATE_NOT_MORE_THAN_0 = "A rate is more than 0 mL/h: to stop, use Stop."


def rate_refused(rate_ml_h: Decimal) -> str | None:
    """Why a rate cannot be charted: 0 or less (stop instead), above RATE_MAX_ML_H."""
    if rate_ml_h <= 0:
        return RATE_NOT_MORE_THAN_0
    if rate_ml_h > RATE_MAX_ML_H:
        return RATE_TOO_HIGH
    return None


def rate_high_asked(rate_ml_h: Decimal) -> str | None:
    """What is asked before a rate above what most pumps run is charted; None below it."""
    if rate_ml_h <= RATE_USUAL_MAX_ML_H:
        return None
    return (
        f"Above 999 mL/h: check the rate ({_ml(rate_ml_h)} mL/h is faster than most pumps run). "
        "Tick the box to chart it as typed."
    )


def _rate_checked(rate_ml_h: Decimal, *, high_confirmed: bool) -> None:
    if (refused := rate_refused(rate_ml_h)) is not None:
        raise ChartError({"rate_ml_h": [refused]})
    if not high_confirmed and (asked := rate_high_asked(rate_ml_h)) is not None:
        raise ChartError({"rate_confirm": [asked]})


def _subject(administration: Administration) -> str:
    """An addendum's subject for this administration, as the card's own ("A12 carboplatin")."""
    return f"{administration_record_id(administration.pk)} {administration.drug.name}"


def _ml(value: Decimal | None) -> str:
    return "(empty)" if value is None else f"{value.normalize():f}"


@transaction.atomic
@refreshes_summary
def rate_change_record(
    *,
    administration: Administration,
    rate_ml_h: Decimal,
    at: datetime,
    reason: str,
    user: AbstractBaseUser,
    version: int | None = None,
    now: datetime | None = None,
    addendum_why: str = "",
    high_confirmed: bool = False,
) -> RateChange:
    """A new rate from `at` on, with why (titration per protocol, reaction, ...); on a signed
    record an addendum (`addendum_why`: its reason). The rate more than 0 and at most
    RATE_MAX_ML_H; above RATE_USUAL_MAX_ML_H only once confirmed (`high_confirmed`, asked on
    "rate_confirm"). Its time within the run, not inside a pause, not at the minute of another
    rate change of the same infusion (`_rate_time_refused`)."""
    signed = signed_change_allowed(administration.encounter, user=user, addendum_why=addendum_why)
    current = Administration.objects.select_for_update().get(pk=administration.pk)
    if version is not None and current.version != version:
        raise StaleVersion(current)
    if current.method != Administration.Method.INFUSION:
        raise ChartError({None: [f"{current.drug.name} is not an infusion: it has no rate."]})
    if not reason.strip():
        raise ChartError({"reason": ["Say why the rate changed."]})
    _rate_checked(rate_ml_h, high_confirmed=high_confirmed)
    zone = current.encounter.zone
    _rate_time_refused(current, at=at, now=now)
    change = RateChange.objects.create(
        administration=current, at=at, rate_ml_h=rate_ml_h, reason=reason.strip(), by=user
    )
    current.version += 1
    current.save(update_fields=["version", "updated_at"])
    if signed:
        said = f"rate change at {date_hhmm(at, zone)}: {_ml(rate_ml_h)} mL/h ({change.reason})"
        signed_change_addendum(
            current.encounter, user=user, subject=_subject(current), what=[said], why=addendum_why
        )
    return change


def _rate_time_refused(
    administration: Administration,
    *,
    at: datetime,
    now: datetime | None,
    other_than: int | None = None,
) -> None:
    """A rate change's time within the run of its infusion (its start to its stop) and not in
    the future, refused beside "at" naming the date and time (bedside finding 2: a time alone
    is ambiguous at midnight). Nor inside a pause (after its start, before its end: at the
    resume it is the rate it resumes at), nor at the minute of another rate change of the same
    infusion (QA walkthrough: both were charted without a word; `other_than`: the row being
    corrected)."""
    zone = administration.encounter.zone
    if at < administration.start:
        raise ChartError(
            {
                "at": [
                    f"This time ({date_hhmm(at, zone)}) is before the infusion started "
                    f"({date_hhmm(administration.start, zone)})."
                ]
            }
        )
    if administration.stop is not None and at > administration.stop:
        raise ChartError(
            {
                "at": [
                    f"This time ({date_hhmm(at, zone)}) is after the infusion stopped "
                    f"({date_hhmm(administration.stop, zone)})."
                ]
            }
        )
    times_not_in_the_future(now, zone=zone, at=at)
    minute = at.replace(second=0, microsecond=0)
    for pause in administration.pauses.order_by("start", "pk"):
        # By the minute, as the chart shows them: a rate change typed 18:25 is at a resume
        # tapped at 18:25:30, not inside its pause.
        if _minute(pause.start) < minute and (pause.end is None or minute < _minute(pause.end)):
            during = (
                f"{hhmm(pause.start, zone)}–{hhmm(pause.end, zone)}"
                if pause.end is not None
                else f"since {hhmm(pause.start, zone)}"
            )
            raise ChartError(
                {
                    "at": [
                        f"The infusion was paused {during}: a rate change then cannot be "
                        "charted (it ran at no rate). Chart it at the resume, or after."
                    ]
                }
            )
    others = administration.rate_changes.exclude(pk=other_than).filter(
        at__gte=minute, at__lt=minute + timedelta(minutes=1)
    )
    if (same := others.order_by("at", "pk").first()) is not None:
        raise ChartError(
            {
                "at": [
                    f"A rate change at {hhmm(same.at, zone)} ({_ml(same.rate_ml_h)} mL/h) is "
                    "charted already: correct that one instead, or give another minute."
                ]
            }
        )


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _rate_row(change: RateChange, zone: ZoneInfo) -> dict[str, str]:
    """A rate change as the audit trail's context keeps it (before and after a correction)."""
    return {"at": date_hhmm(change.at, zone), "rate_ml_h": _ml(change.rate_ml_h)}


def _row_locked(rate_change: RateChange, version: int) -> tuple[Administration, RateChange]:
    """The rate change's administration locked at the card's `version` (a card changed meanwhile
    is refused: StaleVersion), and the row as it is now (ChartError when it is gone)."""
    current = Administration.objects.select_for_update().get(pk=rate_change.administration_id)
    if current.version != version:
        raise StaleVersion(current)
    row = RateChange.objects.filter(pk=rate_change.pk, administration=current).first()
    if row is None:
        raise ChartError({None: ["This rate change was already removed."]})
    return current, row


@transaction.atomic
@refreshes_summary
def rate_change_update(
    *,
    rate_change: RateChange,
    rate_ml_h: Decimal,
    at: datetime,
    version: int,
    user: AbstractBaseUser,
    now: datetime | None = None,
    addendum_why: str = "",
    high_confirmed: bool = False,
) -> RateChange:
    """A rate change charted wrong (125 typed for 152 mL/h, or the wrong time) corrected in its
    row: checked as a new one is (more than 0 mL/h, within the infusion's start and stop, not in
    the future); `version` is the card's. Audited with the row before and after (the trail's
    context, `action` "rate_change_update"); on a signed record an addendum saying what changed,
    from and to (`addendum_why`: its reason; the charges owed again), and the row marked with it
    (`amended_at`, `amended_by`: the addendum's time and author, shown on the card's row). A
    correction before the signature leaves no mark: it is the original record, as a row removed
    before the signature leaves no trace."""
    signed = signed_change_allowed(
        rate_change.administration.encounter, user=user, addendum_why=addendum_why
    )
    current, row = _row_locked(rate_change, version)
    # A rate kept as charted is not asked about again (it was, when charted).
    _rate_checked(rate_ml_h, high_confirmed=high_confirmed or rate_ml_h == row.rate_ml_h)
    zone = current.encounter.zone
    if at == row.at.replace(second=0, microsecond=0):
        at = row.at  # the form's minute of a time tapped "now": the time as charted, unchanged
    _rate_time_refused(current, at=at, now=now, other_than=row.pk)
    before = _rate_row(row, zone)
    what = []
    if row.at != at:
        what.append(f"at: {before['at']} -> {date_hhmm(at, zone)}")
    if row.rate_ml_h != rate_ml_h:
        what.append(f"rate: {before['rate_ml_h']} -> {_ml(rate_ml_h)} mL/h")
    subject = f"{_subject(current)} rate change of {before['at']}"
    if not what:
        if signed:  # says "Nothing changed" (or "Already saved"): no addendum of nothing
            signed_change_addendum(
                current.encounter, user=user, subject=subject, what=[], why=addendum_why
            )
        return row  # saved as it was: nothing to write
    row.at, row.rate_ml_h = at, rate_ml_h
    changed = ["at", "rate_ml_h"]
    if signed:
        # Corrected after the signature: the row carries the addendum's mark (when, who), which
        # the card shows on it. Before the signature a correction is the original record.
        addendum = signed_change_addendum(
            current.encounter, user=user, subject=subject, what=what, why=addendum_why
        )
        row.amended_at, row.amended_by = addendum.at, addendum.author
        changed += ["amended_at", "amended_by"]
    with history_context(action="rate_change_update", before=before, after=_rate_row(row, zone)):
        row.save(update_fields=changed)
    current.version += 1
    current.save(update_fields=["version", "updated_at"])
    return row


@transaction.atomic
@refreshes_summary
def rate_change_remove(
    *,
    rate_change: RateChange,
    version: int,
    user: AbstractBaseUser,
    addendum_why: str = "",
) -> None:
    """A rate change charted in error (a double tap, the wrong infusion) taken out of the
    record, as a flush charted by mistake is (`charting.flush_remove`): the audit trail keeps
    the row, who removed it and what it was (`action` "rate_change_remove"); on a signed record
    only as an addendum with a reason (the charges owed again)."""
    signed = signed_change_allowed(
        rate_change.administration.encounter, user=user, addendum_why=addendum_why
    )
    current, row = _row_locked(rate_change, version)
    before = _rate_row(row, current.encounter.zone)
    with history_context(action="rate_change_remove", before=before):
        row.delete()
    current.version += 1
    current.save(update_fields=["version", "updated_at"])
    if signed:
        said = (
            f"removed the rate change at {before['at']}: {before['rate_ml_h']} mL/h ({row.reason})"
        )
        signed_change_addendum(
            current.encounter, user=user, subject=_subject(current), what=[said], why=addendum_why
        )


@transaction.atomic
@refreshes_summary
def volumes_update(
    *,
    administration: Administration,
    rate_ml_h: Decimal | None,
    bag_volume_ml: Decimal | None,
    vtbi_ml: Decimal | None,
    volume_infused_ml: Decimal | None,
    user: AbstractBaseUser | None = None,
    addendum_why: str = "",
    rate_confirm: bool = False,
) -> Administration:
    """The rate at start, bag, VTBI and volume infused; on a signed record an addendum saying
    each one changed, from and to (`addendum_why`: its reason). The rate at most RATE_MAX_ML_H;
    a new one above RATE_USUAL_MAX_ML_H only once confirmed (`rate_confirm`, asked on it; the
    rate as stored is not asked about again)."""
    signed = signed_change_allowed(administration.encounter, user=user, addendum_why=addendum_why)
    current = Administration.objects.select_for_update().get(pk=administration.pk)
    if rate_ml_h is not None and rate_ml_h > RATE_MAX_ML_H:
        raise ChartError({"rate_ml_h": [RATE_TOO_HIGH]})
    if rate_ml_h is not None and rate_ml_h != current.rate_ml_h and not rate_confirm:
        if (asked := rate_high_asked(rate_ml_h)) is not None:
            raise ChartError({"rate_confirm": [asked]})
    if vtbi_ml is not None and bag_volume_ml is not None and vtbi_ml > bag_volume_ml:
        raise ChartError({"vtbi_ml": ["The volume to be infused is more than the bag holds."]})
    typed = dict(
        zip(VOLUME_FIELDS, (rate_ml_h, bag_volume_ml, vtbi_ml, volume_infused_ml), strict=True)
    )
    what = []
    for name, value in typed.items():
        before = getattr(current, name)
        if before != value:
            label = Administration._meta.get_field(name).verbose_name
            what.append(f"{label}: {_ml(before)} -> {_ml(value)}")
        setattr(current, name, value)
    current.version += 1
    current.save()
    if signed:
        signed_change_addendum(
            current.encounter, user=user, subject=_subject(current), what=what, why=addendum_why
        )
    return current


def pause_reason_set(*, pause: Pause, reason: str) -> Pause:
    """The reason of a pause (reaction, patient request, pump alarm, line problem, other)."""
    if reason and reason not in Pause.Reason.values:
        raise ChartError({"reason": ["Not a pause reason."]})
    pause.reason = reason
    pause.save(update_fields=["reason"])
    return pause


@transaction.atomic
@refreshes_summary
def stop_volume_set(*, administration: Administration, volume_infused_ml: Decimal | None) -> None:
    """The volume the pump says was infused, charted at the stop."""
    if volume_infused_ml is None:
        return
    Administration.objects.filter(pk=administration.pk).update(volume_infused_ml=volume_infused_ml)


def rate_segments(administration: Administration) -> list[tuple[datetime, Decimal]]:
    """The rates it ran at, from the start: (from, mL/h), the first at the charted start rate
    (none charted: the first change's rate applies from its own time only)."""
    segments: list[tuple[datetime, Decimal]] = []
    if administration.rate_ml_h is not None:
        segments.append((administration.start, administration.rate_ml_h))
    for change in administration.rate_changes.all():
        segments.append((change.at, change.rate_ml_h))
    return sorted(segments, key=lambda s: s[0])
