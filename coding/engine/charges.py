"""Coding one encounter: the rule families in the order they apply (coding-rules.md §3-§6).

Module map of the rules, each family in one module:

- checks.py: documentation completeness (RAC-1..9, DOC-1..4), before anything is coded;
- classify.py: what service each administration is (push or infusion, family, bag, or nothing);
- hierarchy.py: the initial IV service of each site group, and the encounter's;
- infusions.py: the initial service's line and hours, sequential and concurrent infusions, the
  same drug continued in a new bag;
- pushes.py: IV pushes after the initial service (96375, 96411, 96376);
- hydration.py: hydration's minutes alone, its lines and DOC-5;
- outside.py: everything outside the IV hierarchy (injections, SQ and intra-arterial services,
  pumps, intralesional, intrathecal and cavity chemotherapy, port irrigation);
- modifiers.py: distinct modifiers and claim order;
- edits.py: the edits every set of lines passes before it leaves.

Each line says why it was made, naming any policy choice it used, and names the ids of the rules it
applied (rules.py; each explained in RULEBOOK.md), as does each administration not charged.

Scenarios: all of P01-P36.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from . import rules as r
from .book import Book
from .checks import documentation_findings
from .classify import classify
from .edits import charge_edits
from .hydration import code_hydration
from .infusions import code_iv, merge_reinfusions
from .modifiers import apply_distinct_modifiers, claim_order, one_line_per_code
from .outside import code_outside_hierarchy, code_port_irrigation
from .pushes import code_pushes
from .record import Record
from .result import Charge, Finding, NotCharged, Result


def code_record(record: Record, *, now: datetime | None = None, signing: bool = False) -> Result:
    """Charges and findings for one encounter. Deterministic: `now` only adds the future check
    and, at the bedside, takes an infusion with no stop yet as running (checks.py); `signing`
    (with `now`) checks the record as the signature does: nothing is running any more."""
    result = _code(record, now=now, honour_primary=True, signing=signing)
    if record.encounter.setting == "office" and any(
        f.rule == "EDIT-ADDON" for f in result.findings
    ):
        # The flagged primary reason cannot carry the add-on codes of a higher family (96417
        # needs 96413): the hierarchy decides instead, and the coder is told.
        fallback = _code(record, now=now, honour_primary=False, signing=signing)
        note = Finding(
            "CODING-OFFICE",
            "info",
            "The service flagged as the primary reason for the office visit cannot carry the "
            "add-on codes of the other services: the initial service was chosen by the hierarchy",
            (),
            "primary",
        )
        return replace(
            fallback, findings=tuple(sorted({*fallback.findings, note}, key=Finding.sort_key))
        )
    return result


def _code(
    record: Record, *, now: datetime | None, honour_primary: bool, signing: bool = False
) -> Result:
    book = Book(record)
    book.honour_primary = honour_primary
    book.findings.extend(documentation_findings(record, now=now, signing=signing))
    classified = classify(record, book.findings)
    book.findings.extend(classified.findings)
    book.not_charged.extend(classified.not_charged)
    services = merge_reinfusions(record, classified.services)

    iv = [s for s in services if s.kind in ("iv_infusion", "iv_push", "hydration")]
    groups = code_iv(book, iv, [s for s in services if s.kind == "pump"])
    code_pushes(book, groups, services)
    for group in groups:
        code_hydration(book, group)
    code_outside_hierarchy(book, services)
    code_port_irrigation(book)
    apply_distinct_modifiers(book, groups)
    return _result(book)


def _result(book: Book) -> Result:
    lines = one_line_per_code(claim_order(book.lines, book.primary_group))
    charges = tuple(
        Charge(
            code=ln.code,
            units=ln.units,
            date=ln.day,
            administrations=ln.administrations,
            why=ln.why,
            modifiers=tuple(ln.modifiers),
            rules=tuple(ln.rules),
        )
        for ln in lines
    )
    book.findings.extend(charge_edits(charges))
    charged = {i for c in charges for i in c.administrations}
    reasons: dict[str, NotCharged] = {}
    for item in book.not_charged:
        if item.administration not in charged:
            reasons.setdefault(item.administration, item)
    for adm in book.record.administrations:
        if adm.id not in charged and adm.id not in reasons:
            reasons[adm.id] = NotCharged(
                adm.id, "no separately reportable service", (r.NO_SERVICE,)
            )
    findings = sorted(set(book.findings), key=Finding.sort_key)
    return Result(
        encounter=book.record.encounter.id,
        charges=charges,
        findings=tuple(findings),
        not_charged=tuple(reasons[a.id] for a in book.record.administrations if a.id in reasons),
    )
