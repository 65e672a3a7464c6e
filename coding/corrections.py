"""A coder's corrections across charge runs: carried forward, or back for re-review.

A correction is tied to what it corrected: the target line's code, units, modifiers, date and
administrations (`ChargeCorrection.original`). When a new run replaces the one the coder worked
on (an addendum, a re-class, a payer's new policy), each correction in effect is copied onto the
new run:

- CARRIED when the new run has a line identical to the target (for an added line: when the lines
  of the administrations it names are the same as before); the correction applies as before.
- NEEDS_REVIEW otherwise (the target changed or vanished): the old target stays in `original`,
  the new run's line for the same administrations (if any) in `line`; it applies to nothing and
  blocks acceptance until the coder keeps, adapts or drops it, with a reason
  (`correction_resolve`). Also when its target is unchanged but the new run now makes, on
  another line, the line it gives (its code, date and modifiers): carried, it would bill that
  code twice.

Corrections still waiting for re-review are carried as they are; dropped ones are not carried.
Nothing is dropped without the coder's recorded decision. Each decision is a row of its own
(`CorrectionDecision`: keep, adapt, drop, and undo), never overwritten; until the run is sent to
billing the coder may undo her decision on it (`correction_decision_undo`): the correction waits
for re-review again as it did before it.

A correction is never kept (or adapted) into a line the run already sends, by code, date and
modifiers: the claim would bill it twice (two drug lines of one code are not twice: each carries
its own NDC). The re-review says when the new run already gives what the correction gave
(`correction_rereview`: "the new run now makes this line itself: nothing to keep") and offers
to drop it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coding.drug_lines import is_drug_line
from coding.models import ChargeCorrection, ChargeLine, ChargeRun, CorrectionDecision, ReviewItem
from coding.review import EffectiveLine, _clean_line, _locked_claimed, effective_lines

_TARGET_KEYS = ("code", "units", "modifiers", "date", "administrations")


def _target(data: dict[str, Any]) -> tuple[Any, ...]:
    return (
        data.get("code"),
        int(data.get("units") or 0),
        tuple(data.get("modifiers") or ()),
        data.get("date"),
        tuple(sorted(data.get("administrations") or ())),
    )


def line_target(line: ChargeLine) -> tuple[Any, ...]:
    return (
        line.code,
        line.units,
        tuple(line.modifiers),
        line.date.isoformat(),
        tuple(sorted(line.administrations)),
    )


def _line_json(line: ChargeLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "units": line.units,
        "modifiers": list(line.modifiers),
        "date": line.date.isoformat(),
        "administrations": list(line.administrations),
        "why": line.why,
    }


ClaimKey = tuple[str, str, tuple[str, ...]]


def _claim_key(data: dict[str, Any]) -> ClaimKey:
    """What makes two lines of a claim the same charge: code, date and modifiers."""
    return (data.get("code") or "", data.get("date") or "", tuple(data.get("modifiers") or ()))


def _sent_key(line: ChargeLine | EffectiveLine) -> ClaimKey:
    return (line.code, line.date.isoformat(), tuple(line.modifiers))


def _collides(result: dict[str, Any], lines: list[ChargeLine], target: ChargeLine | None) -> bool:
    """Whether a run's lines other than `target` have the code, date and modifiers of `result`
    (what a correction sends). Two drug lines of a code are distinct (one NDC each)."""
    key = _claim_key(result)
    drug = target is not None and is_drug_line(target)
    return any(
        _sent_key(line) == key
        and (target is None or line.pk != target.pk)
        and not (drug and is_drug_line(line))
        for line in lines
    )


def _covering(lines: list[ChargeLine], administrations: list[str]) -> list[tuple[Any, ...]]:
    wanted = set(administrations)
    return sorted(
        line_target(line) for line in lines if not wanted or wanted & set(line.administrations)
    )


def lines_matched(
    old_lines: list[ChargeLine], new_lines: list[ChargeLine]
) -> tuple[list[tuple[ChargeLine, ChargeLine]], list[ChargeLine], list[ChargeLine]]:
    """Two runs' lines paired as a correction follows its target from one run to the next
    (`corrections_carry`): an identical line (code, units, modifiers, date, administrations)
    first, else the new line of the same code for the most shared administrations
    (`nearest_line`); a line is paired once. Returns the pairs (old, new) in the old run's
    order, the old lines left unpaired (gone) and the new ones left unpaired (new), each in
    claim order. The lines need their pks (saved, or given one)."""
    old_sorted = sorted(old_lines, key=lambda line: line.position)
    new_sorted = sorted(new_lines, key=lambda line: line.position)
    by_target: dict[tuple[Any, ...], list[ChargeLine]] = {}
    for line in new_sorted:
        by_target.setdefault(line_target(line), []).append(line)
    taken: set[int] = set()
    paired: dict[int, ChargeLine] = {}
    for old in old_sorted:  # the identical lines first, so a near one never takes their place
        same = [c for c in by_target.get(line_target(old), []) if c.pk not in taken]
        if same:
            paired[old.pk] = same[0]
            taken.add(same[0].pk)
    for old in old_sorted:
        if old.pk not in paired:
            near = nearest_line(new_sorted, _line_json(old), taken)
            if near is not None:
                paired[old.pk] = near
                taken.add(near.pk)
    pairs = [(old, paired[old.pk]) for old in old_sorted if old.pk in paired]
    gone = [old for old in old_sorted if old.pk not in paired]
    new = [line for line in new_sorted if line.pk not in taken]
    return pairs, gone, new


def corrections_to_carry(run: ChargeRun) -> list[ChargeCorrection]:
    """The run's corrections that a new run must hear about: the latest per line that is in
    effect or waiting for re-review, and every added line not dropped: as the coder last
    changed it (that change, `amends`, carried as the added line), none once she removed it
    (it sends nothing)."""
    latest: dict[int, ChargeCorrection] = {}
    amended: dict[int, ChargeCorrection] = {}
    added: list[ChargeCorrection] = []
    for correction in run.corrections.order_by("at", "pk"):
        if correction.amends_id is not None:
            amended[correction.amends_id] = correction
        elif correction.action == ChargeCorrection.Action.ADD or correction.line_id is None:
            if correction.state != ChargeCorrection.State.DROPPED:
                added.append(correction)
        else:
            latest[correction.line_id] = correction
    out: list[ChargeCorrection] = []
    for addition in added:
        amendment = amended.get(addition.pk)
        if amendment is None:
            out.append(addition)
        elif amendment.action != ChargeCorrection.Action.REMOVE:
            out.append(amendment)
    out.extend(c for c in latest.values() if c.state != ChargeCorrection.State.DROPPED)
    return sorted(out, key=lambda c: (c.at, c.pk))


@transaction.atomic
def corrections_carry(*, previous: ChargeRun, run: ChargeRun) -> list[ChargeCorrection]:
    """Copy the corrections of `previous` onto `run` (its successor), carried or for re-review.

    Idempotent: a run that already has corrections carried from `previous` gets none again."""
    if previous.pk == run.pk or run.corrections.filter(carried_from__run=previous).exists():
        return []
    new_lines = list(run.lines.order_by("position"))
    old_lines = list(previous.lines.order_by("position"))
    by_target: dict[tuple[Any, ...], list[ChargeLine]] = {}
    for line in new_lines:
        by_target.setdefault(line_target(line), []).append(line)
    taken: set[int] = set()
    made: list[ChargeCorrection] = []
    for old in corrections_to_carry(previous):
        waiting = old.state == ChargeCorrection.State.NEEDS_REVIEW
        line: ChargeLine | None = None
        original = old.original
        action = old.action
        if old.amends_id is not None:
            # The coder's change of her added line: carried as the line she added, so changed.
            action, original = ChargeCorrection.Action.ADD, {}
        if action == ChargeCorrection.Action.ADD or old.line_id is None:
            administrations = list(old.corrected.get("administrations") or [])
            same = _covering(old_lines, administrations) == _covering(new_lines, administrations)
            state = (
                ChargeCorrection.State.CARRIED
                if same and not waiting
                else ChargeCorrection.State.NEEDS_REVIEW
            )
        else:
            candidates = [c for c in by_target.get(_target(old.original), []) if c.pk not in taken]
            if candidates and not waiting:
                line, state = candidates[0], ChargeCorrection.State.CARRIED
                original = _line_json(line)
            else:
                state = ChargeCorrection.State.NEEDS_REVIEW
                line = nearest_line(new_lines, old.original, taken)
            if line is not None:
                taken.add(line.pk)
        if (
            state == ChargeCorrection.State.CARRIED
            and old.corrected
            and _collides(old.corrected, new_lines, line)
            and not _collides(old.corrected, old_lines, old.line)
        ):
            # The new run makes, on another line, the line this correction gives: carried as
            # it is, that code would be billed twice. The coder decides (the old target stays).
            state = ChargeCorrection.State.NEEDS_REVIEW
            original = old.original if old.amends_id is None else {}
        made.append(
            ChargeCorrection.objects.create(
                run=run,
                line=line,
                action=action,
                original=original,
                corrected=old.corrected,
                reason=old.reason,
                by=old.by,
                at=old.at,
                state=state,
                carried_from=old,
            )
        )
    return made


def nearest_line(
    lines: list[ChargeLine], target: dict[str, Any], taken: set[int]
) -> ChargeLine | None:
    """The new run's line of the same code as the old target, for the same administrations
    (most shared first); None when the code is gone from them: a correction is never moved
    onto a line of another code."""
    administrations = set(target.get("administrations") or ())
    best: tuple[int, ChargeLine] | None = None
    for line in lines:
        if line.pk in taken or line.code != target.get("code"):
            continue
        shared = len(administrations & set(line.administrations))
        if shared and (best is None or shared > best[0]):
            best = (shared, line)
    return best[1] if best else None


def corrections_waiting(run: ChargeRun) -> list[ChargeCorrection]:
    return [c for c in run.corrections.all() if c.state == ChargeCorrection.State.NEEDS_REVIEW]


@dataclass(frozen=True)
class Rereview:
    """What the re-review panel says of a correction waiting for the coder's decision."""

    correction: ChargeCorrection
    # The line the run sends that gives what the correction gave (code, units, modifiers,
    # date), when one does: keeping the correction would bill it twice.
    made: EffectiveLine | None = None

    @property
    def removed_line_gone(self) -> bool:
        return (
            self.correction.action == ChargeCorrection.Action.REMOVE
            and self.correction.line_id is None
        )

    @property
    def recommend(self) -> str:
        """The decision offered first ("drop"), when there is nothing to keep."""
        return "drop" if self.made is not None or self.removed_line_gone else ""

    @property
    def advice(self) -> str:
        if self.made is not None:
            if self.made.correction is None:
                return "the new run now makes this line itself: nothing to keep. Drop it."
            return "this run already sends this line (as corrected): nothing to keep. Drop it."
        if self.removed_line_gone:
            return "the line it removed is gone from the new charges: nothing to keep. Drop it."
        return ""


def correction_rereview(correction: ChargeCorrection, lines: Iterable[EffectiveLine]) -> Rereview:
    """The re-review of `correction` against `lines`, its run's lines as they will be sent
    (`effective_lines`): the run's line that already gives what the correction gave (its code,
    units, modifiers and date), if any. No query."""
    made = None
    if correction.action != ChargeCorrection.Action.REMOVE and correction.corrected:
        wanted = (_claim_key(correction.corrected), int(correction.corrected.get("units") or 0))
        made = next(
            (
                line
                for line in lines
                if line.line_id is not None
                and not line.removed
                and (_sent_key(line), line.units) == wanted
            ),
            None,
        )
    return Rereview(correction, made)


def _sent_twice(
    correction: ChargeCorrection, result: dict[str, Any], lines: list[EffectiveLine]
) -> EffectiveLine | None:
    """A line the run sends, besides the correction's own target, with the code, date and
    modifiers of `result` (what the correction would send once decided): the claim would bill
    that code twice on that day. Two drug lines of a code are not twice (one NDC each)."""
    key = _claim_key(result)
    target = correction.line
    drug = target is not None and is_drug_line(target)
    for line in lines:
        if line.removed or (target is not None and line.line_id == target.pk):
            continue
        if line.correction is not None and line.correction.pk == correction.pk:
            continue
        if drug and line.source == "drug":
            continue
        if _sent_key(line) == key:
            return line
    return None


def _refuse_twice(decision: str, result: dict[str, Any], twice: EffectiveLine) -> None:
    verb = {"keep": "kept", "adapt": "adapted"}[decision]
    mods = "-".join(twice.modifiers)
    label = f"{twice.code}{'-' + mods if mods else ''} ×{twice.units}"
    covers = f" ({', '.join(twice.administrations)})" if twice.administrations else ""
    same = (_sent_key(twice), twice.units) == (_claim_key(result), int(result.get("units") or 0))
    if same and twice.correction is None and twice.source != "coder":
        gave = ", the line this correction gave"
        fix = "Drop it: the new run makes this line itself."
    else:
        gave, fix = "", f"Drop it, and correct the run's {twice.code} line if it is wrong."
    raise ValidationError(
        f"Not {verb}: this run already sends {label} on {twice.date:%m-%d}{covers}{gave}; "
        f"{verb}, the correction would send a second {twice.code} that day, billed twice. {fix}"
    )


DECISIONS = ("keep", "adapt", "drop")


@transaction.atomic
def correction_resolve(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    correction: ChargeCorrection,
    decision: str,
    reason: str,
    code: str = "",
    units: int = 1,
    modifiers: list[str] | None = None,
    day: date | None = None,
) -> ChargeCorrection:
    """The coder's decision on a correction needing re-review: keep it as it was (on the new
    run's line, or as an added line when its target is gone), adapt it (new values), or drop it.
    Keeping or adapting it into a line the run already sends (code, date, modifiers) is refused:
    billed twice.
    """
    locked = _locked_claimed(item, user)
    correction = ChargeCorrection.objects.select_for_update().get(pk=correction.pk)
    if correction.run_id != locked.run_id:
        raise ValidationError("That correction is not one of the charges under review.")
    before = _as_is(correction)
    if correction.state != ChargeCorrection.State.NEEDS_REVIEW:
        raise ValidationError("That correction is not waiting for re-review.")
    if decision not in DECISIONS:
        raise ValidationError({"decision": "Keep, adapt or drop the correction."})
    if not reason.strip():
        raise ValidationError({"reason": "Say why you keep, adapt or drop it."})
    line = correction.line
    if decision == "drop":
        correction.state = ChargeCorrection.State.DROPPED
    else:
        if correction.action == ChargeCorrection.Action.REMOVE and line is None:
            raise ValidationError(
                "The line it removed is gone from the new charges: drop the correction."
            )
        if decision == "adapt":
            if correction.action == ChargeCorrection.Action.REMOVE:
                raise ValidationError(
                    "A removal is kept or dropped; to change the line, drop it and correct."
                )
            base = correction.corrected or {}
            correction.corrected = _clean_line(
                code=code or base.get("code", ""),
                units=units,
                modifiers=modifiers if modifiers is not None else list(base.get("modifiers", [])),
                day=day
                or date.fromisoformat(base.get("date") or timezone.now().date().isoformat()),
                administrations=list(base.get("administrations", [])),
                why=base.get("why", ""),
            )
            correction.state = ChargeCorrection.State.ADAPTED
        else:
            correction.state = ChargeCorrection.State.KEPT
        if correction.corrected:
            # Never into a line the run already sends: the claim would bill it twice.
            run = ChargeRun.objects.prefetch_related(
                "lines", "corrections__by", "corrections__decided_by"
            ).get(pk=locked.run_id)
            twice = _sent_twice(correction, correction.corrected, effective_lines(run))
            if twice is not None:
                _refuse_twice(decision, correction.corrected, twice)
        if line is not None:
            correction.original = _line_json(line)
        elif correction.action == ChargeCorrection.Action.CHANGE:
            # Its target is gone: what the coder wanted sent goes as an added line.
            correction.action = ChargeCorrection.Action.ADD
            correction.original = {}
    correction.decision_reason = reason.strip()
    correction.decided_by = user  # type: ignore[assignment]
    correction.decided_at = timezone.now()
    correction.save()
    CorrectionDecision.objects.create(
        correction=correction,
        decision=decision,
        reason=correction.decision_reason,
        by=user,
        at=correction.decided_at,
        before=before,
        after=_as_is(correction),
    )
    return correction


def _as_is(correction: ChargeCorrection) -> dict[str, Any]:
    """What a decision changes of a correction, kept beside it (`CorrectionDecision`)."""
    return {
        "state": correction.state,
        "action": correction.action,
        "original": correction.original,
        "corrected": correction.corrected,
    }


DECIDED = (
    ChargeCorrection.State.KEPT,
    ChargeCorrection.State.ADAPTED,
    ChargeCorrection.State.DROPPED,
)


@transaction.atomic
def correction_decision_undo(
    *, item: ReviewItem, user: AbstractBaseUser, correction: ChargeCorrection, reason: str
) -> ChargeCorrection:
    """Take back the re-review decision (keep, adapt, drop) made on the charges under review:
    the correction waits for re-review again as it did before it (its action, original and
    corrected as they were), to be decided anew; acceptance waits for it. The decision and its
    undoing both stay (`CorrectionDecision`). Not once the run was sent to billing: its charges
    are billed with that decision (a correction of the line is sent as the difference)."""
    locked = _locked_claimed(item, user)
    correction = ChargeCorrection.objects.select_for_update().get(pk=correction.pk)
    if correction.run_id != locked.run_id:
        raise ValidationError("That correction is not one of the charges under review.")
    last = correction.decisions.order_by("-at", "-pk").first()
    if (
        correction.state not in DECIDED
        or last is None
        or last.decision == CorrectionDecision.Decision.UNDO
        or not last.before
    ):
        raise ValidationError("That correction has no re-review decision on these charges to undo.")
    if correction.amendments.filter(at__gt=last.at).exists():
        raise ValidationError(
            "The line was corrected since this decision: correct or remove the line instead."
        )
    run = locked.run
    assert run is not None
    if run.exported_at is not None:
        raise ValidationError(
            "These charges were sent to billing with that decision: it stays. Correct the line "
            "instead (the next export sends the difference)."
        )
    if not reason.strip():
        raise ValidationError({"reason": "Say why you undo the decision."})
    undone = _as_is(correction)
    correction.state = last.before["state"]
    correction.action = last.before["action"]
    correction.original = last.before["original"]
    correction.corrected = last.before["corrected"]
    correction.decision_reason = ""
    correction.decided_by = None
    correction.decided_at = None
    correction.save()
    CorrectionDecision.objects.create(
        correction=correction,
        decision=CorrectionDecision.Decision.UNDO,
        reason=reason.strip(),
        by=user,
        before=undone,
        after=_as_is(correction),
    )
    return correction
