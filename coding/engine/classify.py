"""What service each administration is: push or infusion, which family, or nothing and why.

coding-rules.md §1-2: drugs mixed in one bag are one administration coded by the highest class in
the bag; the vehicle and KVO fluids are never charged; an IV administration charted as a push is a
push whatever its length; an infusion of 15 minutes or less is a push, 16 or more an infusion; an
infusion with no stop time can only be a push and hydration with none is not coded (RAC-7); a chemo
pump planned for more than 8 hours is its own service (96416); an EMS-started infusion counts only
its minutes after arrival (RAC-8). SQ, IM, intralesional, intrathecal and cavity administrations
are services of their own.

Scenarios: P04, P05, P12, P15-P17, P21, P22, P28, P29, P32, P34, P35.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from . import rules as r
from .codes import Family, family_of
from .record import Administration, DrugClass, Record
from .result import Finding, NotCharged
from .terms import BLOCKING_RULES, carries_no_charge
from .timing import (
    Span,
    is_push_length,
    merge,
    paused_minutes,
    running_spans,
    whole_minutes,
)

ServiceKind = Literal[
    "iv_infusion",
    "iv_push",
    "hydration",
    "pump",
    "sq_infusion",
    "injection",
    "ia_infusion",
    "ia_push",
    "intralesional",
    "intrathecal",
    "intracavitary",
]

CLASS_RANK: dict[DrugClass, int] = {
    "chemo": 0,
    "chemo_hormonal": 0,
    "therapeutic": 1,
    "hydration": 2,
}


@dataclass(init=False, slots=True)
class Service:
    """One codable service: an administration, or the drugs of one bag coded as one.

    Not frozen only so that the derived fields are cheap to set; nothing changes a Service after
    it is made (`dataclasses.replace` makes a new one).
    """

    kind: ServiceKind
    lead: Administration  # the member whose class and times are coded
    drug_class: DrugClass
    members: tuple[Administration, ...]
    spans: tuple[Span, ...]  # counted running time
    minutes: int
    note: str = ""
    rules: tuple[str, ...] = ()  # the rules that made it this service (rules.py)
    # Derived once from the fields above.
    family: Family = field(init=False, compare=False)
    ids: tuple[str, ...] = field(init=False, compare=False)
    drug_key: str = field(init=False, compare=False)  # "the same drug": the same contents
    drug_names: frozenset[str] = field(init=False, compare=False)  # each drug in it, lowercased
    drugs: str = field(init=False, compare=False)
    site: str | None = field(init=False, compare=False)
    start: float = field(init=False, compare=False)

    def __init__(
        self,
        kind: ServiceKind,
        lead: Administration,
        drug_class: DrugClass,
        members: tuple[Administration, ...],
        spans: tuple[Span, ...],
        minutes: int,
        note: str = "",
        rules: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.lead = lead
        self.drug_class = drug_class
        self.members = members
        self.spans = spans
        self.minutes = minutes
        self.note = note
        self.rules = rules
        self.__post_init__()

    def __post_init__(self) -> None:
        members = self.members
        self.family = family_of(self.drug_class)
        if len(members) == 1:
            self.ids = (members[0].id,)
            self.drug_key = members[0].drug_key
            self.drug_names = frozenset((self.drug_key,))
            self.drugs = members[0].drug
        else:
            self.ids = tuple(m.id for m in members)
            self.drug_names = frozenset(m.drug_key for m in members)
            self.drug_key = "+".join(sorted(self.drug_names))
            self.drugs = " + ".join(dict.fromkeys(m.drug for m in members))
        self.site = self.lead.site
        self.start = self.spans[0][0] if self.spans else self.lead.start_ts

    def timing(self) -> str:
        """How the minutes were counted, for the line's reason."""
        paused = paused_minutes(self.lead)
        if paused:
            run = self.minutes + paused
            return f"{self.minutes} min counted ({run} run, {paused} paused)"
        return f"{self.minutes} min"


@dataclass(slots=True)
class Classified:
    services: list[Service] = field(default_factory=list)
    not_charged: list[NotCharged] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def classify(record: Record, findings: list[Finding]) -> Classified:
    """Turn the record's administrations into services, with a reason for each one left out."""
    blocked: dict[str, Finding] = {}
    for finding in findings:
        if finding.severity == "error" and finding.rule in BLOCKING_RULES:
            for adm_id in finding.administrations:
                blocked.setdefault(adm_id, finding)
    out = Classified()
    for members in _bags(record):
        chargeable: list[Administration] = []
        untagged: Administration | None = None
        for m in members:
            if carries_no_charge(m):
                what = "carries a drug" if m.purpose == "vehicle" else "keeps the vein open"
                out.not_charged.append(
                    NotCharged(
                        m.id,
                        f"{m.drug} {what} ({m.purpose}): never charged",
                        (r.NEVER_CHARGED_FLUID,),
                    )
                )
                continue
            chargeable.append(m)
            if untagged is None and m.drug_class is None:
                untagged = m
        if not chargeable:
            continue
        if untagged is not None:
            for m in chargeable:
                out.not_charged.append(
                    NotCharged(
                        m.id,
                        f"{untagged.drug} has no drug class yet (DOC-4): not charged until "
                        "a pharmacist tags it",
                        ("DOC-4",),
                    )
                )
            continue
        lead = chargeable[0] if len(chargeable) == 1 else min(chargeable, key=_lead_key)
        if lead.id in blocked:
            finding = blocked[lead.id]
            for m in chargeable:
                out.not_charged.append(
                    NotCharged(
                        m.id,
                        f"not charged: {finding.message} ({finding.rule})",
                        (r.BLOCKED, finding.rule),
                    )
                )
            continue
        _service(record, lead, tuple(chargeable), out)
    return out


def _bags(record: Record) -> list[list[Administration]]:
    """Administrations grouped by bag: drugs mixed in one bag or syringe are one administration."""
    groups: dict[str, list[Administration]] = defaultdict(list)
    singles: list[list[Administration]] = []
    for adm in record.administrations:
        if adm.bag:
            groups[adm.bag].append(adm)
        else:
            singles.append([adm])
    return singles + list(groups.values())


def _lead_key(adm: Administration) -> tuple[int, int, str]:
    assert adm.drug_class is not None
    return (CLASS_RANK[adm.drug_class], -whole_minutes(adm.spans), adm.id)


def _service(
    record: Record, lead: Administration, members: tuple[Administration, ...], out: Classified
) -> None:
    """Add the service `lead` decides for its members, or the reason none of them is charged."""
    assert lead.drug_class is not None
    decided = _decide_service(record, lead, members, family_of(lead.drug_class), out)
    bag = (r.MIXED_BAG,) if len(members) > 1 else ()
    if isinstance(decided, Skip):
        applied = (*bag, *decided.rules)
        out.not_charged.extend(NotCharged(m.id, decided.reason, applied) for m in members)
    elif decided is not None:
        kind, spans, note, applied = decided
        out.services.append(
            Service(
                kind,
                lead,
                lead.drug_class,
                members,
                tuple(spans),
                whole_minutes(spans),
                note,
                (*bag, *applied),
            )
        )


class Skip(NamedTuple):
    """Why an administration is not charged, and the rules that say so."""

    reason: str
    rules: tuple[str, ...]


Decided = tuple[ServiceKind, list[Span], str, tuple[str, ...]]


def _with_ems(note: str, ems_note: str) -> str:
    """The line's note, and that only the minutes after arrival count when EMS started it."""
    return f"{note}; {ems_note}" if note and ems_note else note or ems_note


def _decide_service(
    record: Record,
    lead: Administration,
    members: tuple[Administration, ...],
    family: Family,
    out: Classified,
) -> Decided | Skip | None:
    """What the lead's route, method, class and minutes make it: the service as (kind, counted
    spans, note, rules), or the reason it is not charged (with its rules)."""
    arrived = record.encounter.arrived_at
    ems = lead.started_by == "ems"
    # RAC-8: only the minutes after arrival count, whether or not the chart says EMS started it.
    before_arrival = arrived is not None and lead.start < arrived
    not_before = arrived if ems or before_arrival else None
    spans = running_spans(lead, not_before=not_before)
    if len(members) > 1:  # one bag charted in parts (resumed, or drugs added): all of its time
        spans = merge(span for m in members for span in running_spans(m, not_before=not_before))
    minutes = whole_minutes(spans)
    no_stop = lead.stop is None
    still_running = no_stop and lead.method == "infusion"
    if before_arrival and not spans and not still_running:
        who = " (started by EMS)" if ems else ""
        when = "ran only" if lead.stop is not None else "was given"
        return Skip(
            f"{lead.drug} {when} before arrival{who}: nothing given here to charge",
            (r.EMS_AFTER_ARRIVAL,),
        )
    ems_note = (
        "started by EMS: minutes after arrival only"
        if ems
        else "started before arrival: minutes after arrival only"
        if before_arrival
        else ""
    )
    after_arrival: tuple[str, ...] = (r.EMS_AFTER_ARRIVAL,) if ems_note else ()
    timed = (r.MINUTES, r.PUSH_OR_INFUSION, *after_arrival)

    if family == "hydration":
        if lead.purpose != "hydration":
            return Skip(f"{lead.drug} has no stated purpose (RAC-2): not charged", ("RAC-2",))
        if lead.route != "iv":
            return Skip(
                f"hydration by route {lead.route} is not an IV hydration service (96360-96361)",
                (r.HYDRATION_ROUTE,),
            )
        if no_stop:
            return Skip(
                f"hydration {lead.drug} has no stop time (RAC-7): not coded",
                (r.HYDRATION_ROUTE, "RAC-7"),
            )
        return ("hydration", spans, ems_note, (r.MINUTES, *after_arrival))

    if lead.route in ("iv", "ia"):
        push: ServiceKind = "iv_push" if lead.route == "iv" else "ia_push"
        if lead.is_prolonged_pump and family == "chemo":
            return (
                "pump",
                spans,
                f"pump started for {lead.planned_hours:g} planned hours",
                (r.PUMP_START,),
            )
        if lead.method in ("push", "injection"):
            return (
                push,
                spans,
                _with_ems("charted as a push", ems_note),
                (r.PUSH_OR_INFUSION, *after_arrival),
            )
        if no_stop:
            return (
                push,
                [],
                "infusion with no stop time can only be coded as a push (RAC-7)",
                (r.NO_STOP_PUSH, "RAC-7"),
            )
        if is_push_length(minutes):
            why = f"{minutes} min: an infusion of 15 minutes or less is a push"
            return (push, spans, _with_ems(why, ems_note), timed)
        return ("iv_infusion" if lead.route == "iv" else "ia_infusion", spans, ems_note, timed)

    if lead.route == "sq" and lead.method == "infusion":
        if no_stop or is_push_length(minutes):
            why = "no stop time" if no_stop else f"{minutes} min"
            return (
                "injection",
                spans,
                f"{why}: a SQ infusion of 15 minutes or less is an injection",
                (r.NO_STOP_PUSH, "RAC-7") if no_stop else timed,
            )
        if family == "chemo":
            return (
                "injection",
                spans,
                "antineoplastic given SQ is coded as an injection",
                (r.INJECTION,),
            )
        return ("sq_infusion", spans, ems_note, timed)

    if lead.route in ("sq", "im"):
        return ("injection", spans, "", ())
    if lead.route in ("intralesional", "intrathecal", "intracavitary"):
        if family == "chemo":
            return (lead.route, spans, "", ())
        return _outside_codes(lead, lead.route, out)
    return None


def _outside_codes(lead: Administration, route: str, out: Classified) -> Skip:
    message = (
        f"a therapeutic {route} injection of {lead.drug} is outside CPT 96360-96549: "
        "not coded here (the procedure is coded from the physician's note)"
    )
    out.findings.append(Finding("CODING-ROUTE", "warning", message, (lead.id,), "route"))
    return Skip(message, ("CODING-ROUTE",))
