"""What runs on each board card, kept while its record has not changed (issue 19).

A card shows an encounter's state and open checklist items, what runs on it with the minutes
run, and whether a coder's query is open. The state and the items come from the stored summary
(mar/summary.py), read with the page's encounters (`reads.board_encounters`: one query for the
page, with the patient, the summary, the coder's query, how many administrations were given and
when the last one changed). What runs needed two reads more (the infusions not stopped, their
pauses) for a page of 48 cards, though the same nurses load the same board again and again while
little changes. So what runs is kept in the cache under a key made of what says it changed:

- how many administrations the record has and when the last one changed (a start, a stop, a
  pause and a resume save the administration: `updated_at`);
- the encounter's status (a signature ends the clocks: the card names an infusion without a stop);
- its stored summary's `computed_at`: a formulary change to a drug on the record (its name)
  expires the summary, with a new `computed_at`.

What is kept is each infusion's drug, start and pauses, not its minutes: they are counted at
every load (`minutes_run`), so a kept card's clock is never behind. The state and open items are
worked out at every load from the summary read with the page, as before (acknowledgements read
only for a record not signed whose summary has an error: they are made at the signature).

The cache is Django's (`CACHES["board"]`: memory, per process). A miss costs what every load
cost before, for the cards missed only. tests/mar/test_board_cards.py holds a board read with
what was kept to the one built with nothing kept, after any sequence of changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import caches

from mar import chart_reads as reads
from mar.chart_context import board_summary, minutes_run
from mar.models import Encounter, EncounterSummary
from mar.prepared import prefetched
from mar.summary import summaries_for

CACHE = "board"
_VERSION = "1"  # bump when CardData changes shape


@dataclass(frozen=True)
class Running:
    """An infusion not stopped, as its card needs it whatever the clock says."""

    drug: str
    start: datetime
    pauses: tuple[tuple[datetime, datetime | None], ...]
    pump: str  # its display words ("portable"), for a signed record's card
    planned_hours: Any


def _summary(encounter: Encounter) -> EncounterSummary | None:
    try:
        return encounter.summary
    except EncounterSummary.DoesNotExist:
        return None


def running_key(encounter: Encounter) -> str:
    """The key what runs on it is kept under."""
    summary = _summary(encounter)
    last = getattr(encounter, "last_changed", None)
    return ":".join(
        str(part)
        for part in (
            "running",
            _VERSION,
            encounter.pk,
            encounter.status,
            encounter.given,  # type: ignore[attr-defined]
            last.timestamp() if last is not None else "-",
            summary.computed_at.timestamp() if summary is not None else "-",
        )
    )


def _running_read(encounters: Sequence[Encounter]) -> dict[int, tuple[Running, ...]]:
    ids = [e.pk for e in encounters]
    running: dict[int, list[Running]] = {pk: [] for pk in ids}
    for adm in reads.with_pauses(reads.board_running(ids)) if ids else []:
        running[adm.encounter_id].append(
            Running(
                drug=adm.drug.name,
                start=adm.start,
                pauses=tuple((p.start, p.end) for p in adm.pauses.all()),
                pump=adm.get_pump_display().lower() if adm.pump else "",
                planned_hours=adm.planned_hours,
            )
        )
    return {pk: tuple(rows) for pk, rows in running.items()}


def _states(
    encounters: Sequence[Encounter], running: dict[int, tuple[Running, ...]], now: datetime
) -> dict[int, tuple[str, int, int]]:
    """(state, open errors, warnings) of each card, from its stored summary as read with it
    (recomputed only where missing or aged: `summaries_for`). Acknowledgements are read only for
    a record not signed whose summary has an error (they are made at the signature)."""
    open_ones = [e for e in encounters if not e.is_signed]
    stored = [s for s in (_summary(e) for e in open_ones) if s is not None]
    summaries = summaries_for(open_ones, now=now, stored=stored) if open_ones else {}
    with_errors = [
        e
        for e in open_ones
        if e.pk in summaries and any(f.get("severity") == "error" for f in summaries[e.pk].findings)
    ]
    ids = [e.pk for e in with_errors]
    prefetched(open_ones, "acknowledgements", reads.board_acknowledgements(ids) if ids else [])
    return {
        e.pk: board_summary(
            e,
            summary=summaries.get(e.pk),
            running=bool(running[e.pk]),
            given=e.given,  # type: ignore[attr-defined]
        )
        for e in encounters
    }


def board_cards(encounters: Iterable[Encounter], now: datetime) -> list[dict[str, Any]]:
    """The cards of a page of encounters (read by `reads.board_encounters`), in their order."""
    encounters = list(encounters)
    cache = caches[CACHE]
    keys = {e.pk: running_key(e) for e in encounters}
    kept = cache.get_many(list(keys.values()))
    running = {pk: kept[key] for pk, key in keys.items() if key in kept}
    missed = [e for e in encounters if e.pk not in running]
    if missed:
        read = _running_read(missed)
        running.update(read)
        cache.set_many({keys[pk]: rows for pk, rows in read.items()})
    states = _states(encounters, running, now)
    return [_card(e, states[e.pk], running[e.pk], now) for e in encounters]


def _card(
    encounter: Encounter,
    state: tuple[str, int, int],
    running: tuple[Running, ...],
    now: datetime,
) -> dict[str, Any]:
    # Minutes as the chart counts them: less pauses; a paused drug says so. On a signed record
    # nothing runs: an infusion left without a stop (RAC-7 acknowledged at the signature) is
    # named as the chart's card names it, with no clock.
    if encounter.is_signed:
        running_now: list[tuple[str, int, bool]] = []
        no_stop = [
            (run.drug, run.pump, run.planned_hours)
            if run.pump and run.planned_hours
            else (run.drug, "", None)
            for run in running
        ]
    else:
        running_now = [
            (
                run.drug,
                minutes_run(run.start, None, run.pauses, now),
                any(end is None for _, end in run.pauses),
            )
            for run in running
        ]
        no_stop = []
    errors, warnings = state[1], state[2]
    return {
        "encounter": encounter,
        "state": state[0],
        "open_items": errors + warnings,
        "open_errors": errors,
        "running": running_now,
        "no_stop": no_stop,
    }
