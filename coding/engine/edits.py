"""Edits before a charge leaves (coding-rules.md §6): the same checks run on the engine's lines
and on a coder's corrected lines, so a correction cannot bring back what the engine refuses.

- an add-on without its initial service in the encounter is an error, never sent;
- 96368, 96369 or 96371 more than once per encounter and 96523 with any other drug administration
  are errors;
- units above the per-day limit the hospital loads (Medicare outpatient MUE, kept as data) are held.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol

from . import codes
from .result import Finding


class ChargeLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def units(self) -> int: ...
    @property
    def date(self) -> date: ...
    @property
    def administrations(self) -> tuple[str, ...]: ...


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
