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

from coding.engine import Record, Result, charge_edits
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
        (c, {adms[i].drug.strip().lower() for i in c.administrations},
         min(adms[i].start_ts for i in c.administrations))
        for c in result.charges
        if c.code in PUSH_LINES and c.administrations
    ]  # fmt: skip
    for line, drugs, at in pushes:
        if line.code != "96376":
            continue
        if record.encounter.setting == "office":
            out.append("96376 in the office")
        for other, other_drugs, other_at in pushes:
            if other is line or not drugs & other_drugs:
                continue
            if other.code in ("96375", "96411") and other_drugs - drugs:
                continue  # a mixed push reported for the new drug it brought, not for this one
            if abs(at - other_at) <= PUSH_SAME_DRUG_CLOCK_MINUTES * 60:
                out.append(
                    f"96376 for {sorted(drugs)} within {PUSH_SAME_DRUG_CLOCK_MINUTES} min of "
                    f"the reported push on {other.code}"
                )

    for line in result.charges:
        if line.code not in SEQUENTIAL:
            continue
        members = [adms[i] for i in line.administrations]
        own = _spans(members)
        first = min(a.start_ts for a in members)
        sites = {a.site for a in members}
        beside = [
            a
            for a in record.administrations
            if a.id not in line.administrations
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
                f"{line.code} for {line.administrations}: only {minutes} min apart from the "
                f"pumps and infusions already running on its line"
            )
        hours = sum(
            c.units
            for c in result.charges
            if c.code == HOURS_OF[line.code] and c.administrations == line.administrations
        )
        if hours > additional_hours(minutes):
            out.append(f"{line.code} for {line.administrations}: {hours} hours for {minutes} min")

    for c in result.charges:
        if c.code == "G0498" and any(adms[i].pump == "implanted" for i in c.administrations):
            out.append("G0498 for an implanted pump")
    intralesional = [c for c in result.charges if c.code in ("96405", "96406")]
    if len(intralesional) > 1:
        out.append("more than one intralesional line in one session")

    if record.encounter.sequence_of_day >= 2 and result.charges:
        modifier = record.policy.second_encounter_modifier
        if not any(modifier in c.modifiers for c in result.charges):
            out.append(f"a second encounter with no {modifier} on any line")
    return out
