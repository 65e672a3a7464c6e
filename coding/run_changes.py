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

Plain functions of lines already read (the page prefetches every run's lines): no query.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from coding.corrections import line_target, lines_matched
from coding.models import ChargeLine, ChargeRun


def _differences(was: ChargeLine, now: ChargeLine) -> tuple[str, ...]:
    """What the line was in the preceding run, for each field that changed:
    ("×1", "mod. 59", "03-05", "for A2")."""
    out: list[str] = []
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

    def __bool__(self) -> bool:
        return bool(self.lines or self.gone)


def gone_label(line: ChargeLine) -> str:
    """A line no longer charged, as the coder names it: "96375-59 ×1 (A2)"."""
    mods = "-".join(line.modifiers)
    covers = f" ({', '.join(line.administrations)})" if line.administrations else ""
    return f"{line.code}{'-' + mods if mods else ''} ×{line.units}{covers}"


def run_changes(
    *,
    since: int,
    previous: Iterable[ChargeLine],
    current: Iterable[ChargeLine],
    since_number: int = 0,
) -> RunChanges:
    """The differences of `current`'s lines from `previous`'s (the lines of run `since`, the
    encounter's run number `since_number`; 0: named by its pk)."""
    pairs, gone, new = lines_matched(list(previous), list(current))
    changed = {
        now.pk: LineChange(
            since=since, was=was, differences=_differences(was, now), since_number=since_number
        )
        for was, now in pairs
        if line_target(was) != line_target(now)
    }
    changed.update({line.pk: LineChange(since=since, since_number=since_number) for line in new})
    return RunChanges(since=since, lines=changed, gone=gone, since_number=since_number)


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
) -> RunChanges | None:
    """`run`'s changes since the charges the coder holding the item had when she claimed them
    (`claimed_run_id`: runs were made under her since), else since the charges a coder last
    accepted (`accepted_run_id`), when that run is an earlier one of `runs` (several runs may
    have come since, each addendum its own), else since the run before it; None for the first
    run. Reads `lines.all()` of both (prefetched on the review page: no query)."""

    def earlier(pk: int | None) -> ChargeRun | None:
        return next(
            (r for r in runs if r.pk == pk and (r.created_at, r.pk) < (run.created_at, run.pk)),
            None,
        )

    claimed = earlier(claimed_run_id)
    accepted = None if claimed is not None else earlier(accepted_run_id)
    before = claimed or accepted or preceding_run(runs, run)
    if before is None:
        return None
    changes = run_changes(
        since=before.pk,
        previous=before.lines.all(),
        current=run.lines.all(),
        since_number=run_numbers(runs)[before.pk],
    )
    return dataclasses.replace(changes, accepted=accepted is not None, claimed=claimed is not None)


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
