"""What the engine returns: charge lines, findings and the administrations that earned nothing.

Every line and not-charged entry names the ids of the rules it applied (`rules`), every finding
its check (`rule`): the ids of rules.py, each explained in RULEBOOK.md.

Like the record (record.py), these dataclasses are not `frozen` (a frozen dataclass sets each
field through `object.__setattr__`, and every encounter makes a dozen of them) but immutable by
convention: they keep the equality and hash of frozen ones (`unsafe_hash`), `dataclasses.replace`
makes a changed copy, and tests/engine/test_record_unchanged.py checks that no module of the
project assigns to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeAlias

Severity = Literal["error", "warning", "info"]
Day: TypeAlias = date  # for `Charge.__init__`, where the field named `date` hides the type
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(init=False, slots=True, unsafe_hash=True)
class Charge:
    code: str
    units: int
    date: date
    administrations: tuple[str, ...]
    why: str
    modifiers: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # the ids of the rules the line applied (rules.py, RULEBOOK.md)

    def __init__(
        self,
        code: str,
        units: int,
        date: Day,
        administrations: tuple[str, ...],
        why: str,
        modifiers: tuple[str, ...] = (),
        rules: tuple[str, ...] = (),
    ) -> None:
        self.code = code
        self.units = units
        self.date = date
        self.administrations = administrations
        self.why = why
        self.modifiers = modifiers
        self.rules = rules

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "units": self.units,
            "modifiers": list(self.modifiers),
            "date": self.date.isoformat(),
            "administrations": list(self.administrations),
            "why": self.why,
            "rules": list(self.rules),
        }


@dataclass(init=False, slots=True, unsafe_hash=True)
class Finding:
    """A documentation gap or coding edit; `field` names the record field that fixes it."""

    rule: str
    severity: Severity
    message: str
    administrations: tuple[str, ...] = ()
    field: str | None = None

    def __init__(
        self,
        rule: str,
        severity: Severity,
        message: str,
        administrations: tuple[str, ...] = (),
        field: str | None = None,
    ) -> None:
        self.rule = rule
        self.severity = severity
        self.message = message
        self.administrations = administrations
        self.field = field

    def sort_key(self) -> tuple[int, str, tuple[str, ...], str]:
        return (SEVERITY_ORDER[self.severity], self.rule, self.administrations, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "administrations": list(self.administrations),
            "message": self.message,
        }
        if self.field:
            out["field"] = self.field
        return out


@dataclass(init=False, slots=True, unsafe_hash=True)
class NotCharged:
    administration: str
    reason: str
    rules: tuple[str, ...] = ()  # the ids of the rules that left it uncharged

    def __init__(
        self,
        administration: str,
        reason: str,
        rules: tuple[str, ...] = (),
    ) -> None:
        self.administration = administration
        self.reason = reason
        self.rules = rules

    def to_json(self) -> dict[str, Any]:
        return {
            "administration": self.administration,
            "reason": self.reason,
            "rules": list(self.rules),
        }


@dataclass(init=False, slots=True, unsafe_hash=True)
class Result:
    encounter: str
    charges: tuple[Charge, ...]
    findings: tuple[Finding, ...]
    not_charged: tuple[NotCharged, ...] = ()

    def __init__(
        self,
        encounter: str,
        charges: tuple[Charge, ...],
        findings: tuple[Finding, ...],
        not_charged: tuple[NotCharged, ...] = (),
    ) -> None:
        self.encounter = encounter
        self.charges = charges
        self.findings = findings
        self.not_charged = not_charged

    def to_json(self) -> dict[str, Any]:
        return {
            "encounter": self.encounter,
            "charges": [c.to_json() for c in self.charges],
            "findings": [f.to_json() for f in self.findings],
            "not_charged": [n.to_json() for n in self.not_charged],
        }
