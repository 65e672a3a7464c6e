"""Edits before a charge leaves (coding-rules.md §6): the same checks run on the engine's lines
and on a coder's corrected lines, so a correction cannot bring back what the engine refuses.

- an add-on without its initial service in the encounter is an error, never sent;
- 96368, 96369 or 96371 more than once per encounter and 96523 with any other drug administration
  are errors;
- units above the per-day limit the hospital loads (Medicare outpatient MUE, kept as data) are held;
- the waste modifiers (`waste_modifier_edits`, CMS JW/JZ policy, Pub. 100-04 ch. 17 §40): a JW line
  with no line of the amount administered beside it, JW and JZ on one line, and JW or JZ on a
  drug the formulary says comes in a multi-dose container are errors;
- a coder's infusion code the charted time of its administrations does not bear out
  (`infusion_time_edits`: an initial or sequential hour on 15 minutes or less, hydration on 30 or
  less, an additional hour without more than 30 minutes past the hour) is an error;
- a visit with no account number (`account_edits`) is an error: the claim cannot be matched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol

from . import codes
from .drug_units import MULTI_DOSE
from .record import Record
from .result import Finding
from .timing import (
    HYDRATION_MIN_MINUTES,
    INFUSION_MIN_MINUTES,
    additional_hours,
    hydration_add_on_units,
    whole_minutes,
)


class ChargeLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def units(self) -> int: ...
    @property
    def date(self) -> date: ...
    @property
    def administrations(self) -> tuple[str, ...]: ...


class ModifiedChargeLike(ChargeLike, Protocol):
    @property
    def modifiers(self) -> tuple[str, ...]: ...


def charge_edits(
    charges: Sequence[ChargeLike], *, mue: Mapping[str, int] | None = None
) -> list[Finding]:
    found: list[Finding] = []
    present = {c.code for c in charges}
    for charge in charges:
        primaries = codes.ADD_ON_PRIMARIES.get(charge.code)
        if primaries is not None and not primaries & present:
            found.append(
                Finding(
                    "EDIT-ADDON",
                    "error",
                    f"add-on {charge.code} has no initial service it can be reported with "
                    f"({', '.join(sorted(primaries))}) in the encounter",
                    tuple(charge.administrations),
                )
            )
    for code, what in codes.ONCE_PER_ENCOUNTER.items():
        if code not in present:
            continue
        lines = [c for c in charges if c.code == code]
        if sum(c.units for c in lines) > 1:
            found.append(
                Finding(
                    f"EDIT-{code}",
                    "error",
                    f"{code} ({what}) is reported at most once per encounter",
                    tuple(i for c in lines for i in c.administrations),
                )
            )
    if codes.PORT_IRRIGATION in present and present & codes.DRUG_ADMINISTRATION_CODES:
        found.append(
            Finding(
                "EDIT-96523",
                "error",
                "96523 (port irrigation) is reported only when it is the sole service of the "
                "encounter",
            )
        )
    if mue:
        per_day: dict[tuple[str, date], int] = defaultdict(int)
        for charge in charges:
            per_day[(charge.code, charge.date)] += charge.units
        for (code, day), units in sorted(per_day.items()):
            limit = mue.get(code)
            if limit is not None and units > limit:
                found.append(
                    Finding(
                        "EDIT-MUE",
                        "warning",
                        f"{code}: {units} units on {day.isoformat()} exceed the "
                        f"{limit} per day allowed (MUE): held for the coder",
                    )
                )
    return found


WASTE = "JW"  # drug amount discarded/not administered to any patient
NO_WASTE = "JZ"  # zero drug amount discarded


def waste_modifier_edits(
    charges: Sequence[ModifiedChargeLike], *, containers: Mapping[str, str] | None = None
) -> list[Finding]:
    """The JW/JZ edits on the lines as they will be sent (a coder's corrections included: the
    engine's drug lines never trip them, `drug_units.py`). CMS JW/JZ policy (Pub. 100-04 ch. 17
    §40, MLN MM9603, the JW/JZ FAQs): JW reports the amount discarded from a single-dose
    container "on a separate line", in addition to the line of the amount administered (which
    carries JZ when nothing was discarded, or no modifier beside a JW line); JZ says none was
    discarded, so JW and JZ never go on one line; neither applies to a multi-dose container.

    - EDIT-JW-NO-DOSE: a JW line whose code has no line without JW on that date of service (the
      waste billed with no dose given: a correction of the only drug line to JW removed it);
    - EDIT-JW-JZ-BOTH: one line with both JW and JZ;
    - EDIT-JW-JZ-MULTI-DOSE: JW or JZ on a code whose drug `containers` (HCPCS code -> the
      formulary's container, as the run's drug lines read it) says is multi-dose.
    """
    found: list[Finding] = []
    administered = {(c.code, c.date) for c in charges if WASTE not in c.modifiers}
    for charge in charges:
        mods = set(charge.modifiers)
        day = charge.date.isoformat()
        if WASTE in mods and (charge.code, charge.date) not in administered:
            found.append(
                Finding(
                    "EDIT-JW-NO-DOSE",
                    "error",
                    f"{charge.code}-JW ×{charge.units} on {day} bills the amount discarded with "
                    f"no line of the amount given: JW goes on its own line beside the "
                    f"{charge.code} line of the dose administered (CMS JW/JZ policy)",
                    tuple(charge.administrations),
                )
            )
        if WASTE in mods and NO_WASTE in mods:
            found.append(
                Finding(
                    "EDIT-JW-JZ-BOTH",
                    "error",
                    f"{charge.code} on {day} carries both JW (amount discarded) and JZ (nothing "
                    "discarded): the discarded amount is a JW line of its own, the dose given "
                    "its own line",
                    tuple(charge.administrations),
                )
            )
        waste_mods = sorted(mods & {WASTE, NO_WASTE})
        if waste_mods and containers and containers.get(charge.code) == MULTI_DOSE:
            found.append(
                Finding(
                    "EDIT-JW-JZ-MULTI-DOSE",
                    "error",
                    f"{charge.code} on {day} carries {' and '.join(waste_mods)}, but the "
                    "formulary says the drug comes in a multi-dose container: JW and JZ are for "
                    "single-dose containers only (discarded amounts of a multi-dose container "
                    "are not billed)",
                    tuple(charge.administrations),
                )
            )
    return found


# An hour of infusion (initial or sequential): more than 15 minutes (CPT: an infusion of 15 minutes
# or less is a push); hydration's first hour: more than 30 (CPT 96360 "31 minutes to 1 hour").
INFUSION_HOUR_MINUTES: dict[str, int] = {
    "96365": INFUSION_MIN_MINUTES,
    "96367": INFUSION_MIN_MINUTES,
    "96413": INFUSION_MIN_MINUTES,
    "96417": INFUSION_MIN_MINUTES,
    "96422": INFUSION_MIN_MINUTES,
    "96369": INFUSION_MIN_MINUTES,
    "96360": HYDRATION_MIN_MINUTES,
}
# Each additional hour: more than 30 minutes past the hour before (CPT's time rule).
ADDITIONAL_HOUR_CODES = frozenset({"96366", "96415", "96423", "96370", "96361"})


def infusion_time_edits(charges: Sequence[ChargeLike], record: Record) -> list[Finding]:
    """EDIT-INFUSION-TIME: a line whose code bills infusion time the charted minutes of its
    administrations (start to stop less pauses, summed over the line's administrations: the
    most any reading of them could count) do not bear out. Run on a coder's changed and added
    lines (coding/review.py `charge_edits_for_run`; QA: the engine's 96409 for an 11-minute
    infusion corrected to 96413 went to export with no edit); the engine's own lines count the
    same minutes or fewer, so they never trip it.

    - an initial or sequential hour (96365, 96367, 96413, 96417, 96422, 96369) on 15 minutes or
      less, or hydration's first hour (96360) on 30 or less;
    - additional hours (96366, 96415, 96423, 96370; 96361, also hydration after another initial
      service) above what the minutes give: each needs more than 30 minutes past the hour before;
    - either on an administration with no stop charted (its time is not documented).

    A line naming no administration of the record (a coder's line added on its own) is not
    judged: there is no charted time it is for."""
    found: list[Finding] = []
    administrations = {a.id: a for a in record.administrations}
    for charge in charges:
        least = INFUSION_HOUR_MINUTES.get(charge.code)
        if least is None and charge.code not in ADDITIONAL_HOUR_CODES:
            continue
        given = [administrations[i] for i in charge.administrations if i in administrations]
        if not given:
            continue
        what = ", ".join(f"{a.drug} ({a.id})" for a in given)
        line = f"{charge.code} ×{charge.units} on {charge.date.isoformat()}"
        open_ended = [a for a in given if a.stop is None and not a.spans]
        if open_ended:
            found.append(
                Finding(
                    "EDIT-INFUSION-TIME",
                    "error",
                    f"{line} bills infusion time, but {what} has no stop time charted: the time "
                    "is not documented (CPT: the time is the documented start to stop)",
                    tuple(charge.administrations),
                )
            )
            continue
        minutes = sum(whole_minutes(a.spans) for a in given)
        ran = f"{what} ran {minutes} minute{'s' if minutes != 1 else ''}"
        if least is not None and minutes < least:
            rule = (
                "hydration of 30 minutes or less is not reported"
                if charge.code == codes.HYDRATION_INITIAL
                else "an infusion of 15 minutes or less is reported as a push"
            )
            found.append(
                Finding(
                    "EDIT-INFUSION-TIME",
                    "error",
                    f"{line} bills an hour of infusion ({least} minutes or more), but {ran} "
                    f"(CPT: {rule})",
                    tuple(charge.administrations),
                )
            )
        elif least is None:
            most = (
                hydration_add_on_units(minutes)
                if charge.code == codes.HYDRATION_ADDITIONAL
                else additional_hours(minutes)
            )
            if charge.units > most:
                found.append(
                    Finding(
                        "EDIT-INFUSION-TIME",
                        "error",
                        f"{line} bills additional hours of infusion, but {ran}: at most {most} "
                        "(CPT: each additional hour needs more than 30 minutes past the hour "
                        "before)",
                        tuple(charge.administrations),
                    )
                )
    return found


def account_edits(record: Record) -> list[Finding]:
    """EDIT-ACCOUNT: the visit has no account number (the record's `encounter.account_number`):
    the claim would leave with nothing billing can match it to (QA: exported with the account
    number empty in the CSV and only the internal id in HL7 PV1)."""
    if record.encounter.account_number:
        return []
    return [
        Finding(
            "EDIT-ACCOUNT",
            "error",
            "The visit has no account number: registration enters it before the claim is "
            "exported (the claim cannot be matched to the patient's account without it)",
        )
    ]
