"""What each row of the coder's worklist says of its charges, kept while nothing it is made of
changed (issue 19).

A worklist row shows its current run's charges as they would be sent (the coders' corrections
applied: `coding.review.effective_lines`): how many lines and units, the codes, whether a coder
corrected any, and, with a charge master loaded, the money total and how many lines are not
priced. Working that out for a page of 50 rows read every line of 50 runs (300 rows with their
JSON), gave each run its lines and corrections, applied the corrections and priced every line:
about a third of the page (benchmarks/README.md, twenty-third session). But a run's lines never
change once it is made (a change to the record makes a new run), so the row's charges change
only when one of these does, and they make the key they are kept under:

- the run (its id): a new current run is another key;
- its corrections, each with what decides what it does to a line (id, state, action, the line
  it is on, the line as generated and as corrected), read for the page's runs at every load
  (one statement): a correction made, decided, carried or dropped is another key;
- the charge master: how many versions it holds, the last one's id and the last time one was
  loaded or changed (one statement: every change to it, `charge_master_load`, stamps
  `loaded_at`); a price changes the money, and a price in effect is chosen by the date of
  service, so nothing here depends on the day it is read;
- for the edits that block export (`review.charge_edits_for_run(...).blocking`, "4 edits block
  export" on the row; QA: a row with four said "Findings 0" and nothing of its export held):
  the MUE limits and NCCI pairs loaded (their count, last id, the limits' sum and last load,
  in the charge master's statement) and how many edits coders overrode on the run
  (`override_count`, read with the page's runs; an override is never deleted). A miss reads
  the missed runs' record and billing facts, their overrides, and the limits and pairs of
  their codes once for them all (four statements a page, none a row).

The cache is Django's (`CACHES["board"]`, memory per process, as the board's cards). A row
missed is worked out as before, from its lines read then. tests/coding/test_worklist_charges.py
holds the rows read with what was kept to the rows worked out with nothing kept, after any
sequence of corrections, decisions, new runs and charge master loads (a hypothesis state
machine).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import caches
from django.db import connection

from coding import review_reads
from coding.chargemaster import charge_master_for
from coding.claim import money_total, price_detail
from coding.models import (
    ChargeCorrection,
    ChargeLine,
    ChargeMasterItem,
    ChargeRun,
    MueLimit,
    PtpEdit,
    ReviewItem,
)
from coding.mue import mue_limits
from coding.ptp import ptp_pairs
from coding.review import charge_edits_for_run, effective_lines
from coding.run_changes import ReviewAct, last_reviewed, lines_diff
from mar.prepared import prefetched

CACHE = "board"
_VERSION = "2"  # bump when RunCharges changes shape


@dataclass(frozen=True)
class RunCharges:
    """A run's charges as its worklist row shows them."""

    lines_total: int
    units_total: int
    corrected: bool
    labels: tuple[str, ...]  # the lines as sent ("96413 x1", "J9267-JW x20")
    amount_total: Decimal
    unpriced: int  # lines the charge master does not price
    blocking: int = 0  # edits not overridden: they block acceptance, so export


def charge_master_stamp() -> tuple[Any, ...]:
    """How many versions the charge master holds, the last one's id, the last load (or change):
    the moment as the database gives it, as text (PostgreSQL gives a datetime, SQLite the text it
    stores; either is the same from one read to the next); then, in the same statement, the MUE
    limits' (count, last id, sum of the limits, last load) and the NCCI pairs' (count, last id):
    the edits that block export read them."""
    table = ChargeMasterItem._meta.db_table
    mue = MueLimit._meta.db_table
    ptp = PtpEdit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), max(id), max(loaded_at), "  # noqa: S608
            f"(SELECT count(*) FROM {mue}), (SELECT max(id) FROM {mue}), "
            f"(SELECT sum({connection.ops.quote_name('limit')}) FROM {mue}), "
            f"(SELECT max(loaded_at) FROM {mue}), "
            f"(SELECT count(*) FROM {ptp}), (SELECT max(id) FROM {ptp}) FROM {table}"
        )
        count, last, loaded, *reference = cursor.fetchone()
    return (
        int(count),
        last,
        str(loaded) if loaded is not None else None,
        *(str(value) if value is not None else None for value in reference),
    )


def _correction_part(correction: ChargeCorrection) -> tuple[Any, ...]:
    return (
        correction.pk,
        correction.state,
        correction.action,
        correction.line_id,
        json.dumps(correction.original, sort_keys=True, default=str),
        json.dumps(correction.corrected, sort_keys=True, default=str),
    )


def run_key(run: ChargeRun, corrections: Sequence[ChargeCorrection], stamp: Any) -> str:
    """The key a run's charges are kept under (see the module's docstring)."""
    parts = sorted(_correction_part(c) for c in corrections)
    # Hashed: a cache key stays short (Django warns above 250 characters), whatever the reasons.
    overrides = getattr(run, "override_count", None)
    digest = hashlib.sha256(repr((stamp, parts, overrides)).encode()).hexdigest()
    return f"worklist-run:{_VERSION}:{run.pk}:{digest}"


def _worked_out(
    runs: list[ChargeRun], corrections: dict[int, list[ChargeCorrection]], stamp: Any = None
) -> dict[int, RunCharges]:
    """Each run's charges from its lines (read here) and its corrections."""
    ids = [run.pk for run in runs]
    prefetched(runs, "lines", review_reads.lines(ids) if ids else [])
    prefetched(runs, "corrections", [c for run in runs for c in corrections.get(run.pk, [])])
    lines = {run.pk: effective_lines(run, include_removed=True) for run in runs}
    codes = {line.code for effective in lines.values() for line in effective if not line.removed}
    master = charge_master_for(codes, loaded=stamp[0] > 0 if stamp is not None else None)
    # The edits that block export, as the review page's: each run's record and billing facts
    # and overrides, the limits and pairs of the runs' codes, read once for them all.
    full = {
        run.pk: run
        for run in ChargeRun.objects.filter(pk__in=ids).only(
            "pk", "encounter_id", "error", "input_snapshot", "billing_snapshot"
        )
    }
    # Not read when the page's read says there are none (no override on these runs, no limit
    # or pair loaded: the stamp's counts).
    overridden = [run.pk for run in runs if getattr(run, "override_count", None) != 0]
    overrides = list(review_reads.edit_overrides(overridden)) if overridden else []
    prefetched(list(full.values()), "edit_overrides", overrides)
    mue = {} if stamp is not None and stamp[3] == "0" else mue_limits(codes)
    ptp = {} if stamp is not None and stamp[7] == "0" else ptp_pairs(codes)
    out: dict[int, RunCharges] = {}
    for run in runs:
        sent = [line for line in lines[run.pk] if not line.removed]
        prices = [price_detail(line, master) for line in sent]
        blocking = (
            len(charge_edits_for_run(full[run.pk], sent, master=master, mue=mue, ptp=ptp).blocking)
            if run.pk in full and not run.error
            else 0
        )
        out[run.pk] = RunCharges(
            lines_total=len(sent),
            units_total=sum(line.units for line in sent),
            corrected=any(line.correction for line in lines[run.pk]),
            labels=tuple(line.label for line in sent),
            amount_total=money_total(prices),
            unpriced=sum(1 for p in prices if not p),
            blocking=blocking,
        )
    return out


def run_charges(
    runs: Sequence[ChargeRun], *, kept: bool = True
) -> tuple[dict[int, RunCharges], bool]:
    """The charges of each run (by id) as its worklist row shows them, and whether a charge master
    is loaded (the rows then show money). `kept=False`: worked out with nothing kept (tests)."""
    runs = list(runs)
    stamp = charge_master_stamp()
    corrections: dict[int, list[ChargeCorrection]] = {}
    ids = [run.pk for run in runs]
    for correction in review_reads.corrections(ids) if ids else []:
        corrections.setdefault(correction.run_id, []).append(correction)
    if not kept:
        return _worked_out(runs, corrections, stamp), stamp[0] > 0
    cache = caches[CACHE]
    keys = {run.pk: run_key(run, corrections.get(run.pk, []), stamp) for run in runs}
    found = cache.get_many(list(keys.values()))
    charges = {pk: found[key] for pk, key in keys.items() if key in found}
    missed = [run for run in runs if run.pk not in charges]
    if missed:
        worked = _worked_out(missed, corrections, stamp)
        charges.update(worked)
        cache.set_many({keys[pk]: value for pk, value in worked.items()})
    return charges, stamp[0] > 0


# --- "charges changed since review" ------------------------------------------------------


def changed_since_review(rows: Sequence[Any]) -> set[int]:
    """The worklist rows (encounters with `item` and `current_runs`) waiting for a coder (new,
    or in review) whose current charges differ from those of the run a coder last reviewed
    (coding/run_changes.py `last_reviewed`, `lines_diff`: the review page's box says what
    changed). One read of the runs acted on for the page; two runs' lines never change, so
    whether they differ is kept under both ids and their lines read only on a miss."""
    waiting = {
        row.pk: row.current_runs[0]
        for row in rows
        if row.current_runs
        and row.item is not None
        and row.item.state in (ReviewItem.State.NEW, ReviewItem.State.IN_REVIEW)
    }
    if not waiting:
        return set()
    acted: dict[int, list[ChargeRun]] = {}
    for run in review_reads.reviewed_runs(sorted(waiting)):
        acted.setdefault(run.encounter_id, []).append(run)
    compare: dict[int, tuple[int, int]] = {}
    for encounter_id, current in waiting.items():
        runs = acted.get(encounter_id, [])
        # The run claimed: the latest made before the claim (`review.run_when_claimed`).
        claimed = max(
            (run for run in runs if run.claimed),  # type: ignore[attr-defined]
            key=lambda run: (run.created_at, run.pk),
            default=None,
        )
        acts = [
            ReviewAct(run.pk, what)
            for run in runs
            for what, done in (
                ("sent a query", run.queried),  # type: ignore[attr-defined]
                ("corrected a line", run.corrected),  # type: ignore[attr-defined]
                ("overrode an edit", run.overridden),  # type: ignore[attr-defined]
                ("accepted it", run.accepted),  # type: ignore[attr-defined]
                ("claimed it", run is claimed),
            )
            if done
        ]
        reviewed = last_reviewed([*runs, current], current, acts)
        if reviewed is not None:
            compare[encounter_id] = (reviewed.run_id, current.pk)
    cache = caches[CACHE]
    keys = {pair: f"run-diff:{pair[0]}:{pair[1]}" for pair in compare.values()}
    known: dict[str, bool] = cache.get_many(list(keys.values())) if keys else {}
    missed = sorted({pk for pair, key in keys.items() if key not in known for pk in pair})
    if missed:
        lines: dict[int, list[ChargeLine]] = {}
        for line in review_reads.lines(missed):
            lines.setdefault(line.run_id, []).append(line)
        fresh = {
            key: bool(lines_diff(lines.get(was, []), lines.get(now, []))[1])
            for (was, now), key in keys.items()
            if key not in known
        }
        cache.set_many(fresh, timeout=None)
        known.update(fresh)
    return {encounter_id for encounter_id, pair in compare.items() if known[keys[pair]]}
