"""What must hold for every coded record, whatever it charts (issue 13, "Proof").

`violations(record, result)` lists each broken invariant in words (empty when all hold), so the
generated-record test and the property tests share one definition:

- every administration is charged or listed as not charged, never both;
- no add-on without its primary (the engine's own edit);
- 96368 at most once, and never a chemotherapy drug's (CPT Assistant Nov 2005);
- a 96376 is more than 30 minutes from every reported push of the same drug, before or after it
  (CPT 96376), never in the office (a mixed push reported as 96375/96411 for a new drug it
  brought is that drug's push);
- no line is sequential time (96367 / 96417 and their hours) for minutes during which a pump or
  an infusion hung before it ran on the same line;
- G0498 never for an implanted pump; intralesional chemotherapy one line per session, never
  96405 with 96406;
- a second encounter of the day carries its distinct modifier on a line;
- every line has units and a reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from coding.engine import Charge, Record, Result, charge_edits
from coding.engine.codes import family_of
from coding.engine.record import Administration
from coding.engine.timing import (
    INFUSION_MIN_MINUTES,
    PUSH_SAME_DRUG_CLOCK_MINUTES,
    Span,
    additional_hours,
    merge,
    subtract,
    whole_minutes,
)

PUSH_LINES = {"96374", "96375", "96376", "96409", "96411"}
SEQUENTIAL = {"96367", "96417"}
INFUSION_LINES = {"96365", "96366", "96367", "96368", "96413", "96415", "96417"}
HOURS_OF = {"96367": "96366", "96417": "96415"}
PUMP_LINES = {"96416", "G0498"}


def _spans(adms: Iterable[Administration]) -> list[Span]:
    return merge(span for a in adms for span in a.spans)


def violations(record: Record, result: Result) -> list[str]:
    out: list[str] = []
    adms = {a.id: a for a in record.administrations}
    lines_of: dict[str, list[str]] = {}
    for charge in result.charges:
        for i in charge.administrations:
            lines_of.setdefault(i, []).append(charge.code)
        if charge.units < 1 or not charge.why:
            out.append(f"{charge.code}: a line with no units or no reason")
    listed = {n.administration for n in result.not_charged}
    for a in record.administrations:
        if (a.id in lines_of) == (a.id in listed):
            out.append(f"{a.id}: charged and listed as not charged, or neither")
    if [f for f in charge_edits(result.charges) if f.rule == "EDIT-ADDON"]:
        out.append("an add-on without its primary")

    concurrent = [c for c in result.charges if c.code == "96368"]
    if sum(c.units for c in concurrent) > 1:
        out.append("96368 more than once")
    for c in concurrent:
        for i in c.administrations:
            drug_class = adms[i].drug_class
            if drug_class is not None and family_of(drug_class) == "chemo":
                out.append(f"96368 for the chemotherapy drug {adms[i].drug}")

    pushes = [
        (c.code, ids, {adms[i].drug.strip().lower() for i in ids},
         min(adms[i].start_ts for i in ids))
        for c in result.charges
        if c.code in PUSH_LINES and c.administrations
        for ids in _services(c, adms)
    ]  # fmt: skip
    for code, ids, drugs, at in pushes:
        if code != "96376":
            continue
        if record.encounter.setting == "office":
            out.append("96376 in the office")
        for other_code, other_ids, other_drugs, other_at in pushes:
            if other_ids == ids or not drugs & other_drugs:
                continue
            if other_code in ("96375", "96411") and other_drugs - drugs:
                continue  # a mixed push reported for the new drug it brought, not for this one
            if abs(at - other_at) <= PUSH_SAME_DRUG_CLOCK_MINUTES * 60:
                out.append(
                    f"96376 for {sorted(drugs)} within {PUSH_SAME_DRUG_CLOCK_MINUTES} min of "
                    f"the reported push on {other_code}"
                )

    allowed: dict[tuple[str, tuple[str, ...]], int] = {}  # (hours code, service) -> hours
    for charge in result.charges:
        if charge.code not in SEQUENTIAL:
            continue
        for ids in _services(charge, adms):
            minutes = _sequential_minutes(record, adms, lines_of, ids, charge.code, out)
            allowed[(HOURS_OF[charge.code], ids)] = additional_hours(minutes)
    for c in result.charges:
        services = [(c.code, ids) for ids in _services(c, adms)]
        if services and all(s in allowed for s in services):
            # hours of sequential services only (a line merged with the initial's hours is
            # not bounded here: the initial's hours are not this oracle's)
            bound = sum(allowed[s] for s in services)
            if c.units > bound:
                out.append(f"{c.code} for {c.administrations}: {c.units} hours, at most {bound}")

    for c in result.charges:
        if c.code == "G0498" and any(adms[i].pump == "implanted" for i in c.administrations):
            out.append("G0498 for an implanted pump")
    intralesional = [c for c in result.charges if c.code in ("96405", "96406")]
    if len(intralesional) > 1 or any(c.units > 1 for c in intralesional):
        out.append("more than one intralesional line in one session")

    if record.encounter.sequence_of_day >= 2 and result.charges:
        modifier = record.policy.second_encounter_modifier
        if not any(modifier in c.modifiers for c in result.charges):
            out.append(f"a second encounter with no {modifier} on any line")
    return out


def _services(charge: Charge, adms: dict[str, Administration]) -> list[tuple[str, ...]]:
    """The services a line carries. The engine claims one line per code, date and modifiers
    (CLAIM-ONE-LINE-PER-CODE), so a line may carry several: administrations sharing a bag (a
    mixed bag or syringe) are one service, and on an infusion line so are those of one drug (the
    same drug continued in a new bag); each push of a drug again (96376) is its own."""
    ids = list(charge.administrations)
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            i = parent[i]
        return i

    keys: dict[tuple[str, str], str] = {}
    for i in ids:
        a = adms[i]
        marks = [("bag", a.bag)] if a.bag else []
        if charge.code not in PUSH_LINES:
            marks.append(("drug", a.drug.strip().lower()))
        for mark in marks:
            seen = keys.setdefault(mark, i)
            parent[root(i)] = root(seen)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(root(i), []).append(i)
    return [tuple(g) for g in groups.values()]


def _sequential_minutes(
    record: Record,
    adms: dict[str, Administration],
    lines_of: dict[str, list[str]],
    ids: tuple[str, ...],
    code: str,
    out: list[str],
) -> int:
    members = [adms[i] for i in ids]
    own = _spans(members)
    first = min(a.start_ts for a in members)
    sites = {a.site for a in members}
    beside = [
        a
        for a in record.administrations
        if a.id not in ids
        and a.site in sites
        and a.route == "iv"
        and (
            (a.is_prolonged_pump and PUMP_LINES & set(lines_of.get(a.id, ())))
            or (
                a.method == "infusion"
                and a.start_ts < first
                and INFUSION_LINES & set(lines_of.get(a.id, ()))
                and a.drug.strip().lower() not in {m.drug.strip().lower() for m in members}
            )
        )
    ]
    alone = subtract(own, _spans(beside))
    minutes = whole_minutes(alone)
    if minutes < INFUSION_MIN_MINUTES:
        out.append(
            f"{code} for {ids}: only {minutes} min apart from the "
            f"pumps and infusions already running on its line"
        )
    return minutes
