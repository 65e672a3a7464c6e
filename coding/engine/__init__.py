"""The charge engine: facility coding of CPT 96360-96549 from one encounter's administration record.

Plain Python (no Django, no database, no clock): a record in, charges and findings out.

    record = parse_record(document)          # infusion-record/1, see record-format.md
    result = code_record(record)             # charges, findings, administrations not charged
    findings = check_record(record, now=...) # the live checklist: the same findings

Module map: record.py (the input), reading.py (validation), terms.py (the shared vocabulary),
timing.py (minutes and units), codes.py (the code tables), checks.py (the RAC list), classify.py
(push/infusion, families, bags), and one module per rule family: hierarchy.py (initial services,
sites), infusions.py (initial lines, hours, sequential and concurrent), pushes.py, hydration.py,
outside.py (everything outside the IV hierarchy), modifiers.py (modifiers and claim order);
charges.py runs them in order into book.py's lines; edits.py (edits before a charge leaves);
drug_units.py (HCPCS drug units and JW/JZ, the arithmetic of the drug lines, one per code, day,
modifier and NDC with the day's total). _build.py: the build `pip install -e .` compiles with
mypyc, and which of it and the sources runs.
"""

from __future__ import annotations

from datetime import datetime

from . import _build

# "compiled" (mypyc, built by `pip install -e .`) or "pure"; chosen before any rule module is
# imported, so an edited source is never shadowed by an older build (_build.py).
BUILD = _build.choose()

from .charges import code_record  # noqa: E402
from .edits import (  # noqa: E402
    account_edits,
    charge_edits,
    infusion_time_edits,
    waste_modifier_edits,
)
from .reading import RecordError, parse_record  # noqa: E402
from .record import (  # noqa: E402
    Administration,
    Encounter,
    Flush,
    Order,
    Pause,
    Policy,
    Record,
    Site,
)
from .result import Charge, Finding, NotCharged, Result  # noqa: E402


def check_record(
    record: Record, *, now: datetime | None = None, signing: bool = False
) -> tuple[Finding, ...]:
    """The findings an auditor would raise, for the bedside checklist and the sign-off.

    The same path as charge generation, so the checklist and the charges never disagree.
    `now` (the bedside): an infusion with no stop yet is running (RAC-7 info); `signing`: the
    record as the signature checks it (a stop still missing is an error).
    """
    return code_record(record, now=now, signing=signing).findings


__all__ = [
    "BUILD",
    "Administration",
    "Charge",
    "Encounter",
    "Finding",
    "Flush",
    "NotCharged",
    "Order",
    "Pause",
    "Policy",
    "Record",
    "RecordError",
    "Result",
    "Site",
    "account_edits",
    "charge_edits",
    "check_record",
    "code_record",
    "infusion_time_edits",
    "parse_record",
    "waste_modifier_edits",
]
