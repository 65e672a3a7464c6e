"""The coder's review of one encounter's charges: claim, correct, query, accept.

State changes are keyword-only service functions; the rules of coding (which codes, which edits)
stay in the engine: corrections are checked with the engine's `charge_edits` on the lines as
corrected, with the hospital's MUE limits (coding/mue.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from coding.chargemaster import ChargeMaster, charge_master_edits, charge_master_for
from coding.drug_lines import is_drug_line
from coding.engine import (
    Finding,
    Record,
    RecordError,
    account_edits,
    charge_edits,
    infusion_time_edits,
    parse_record,
    waste_modifier_edits,
)
from coding.engine.ptp import ptp_edits
from coding.models import (
    ChargeCorrection,
    ChargeFinding,
    ChargeLine,
    ChargeRun,
    CorrectionDecision,
    DocumentationQuery,
    EditOverride,
    ReviewItem,
)
from coding.modifiers import modifiers_checked
from coding.mue import mue_limits
from coding.ptp import ptp_pairs
from mar.audit.context import history_context_apart
from mar.models import Addendum, Administration, Encounter
from mar.record import pk_from_record_id
from mar.roles import ADMIN, CODER

# A CPT code is five digits (96365), or four digits and a letter: F (Category II), T (Category
# III), A (vaccine products), M (multianalyte assays), U (proprietary laboratory analyses); a
# HCPCS Level II code is a letter and four digits (J9045). Nothing else is a code a claim takes.
CODE_RE = re.compile(r"^(?:[0-9]{4}[0-9AFMTU]|[A-Z][0-9]{4})$")
CODE_HELP = (
    "a CPT code is five digits (96365) or four digits and F, T, A, M or U; "
    "a HCPCS code a letter and four digits (J9045)"
)
MAX_UNITS = 9999  # more units than this on one line is a typing error, not a charge
# A reason a coder types is at most this many characters, as every reason typed in the app
# (mar/pharmacy/services.py REASON_MAX, mar/forms.py): it goes with the claim and into the
# reconciliation report; the pages show a long one's head and "Show all" (templates/_clamp.jinja).
REASON_MAX = 2000
REASON_TOO_LONG = (
    "At most {limit} characters: say why in a few sentences (the record and the findings say "
    "the rest). This one has {length}."
)


def reason_checked(reason: str, field: str = "reason") -> str:
    """The reason stripped, or a ValidationError beside `field` when it is longer than
    REASON_MAX (the forms say the same: coding/forms.py `ReasonField`)."""
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        said = REASON_TOO_LONG.format(limit=REASON_MAX, length=len(reason))
        raise ValidationError({field: said})
    return reason


RECORD_ID_RE = re.compile(r"^A[0-9]+$")


# --- the lines as the coder sees them -----------------------------------------------------


@dataclass(frozen=True)
class EffectiveLine:
    """A line as it will be sent: the generated line with the latest correction applied."""

    code: str
    units: int
    modifiers: tuple[str, ...]
    date: date
    administrations: tuple[str, ...]
    why: str
    source: str  # "engine", "drug" or "coder" (added by a coder)
    line_id: int | None = None
    correction: ChargeCorrection | None = None
    original: dict[str, Any] | None = None  # the generated line, when a coder changed it
    removed: bool = False
    engine_why: str = ""  # the engine's why, kept beside the coder's on a corrected line
    rules: tuple[str, ...] = ()  # the engine's rule ids for the generated line (none if added)
    # A coder's line: the ADD correction that added it (its `correction` is the latest change or
    # removal of it, when she corrected it since: `ChargeCorrection.amends`).
    added: ChargeCorrection | None = None

    @property
    def key(self) -> str:
        return f"L{self.line_id}" if self.line_id else f"C{self.added.pk}"  # type: ignore[union-attr]

    @property
    def label(self) -> str:
        mods = "-".join(self.modifiers)
        return f"{self.code}{'-' + mods if mods else ''} x{self.units}"


def line_json(line: ChargeLine | EffectiveLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "units": line.units,
        "modifiers": list(line.modifiers),
        "date": line.date.isoformat(),
        "administrations": list(line.administrations),
        "why": line.why,
    }


def correction_why(correction: ChargeCorrection) -> str:
    """A corrected line's why: the coder's reason, who and when (and the re-review decision)."""
    verb = {"add": "added", "change": "corrected", "remove": "removed"}[correction.action]
    at = timezone.localtime(correction.at).strftime("%Y-%m-%d %H:%M")
    text = f"{verb} by {correction.by.get_username()} {at}: {correction.reason}"
    if correction.decision_reason and correction.decided_by is not None:
        text += (
            f" ({correction.get_state_display().lower()} by "
            f"{correction.decided_by.get_username()}: {correction.decision_reason})"
        )
    return text


def amendment_in_effect(
    addition: ChargeCorrection, amendment: ChargeCorrection | None
) -> ChargeCorrection | None:
    """`amendment` (an added line's latest change or removal) when it was made after the coder
    last confirmed the addition (its basis's time, `coding.corrections.correction_basis`): a
    re-review of the added line (the nurse's answer to a query puts it back as she had last
    changed it, `corrections_answer_rereview`; her keep or adapt then sends it as she decided)
    takes in the changes made before it. An addition never re-reviewed takes every change."""
    confirmed = (addition.basis or {}).get("at")
    if amendment is None or not confirmed:
        return amendment
    return amendment if amendment.at > datetime.fromisoformat(confirmed) else None


def effective_lines(run: ChargeRun, *, include_removed: bool = False) -> list[EffectiveLine]:
    """The run's lines with corrections applied, in claim order; coders' additions last.

    A line's latest correction decides it: in effect, it applies; waiting for re-review or
    dropped, the generated line stands (not an earlier correction of it: the nurse's answer to a
    query puts the latest back for re-review on the same run, `corrections_answer_rereview`).
    A coder's added line is sent as her latest change of it (since a re-review of it:
    `amendment_in_effect`), or not at all once she removed it (`ChargeCorrection.amends`);
    `include_removed` shows it removed, like a removed line. Uses run.lines.all() and
    run.corrections.all(), so a prefetch keeps it query-free.
    """
    latest: dict[int, ChargeCorrection] = {}
    added: list[ChargeCorrection] = []
    amended: dict[int, ChargeCorrection] = {}  # an added line's latest change or removal
    for correction in sorted(run.corrections.all(), key=lambda c: (c.at, c.pk)):
        if correction.amends_id is not None:
            if correction.in_effect:
                amended[correction.amends_id] = correction
        elif correction.action == ChargeCorrection.Action.ADD:
            if correction.in_effect:  # else waiting for the coder's re-review, or dropped
                added.append(correction)
        elif correction.line_id is not None:
            latest[correction.line_id] = correction
    out: list[EffectiveLine] = []
    for line in sorted(run.lines.all(), key=lambda item: item.position):
        source = "drug" if is_drug_line(line) else "engine"
        correction = latest.get(line.pk)
        if correction is not None and not correction.in_effect:
            correction = None  # waiting for the coder's re-review, or dropped
        if correction is None:
            out.append(
                EffectiveLine(
                    line.code,
                    line.units,
                    tuple(line.modifiers),
                    line.date,
                    tuple(line.administrations),
                    line.why,
                    source,
                    line_id=line.pk,
                    rules=tuple(line.rules),
                )  # fmt: skip
            )
            continue
        data = correction.corrected or correction.original
        out.append(
            EffectiveLine(
                data["code"],
                int(data["units"]),
                tuple(data["modifiers"]),
                date.fromisoformat(data["date"]),
                tuple(data["administrations"]),
                correction_why(correction),
                source,
                line_id=line.pk,
                correction=correction,
                original=correction.original,
                removed=correction.action == ChargeCorrection.Action.REMOVE,
                engine_why=line.why,
                rules=tuple(line.rules),
            )  # fmt: skip
        )
    for addition in added:
        amendment = amendment_in_effect(addition, amended.get(addition.pk))
        correction = amendment or addition
        data = correction.corrected or correction.original
        out.append(
            EffectiveLine(
                data["code"],
                int(data["units"]),
                tuple(data["modifiers"]),
                date.fromisoformat(data["date"]),
                tuple(data["administrations"]),
                correction_why(correction),
                "coder",
                correction=correction,
                original=amendment.original if amendment is not None else None,
                removed=correction.action == ChargeCorrection.Action.REMOVE,
                added=addition,
            )  # fmt: skip
        )
    if include_removed:
        return out
    return [line for line in out if not line.removed]


@dataclass
class EditState:
    finding: Finding
    override: EditOverride | None = None

    @property
    def blocking(self) -> bool:
        return self.override is None


@dataclass
class Edits:
    items: list[EditState] = field(default_factory=list)

    @property
    def blocking(self) -> list[EditState]:
        return [item for item in self.items if item.blocking]


def run_containers(run: ChargeRun) -> dict[str, str]:
    """Each HCPCS code's container as the run's drug lines read the formulary (its billing
    snapshot: per administration, the drug's HCPCS and container); a code whose drugs say
    different containers, or none, is left out (no edit is made on a guess)."""
    said: dict[str, set[str]] = {}
    for entry in (run.billing_snapshot or {}).values():
        if isinstance(entry, dict) and entry.get("hcpcs"):
            said.setdefault(str(entry["hcpcs"]), set()).add(str(entry.get("container") or ""))
    return {code: next(iter(c)) for code, c in said.items() if len(c) == 1 and "" not in c}


def edits_record(run: ChargeRun) -> Record | None:
    """The run's record as the engine read it (its input snapshot), for the edits that read the
    record (EDIT-ACCOUNT, EDIT-INFUSION-TIME); None when it cannot be read (the run's `error`
    says why, and it has no lines). A snapshot from before records carried the account number
    takes the visit's (a signed visit's does not change: `encounter_update`)."""
    snapshot = run.input_snapshot or {}
    encounter = snapshot.get("encounter")
    if isinstance(encounter, dict) and "account_number" not in encounter:
        account = (
            Encounter.objects.filter(pk=run.encounter_id)
            .values_list("account_number", flat=True)
            .first()
        )
        snapshot = {**snapshot, "encounter": {**encounter, "account_number": account or ""}}
    try:
        return parse_record(snapshot)
    except RecordError:
        return None


def charge_edits_for_run(
    run: ChargeRun,
    lines: list[EffectiveLine] | None = None,
    *,
    master: ChargeMaster | None = None,
    mue: dict[str, int] | None = None,
    ptp: dict[Any, Any] | None = None,
) -> Edits:
    """The engine's edits on the lines as they will be sent, with the coders' overrides; and
    EDIT-PTP, the NCCI pairs loaded (coding/ptp.py) applied by the engine's `ptp_edits`; and
    EDIT-CDM, a code the loaded charge master does not price (coding/chargemaster.py); and the
    JW/JZ edits (`waste_modifier_edits`: a JW line with no line of the dose given, JW with JZ,
    either on a multi-dose drug by the run's own formulary facts); and the edits reading the run's
    record (`edits_record`): EDIT-ACCOUNT (no account number) and EDIT-INFUSION-TIME (a coder's
    infusion code its administrations' charted time does not bear out); `master`: the charge master
    already read for these codes (or more), not read again; `mue`, `ptp` likewise the MUE limits
    and NCCI pairs (the worklist reads them once for a page's runs)."""
    if lines is None:
        lines = effective_lines(run)
    codes = {line.code for line in lines}
    findings = charge_edits(lines, mue=mue if mue is not None else mue_limits(codes))
    findings += waste_modifier_edits(lines, containers=run_containers(run))
    record = edits_record(run)
    if record is not None:
        findings += account_edits(record)
        # A coder's changed or added lines against the charted time of their administrations.
        coders = [line for line in lines if line.correction is not None or line.source == "coder"]
        findings += infusion_time_edits(coders, record)
    findings += ptp_edits(lines, ptp if ptp is not None else ptp_pairs(codes))
    findings += charge_master_edits(lines, master or charge_master_for(codes))
    overrides = {(o.rule, o.message): o for o in run.edit_overrides.all()}
    return Edits([EditState(f, overrides.get((f.rule, f.message))) for f in findings])


# --- the worklist item --------------------------------------------------------------------


@transaction.atomic
def review_item_sync(*, run: ChargeRun) -> ReviewItem:
    """A new current run (coding.services.charge_run_store): the encounter's item follows it.

    An item a coder holds in review stays hers, in review (QA: a pharmacist's change re-ran
    the engine mid-review and put the item back to NEW, unclaimed, for any coder to take):
    marked changed under her (`changed_in_review`: its run made since she claimed it; the
    review page says what changed and when). Any other item goes back to NEW, unclaimed (an
    answered query's item came back to the coders before this: `_answered`)."""
    item, _ = ReviewItem.objects.select_for_update().get_or_create(
        encounter_id=run.encounter_id, defaults={"run": run}
    )
    held = item.state == ReviewItem.State.IN_REVIEW and item.claimed_by_id is not None
    item.run = run
    if not held:
        item.state = ReviewItem.State.NEW
        item.claimed_by = None
        item.claimed_at = None
    # Who accepted the charges before (`accepted_by`, `accepted_at`) stays, with the run she
    # accepted (`accepted_run`): the state says they no longer stand accepted; the review page
    # names her ("Changed since run 3 was reviewed by ... on 5 Dec 14:02").
    item.returned_reason = run.get_trigger_display()
    item.updated_at = timezone.now()
    item.save()
    return item


def changed_in_review(item: ReviewItem | None, run: ChargeRun | None) -> bool:
    """Whether `run` (the item's current run) was made while the coder who holds `item` had it
    in review: the charges changed under her (`review_item_sync` kept her claim)."""
    return bool(
        item is not None
        and run is not None
        and item.state == ReviewItem.State.IN_REVIEW
        and item.claimed_at is not None
        and run.created_at > item.claimed_at
    )


def run_when_claimed(item: ReviewItem | None, runs: list[ChargeRun]) -> ChargeRun | None:
    """The run the coder holding `item` had when she claimed it (the latest made before her
    claim), or None. `runs`: the encounter's, already read."""
    if item is None or item.claimed_at is None:
        return None
    claimed_at = item.claimed_at
    return max(
        (r for r in runs if r.created_at <= claimed_at),
        key=lambda r: (r.created_at, r.pk),
        default=None,
    )


@transaction.atomic
def review_claim(*, user: AbstractBaseUser, item_id: int | None = None) -> ReviewItem | None:
    """Claim a new item (this one, or the oldest); None when another coder has it.

    SELECT ... FOR UPDATE SKIP LOCKED: two coders claiming at once never get the same row; the
    one who loses the race skips it (and takes the next, when no item was named).
    """
    candidates = ReviewItem.objects.select_for_update(skip_locked=True).filter(
        state=ReviewItem.State.NEW, claimed_by__isnull=True, run__isnull=False
    )
    if item_id is not None:
        candidates = candidates.filter(pk=item_id)
    item = candidates.order_by("pk").first()
    if item is None:
        return None
    item.state = ReviewItem.State.IN_REVIEW
    item.claimed_by = user  # type: ignore[assignment]
    item.claimed_at = timezone.now()
    item.updated_at = item.claimed_at
    item.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
    return item


def _locked_claimed(item: ReviewItem, user: AbstractBaseUser) -> ReviewItem:
    locked = (
        ReviewItem.objects.select_for_update(of=("self",)).select_related("run").get(pk=item.pk)
    )
    if locked.state != ReviewItem.State.IN_REVIEW or locked.claimed_by_id != user.pk:
        raise ValidationError("Claim this encounter first: it is not in review by you.")
    return locked


@transaction.atomic
def review_release(
    *, item: ReviewItem, user: AbstractBaseUser, for_another: bool = False
) -> ReviewItem:
    """Back to NEW, unclaimed. `for_another`: a coding lead or an admin (the view decides)
    releases a claim another coder holds (away, gone home): their corrections stay."""
    if for_another:
        locked = ReviewItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        if locked.state != ReviewItem.State.IN_REVIEW:
            raise ValidationError("No coder holds this encounter: there is nothing to release.")
    else:
        locked = _locked_claimed(item, user)
    locked.state = ReviewItem.State.NEW
    locked.claimed_by = None
    locked.claimed_at = None
    locked.updated_at = timezone.now()
    locked.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
    return locked


@transaction.atomic
def review_accept(*, item: ReviewItem, user: AbstractBaseUser) -> ReviewItem:
    """Accept the charges as they stand (with corrections); blocking edits must be resolved."""
    locked = _locked_claimed(item, user)
    run = ChargeRun.objects.prefetch_related(
        "lines", "corrections__by", "corrections__decided_by", "edit_overrides"
    ).get(pk=locked.run_id)
    if run.error:
        raise ValidationError(f"The record could not be coded: {run.error}")
    # Corrections a new run sent back for re-review (coding/corrections.py) block acceptance.
    waiting = [c for c in run.corrections.all() if c.state == ChargeCorrection.State.NEEDS_REVIEW]
    if waiting:
        raise ValidationError(
            f"{len(waiting)} correction{' needs' if len(waiting) == 1 else 's need'} re-review "
            "after the charges changed: keep, "
            "adapt or drop each, with a reason."
        )
    blocking = charge_edits_for_run(run).blocking
    if blocking:
        raise ValidationError(
            "Resolve or override these edits first: "
            + "; ".join(f"{e.finding.rule}: {e.finding.message}" for e in blocking)
        )
    locked.state = ReviewItem.State.ACCEPTED
    locked.accepted_by = user  # type: ignore[assignment]
    locked.accepted_at = timezone.now()
    locked.accepted_run = run
    locked.updated_at = locked.accepted_at
    locked.save(update_fields=["state", "accepted_by", "accepted_at", "accepted_run", "updated_at"])
    return locked


@transaction.atomic
def review_reopen(*, item: ReviewItem, user: AbstractBaseUser) -> ReviewItem:
    """Take accepted charges back into review: before they are exported (the export refused
    them, open edits hold them, or the coder accepted too soon), or after (the coder finds her
    own error once billing has the charges). The coder who reopens holds the item; acceptance is
    asked again. After billing, the next export sends only the difference her corrections make
    (credits of the charges they change, new charges: coding/ledger.py); what billing holds is
    untouched until then."""
    locked = ReviewItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
    if locked.state not in (ReviewItem.State.ACCEPTED, ReviewItem.State.EXPORTED):
        raise ValidationError(
            "Only accepted or exported charges can be taken back into review: these are "
            f"{locked.get_state_display().lower()}."
        )
    now = timezone.now()
    locked.state = ReviewItem.State.IN_REVIEW
    locked.claimed_by = user  # type: ignore[assignment]
    locked.claimed_at = now
    locked.updated_at = now
    # Who accepted them and when stay beside `accepted_run` (the state says they are in review
    # again): her acceptance is asked again, and the next one replaces them.
    locked.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
    return locked


# --- corrections --------------------------------------------------------------------------


def _clean_line(
    *,
    code: str,
    units: int,
    modifiers: list[str],
    day: date,
    administrations: list[str],
    why: str,
) -> dict[str, Any]:
    code = code.strip().upper()
    if not CODE_RE.match(code):
        raise ValidationError(
            {"code": f"{code or 'Nothing'} is not a CPT/HCPCS code: {CODE_HELP}."}
        )
    if units < 1:
        raise ValidationError({"units": "A line has at least one unit; remove it instead."})
    if units > MAX_UNITS:
        # The export refuses such a line (coding/exports.py): say so now, beside the field.
        raise ValidationError(
            {
                "units": f"{units} units on one line is more than {MAX_UNITS}, the most a "
                "line takes: check the units typed."
            }
        )
    # coding/modifiers.py: shape, known, none twice, <= 4, 59/X and JW/JZ rules (JW/JZ by code)
    mods = modifiers_checked(modifiers, code)
    for adm in administrations:
        if not RECORD_ID_RE.match(adm):
            raise ValidationError({"administrations": f"{adm} is not an administration id."})
    return {
        "code": code,
        "units": units,
        "modifiers": mods,
        "date": day.isoformat(),
        "administrations": administrations,
        "why": why,
    }


def _same_line(current: dict[str, Any], corrected: dict[str, Any]) -> bool:
    """Whether a correction would send the line exactly as it is sent now (its `why` aside)."""
    keys = ("code", "units", "modifiers", "date", "administrations")
    return all(current.get(key) == corrected.get(key) for key in keys)


ENGINES_OWN = "This is what the engine already charges; nothing to correct."


def is_engines_own(engine: dict[str, Any], corrected: dict[str, Any]) -> bool:
    """Whether `corrected` is exactly the engine's line `engine`: code, units, modifiers in any
    order ("XU 59" is "59 XU"), date and administrations. Sent as it is, it corrects nothing:
    the engine's line, never flagged "corrected"."""
    keys = ("code", "units", "date", "administrations")
    return all(engine.get(key) == corrected.get(key) for key in keys) and sorted(
        engine.get("modifiers") or []
    ) == sorted(corrected.get("modifiers") or [])


def _refuse_engines_own(
    engine: dict[str, Any], corrected: dict[str, Any], *, current: dict[str, Any]
) -> None:
    """Refuse a change of the engine's line, as it stands, to exactly itself (code, units,
    modifiers in any order, date, administrations: "XU 59" for 59 XU): kept, it would be sent
    and exported as "corrected" while it corrects nothing (QA). Said beside the field that
    differs from the line as it stands, so the form keeps what was typed."""
    if not is_engines_own(engine, corrected):
        return
    field = next(
        (
            name
            for key, name in (("code", "code"), ("units", "units"), ("modifiers", "modifiers"),
                              ("date", "day"))
            if current.get(key) != corrected.get(key)
        ),
        "units",
    )  # fmt: skip
    raise ValidationError({field: ENGINES_OWN})


def _day_in_encounter(encounter: Any, day: date) -> None:
    """A line is dated on a day its service was given: from the arrival (or the first start)
    to the last charted time, in the encounter's zone (an overnight encounter spans two)."""
    times = [encounter.arrived_at] + [
        moment
        for start, stop in Administration.objects.filter(encounter=encounter).values_list(
            "start", "stop"
        )
        for moment in (start, stop)
    ]
    days = sorted({timezone.localtime(t, encounter.zone).date() for t in times if t is not None})
    if days and not days[0] <= day <= days[-1]:
        span = f"{days[0]:%Y-%m-%d}" + (f" to {days[-1]:%Y-%m-%d}" if days[-1] != days[0] else "")
        raise ValidationError(
            {"day": f"{day:%Y-%m-%d} is not a day of this encounter ({span}): date the line "
                    "on the day its service was given."}
        )  # fmt: skip


def _claim_key(data: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """What makes two lines of a claim the same charge: code, date and modifiers (in any
    order: "59 XU" is "XU 59")."""
    return (data["code"], data["date"], tuple(sorted(data.get("modifiers") or ())))


def _refuse_duplicate(
    run: ChargeRun,
    corrected: dict[str, Any],
    *,
    current: dict[str, Any] | None,
    target: ChargeLine | None = None,
    added: ChargeCorrection | None = None,
) -> None:
    """Refuse a correction that would send a line another line already sends (code, date and
    modifiers): the claim would bill that code twice on that day. Not when the line already had
    that key (its units changed), nor for two drug lines of a code (one NDC each). Said beside
    the field that made it ("96361 on 2026-03-02 is already billed by line 2 (96361 ×1, A1):
    change that line's units instead"), the line numbered as the review page numbers it."""
    key = _claim_key(corrected)
    if current and _claim_key(current) == key:
        return
    full = ChargeRun.objects.prefetch_related(
        "lines", "corrections__by", "corrections__decided_by"
    ).get(pk=run.pk)
    drug = target is not None and is_drug_line(target)
    for number, other in enumerate(effective_lines(full, include_removed=True), start=1):
        if other.removed:
            continue
        if target is not None and other.line_id == target.pk:
            continue
        if added is not None and other.added is not None and other.added.pk == added.pk:
            continue
        if drug and other.source == "drug":
            continue
        if _claim_key(line_json(other)) != key:
            continue
        mods = " ".join(other.modifiers)
        covers = f", {' '.join(other.administrations)}" if other.administrations else ""
        said = (
            f"{other.code} on {other.date:%Y-%m-%d}{' with ' + mods if mods else ''} is already "
            f"billed by line {number} ({other.code} ×{other.units}{covers}): change that "
            "line's units instead (a distinct service takes its own modifier, 59 or XU)."
        )
        was = current or {}
        field = (
            "modifiers"
            if was.get("code") == corrected["code"]
            and sorted(was.get("modifiers") or []) != sorted(corrected["modifiers"])
            else "code"
        )
        raise ValidationError({field: said})


@transaction.atomic
def charge_line_correct(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    action: str,
    reason: str,
    line: ChargeLine | None = None,
    added: ChargeCorrection | None = None,
    code: str = "",
    units: int = 1,
    modifiers: list[str] | None = None,
    administrations: list[str] | None = None,
    day: date | None = None,
) -> ChargeCorrection:
    """Change, remove or add a line, with a mandatory reason; the original is kept beside it.

    `line`: a generated line of the run; `added`: a coder's added line (the ADD correction
    that added it: a line she added, or a correction kept as an added line after re-review,
    its target gone), changed or removed by a correction of its own (`amends`), the addition
    kept as made. Never into a line another line already sends (`_refuse_duplicate`). A change
    to exactly the engine's line is refused while no correction of it is in effect, and after
    one takes the line back to the engine's line (`charge_line_back`): not a correction, the
    correction returned is hers, marked BACK."""
    locked = _locked_claimed(item, user)
    run = locked.run
    assert run is not None
    if not reason.strip():
        raise ValidationError({"reason": "Say why the line is corrected."})
    reason_checked(reason)
    if action not in ChargeCorrection.Action.values:
        raise ValidationError({"action": f"Unknown action {action!r}: change, remove or add."})
    if action == ChargeCorrection.Action.ADD:
        if line is not None or added is not None:
            raise ValidationError("An added line refers to no existing line.")
        first = run.lines.order_by("position").first()
        arrived = run.encounter.arrived_at
        default_day = (
            first.date if first else (arrived.date() if arrived else timezone.now().date())
        )
        if day is not None:
            _day_in_encounter(run.encounter, day)
        corrected = _clean_line(
            code=code, units=units, modifiers=modifiers or [], day=day or default_day,
            administrations=administrations or [], why=reason,
        )  # fmt: skip
        _refuse_duplicate(run, corrected, current=None)
        return ChargeCorrection.objects.create(
            run=run, action=action, original={}, corrected=corrected, reason=reason, by=user
        )
    if added is not None:
        return _added_line_correct(
            run=run, user=user, added=added, action=action, reason=reason, code=code,
            units=units, modifiers=modifiers, day=day,
        )  # fmt: skip
    if line is None or line.run_id != run.pk:
        raise ValidationError("That line is not one of the charges under review.")
    original = line_json(line)
    latest = line.corrections.order_by("-at", "-pk").first()
    # The line as it stands now: the engine's, or as the latest correction left it (one waiting
    # for re-review, or dropped, leaves the engine's: `effective_lines`).
    current = latest.corrected if latest is not None and latest.in_effect else original
    corrected = {}
    if action == ChargeCorrection.Action.CHANGE:
        corrected = _clean_line(
            code=code,
            units=units,
            modifiers=modifiers if modifiers is not None else list(line.modifiers),
            day=day or line.date,
            administrations=administrations
            if administrations is not None
            else list(line.administrations),
            why=line.why,
        )
        if current and _same_line(current, corrected):
            raise ValidationError(
                "Nothing changed: the line already has this code, these units and modifiers."
            )
        if current and _same_line(current, original):
            # The line stands as the engine made it (no correction of it in effect).
            _refuse_engines_own(original, corrected, current=current)
        elif is_engines_own(original, corrected):
            # A correction of it in effect, and the change is exactly the engine's line: back
            # to the engine's line, not a correction (it would be exported as "corrected").
            assert latest is not None
            return _line_back(run=run, user=user, line=line, latest=latest, reason=reason)
        _refuse_duplicate(run, corrected, current=current, target=line)
    elif not current:
        raise ValidationError("Nothing changed: the line is already removed.")
    return ChargeCorrection.objects.create(
        run=run,
        line=line,
        action=action,
        original=original,
        corrected=corrected,
        reason=reason,
        by=user,
    )


@transaction.atomic
def charge_line_back(
    *, item: ReviewItem, user: AbstractBaseUser, line: ChargeLine, reason: str
) -> ChargeCorrection:
    """Take a corrected (or removed) line back to exactly the engine's line, with a reason.

    Not a correction: the line is sent as the engine made it, never flagged "corrected" (QA: a
    change back to the engine's line was exported as corrected with her reason). Her latest
    correction of the line is kept, marked BACK (who, when, why: `decided_by`, `decided_at`,
    `decision_reason`) with a `CorrectionDecision` BACK; it no longer applies and is not
    carried to a later run (`corrections_to_carry`), so a re-run makes the engine's line. Also
    what a correction form equal to the engine's line does (`charge_line_correct`)."""
    locked = _locked_claimed(item, user)
    run = locked.run
    assert run is not None
    if line.run_id != run.pk:
        raise ValidationError("That line is not one of the charges under review.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the line goes back to the engine's line."})
    reason_checked(reason)
    latest = line.corrections.order_by("-at", "-pk").first()
    return _line_back(run=run, user=user, line=line, latest=latest, reason=reason)


def _line_back(
    *,
    run: ChargeRun,
    user: AbstractBaseUser,
    line: ChargeLine,
    latest: ChargeCorrection | None,
    reason: str,
) -> ChargeCorrection:
    """The line's latest correction (in effect) marked BACK: the engine's line stands."""
    if latest is None or not latest.in_effect:
        raise ValidationError(
            "Nothing changed: the line already stands as the engine made it (no correction of "
            "it is in effect)."
        )
    correction = ChargeCorrection.objects.select_for_update().get(pk=latest.pk)
    before = {
        "state": correction.state,
        "action": correction.action,
        "original": correction.original,
        "corrected": correction.corrected,
    }
    with history_context_apart(
        action="charge_line_back", line=line.pk, correction=correction.pk, reason=reason.strip()
    ):
        correction.state = ChargeCorrection.State.BACK
        correction.decision_reason = reason.strip()
        correction.decided_by = user  # type: ignore[assignment]
        correction.decided_at = timezone.now()
        correction.save(update_fields=["state", "decision_reason", "decided_by", "decided_at"])
        CorrectionDecision.objects.create(
            correction=correction,
            decision=CorrectionDecision.Decision.BACK,
            reason=correction.decision_reason,
            by=user,
            at=correction.decided_at,
            before=before,
            after={**before, "state": correction.state, "line": line_json(line)},
        )
    return correction


def line_backs(run: ChargeRun) -> dict[int, list[ChargeCorrection]]:
    """By line: the corrections of the run's lines the coder took back to the engine's line, in
    order (the review page lists them under the line: her correction and her going back, who,
    when and why). Uses run.corrections.all()."""
    out: dict[int, list[ChargeCorrection]] = {}
    for correction in sorted(run.corrections.all(), key=lambda c: (c.at, c.pk)):
        if correction.state == ChargeCorrection.State.BACK and correction.line_id is not None:
            out.setdefault(correction.line_id, []).append(correction)
    return out


def _added_line_correct(
    *,
    run: ChargeRun,
    user: AbstractBaseUser,
    added: ChargeCorrection,
    action: str,
    reason: str,
    code: str,
    units: int,
    modifiers: list[str] | None,
    day: date | None,
) -> ChargeCorrection:
    """Change or remove a coder's added line: a correction amending its ADD correction, with
    the line as it stood in `original` (the addition, or its latest change)."""
    addition = ChargeCorrection.objects.select_for_update().get(pk=added.pk)
    if addition.run_id != run.pk:
        raise ValidationError("That line is not one of the charges under review.")
    if addition.action != ChargeCorrection.Action.ADD or addition.amends_id is not None:
        raise ValidationError("That correction is not an added line: correct its line instead.")
    if not addition.in_effect:
        raise ValidationError(
            "That added line waits for re-review (or was dropped): decide on it first."
        )
    latest = amendment_in_effect(addition, addition.amendments.order_by("-at", "-pk").first())
    if latest is not None and latest.action == ChargeCorrection.Action.REMOVE:
        raise ValidationError("Nothing changed: the added line is already removed.")
    current = latest.corrected if latest is not None else addition.corrected
    corrected: dict[str, Any] = {}
    if action == ChargeCorrection.Action.CHANGE:
        corrected = _clean_line(
            code=code,
            units=units,
            modifiers=modifiers if modifiers is not None else list(current["modifiers"]),
            day=day or date.fromisoformat(current["date"]),
            administrations=list(current["administrations"]),
            why=current.get("why", ""),
        )
        if _same_line(current, corrected):
            raise ValidationError(
                "Nothing changed: the line already has this code, these units and modifiers."
            )
        _refuse_duplicate(run, corrected, current=current, added=addition)
    return ChargeCorrection.objects.create(
        run=run,
        amends=addition,
        action=action,
        original=current,
        corrected=corrected,
        reason=reason,
        by=user,
    )


@transaction.atomic
def edit_override_create(
    *, item: ReviewItem, user: AbstractBaseUser, rule: str, message: str, reason: str
) -> EditOverride:
    """Send the charges despite one edit, saying why (e.g. MUE exceeded, medically necessary)."""
    locked = _locked_claimed(item, user)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the edit is overridden."})
    reason_checked(reason)
    run = ChargeRun.objects.prefetch_related(
        "lines", "corrections__by", "corrections__decided_by", "edit_overrides"
    ).get(pk=locked.run_id)
    current = {(e.finding.rule, e.finding.message) for e in charge_edits_for_run(run).items}
    if (rule, message) not in current:
        raise ValidationError("That edit no longer applies to these charges.")
    return EditOverride.objects.create(run=run, rule=rule, message=message, reason=reason, by=user)


# --- documentation queries ----------------------------------------------------------------


@transaction.atomic
def query_send(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    finding: ChargeFinding | None,
    question: str,
    administration: str = "",
) -> DocumentationQuery:
    """Ask the nurse about a finding, or (finding None) about the record: a gap the engine did
    not flag, optionally naming one administration ("A12") of the encounter. A query without a
    finding has no rule (rule ""). The item waits (QUERIED) until an addendum answers."""
    locked = _locked_claimed(item, user)
    if finding is not None and finding.run_id != locked.run_id:
        raise ValidationError("That finding is not one of the charges under review.")
    if finding is not None and administration:
        raise ValidationError(
            {"administration": "A query about a finding covers that finding's administrations."}
        )
    if not question.strip():
        raise ValidationError({"question": "Write the question for the nurse."})
    if finding is not None:
        rule, administrations = finding.rule, list(finding.administrations)
    else:
        rule, administrations = "", []
        if administration:
            try:
                pk = pk_from_record_id(administration) if administration[:1] == "A" else None
            except ValueError:
                pk = None
            if (
                pk is None
                or not Administration.objects.filter(
                    pk=pk, encounter_id=locked.encounter_id
                ).exists()
            ):
                raise ValidationError(
                    {"administration": f"{administration} is not an administration of this record."}
                )
            administrations = [administration]
    query = DocumentationQuery.objects.create(
        encounter_id=locked.encounter_id,
        run_id=locked.run_id,
        rule=rule,
        administrations=administrations,
        question=question,
        asked_by=user,
    )
    locked.state = ReviewItem.State.QUERIED
    locked.updated_at = timezone.now()
    locked.save(update_fields=["state", "updated_at"])
    return query


WITHDRAWN = "Query withdrawn"  # the item's returned_reason


def queries_finding_back(
    queries: list[DocumentationQuery], run: ChargeRun | None
) -> dict[int, ChargeFinding]:
    """An answered query whose finding the current charges list again, by query: a later
    addendum undid the answer (QA: the nurse charted the flush RAC-5 asked for, then moved a stop
    by another addendum and the gap was back, while the query still read "Answered"), or the
    answer did not settle it. The same rule on any of the administrations the query named (any,
    when it named none). Read from the run's findings as loaded; nothing is changed: the coder
    asks again or accepts."""
    if run is None:
        return {}
    findings = list(run.findings.all())
    back: dict[int, ChargeFinding] = {}
    for query in queries:
        if query.answered_at is None or not query.rule:
            continue
        named = set(query.administrations or [])
        for finding in findings:
            if finding.rule == query.rule and (
                not named or named & set(finding.administrations or [])
            ):
                back[query.pk] = finding
                break
    return back


@transaction.atomic
def query_withdraw(
    *, query: DocumentationQuery, user: AbstractBaseUser, reason: str
) -> DocumentationQuery:
    """A coder takes back a query still open (sent by mistake, or settled another way), with a
    reason: it leaves the nurse's chart and board (no longer one of `open_queries`), stays in
    the history as withdrawn (who, when, why), and no addendum answers it afterwards. Any coder
    may, unless another coder holds the encounter in review (hers to decide). When no other
    query is open, a queried item waits no more: back in review with the coder who withdrew
    it. An answered query is not withdrawn."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why the query is withdrawn: it is kept with it."})
    reason_checked(reason)
    locked = DocumentationQuery.objects.select_for_update().get(pk=query.pk)
    if locked.answered_at is not None:
        raise ValidationError(
            "This query was already answered by the nurse's addendum "
            f"({timezone.localtime(locked.answered_at):%m-%d %H:%M}): it is not withdrawn."
        )
    if locked.withdrawn_at is not None:
        raise ValidationError("This query was already withdrawn.")
    item = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("claimed_by")
        .filter(encounter_id=locked.encounter_id)
        .first()
    )
    if (
        item is not None
        and item.state == ReviewItem.State.IN_REVIEW
        and item.claimed_by_id != user.pk
        and item.claimed_by is not None
    ):
        raise ValidationError(
            f"{item.claimed_by.get_username()} is reviewing this encounter: the query is "
            "hers to withdraw, or release her claim first."
        )
    now = timezone.now()
    locked.withdrawn_at = now
    locked.withdrawn_by = user  # type: ignore[assignment]
    locked.withdrawn_reason = reason.strip()
    locked.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
    still_open = DocumentationQuery.objects.filter(
        encounter_id=locked.encounter_id, answered_at__isnull=True, withdrawn_at__isnull=True
    ).exists()
    if item is not None and item.state == ReviewItem.State.QUERIED and not still_open:
        item.state = ReviewItem.State.IN_REVIEW
        item.claimed_by = user  # type: ignore[assignment]
        item.claimed_at = now
        item.returned_reason = WITHDRAWN
        item.updated_at = now
        item.save(
            update_fields=["state", "claimed_by", "claimed_at", "returned_reason", "updated_at"]
        )
    return locked


ANSWERED = "Query answered by addendum"  # the item's returned_reason


def _asker_back(queries: list[DocumentationQuery]) -> Any:
    """Who an answered query's item comes back to: the asker of the query answered last (of
    those answered together, the one asked last), when she can still review (active, a coder
    or an administrator); else None (the item goes back to NEW, for any coder)."""
    last = max(queries, key=lambda q: (q.answered_at, q.asked_at, q.pk))
    if last.asked_by_id is None:
        return None
    return (
        get_user_model()
        .objects.filter(pk=last.asked_by_id, is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=(CODER, ADMIN)))
        .first()
    )


def _answered(queries: list[DocumentationQuery], addendum: Addendum) -> None:
    """Mark `queries` answered by `addendum`; a queried item comes back in review with the
    coder who asked (`_asker_back`; QA: it came back NEW, nobody holding it, for her to claim
    again and anyone to take), else NEW, unclaimed. It keeps her claim's moment when she held
    it while it waited (so a new run of the answer is marked changed under her:
    `changed_in_review`), else since her question; the charges still want her decision (the
    item is not accepted: a new run's `review_item_sync` keeps her claim, the corrections that
    waited on the answer come back for re-review)."""
    at = timezone.now()
    for query in queries:
        query.answered_by_addendum = addendum
        query.answered_at = at
        query.save(update_fields=["answered_by_addendum", "answered_at"])
    item = (
        ReviewItem.objects.select_for_update(of=("self",))
        .filter(encounter_id=addendum.encounter_id, state=ReviewItem.State.QUERIED)
        .first()
    )
    if item is None:
        return
    asker = _asker_back(queries)
    if asker is None:
        item.state = ReviewItem.State.NEW
        item.claimed_by = None
        item.claimed_at = None
    else:
        last = max(queries, key=lambda q: (q.answered_at, q.asked_at, q.pk))
        item.state = ReviewItem.State.IN_REVIEW
        if item.claimed_by_id != asker.pk or item.claimed_at is None:
            item.claimed_at = last.asked_at
        item.claimed_by = asker
    item.returned_reason = ANSWERED
    item.updated_at = at
    item.save(update_fields=["state", "claimed_by", "claimed_at", "returned_reason", "updated_at"])


@transaction.atomic
def queries_answer(*, addendum: Addendum, query_ids: list[int]) -> list[DocumentationQuery]:
    """The nurse says her addendum answers these queries (an answer in words: the record may
    not change at all). Only the open queries of the addendum's encounter among `query_ids`
    are answered; the item comes back to the coders. Called by the record's port
    (`mar.services.signature.addendum_store`, the addendum form's "It answers the coder's
    query")."""
    queries = list(
        DocumentationQuery.objects.select_for_update().filter(
            pk__in=query_ids,
            encounter_id=addendum.encounter_id,
            answered_at__isnull=True,
            withdrawn_at__isnull=True,
        )
    )
    if queries:
        _answered(queries, addendum)
    return queries


def _record_entries(snapshot: dict[str, Any], administrations: list[str]) -> dict[str, Any]:
    """The record's entries a query names: each administration's and its order's."""
    adms = {adm.get("id"): adm for adm in snapshot.get("administrations") or []}
    orders = {order.get("id"): order for order in snapshot.get("orders") or []}
    entries: dict[str, Any] = {}
    for adm_id in administrations:
        adm = adms.get(adm_id)
        entries[adm_id] = adm
        if adm is not None and adm.get("order"):
            entries[adm["order"]] = orders.get(adm["order"])
    return entries


def _finding_marks(run: ChargeRun, query: DocumentationQuery) -> list[tuple[str, str]]:
    """The run's findings of the query's rule on the query's administrations (their field; for
    a finding of no administration, its message too: it names what it is about)."""
    wanted = sorted(query.administrations)
    return sorted(
        (finding.field, "" if wanted else finding.message)
        for finding in run.findings.all()
        if finding.rule == query.rule and sorted(finding.administrations) == wanted
    )


def query_answered_by_change(query: DocumentationQuery, before: ChargeRun, after: ChargeRun) -> str:
    """Why the record as `after` read it answers `query`, asked of the record as `before` read
    it ("" when it does not): its finding changed or cleared ("RAC-1 cleared"), the
    administration it names or that administration's order changed ("A2 changed"), or, for a
    query about the record (no finding, no administration), the record changed."""
    if query.rule and _finding_marks(before, query) != _finding_marks(after, query):
        cleared = not _finding_marks(after, query)
        return f"{query.rule} {'cleared' if cleared else 'changed'}"
    if query.administrations:
        named = list(query.administrations)
        if _record_entries(before.input_snapshot, named) != _record_entries(
            after.input_snapshot, named
        ):
            return f"{', '.join(named)} changed"
        return ""
    if not query.rule and before.input_snapshot != after.input_snapshot:
        return "the record changed"
    return ""


def queries_answer_by_run(*, previous: ChargeRun, run: ChargeRun) -> list[DocumentationQuery]:
    """A run made by an addendum answers the open queries whose subject it changed
    (`query_answered_by_change`, from `previous`, the run it replaces): answered by the last
    addendum written since the query was asked. The others stay open, whatever addendum came:
    an addendum about something else answers nothing. Called by charge_run_store before it
    carries the coder's corrections (one that waited on the answer comes back for re-review)
    and syncs the item (`review_item_answered` then says a query was answered)."""
    if run.trigger != ChargeRun.Trigger.ADDENDUM or run.error or previous.error:
        return []
    queries = list(
        DocumentationQuery.objects.select_for_update().filter(
            encounter_id=run.encounter_id, answered_at__isnull=True, withdrawn_at__isnull=True
        )
    )
    if not queries:
        return []
    addenda = list(Addendum.objects.filter(encounter_id=run.encounter_id).order_by("at", "pk"))
    answered: list[DocumentationQuery] = []
    for query in queries:
        since = [a for a in addenda if a.at >= query.asked_at]
        if since and query_answered_by_change(query, previous, run):
            _answered([query], since[-1])
            answered.append(query)
    return answered


def review_item_answered(*, run: ChargeRun) -> None:
    """The item of `run` (back in review with the asker, or NEW: `_answered`, then
    `review_item_sync` for its new charges) says a query was answered by the addendum that
    made it."""
    ReviewItem.objects.filter(encounter_id=run.encounter_id, run=run).update(
        returned_reason=ANSWERED
    )


def addenda_since(query: DocumentationQuery, addenda: list[Addendum]) -> list[Addendum]:
    """The addenda of `addenda` written since `query` was asked: on an open query, those that
    did not answer it ("addendum since, not answering")."""
    return [a for a in addenda if a.encounter_id == query.encounter_id and a.at >= query.asked_at]


def open_queries(encounter_id: int) -> list[DocumentationQuery]:
    """The encounter's queries neither answered nor withdrawn (the nurse's chart shows them)."""
    return list(
        DocumentationQuery.objects.filter(
            encounter_id=encounter_id, answered_at__isnull=True, withdrawn_at__isnull=True
        )
        .select_related("asked_by")
        .order_by("asked_at", "pk")
    )
