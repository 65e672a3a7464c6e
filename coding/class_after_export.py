"""A pharmacist's class change that reaches charges already sent to billing.

A drug's class decides its code family (hydration 96361, therapeutic 96367, chemotherapy 96413
...). A class change regenerates the runs not yet exported (coding/formulary_changes.py); an
exported run is never replaced behind the coder's back: it is flagged for her, a
`ClassChangeAfterExport` saying which administrations its run coded with another class than they
have now. The flag follows the difference, not the events: at every class change that governs
the run's administrations it is worked out again for the whole run (`class_differences`), so
the class changed back to what the run used ends it (REVERTED) and a change of another drug
still standing keeps it.

The coder takes it up in one of two ways, as after any change once billed:
- `class_change_rerun`: the charges made again under the class now, a new run in review with her
  (corrections carried, or back for re-review where their line changed); accepted, the next
  export sends billing only the difference (coding/ledger.py: credits of the billed lines it
  changes, new charges), so nothing billed is lost or sent twice;
- `class_change_stands`: the billed claim stands, with her reason, while the difference stays
  what she decided on: a class change that alters it flags the run again (changed back, then
  again, included). Nothing is sent.
Both are in the audit trail with their action and reason. `class_change_preview` shows her
beforehand what the engine made for the billed run and what it makes under the class now.

So the worklist shows a pending class change (an open flag of the current run) exactly when the
current run was exported and the classes now differ from those it was coded with, unless the
coder said the billed claim stands and no class change altered the difference since
(tests/coding/test_class_change_after_export_properties.py). An open flag of a run no longer
current (an addendum made a new run since) is moot: the new run read the class now.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coding.drug_lines import is_drug_line
from coding.engine import RecordError, code_record, parse_record
from coding.models import ChargeCorrection, ChargeRun, ClassChangeAfterExport, ReviewItem
from coding.review import review_claim
from coding.services import charge_run_generate
from mar.audit.context import history_context
from mar.models import Encounter
from mar.record import administration_classes, pk_from_record_id

State = ClassChangeAfterExport.State


def class_label(value: str | None) -> str:
    return value or "untagged"


def class_differences(runs: Iterable[ChargeRun]) -> dict[int, list[dict[str, Any]]]:
    """Per run, the administrations its record coded with another class than they have now:
    [{"administration": "A12", "drug": ..., "billed": the run's class, "now": the class now}],
    in the record's order (one read for all the runs)."""
    runs = list(runs)
    coded: dict[int, list[dict[str, Any]]] = {
        run.pk: list((run.input_snapshot or {}).get("administrations") or []) for run in runs
    }
    pks = {
        pk_from_record_id(adm["id"])
        for adms in coded.values()
        for adm in adms
        if str(adm.get("id", ""))[:1] == "A"
    }
    now = administration_classes(pks) if pks else {}
    out: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        out[run.pk] = [
            {
                "administration": adm["id"],
                "drug": adm.get("drug", ""),
                "billed": adm.get("drug_class") or None,
                "now": now[adm["id"]] or None,
            }
            for adm in coded[run.pk]
            if adm.get("id") in now and (adm.get("drug_class") or None) != (now[adm["id"]] or None)
        ]
    return out


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def key(changes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((c["administration"], c["billed"], c["now"]) for c in changes)

    return key(a) == key(b)


def class_after_export_refresh(*, runs: list[ChargeRun], reason: str) -> list[int]:
    """A class change governed administrations of these exported current runs
    (coding/formulary_changes.py `charges_refresh`, in the pharmacist's transaction): each run's
    flag kept to its difference now. Returns the runs flagged by this change (a flag raised, or
    its difference changed); a run whose classes are again what it used is not among them."""
    flagged: list[int] = []
    differences = class_differences(runs)
    at = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    said = f"{at}: {reason}"
    for run in runs:
        difference = differences.get(run.pk, [])
        rows = list(
            ClassChangeAfterExport.objects.select_for_update().filter(run=run).order_by("pk")
        )
        latest = rows[-1] if rows else None
        if latest is not None and latest.state == State.OPEN:
            if not difference:  # changed back to the classes the run used
                latest.state = State.REVERTED
                latest.decided_at = timezone.now()
                latest.decision_reason = f"Changed back {said}"
                latest.save(update_fields=["state", "decided_at", "decision_reason"])
            elif not _same(latest.changes, difference):
                # The pharmacists' reasons so far and this one (set by name: a `.reason =`
                # reads to tests/engine/test_record_unchanged.py as an engine result's field).
                setattr(latest, "reason", f"{latest.reason}\n{said}")  # noqa: B010
                latest.changes = difference
                latest.save(update_fields=["changes", "reason"])
                flagged.append(run.pk)
            continue
        stood = latest is not None and latest.state == State.STANDS
        if not difference:
            if stood:  # the difference the claim was said to stand for is gone: it ends there
                assert latest is not None
                ClassChangeAfterExport.objects.create(
                    run=run, changes=latest.changes, reason=said, state=State.REVERTED,
                    decided_at=timezone.now(), decision_reason=f"Changed back {said}",
                )  # fmt: skip
            continue
        if stood and _same(latest.changes, difference):  # type: ignore[union-attr]
            continue  # nothing changed for this run since the coder said the claim stands
        ClassChangeAfterExport.objects.create(run=run, changes=difference, reason=said)
        flagged.append(run.pk)
    return flagged


# --- what a re-run would change ------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    label: str  # the code with its modifiers: "96361", "96365-59"
    billed: int  # units the billed run's engine lines carry
    now: int  # units the engine makes under the class now

    @property
    def changed(self) -> bool:
        return self.billed != self.now


@dataclass
class Preview:
    rows: list[PreviewRow] = field(default_factory=list)
    error: str = ""  # the record could not be coded under the class now
    corrected: bool = False  # the billed run carries the coder's corrections

    @property
    def changed(self) -> list[PreviewRow]:
        return [row for row in self.rows if row.changed]


def _label(code: str, modifiers: Iterable[str]) -> str:
    mods = "-".join(modifiers)
    return f"{code}-{mods}" if mods else code


def class_change_preview(
    run: ChargeRun, changes: list[dict[str, Any]] | None = None
) -> Preview:  # fmt: skip
    """The engine's lines of the billed run beside those it makes of the same record with each
    administration's class as it is now (`changes`, else worked out), units by code and
    modifiers. Drug lines (HCPCS) are left aside: they follow the drug's billing data, not its
    class. Reads the run's lines and corrections as prefetched."""
    if changes is None:
        changes = class_differences([run]).get(run.pk, [])
    now = {change["administration"]: change["now"] for change in changes}
    snapshot = copy.deepcopy(run.input_snapshot or {})
    for adm in snapshot.get("administrations") or []:
        if adm.get("id") in now:
            adm["drug_class"] = now[adm["id"]]
    billed: Counter[str] = Counter()
    for line in run.lines.all():
        if not is_drug_line(line):
            billed[_label(line.code, line.modifiers)] += line.units
    corrected = any(c.state in ChargeCorrection.IN_EFFECT for c in run.corrections.all())
    try:
        result = code_record(parse_record(snapshot))
    except RecordError as exc:
        message = f"{exc.field}: {exc.message}" if exc.field else str(exc.message)
        return Preview(error=message, corrected=corrected)
    made: Counter[str] = Counter()
    for charge in result.charges:
        made[_label(charge.code, charge.modifiers)] += charge.units
    rows = [PreviewRow(label, billed[label], made[label]) for label in sorted(billed | made)]
    return Preview(rows=rows, corrected=corrected)


# --- the coder's decision ------------------------------------------------------------------


def _locked_for(
    item: ReviewItem, user: AbstractBaseUser
) -> tuple[ReviewItem, ClassChangeAfterExport]:
    """The item and its current run's open flag, locked (the encounter first, as a generation
    locks it). Refused when another coder holds the charges in review, or nothing waits."""
    Encounter.objects.select_for_update().only("pk").get(pk=item.encounter_id)
    locked = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("run", "claimed_by")
        .get(pk=item.pk)
    )
    if (
        locked.state == ReviewItem.State.IN_REVIEW
        and locked.claimed_by is not None
        and locked.claimed_by.pk != user.pk
    ):
        raise ValidationError(
            f"{locked.claimed_by.get_username()} has these charges in review: the decision on "
            "the class change is theirs (or a coding lead releases them first)."
        )
    flag = (
        ClassChangeAfterExport.objects.select_for_update()
        .filter(run_id=locked.run_id, state=State.OPEN, run__is_current=True)
        .first()
    )
    if flag is None:
        raise ValidationError(
            "No class change after export waits for a decision on these charges (changed back, "
            "or decided already)."
        )
    return locked, flag


@transaction.atomic
def class_change_rerun(*, item: ReviewItem, user: AbstractBaseUser, reason: str = "") -> ChargeRun:
    """Make the charges again under the class now: a new run (trigger class_change) in review
    with this coder, as after an addendum once billed: her corrections carried or back for
    re-review, and, accepted, the next export sends billing only the difference. The flag ends
    RERUN, naming the new run."""
    locked, flag = _locked_for(item, user)
    reason = reason.strip()
    changes = "; ".join(
        f"{c['drug']} {class_label(c['billed'])} -> {class_label(c['now'])}" for c in flag.changes
    )
    why = (
        f"Re-run under the class now by {user.get_username()}"
        + (f" ({reason})" if reason else "")
        + f", after a class change once billed ({changes}): {flag.reason}"
    )
    with history_context(action="class_change_rerun", reason=reason):
        run, created = charge_run_generate(
            encounter_id=locked.encounter_id, trigger=ChargeRun.Trigger.CLASS_CHANGE, reason=why
        )
        if not created:
            raise ValidationError("The record reads as the billed run did: nothing to re-run.")
        flag.state = State.RERUN
        flag.rerun = run
        flag.decided_by = user  # type: ignore[assignment]
        flag.decided_at = timezone.now()
        flag.decision_reason = reason
        flag.save(update_fields=["state", "rerun", "decided_by", "decided_at", "decision_reason"])
        # In review with the coder who asked, as "Correct after billing" leaves it.
        review_claim(user=user, item_id=locked.pk)
    return run


@transaction.atomic
def class_change_stands(
    *, item: ReviewItem, user: AbstractBaseUser, reason: str
) -> ClassChangeAfterExport:
    """The billed claim stands despite the class change, with the coder's reason: nothing is
    sent, the flag ends STANDS; a class change that alters the difference flags the run
    again."""
    _, flag = _locked_for(item, user)
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why the billed claim stands: the reason is kept with the decision."}
        )
    with history_context(action="class_change_stands", reason=reason):
        flag.state = State.STANDS
        flag.decided_by = user  # type: ignore[assignment]
        flag.decided_at = timezone.now()
        flag.decision_reason = reason
        flag.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
    return flag
