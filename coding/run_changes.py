"""What changed in an encounter's charges since those accepted: the review page's line markers.

When a signed record changes after the coder saw its charges (an addendum, a pharmacist's class
change, a new payer policy), a new run replaces the one she saw. Its lines are compared with the
lines of the run whose charges a coder last accepted (`ReviewItem.accepted_run`: several runs may
have come since), or else of the immediately preceding run, the lines as each run generated them
(engine and drug lines; the coders' corrections have their own re-review, coding/corrections.py).
Lines are paired as a correction follows its target from run to run (`corrections.lines_matched`):
an engine line has no identity of its own across runs (each run stores new rows), so an identical
line (code, units, modifiers, date, administrations) is the same line, and otherwise the line of
the same code for the most shared administrations is that line changed. What is left over is new,
or gone.

The review page's box "Changed since run N was reviewed by ..." (QA: after a query and two addenda
the coder reopened the visit and nothing said 96375 x2 became 96375 x1 + 96367 x1: the run
before, the second addendum's, changed no charge) compares with the run a coder last reviewed
(`last_reviewed`: the latest run a coder claimed, accepted, corrected, queried, overrode an edit
of or re-reviewed a correction on), lists each line added, removed or changed (`lines_diff`, the
same pairing) and every run's reasons since, each addendum by its author and time
(`reasons_since`). Its heading names who last reviewed that run and when ("Changed since run 3
was reviewed by coder on 5 Dec 14:02"): the act `last_reviewed` chose, its coder and time kept by
the rows of the act (the acceptance's on the item, `ReviewItem.accepted_by`/`accepted_at`, kept
with `accepted_run`); "Changed since run 3 was reviewed" where they were not kept.

Plain functions of lines already read (the page prefetches every run's lines): no query.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coding.corrections import line_target, lines_matched
from coding.drug_lines import is_drug_line
from coding.models import ChargeCorrection, ChargeLine, ChargeRun


def _differences(was: ChargeLine, now: ChargeLine) -> tuple[str, ...]:
    """What the line was in the preceding run, for each field that changed:
    ("×1", "mod. 59", "03-05", "for A2")."""
    out: list[str] = []
    if was.code != now.code:  # a drug line's HCPCS code (`lines_diff` pairs them so)
        out.append(was.code)
    if was.units != now.units:
        out.append(f"×{was.units}")
    if list(was.modifiers) != list(now.modifiers):
        out.append(f"mod. {' '.join(was.modifiers)}" if was.modifiers else "no modifier")
    if was.date != now.date:
        out.append(was.date.strftime("%m-%d"))
    if sorted(was.administrations) != sorted(now.administrations):
        out.append(f"for {', '.join(was.administrations) or 'no administration'}")
    return tuple(out)


@dataclass(frozen=True)
class LineChange:
    """A current line's difference from the run before: new, or what it was there."""

    since: int  # the preceding run's pk
    was: ChargeLine | None = None  # None: the line is new
    differences: tuple[str, ...] = ()  # what it was, per field changed
    # The preceding run's number within its encounter (`run_numbers`), as the coder reads it.
    since_number: int = 0

    @property
    def is_new(self) -> bool:
        return self.was is None

    @property
    def text(self) -> str:
        """ "new since run 2", "was ×1, mod. 59 in run 2" (the run's number in its encounter)."""
        number = self.since_number or self.since
        if self.was is None:
            return f"new since run {number}"
        return f"was {', '.join(self.differences)} in run {number}"


@dataclass(frozen=True)
class RunChanges:
    """The current run's lines that are new or changed (by line pk) and the preceding run's
    lines that are gone, since run `since`. Empty (false) when nothing changed."""

    since: int
    lines: dict[int, LineChange] = field(default_factory=dict)
    gone: list[ChargeLine] = field(default_factory=list)
    # `since` is the run whose charges a coder last accepted (not the run just before).
    accepted: bool = False
    # `since` is the run the coder holding the item had when she claimed it: the charges
    # changed under her, in review (coding/review.py `review_item_sync`).
    claimed: bool = False
    since_number: int = 0  # run `since`'s number within its encounter (`run_numbers`)
    # `since` is the run a coder last reviewed (`last_reviewed`): the page's box lists `diff`.
    reviewed: ReviewAct | None = None
    # Each line added, removed or changed, in the current run's claim order, the removed last.
    diff: tuple[LineDiff, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.lines or self.gone)


def code_label(code: str, modifiers: Iterable[str]) -> str:
    """A code with its modifiers, as a claim line reads: "96365-59" (also the class-change
    preview's, coding/class_after_export.py)."""
    mods = "-".join(modifiers)
    return f"{code}-{mods}" if mods else code


def gone_label(line: ChargeLine) -> str:
    """A line no longer charged, as the coder names it: "96375-59 ×1 (A2)"."""
    covers = f" ({', '.join(line.administrations)})" if line.administrations else ""
    return f"{code_label(line.code, line.modifiers)} ×{line.units}{covers}"


ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class LineDiff:
    """One line of the current run against the run compared with: added (`was` None), removed
    (`now` None) or changed (both; what changed, field by field, in `fields`)."""

    kind: str  # ADDED, REMOVED, CHANGED
    was: ChargeLine | None = None
    now: ChargeLine | None = None

    @property
    def line(self) -> ChargeLine:
        line = self.now or self.was
        assert line is not None
        return line

    @property
    def code(self) -> str:
        return self.line.code

    @property
    def drug(self) -> bool:
        """A drug line (its code a HCPCS code, its units the drug's billing units)."""
        return is_drug_line(self.line)

    @property
    def was_text(self) -> str:
        return gone_label(self.was) if self.was is not None else ""

    @property
    def now_text(self) -> str:
        return gone_label(self.now) if self.now is not None else ""

    @property
    def fields(self) -> tuple[str, ...]:
        """What changed on a changed line, old -> new: ("units 2 → 1", "modifiers none → 59",
        "HCPCS J9267 → J9268")."""
        was, now = self.was, self.now
        if was is None or now is None:
            return ()
        out: list[str] = []
        if was.code != now.code:
            out.append(f"{'HCPCS' if self.drug else 'code'} {was.code} → {now.code}")
        if was.units != now.units:
            out.append(f"units {was.units} → {now.units}")
        if list(was.modifiers) != list(now.modifiers):
            before, after = " ".join(was.modifiers), " ".join(now.modifiers)
            out.append(f"modifiers {before or 'none'} → {after or 'none'}")
        if was.date != now.date:
            out.append(f"date {was.date:%m-%d} → {now.date:%m-%d}")
        if sorted(was.administrations) != sorted(now.administrations):
            out.append(
                f"covers {', '.join(was.administrations) or 'nothing'} → "
                f"{', '.join(now.administrations) or 'nothing'}"
            )
        return tuple(out)


def _drug_lines_recoded(
    gone: list[ChargeLine], new: list[ChargeLine]
) -> tuple[list[tuple[ChargeLine, ChargeLine]], list[ChargeLine], list[ChargeLine]]:
    """Of the lines left unpaired, a drug line gone and a drug line new for the same doses (the
    most shared administrations) are one drug line whose HCPCS code changed (the drug's billing
    data changed): `lines_matched` pairs only lines of one code."""
    pairs: list[tuple[ChargeLine, ChargeLine]] = []
    taken: set[int] = set()
    left: list[ChargeLine] = []
    for was in gone:
        if not is_drug_line(was):
            left.append(was)
            continue
        candidates = [
            (len(set(was.administrations) & set(now.administrations)), -now.position, now)
            for now in new
            if is_drug_line(now) and now.pk not in taken
        ]
        shared, _, best = max(candidates, key=lambda c: c[:2], default=(0, 0, None))
        if best is None or not shared:
            left.append(was)
            continue
        pairs.append((was, best))
        taken.add(best.pk)
    return pairs, left, [line for line in new if line.pk not in taken]


def lines_diff(
    previous: Iterable[ChargeLine], current: Iterable[ChargeLine]
) -> tuple[list[tuple[ChargeLine, ChargeLine]], list[LineDiff]]:
    """`current`'s lines against `previous`'s, paired as a correction follows its target
    (`corrections.lines_matched`), then a drug line recoded paired by its doses: the pairs
    (unchanged ones included) and each line added, removed or changed, in `current`'s claim
    order, the removed ones after in `previous`'s. Lines unchanged are not listed."""
    pairs, gone, new = lines_matched(list(previous), list(current))
    recoded, gone, new = _drug_lines_recoded(gone, new)
    pairs = pairs + recoded
    listed = [
        LineDiff(CHANGED, was, now) for was, now in pairs if line_target(was) != line_target(now)
    ]
    listed += [LineDiff(ADDED, now=line) for line in new]
    listed.sort(key=lambda d: d.line.position)
    listed += [LineDiff(REMOVED, was=line) for line in gone]
    return pairs, listed


def run_changes(
    *,
    since: int,
    previous: Iterable[ChargeLine],
    current: Iterable[ChargeLine],
    since_number: int = 0,
) -> RunChanges:
    """The differences of `current`'s lines from `previous`'s (the lines of run `since`, the
    encounter's run number `since_number`; 0: named by its pk)."""
    _, diff = lines_diff(previous, current)
    changed: dict[int, LineChange] = {}
    for d in diff:
        if d.now is None:
            continue
        if d.was is None:
            changed[d.now.pk] = LineChange(since=since, since_number=since_number)
        else:
            changed[d.now.pk] = LineChange(
                since=since,
                was=d.was,
                differences=_differences(d.was, d.now),
                since_number=since_number,
            )
    gone = [d.was for d in diff if d.kind == REMOVED and d.was is not None]
    return RunChanges(
        since=since, lines=changed, gone=gone, since_number=since_number, diff=tuple(diff)
    )


def run_numbers(runs: Iterable[ChargeRun]) -> dict[int, int]:
    """Each run's number within its encounter, by pk: 1 for the first made, n for the n-th.
    The coder names a run so ("run 3"), not by its pk, global across encounters (exports, the
    audit and URLs keep the pk). `runs`: all of one encounter's runs, already read."""
    ordered = sorted(runs, key=lambda r: (r.created_at, r.pk))
    return {r.pk: number for number, r in enumerate(ordered, start=1)}


def preceding_run(runs: Iterable[ChargeRun], run: ChargeRun) -> ChargeRun | None:
    """The run made immediately before `run` (the one the coder saw before it), or None."""
    earlier = [r for r in runs if (r.created_at, r.pk) < (run.created_at, run.pk)]
    return max(earlier, key=lambda r: (r.created_at, r.pk), default=None)


def changes_since_preceding(
    runs: list[ChargeRun],
    run: ChargeRun,
    *,
    accepted_run_id: int | None = None,
    claimed_run_id: int | None = None,
    reviewed: ReviewAct | None = None,
) -> RunChanges | None:
    """`run`'s changes since the charges the coder holding the item had when she claimed them
    (`claimed_run_id`: runs were made under her since), else since the charges a coder last
    accepted (`accepted_run_id`), when that run is an earlier one of `runs` (several runs may
    have come since, each addendum its own), else since the run before it; None for the first
    run. `reviewed` (`last_reviewed`), an earlier run a coder last reviewed, comes before the
    accepted run, and before the claimed run when later (reviewed under her claim): the box
    lists what changed since it. Reads `lines.all()` of both (prefetched
    on the review page: no query)."""

    def earlier(pk: int | None) -> ChargeRun | None:
        return next(
            (r for r in runs if r.pk == pk and (r.created_at, r.pk) < (run.created_at, run.pk)),
            None,
        )

    claimed = earlier(claimed_run_id)
    seen = None if reviewed is None else earlier(reviewed.run_id)
    if claimed is not None and seen is not None and _order(seen) > _order(claimed):
        # Reviewed since she claimed (a line corrected on a run made under her): since then,
        # as the worklist's badge compares (`worklist_charges.changed_since_review`).
        claimed = None
    if claimed is not None:
        seen = None
    accepted = None if claimed is not None else earlier(accepted_run_id)
    if seen is not None and accepted is not None and seen.pk != accepted.pk:
        accepted = None  # reviewed since the charges accepted: since then
    before = claimed or seen or accepted or preceding_run(runs, run)
    if before is None:
        return None
    changes = run_changes(
        since=before.pk,
        previous=before.lines.all(),
        current=run.lines.all(),
        since_number=run_numbers(runs)[before.pk],
    )
    return dataclasses.replace(
        changes,
        accepted=accepted is not None,
        claimed=claimed is not None,
        # The box's: the run compared with is the one a coder last reviewed (claimed included).
        reviewed=reviewed if reviewed is not None and reviewed.run_id == before.pk else None,
    )


def runs_between(runs: Iterable[ChargeRun], run: ChargeRun, since: int) -> list[ChargeRun]:
    """The runs made after run `since` and before `run`, oldest first: what the markers span
    besides `run`'s own change (several addenda since the charges accepted, each its run)."""
    start = next((r for r in runs if r.pk == since), None)
    if start is None:
        return []
    after = [
        r
        for r in runs
        if (start.created_at, start.pk) < (r.created_at, r.pk) < (run.created_at, run.pk)
    ]
    return sorted(after, key=lambda r: (r.created_at, r.pk))


# --- the run a coder last reviewed, and the reasons since ---------------------------------------


@dataclass(frozen=True)
class ReviewAct:
    """What a coder did with a run's charges, as the page says it: "claimed it", "accepted it",
    "corrected a line", "sent a query", "overrode an edit", "re-reviewed a correction"; by whom
    and when (None where it was not kept: who accepted charges a new run replaced before
    `ReviewItem.accepted_by` was kept with `accepted_run`, 2026-12-07; the box then says "run N
    was reviewed")."""

    run_id: int
    what: str
    by: Any = None  # a User
    at: datetime | None = None

    # The acts that end a review of a run: done with these charges (accepted) or waiting for
    # the nurse (queried). A correction or an override on the current run is a review under
    # way: the box stays until she accepts or queries.
    CONCLUDING = ("accepted it", "sent a query")


def review_acts(
    runs: Iterable[ChargeRun],
    *,
    queries: Iterable[Any] = (),
    accepted_run_id: int | None = None,
    accepted_by: Any = None,
    accepted_at: datetime | None = None,
    claimed_run_id: int | None = None,
    claimed_by: Any = None,
    claimed_at: datetime | None = None,
) -> list[ReviewAct]:
    """Every act of a coder on the encounter's runs, as the tables keep them: the run accepted
    (`ReviewItem.accepted_run`), the run claimed by the coder holding the item, each query's
    run, each correction made on a run (not one a new run carried: its coder and time are the
    first run's), each re-review decision and each edit override on its run. Reads the runs'
    `corrections` and `edit_overrides` as prefetched (the review page's): no query."""
    acts: list[ReviewAct] = []
    if accepted_run_id is not None:
        acts.append(ReviewAct(accepted_run_id, "accepted it", accepted_by, accepted_at))
    if claimed_run_id is not None:
        acts.append(ReviewAct(claimed_run_id, "claimed it", claimed_by, claimed_at))
    for query in queries:
        acts.append(ReviewAct(query.run_id, "sent a query", query.asked_by, query.asked_at))
    for r in runs:
        for c in r.corrections.all():
            if c.carried_from_id is None:
                acts.append(ReviewAct(r.pk, "corrected a line", c.by, c.at))
            if c.decided_at is not None:
                # her way back to the engine's line is said as she did it (QA: it read as a
                # re-review); any other decision is a re-review of a carried correction
                what = (
                    "took a line back to the engine's"
                    if c.state == ChargeCorrection.State.BACK
                    else "re-reviewed a correction"
                )
                acts.append(ReviewAct(r.pk, what, c.decided_by, c.decided_at))
        for o in r.edit_overrides.all():
            acts.append(ReviewAct(r.pk, "overrode an edit", o.by, o.at))
    return acts


def _order(r: ChargeRun) -> tuple[datetime, int]:
    return (r.created_at, r.pk)


def last_reviewed(
    runs: Sequence[ChargeRun], run: ChargeRun, acts: Iterable[ReviewAct]
) -> ReviewAct | None:
    """The last act on the charges of a run made before `run` (the current run): on the latest
    such run, its latest act. None when no coder acted on an earlier run, or when `run` itself
    was reviewed to the end since (accepted, or queried: `ReviewAct.CONCLUDING`)."""
    acts = list(acts)
    if any(a.run_id == run.pk and a.what in ReviewAct.CONCLUDING for a in acts):
        return None
    order = {r.pk: _order(r) for r in runs}
    earlier = [a for a in acts if a.run_id in order and order[a.run_id] < _order(run)]
    if not earlier:
        return None
    return max(
        earlier,
        key=lambda a: (
            order[a.run_id],
            a.at is not None,
            a.at or datetime.min,
        ),
    )


@dataclass(frozen=True)
class RunReason:
    """A run made since the run compared with: why (its trigger and reason), when, and for a
    run made by the nurse's addenda each addendum with its author and time."""

    run: ChargeRun | None  # None: addenda written after the current run (no run made for them)
    addenda: tuple[Any, ...] = ()  # mar.Addendum rows


def reasons_since(
    runs: Sequence[ChargeRun], run: ChargeRun, since: int, addenda: Iterable[Any]
) -> list[RunReason]:
    """Every run after run `since` up to `run`, oldest first, each with the addenda written
    since the run before it and up to it (those it was made for: an addendum's run is made
    after it is written); addenda written since `run` (no new run: the record unchanged) last.
    The addenda as read for the page (`at`, `author`, `what`, `why`): no query."""
    start = next((r for r in runs if r.pk == since), None)
    if start is None:
        return []
    made = sorted((r for r in runs if _order(start) < _order(r) <= _order(run)), key=_order)
    written = sorted((a for a in addenda if a.at > start.created_at), key=lambda a: (a.at, a.pk))
    out: list[RunReason] = []
    for r in made:
        own = tuple(a for a in written if a.at <= r.created_at)
        written = written[len(own) :]
        out.append(RunReason(r, own))
    if written:
        out.append(RunReason(None, tuple(written)))
    return out


@dataclass(frozen=True)
class Acceptance:
    """One acceptance of an item's charges: who (a User; None where not kept) and when."""

    by: Any
    at: datetime


def acceptance_history(item: Any, events: Iterable[Any]) -> list[Acceptance]:
    """Every acceptance of the item's charges, latest first, each once: the item's own (its
    `accepted_by`/`accepted_at`, written by `review_accept` for the latest only) and those the
    audit trail kept of the item (`review_reads.acceptances`, rows latest first; none on SQLite,
    which keeps no history). The review page says "Accepted by coder on 7 Dec 08:47; earlier by
    coder2 on 7 Dec 08:10"."""
    seen: set[tuple[datetime, Any]] = set()
    found: list[Acceptance] = []
    own = [item] if item is not None and item.accepted_at is not None else []
    for row in [*own, *events]:
        key = (row.accepted_at, row.accepted_by_id)
        if key not in seen:
            seen.add(key)
            found.append(Acceptance(row.accepted_by, row.accepted_at))
    return sorted(found, key=lambda a: a.at, reverse=True)
