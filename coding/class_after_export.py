"""A pharmacist's change of a drug's class, billing data or NDCs that reaches charges already
sent to billing.

A drug's class decides its code family (hydration 96361, therapeutic 96367, chemotherapy 96413
...), its billing data (HCPCS code, billing unit, container) and its NDCs its drug lines (the
code, the units, JW/JZ, the NDC a line carries and which doses group under it). Such a change
regenerates the runs not yet exported (coding/formulary_changes.py); an exported run is never
replaced behind the coder's back: it is flagged for her, a `ClassChangeAfterExport` saying what
the run was made with that the formulary now gives otherwise: the administrations its record
coded with another class (`class_differences`), and those whose drug lines read other billing
data or carry another NDC than the run's snapshots keep (`billing_differences`: the run's
`billing_snapshot` and `formulary_snapshot`, coding/claim.py, against the same made from the
formulary now). The flag follows the difference, not the events: at every change of the
formulary that governs the run's administrations it is worked out again for the whole run, so
the formulary changed back to what the run used ends it (REVERTED) and a change of another drug
still standing keeps it.

The coder takes it up in one of two ways, as after any change once billed:
- `class_change_rerun`: the charges made again under the formulary now, a new run in review with
  her (corrections carried, or back for re-review where their line changed); accepted, the next
  export sends billing only the difference (coding/ledger.py: credits of the billed lines it
  changes, new charges), so nothing billed is lost or sent twice;
- `class_change_stands`: the billed claim stands, with her reason, while the difference stays
  what she decided on: a change that alters it flags the run again (changed back, then again,
  included). Nothing is sent.
Both are in the audit trail with their action and reason. `class_change_preview` shows her
beforehand what the billed run made and what the formulary now makes: the engine's lines under
the class now, and the drug lines under the billing data and NDCs now.

So the worklist shows a pending formulary change (an open flag of the current run) exactly when
the current run was exported and the classes or billing data now differ from those it was made
with, unless the coder said the billed claim stands and no change altered the difference since
(tests/coding/test_class_change_after_export_properties.py). An open flag of a run no longer
current (an addendum made a new run since) is moot: the new run read the formulary now.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coding.claim import NDC_KEYS, billed_by_administration, formulary_snapshot
from coding.drug_lines import (
    DRUG_LINE_POSITION_BASE,
    DrugLineRows,
    drug_line_inputs,
    drug_lines_compute,
    drug_ndcs,
    formulary_ndcs,
    is_drug_line,
)
from coding.engine import RecordError, code_record, parse_record
from coding.ledger import standing_charges_of
from coding.models import (
    ChargeCorrection,
    ChargeLine,
    ChargeRun,
    ClassChangeAfterExport,
    ReviewItem,
)
from coding.review import review_claim
from coding.run_changes import code_label
from coding.services import charge_run_generate
from mar.audit.context import history_context
from mar.models import Administration, Encounter
from mar.record import administration_classes, pk_from_record_id

State = ClassChangeAfterExport.State
CLASS_FIELD = ClassChangeAfterExport.CLASS_FIELD
# Where each billing field is kept with a run: the drug lines' inputs (`billing_snapshot`, per
# administration with a dose) and what its claim reads of the formulary (`formulary_snapshot`,
# per administration; None on runs stored before it was kept).
_BILLING_KEYS = ("hcpcs", "billing_unit", "container", "claim_ndc")
_FORMULARY_KEYS = ("hcpcs", "billing_unit", *NDC_KEYS)
_FIELD_ORDER = {name: n for n, name in enumerate(ClassChangeAfterExport.BILLING_FIELDS)}


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
                "field": CLASS_FIELD,
                "billed": adm.get("drug_class") or None,
                "now": now[adm["id"]] or None,
            }
            for adm in coded[run.pk]
            if adm.get("id") in now and (adm.get("drug_class") or None) != (now[adm["id"]] or None)
        ]
    return out


@dataclass(frozen=True)
class FormularyNow:
    """What a run of the encounter made now would read of the formulary: the drug lines' rows,
    their inputs (`drug_line_inputs`, as a run's `billing_snapshot`) and what the claim reads
    (`formulary_snapshot`, as a run's), the NDC a line billed keeps while listed."""

    rows: DrugLineRows
    billing: dict[str, dict[str, str]]
    formulary: dict[str, dict[str, str]]


def formulary_now(encounter_ids: Iterable[int]) -> dict[int, FormularyNow]:
    """`FormularyNow` of each encounter, in three reads for all of them (the administrations with
    their drug, the drugs' NDCs, the standing charges), made by the functions a run is made
    with (coding/services.py `charge_run_generate`)."""
    ids = sorted(set(encounter_ids))
    if not ids:
        return {}
    administrations = list(
        Administration.objects.filter(encounter_id__in=ids).select_related("drug")
    )
    ndcs = drug_ndcs(administrations)
    by_encounter: dict[int, list[Administration]] = defaultdict(list)
    for adm in administrations:
        by_encounter[adm.encounter_id].append(adm)
    with_hcpcs = [e for e, adms in by_encounter.items() if any(a.drug.hcpcs_code for a in adms)]
    billed = {
        encounter_id: billed_by_administration(entries)
        for encounter_id, entries in standing_charges_of(with_hcpcs).items()
    }
    out: dict[int, FormularyNow] = {}
    for encounter_id in ids:
        adms = by_encounter.get(encounter_id, [])
        own = {drug_id: ndcs[drug_id] for drug_id in {a.drug_id for a in adms} if drug_id in ndcs}
        stocked, preferred = formulary_ndcs(adms, own)
        rows = DrugLineRows(adms, stocked, preferred, own)
        out[encounter_id] = FormularyNow(
            rows=rows,
            billing=drug_line_inputs(rows),
            formulary=formulary_snapshot(
                encounter_id=encounter_id,
                administrations=adms,
                ndcs=own,
                billed=billed.get(encounter_id, {}),
            ),
        )
    return out


def _record_order(record_id: str) -> tuple[int, str]:
    digits = record_id[1:]
    return (int(digits) if digits.isdigit() else 0, record_id)


def _line_readers(runs: list[ChargeRun]) -> dict[int, set[str]]:
    """Per run, the administrations whose NDC facts its drug lines carry: of each drug line's
    administrations the first scanned, else the first, whose drug's code (as the run read it)
    is the line's (coding/claim.py `_drug_line`). One read for all the runs."""
    out: dict[int, set[str]] = defaultdict(set)
    by_pk = {run.pk: run for run in runs}
    rows = ChargeLine.objects.filter(
        run_id__in=list(by_pk), position__gte=DRUG_LINE_POSITION_BASE
    ).values_list("run_id", "code", "administrations")
    for run_id, code, administrations in rows:
        run = by_pk[run_id]
        scanned = run.billing_snapshot or {}
        kept = run.formulary_snapshot or {}
        covered = sorted(administrations, key=lambda a: not (scanned.get(a) or {}).get("ndc"))
        for record_id in covered:
            if (kept.get(record_id) or {}).get("hcpcs") == code:
                out[run_id].add(record_id)
                break
    return dict(out)


def billing_differences(
    runs: Iterable[ChargeRun], now: dict[int, FormularyNow] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per run, the administrations whose drug lines it made with other billing data or NDC
    facts than the formulary gives now: [{"administration": "A12", "drug": ..., "field":
    "hcpcs" (or "billing_unit", "container", "claim_ndc", "ndc", "ndc_unit", "ndc_per_unit",
    "ndc_billing_units_per_unit"),
    "billed": what the run was made with, "now": what it would be made with now}], by
    administration then field. The run's `billing_snapshot` and `formulary_snapshot` against
    the same made now (`formulary_now`); of the first only the formulary's data (not the dose,
    the waste, the NDC scanned: the record's), the second not asked of a run stored before it
    was kept, and its NDC facts asked only of the administrations whose facts a drug line of
    the run carries (`_line_readers`: a dose grouped under another's line carries none)."""
    runs = list(runs)
    if now is None:
        now = formulary_now(run.encounter_id for run in runs)
    readers = _line_readers(runs)
    out: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        made_now = now.get(run.encounter_id)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        # (what the run kept, the same made now, its keys, whether a key only made now counts:
        # an NDC a drug line carries now and did not then; a key the drug lines' inputs did not
        # keep then is the run's older format, not a change)
        sources: list[tuple[dict[str, Any], dict[str, dict[str, str]], tuple[str, ...], bool]] = []
        if made_now is not None:
            sources.append((run.billing_snapshot or {}, made_now.billing, _BILLING_KEYS, False))
            if run.formulary_snapshot is not None:
                sources.append((run.formulary_snapshot, made_now.formulary, _FORMULARY_KEYS, True))
        for made, current, keys, either in sources:
            for record_id, entry in made.items():
                after = current.get(record_id)
                if after is None:
                    continue  # not the record's now: an addendum's, not the formulary's
                for key in keys:
                    if key not in entry and not (either and key in after):
                        continue
                    if key in NDC_KEYS and record_id not in readers.get(run.pk, ()):
                        continue  # its line carries another dose's NDC (or it has none)
                    billed, today = str(entry.get(key, "")), str(after.get(key, ""))
                    if billed != today and (record_id, key) not in found:
                        drug = (run.formulary_snapshot or {}).get(record_id, {}).get("drug", "")
                        found[(record_id, key)] = {
                            "administration": record_id,
                            "drug": drug or str(after.get("drug", "")),
                            "field": key,
                            "billed": billed,
                            "now": today,
                        }
        out[run.pk] = [
            found[k]
            for k in sorted(found, key=lambda k: (_record_order(k[0]), _FIELD_ORDER.get(k[1], 99)))
        ]
    for change in (c for changes in out.values() for c in changes):
        if not change["drug"]:
            change["drug"] = change["administration"]
    return out


def formulary_differences(runs: Iterable[ChargeRun]) -> dict[int, list[dict[str, Any]]]:
    """Per run, everything it was made with that the formulary gives otherwise now: its class
    differences, then its billing differences."""
    runs = list(runs)
    classes = class_differences(runs)
    billing = billing_differences(runs)
    return {run.pk: [*classes.get(run.pk, []), *billing.get(run.pk, [])] for run in runs}


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def key(changes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (c["administration"], ClassChangeAfterExport.field_of(c), c["billed"], c["now"])
            for c in changes
        )

    return key(a) == key(b)


def formulary_after_export_refresh(*, runs: list[ChargeRun], reason: str) -> list[int]:
    """A change of a drug's class, billing data or NDCs governed administrations of these
    exported current runs (coding/formulary_changes.py `charges_refresh`, in the pharmacist's
    transaction): each run's flag kept to its difference now, class and billing data alike.
    Returns the runs flagged by this change (a flag raised, or its difference changed); a run
    whose formulary is again what it used is not among them."""
    flagged: list[int] = []
    differences = formulary_differences(runs)
    at = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    said = f"{at}: {reason}"
    for run in runs:
        difference = differences.get(run.pk, [])
        rows = list(
            ClassChangeAfterExport.objects.select_for_update().filter(run=run).order_by("pk")
        )
        latest = rows[-1] if rows else None
        if latest is not None and latest.state == State.OPEN:
            if not difference:  # changed back to what the run used
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
    label: str  # the code with its modifiers: "96361", "96365-59"; a drug line's with its NDC
    billed: int  # units the billed run's lines carry
    now: int  # units made under the formulary now

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


def _label(code: str, modifiers: Iterable[str], ndc: str = "") -> str:
    label = code_label(code, modifiers)  # as the review page's changes name a line
    return f"{label} NDC {ndc}" if ndc else label


def _line_ndc(
    facts: dict[str, dict[str, str]] | None,
    inputs: dict[str, Any],
    code: str,
    administrations: Iterable[str],
) -> str:
    """The NDC a drug line carries by a formulary snapshot: that of its first administration
    scanned (`inputs`, the drug lines' inputs, say which), else its first, whose drug's code is
    the line's ("" with no snapshot: a run stored before runs kept it)."""
    covered = sorted(administrations, key=lambda a: not (inputs.get(a) or {}).get("ndc"))
    for record_id in covered:
        entry = (facts or {}).get(record_id) or {}
        if entry.get("hcpcs") == code:
            return entry.get("ndc", "")
    return ""


def class_change_preview(
    run: ChargeRun, changes: list[dict[str, Any]] | None = None
) -> Preview:  # fmt: skip
    """The billed run's lines beside those made now: the engine's lines of the same record with
    each administration's class as it is now, units by code and modifiers, and, when billing
    data or NDCs changed, the drug lines (HCPCS, with the NDC each carries) made under the
    formulary now (`changes`, else worked out). Reads the run's lines and corrections as
    prefetched."""
    if changes is None:
        changes = formulary_differences([run]).get(run.pk, [])
    now = {
        change["administration"]: change["now"]
        for change in changes
        if ClassChangeAfterExport.field_of(change) == CLASS_FIELD
    }
    billing_changed = any(
        ClassChangeAfterExport.field_of(change) != CLASS_FIELD for change in changes
    )
    snapshot = copy.deepcopy(run.input_snapshot or {})
    for adm in snapshot.get("administrations") or []:
        if adm.get("id") in now:
            adm["drug_class"] = now[adm["id"]]
    kept = run.formulary_snapshot
    billed: Counter[str] = Counter()
    drugs_billed: Counter[str] = Counter()
    for line in run.lines.all():
        if is_drug_line(line):
            ndc = _line_ndc(kept, run.billing_snapshot or {}, line.code, line.administrations)
            drugs_billed[_label(line.code, line.modifiers, ndc)] += line.units
        else:
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
    # The drug lines: as billed unless the billing data or NDCs changed.
    drugs_made = Counter(drugs_billed)
    if billing_changed:
        today = formulary_now([run.encounter_id])[run.encounter_id]
        facts = today.formulary if kept is not None else None
        computed = drug_lines_compute(
            today.rows.administrations,
            run.encounter.zone,
            stocked=today.rows.stocked,
            preferred=today.rows.preferred,
        )
        drugs_made = Counter()
        for item in computed.lines:
            code = str(item["code"])
            ids = [str(a) for a in cast(list[str], item["administrations"])]
            modifiers = [str(m) for m in cast(list[str], item["modifiers"])]
            label = _label(code, modifiers, _line_ndc(facts, today.billing, code, ids))
            drugs_made[label] += cast(int, item["units"])
    billed.update(drugs_billed)
    made.update(drugs_made)
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
            "the change after export is theirs (or a coding lead releases them first)."
        )
    flag = (
        ClassChangeAfterExport.objects.select_for_update()
        .filter(run_id=locked.run_id, state=State.OPEN, run__is_current=True)
        .first()
    )
    if flag is None:
        raise ValidationError(
            "No formulary change after export (a drug's class, billing data or NDCs) waits for "
            "a decision on these charges (changed back, or decided already)."
        )
    return locked, flag


def under_now(changes: list[dict[str, Any]]) -> str:
    """What a re-run is made under: "the class", "the billing data", "the class and billing
    data" (now)."""
    return {
        "Drug class": "the class",
        "Billing data": "the billing data",
        "Drug class and billing data": "the class and billing data",
    }.get(ClassChangeAfterExport.what_changed(changes), "the formulary")


@transaction.atomic
def class_change_rerun(*, item: ReviewItem, user: AbstractBaseUser, reason: str = "") -> ChargeRun:
    """Make the charges again under the formulary now: a new run (trigger class_change, or
    billing_change when only billing data or NDCs changed) in review with this coder, as after
    an addendum once billed: her corrections carried or back for re-review, and, accepted, the
    next export sends billing only the difference. The flag ends RERUN, naming the new run."""
    locked, flag = _locked_for(item, user)
    reason = reason.strip()
    changes = "; ".join(ClassChangeAfterExport.describe(c) for c in flag.changes)
    what = ClassChangeAfterExport.what_changed(flag.changes) or "Formulary"
    classes = any(ClassChangeAfterExport.field_of(c) == CLASS_FIELD for c in flag.changes)
    trigger = ChargeRun.Trigger.CLASS_CHANGE if classes else ChargeRun.Trigger.BILLING_CHANGE
    why = (
        f"Re-run under {under_now(flag.changes)} now by {user.get_username()}"
        + (f" ({reason})" if reason else "")
        + f", after a change once billed ({what.lower()}: {changes}): {flag.reason}"
    )
    with history_context(action="class_change_rerun", reason=reason):
        run, created = charge_run_generate(
            encounter_id=locked.encounter_id, trigger=trigger, reason=why
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
    """The billed claim stands despite the change after export, with the coder's reason: nothing
    is sent, the flag ends STANDS; a change that alters the difference flags the run again."""
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
