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

A correction also rests on the record as it was when the coder made it, or last kept or
adapted it (its basis, `correction_basis`: the entries of the administrations its line covers,
with their orders; a drug line's billing data; the engine's line and its why). Its target
unchanged, it still comes back for re-review when its basis changed (QA: the hydration's 96361
corrected to x2 while a query about its stop time was open; the nurse's addendum moved the
stop, the engine still made 96361 x1, and the x2 was carried forward silently and exported):
an administration it covers changed (times, pauses, method, drug, class...), the engine's
account of its line changed (its why: "ran 83 min alone" now "68 min"), or a coder's query on
the encounter was answered since (the correction may have waited on it). What changed is kept
with it (`basis["changed"]`) and shown beside it. A correction whose basis did not change is
carried silently.

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
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coding.drug_lines import is_drug_line
from coding.models import (
    ChargeCorrection,
    ChargeLine,
    ChargeRun,
    CorrectionDecision,
    DocumentationQuery,
    ReviewItem,
)
from coding.review import (
    ANSWERED,
    EffectiveLine,
    _clean_line,
    _locked_claimed,
    _record_entries,
    amendment_in_effect,
    effective_lines,
    is_engines_own,
    queries_answer,
    reason_checked,
)
from mar.audit.context import history_context_apart
from mar.models import Addendum

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


NOT_CARRIED = (ChargeCorrection.State.DROPPED, ChargeCorrection.State.BACK)


def corrections_to_carry(run: ChargeRun) -> list[ChargeCorrection]:
    """The run's corrections that a new run must hear about: the latest per line that is in
    effect or waiting for re-review (not one taken back to the engine's line), and every added
    line not dropped: as the coder last
    changed it (that change, `amends`, carried as the added line; one made before a re-review
    of the line is in it: `amendment_in_effect`), none once she removed it (it sends
    nothing)."""
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
        amendment = amendment_in_effect(addition, amended.get(addition.pk))
        if amendment is None:
            out.append(addition)
        elif amendment.action != ChargeCorrection.Action.REMOVE:
            out.append(amendment)
    # Dropped, or taken back to the engine's line (`charge_line_back`): the engine's line stands.
    out.extend(c for c in latest.values() if c.state not in NOT_CARRIED)
    return sorted(out, key=lambda c: (c.at, c.pk))


# --- what a correction rests on -------------------------------------------------------------


def _covered(correction: ChargeCorrection) -> list[str]:
    """The administrations the corrected line covers (an added line: those it names)."""
    data = correction.original or correction.corrected or {}
    return sorted(data.get("administrations") or ())


def correction_basis(
    *, run: ChargeRun, administrations: list[str], line: ChargeLine | None, at: datetime
) -> dict[str, Any]:
    """What a correction confirmed at `at` on `run` rests on: the record's entries of the
    administrations its line covers and of their orders, a drug line's billing data, and the
    engine's line (code, units, why). No query."""
    drug = line is not None and is_drug_line(line)
    billing = run.billing_snapshot or {}
    formulary = run.formulary_snapshot or {}
    return {
        "run": run.pk,
        "at": at.isoformat(),
        "drug": drug,
        "record": _record_entries(run.input_snapshot or {}, administrations),
        "billing": {adm: billing.get(adm) for adm in administrations} if drug else {},
        # The NDC (N4 unit, units per billing unit) a drug line carries, per administration.
        "formulary": {adm: _ndc_of(formulary.get(adm)) for adm in administrations} if drug else {},
        "line": {"code": line.code, "units": line.units, "why": line.why} if line else None,
        "changed": [],
    }


def _confirmed_at(correction: ChargeCorrection) -> datetime:
    if correction.state in (ChargeCorrection.State.KEPT, ChargeCorrection.State.ADAPTED):
        return correction.decided_at or correction.at
    return correction.at


def _when(value: Any, other: Any) -> str:
    """A record time in the hospital's zone: HH:MM, with the date when the two differ."""
    try:
        at = timezone.localtime(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return "none" if value in (None, "", []) else str(value)
    try:
        same_day = timezone.localtime(datetime.fromisoformat(other)).date() == at.date()
    except (TypeError, ValueError):
        same_day = True
    return f"{at:%H:%M}" if same_day else f"{at:%Y-%m-%d %H:%M}"


def _value(key: str, value: Any, other: Any) -> str:
    if key in ("start", "stop", "at", "end"):
        return _when(value, other)
    if key == "pauses":
        spans = [f"{_when(p.get('start'), None)}–{_when(p.get('end'), None)}" for p in value or []]
        return ", ".join(spans) or "none"
    if isinstance(value, dict) and set(value) == {"value", "unit"}:
        # An amount (a dose, a billing unit) as it is written, not as the record stores it
        # (QA: "billing unit {'unit': 'mg', 'value': 1} → {'unit': 'mg', 'value': 4}").
        amount = Decimal(str(value["value"])).normalize()
        return f"{amount:f} {value['unit']}".strip()
    return "none" if value in (None, "", [], {}) else str(value)


def _entry_changes(entry_id: str, old: Any, new: Any, what: str) -> list[str]:
    if old == new:
        return []
    name = (old or new or {}).get("drug") or ""
    label = f"{what}{entry_id}{f' ({name})' if name else ''}"
    if new is None:
        return [f"{label} is no longer in the record"]
    if old is None:
        return [f"{label} is in the record now"]
    said = [
        f"{key.replace('_', ' ')} {_value(key, old.get(key), new.get(key))} → "
        f"{_value(key, new.get(key), old.get(key))}"
        for key in sorted(old.keys() | new.keys())
        if key != "id" and old.get(key) != new.get(key)
    ]
    return [f"{label}: {'; '.join(said)}"]


def _words_changed(old: str, new: str) -> tuple[str, str]:
    """The part of two texts that differs, word by word, with a word of context either side."""
    a, b = old.split(), new.split()
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    start, after = max(head - 1, 0), max(tail - 1, 0)  # a word of context either side
    return " ".join(a[start : len(a) - after]), " ".join(b[start : len(b) - after])


# What of an administration's record entry is its drug's billing (the drug's HCPCS code and
# billing unit, the dose given): the drug line's inputs, not the administration codes'.
_DRUG_BILLING_KEYS = frozenset({"hcpcs", "billing_unit", "dose"})


_NDC_KEYS = (
    "ndc",
    "ndc_unit",
    "ndc_per_unit",
    "ndc_billing_units_per_unit",
)  # claim.py `ndc_entry`


def _ndc_of(entry: Any) -> dict[str, str]:
    """The NDC a drug line carries, of an administration's formulary snapshot entry."""
    return {k: entry[k] for k in _NDC_KEYS if k in entry} if isinstance(entry, dict) else {}


def _ndc_said(entry: dict[str, str]) -> str:
    """'00409... ML 0.5' (NDC units per billing unit), '00409... ML 1/6' (stated as 6 billing
    units per NDC unit); '' for none."""
    inverse = entry.get("ndc_billing_units_per_unit")
    per_unit = f"1/{inverse}" if inverse else entry.get("ndc_per_unit")
    return " ".join(v for v in (entry.get("ndc"), entry.get("ndc_unit"), per_unit) if v)


def _is_drug_basis(basis: dict[str, Any]) -> bool:
    """Whether `basis` is a drug line's (a basis written before it said so: by its billing)."""
    return bool(basis["drug"]) if "drug" in basis else bool(basis.get("billing"))


def _inputs(entry_id: str, entry: Any, *, drug: bool) -> Any:
    """What of a record entry the corrected line is made from (QA: a 96375 corrected came back
    for re-review because ondansetron's HCPCS code changed under its push). An administration
    code (96365, 96375, 96361...) from the administrations' times, methods, classes, sites and
    their orders: their drugs' billing left out; a drug line from its drug and billing (the
    administration's drug, HCPCS code, billing unit and dose): neither its times nor its
    class, nor the order."""
    if not isinstance(entry, dict):
        return entry
    if not drug:
        return {k: v for k, v in entry.items() if k not in _DRUG_BILLING_KEYS}
    if entry_id.startswith("O"):
        return None
    return {k: v for k, v in entry.items() if k in _DRUG_BILLING_KEYS or k in ("id", "drug")}


# A drug line's billing inputs (coding/drug_lines.py `drug_line_inputs`): the formulary's data,
# and what the record says of the dose (said with the record's changes above), its waste and NDCs.
_FORMULARY_BILLING = ("hcpcs", "billing_unit", "container")
_RECORD_BILLING = {"waste": "waste", "ndc": "NDC scanned", "claim_ndc": "NDC billed"}


def _billing_changes(adm: str, was: Any, now: Any) -> list[str]:
    """What changed of an administration's drug line inputs: "the drug's billing data changed"
    only when the formulary's did (QA: a dose changed by addendum also said it, while the drug's
    data had not changed); its waste or NDCs each in words; the dose is the record's, said
    there."""
    if was == now:
        return []
    was, now = was or {}, now or {}
    if not isinstance(was, dict) or not isinstance(now, dict):
        return [f"{adm}: the drug's billing data changed"]
    said = []
    if any(was.get(k) != now.get(k) for k in _FORMULARY_BILLING):
        said.append(f"{adm}: the drug's billing data changed")
    for key, label in _RECORD_BILLING.items():
        if was.get(key) != now.get(key):
            said.append(f"{adm}: {label} {was.get(key) or '—'} → {now.get(key) or '—'}")
    return said


def basis_changes(
    basis: dict[str, Any],
    *,
    run: ChargeRun,
    line: ChargeLine | None,
    answered: Iterable[DocumentationQuery] = (),
) -> list[str]:
    """What changed under a correction since `basis` (`correction_basis`), as `run` reads the
    record: each administration it covers, or its order, that changed, field by field ("A2
    (sodium chloride 0.9%): stop 16:50 → 17:50"); a drug line's billing data; the engine's
    account of the line (`line`, the run's line for it: its why); each query on the encounter
    answered since it was confirmed. [] when nothing did. Only what the corrected line is made
    of counts (`_inputs`): for an administration code, the record but its drugs' billing; for
    a drug line, its drug's billing data and the NDC it carries. No query."""
    drug = _is_drug_basis(basis)
    record = basis.get("record") or {}
    now = _record_entries(run.input_snapshot or {}, [k for k in record if k.startswith("A")])
    said: list[str] = []
    for key in sorted(record.keys() | now.keys()):
        what = "its order " if key.startswith("O") else ""
        was, new = _inputs(key, record.get(key), drug=drug), _inputs(key, now.get(key), drug=drug)
        if was is None and new is None:
            continue
        said += _entry_changes(key, was, new, what)
    billing = basis.get("billing") or {}
    for adm, was in sorted(billing.items()):
        said += _billing_changes(adm, was, (run.billing_snapshot or {}).get(adm))
    ndcs = basis.get("formulary") if run.formulary_snapshot is not None else None
    for adm, was in sorted((ndcs or {}).items()):
        carried = _ndc_of(run.formulary_snapshot.get(adm))
        if carried != was:
            said.append(
                f"{adm}: the NDC its drug line carries changed ("
                + " → ".join(
                    _ndc_said(e) or "none" for e in (was or {}, carried)
                )
                + ")"
            )  # fmt: skip
    engine = basis.get("line") or None
    if engine and line is not None and line.code == engine.get("code"):
        was_why, why = engine.get("why") or "", line.why or ""
        if was_why != why:
            old, new = _words_changed(was_why, why)
            said.append(
                f"the engine's account of {line.code} ×{line.units}: “…{old}…” now “…{new}…”"
            )
    since = datetime.fromisoformat(basis["at"]) if basis.get("at") else None
    for query in answered:
        if query.answered_at is not None and (since is None or query.answered_at > since):
            said.append(query_answered_said(query))
    return said


QUERY_ANSWERED = "query answered "  # how `basis_changes` names a query answered since


def query_answered_said(query: DocumentationQuery) -> str:
    """A query answered, as the re-review says it: when, what the coder asked and what the
    nurse answered (the words of the addendum that answered it: "What changed", which for an
    answer in words is her answer). Reads the addendum (select it with the query)."""
    assert query.answered_at is not None
    at = timezone.localtime(query.answered_at)
    said = f"{QUERY_ANSWERED}{at:%m-%d %H:%M}: “{' '.join(query.question.split())}”"
    addendum = query.answered_by_addendum
    if addendum is not None:
        said += f"; the nurse answered: “{' '.join(addendum.what.split())}”"
    return said


def _answered_queries(encounter_id: int) -> list[DocumentationQuery]:
    """The encounter's queries answered (the nurse's word or a run's change), with the
    addenda that answered them: one read."""
    return list(
        DocumentationQuery.objects.filter(encounter_id=encounter_id, answered_at__isnull=False)
        .select_related("answered_by_addendum")
        .order_by("answered_at", "pk")
    )


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
    carrying = corrections_to_carry(previous)
    # The encounter's queries answered (the nurse's word or this run's change): one read.
    answered = _answered_queries(run.encounter_id) if carrying else []
    for old in carrying:
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
        # What it rests on: the record as the coder confirmed it (the run it was made on, for
        # one never carried before), and what changed since, as this run reads the record.
        basis = old.basis or correction_basis(
            run=previous, administrations=_covered(old), line=old.line, at=_confirmed_at(old)
        )
        changed = basis_changes(basis, run=run, line=line, answered=answered)
        if state == ChargeCorrection.State.CARRIED and changed:
            # Its line is the same, the record under it is not: the coder decides again.
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
                basis={**basis, "changed": changed},
            )
        )
    return made


# --- the nurse's answer in words -----------------------------------------------------------


def _confirmed(correction: ChargeCorrection) -> datetime:
    """When the coder last confirmed `correction`: its basis's time (carried, or kept or
    adapted), else when she made it or last kept or adapted it."""
    at = (correction.basis or {}).get("at")
    return datetime.fromisoformat(at) if at else _confirmed_at(correction)


@transaction.atomic
def corrections_answer_rereview(
    *, addendum: Addendum, queries: list[DocumentationQuery]
) -> list[ChargeCorrection]:
    """The nurse answered `queries` in words (`addendum`, the record unchanged: no new run is
    made): each correction of the encounter's current run that waited on one of them (in
    effect or waiting, made or last kept or adapted before the answer) comes back for
    re-review on that run, as a new run would bring it back (`corrections_carry`): NEEDS_REVIEW,
    applying to nothing, acceptance waiting for the coder's keep, adapt or drop; its basis kept
    and what changed since said (`basis_changes`, the query and the nurse's words). An added
    line comes back as she had last changed it. Each return is a `CorrectionDecision`
    (answered: by the addendum's author, the nurse's words its reason), and the changes run
    under their own audit context (`correction_answer_rereview`). Accepted or exported charges
    go back to the coders (NEW). One already waiting says the answer too (no decision: it did
    not come back). Idempotent: answering again, or calling again, changes nothing; a later
    run carries them as waiting, saying each answer once. Returns those that came back."""
    answered = [q for q in queries if q.answered_at is not None]
    if not answered:
        return []
    run = ChargeRun.objects.filter(encounter_id=addendum.encounter_id, is_current=True).first()
    if run is None:
        return []
    every = _answered_queries(addendum.encounter_id)
    back: list[ChargeCorrection] = []
    with history_context_apart(
        action="correction_answer_rereview",
        addendum=addendum.pk,
        queries=[q.pk for q in answered],
    ):
        list(ChargeCorrection.objects.select_for_update().filter(run=run))  # lock them
        for correction in corrections_to_carry(run):
            since = _confirmed(correction)
            said = [
                query_answered_said(q)
                for q in answered
                if q.answered_at is not None and q.answered_at > since
            ]
            if not said:
                continue
            # The row that waits: an added line's addition (its change folded into it).
            row = correction if correction.amends is None else correction.amends
            basis = correction.basis or correction_basis(
                run=run, administrations=_covered(correction), line=correction.line, at=since
            )
            changed = basis_changes(basis, run=run, line=row.line, answered=every)
            if row.state == ChargeCorrection.State.NEEDS_REVIEW:
                if (row.basis or {}).get("changed") != changed:
                    row.basis = {**basis, "changed": changed}
                    row.save(update_fields=["basis"])
                continue
            before = _as_is(row)
            if row is not correction:
                row.corrected = correction.corrected  # as she last changed it
            row.state = ChargeCorrection.State.NEEDS_REVIEW
            row.basis = {**basis, "changed": changed}
            row.decision_reason = ""
            row.decided_by = None
            row.decided_at = None
            row.save()
            CorrectionDecision.objects.create(
                correction=row,
                decision=CorrectionDecision.Decision.ANSWERED,
                reason="; ".join(said),
                by=addendum.author,
                before=before,
                after=_as_is(row),
            )
            back.append(row)
        if back:
            # Accepted (or sent) with these corrections: back to the coders, as a new run puts
            # them (who accepted them and when kept, with `accepted_run`). One in review stays
            # hers; a queried one came back with the answer.
            ReviewItem.objects.filter(
                encounter_id=addendum.encounter_id,
                state__in=(ReviewItem.State.ACCEPTED, ReviewItem.State.EXPORTED),
            ).update(
                state=ReviewItem.State.NEW,
                claimed_by=None,
                claimed_at=None,
                returned_reason=ANSWERED,
                updated_at=timezone.now(),
            )
    return back


@transaction.atomic
def queries_answer_in_words(
    *, addendum: Addendum, query_ids: list[int]
) -> list[DocumentationQuery]:
    """The nurse says her addendum answers these queries (coding/review.py `queries_answer`,
    the item back to the coders), then the corrections that waited on them come back for
    re-review (`corrections_answer_rereview`): the record may not have changed, so no new run
    would bring them back. Called by the record's port (`queries_answered`, from
    `mar.services.signature.addendum_store`). A withdrawn query is not answered."""
    answered = queries_answer(addendum=addendum, query_ids=query_ids)
    corrections_answer_rereview(addendum=addendum, queries=answered)
    return answered


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
    def changed(self) -> list[str]:
        """What changed under it since the coder made or last kept it (`basis_changes`)."""
        return list((self.correction.basis or {}).get("changed") or [])

    @property
    def same_line(self) -> bool:
        """The run makes the very line it corrected (its basis changed, not its target)."""
        line, original = self.correction.line, self.correction.original
        return line is not None and bool(original) and line_target(line) == _target(original)

    @property
    def advice(self) -> str:
        if self.made is not None:
            if self.made.correction is None:
                return "the new run now makes this line itself: nothing to keep. Drop it."
            return "this run already sends this line (as corrected): nothing to keep. Drop it."
        if self.removed_line_gone:
            return "the line it removed is gone from the new charges: nothing to keep. Drop it."
        if self.changed and self.same_line:
            line = self.correction.line
            assert line is not None
            corrected = self.correction.corrected
            yours = f"your {_label(corrected)}" if corrected else f"your removal of {line.code}"
            what = (
                "the nurse answered a query since it was made"
                if self.answered_only
                else "the record under this line changed"
            )
            return f"{what}; the engine still makes {_label(line)}: keep {yours} or drop it."
        if self.answered_only and self.correction.corrected:
            return (
                "the nurse answered a query since it was made: keep your "
                f"{_label(self.correction.corrected)}, adapt it or drop it."
            )
        return ""

    @property
    def answered_only(self) -> bool:
        """What changed under it is only queries the nurse answered (in words: the record and
        the engine's line as they were)."""
        return bool(self.changed) and all(c.startswith(QUERY_ANSWERED) for c in self.changed)


def _label(line: ChargeLine | dict[str, Any]) -> str:
    """96361 ×2 (with its modifiers)."""
    if isinstance(line, ChargeLine):
        code, units, modifiers = line.code, line.units, list(line.modifiers)
    else:
        code, units = line.get("code", ""), line.get("units", 0)
        modifiers = list(line.get("modifiers") or ())
    return f"{code} ×{units}{' ' + ' '.join(modifiers) if modifiers else ''}"


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


def _refuse_engines_own_line(decision: str, line: ChargeLine, result: dict[str, Any]) -> None:
    """Not kept nor adapted into exactly the run's own line (code, units, modifiers in any
    order, date, administrations): sent so, it would be flagged "corrected" while it is the
    engine's line (back to the engine's line is not a correction: `review.charge_line_back`)."""
    if not is_engines_own(_line_json(line), result):
        return
    verb = {"keep": "kept", "adapt": "adapted"}[decision]
    mods = " ".join(line.modifiers)
    raise ValidationError(
        f"Not {verb}: this run makes this line itself ({line.code} ×{line.units}"
        f"{' ' + mods if mods else ''}); {verb}, it would be sent as corrected while it is the "
        "engine's line. Drop it: the engine's line stands."
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
    reason_checked(reason)
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
        if line is not None and correction.corrected:
            _refuse_engines_own_line(decision, line, correction.corrected)
        if line is not None:
            correction.original = _line_json(line)
        elif correction.action == ChargeCorrection.Action.CHANGE:
            # Its target is gone: what the coder wanted sent goes as an added line.
            correction.action = ChargeCorrection.Action.ADD
            correction.original = {}
    correction.decision_reason = reason.strip()
    correction.decided_by = user  # type: ignore[assignment]
    correction.decided_at = timezone.now()
    if decision != "drop":
        # Kept or adapted: it rests now on the record as these charges read it.
        run = locked.run
        assert run is not None
        correction.basis = correction_basis(
            run=run,
            administrations=_covered(correction),
            line=line,
            at=correction.decided_at,
        )
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
        "basis": correction.basis,
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
    reason_checked(reason)
    undone = _as_is(correction)
    correction.state = last.before["state"]
    correction.action = last.before["action"]
    correction.original = last.before["original"]
    correction.corrected = last.before["corrected"]
    correction.basis = last.before.get("basis", correction.basis)  # what changed, again
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
