"""Assembling the charge lines of one encounter (coding-rules.md §3-§6).

The IV services of each site group get one initial service (hierarchy.py) and then, in the order
they were given: sequential or concurrent infusions, pushes, hydration. Services outside the IV
hierarchy (SQ/IM injections, SQ and intra-arterial infusions, pumps, intralesional, intrathecal and
cavity administrations, port irrigation) are coded on their own. Each line says why it was made,
naming any policy choice it used.

Scenarios: all of P01-P36.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from . import codes
from .checks import documentation_findings, hhmm
from .classify import Service, classify
from .edits import charge_edits
from .hierarchy import SiteGroup, choose_initial, group_by_site, primary_group
from .hydration import alone_spans, countable_runs, drug_running_spans, policy_minutes
from .record import Policy, Record
from .result import Charge, Finding, NotCharged, Result
from .timing import (
    HOUR,
    INFUSION_MIN_MINUTES,
    PUSH_SAME_DRUG_CLOCK_MINUTES,
    Span,
    additional_hours,
    hydration_add_on_units,
    instant_after,
    intersect,
    is_push_length,
    local_clock,
    local_date,
    merge,
    subtract,
    whole_minutes,
)

SAME_SESSION_MINUTES = 30  # syringes of one drug within this window are one injection session


@dataclass(slots=True)
class _Line:
    code: str
    units: int
    day: date
    administrations: tuple[str, ...]
    why: str
    at: float  # when the service began, for claim order
    group: str | None = None  # the IV site group; None for services outside the IV hierarchy
    initial: bool = False
    modifiers: list[str] = field(default_factory=list)


class _Book:
    """The lines of one encounter, the reasons for what earned nothing, and the findings."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.policy: Policy = record.policy
        self.zone = ZoneInfo(record.encounter.timezone)
        self.lines: list[_Line] = []
        self.not_charged: list[NotCharged] = []
        self.findings: list[Finding] = []
        # Office: the administration flagged primary is the initial service (coding-rules §3).
        self.honour_primary = record.encounter.setting == "office"
        self.primary_group: str | None = None  # the site group of the encounter's initial

    def day(self, moment: float) -> date:
        return local_date(moment, self.zone)

    def time(self, moment: float) -> str:
        return local_clock(moment, self.zone)

    def add(
        self,
        code: str,
        unit_starts: list[float],
        ids: tuple[str, ...],
        why: str,
        *,
        group: str | None = None,
        initial: bool = False,
        modifiers: tuple[str, ...] = (),
    ) -> None:
        """One line per date on which a unit began (an additional hour after midnight)."""
        if len(unit_starts) == 1:  # most lines: one unit
            at = unit_starts[0]
            line = _Line(code, 1, self.day(at), ids, why, at, group, initial, list(modifiers))
            self.lines.append(line)
            return
        by_day: dict[date, int] = defaultdict(int)
        for moment in unit_starts:
            by_day[self.day(moment)] += 1
        for day, units in sorted(by_day.items()):
            self.lines.append(
                _Line(code, units, day, ids, why, min(unit_starts), group, initial, list(modifiers))
            )

    def skip(self, ids: tuple[str, ...], reason: str) -> None:
        self.not_charged.extend(NotCharged(i, reason) for i in ids)


def code_record(record: Record, *, now: datetime | None = None) -> Result:
    """Charges and findings for one encounter. Deterministic: `now` only adds the future check."""
    result = _code(record, now=now, honour_primary=True)
    if record.encounter.setting == "office" and any(
        f.rule == "EDIT-ADDON" for f in result.findings
    ):
        # The flagged primary reason cannot carry the add-on codes of a higher family (96417
        # needs 96413): the hierarchy decides instead, and the coder is told.
        fallback = _code(record, now=now, honour_primary=False)
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


def _code(record: Record, *, now: datetime | None, honour_primary: bool) -> Result:
    book = _Book(record)
    book.honour_primary = honour_primary
    book.findings.extend(documentation_findings(record, now=now))
    classified = classify(record, book.findings)
    book.findings.extend(classified.findings)
    book.not_charged.extend(classified.not_charged)
    services = _merge_reinfusions(classified.services, record.policy)

    iv = [s for s in services if s.kind in ("iv_infusion", "iv_push", "hydration")]
    groups = _code_iv(book, iv)
    _code_pushes(book, groups, services)
    for group in groups:
        _code_hydration(book, group)
    _code_outside_hierarchy(book, services)
    _code_port_irrigation(book)
    _apply_distinct_modifiers(book, groups)
    return _result(book)


# --- IV services: initial, infusions after it --------------------------------------------------


def _merge_reinfusions(services: list[Service], policy: Policy) -> list[Service]:
    """The same drug continued on the same line in a new bag or bottle, hung as the last one ran
    out, is one infusion: its minutes run on (96367 / 96417 are for a new or different drug, and
    nothing was stopped), a bag of 15 minutes or less included (a desensitisation's first
    steps). Under policy `same_drug_reinfusion=additional_hour` the same drug infused again
    after it was stopped also adds its minutes to the first infusion."""
    out: list[Service] = []
    first: dict[tuple[str | None, str], int] = {}
    latest: dict[tuple[str | None, str], int] = {}
    for service in sorted(services, key=lambda s: (s.start, s.lead.id)):
        key = (service.site, service.drug_key)
        if _timed_bag(service) and key in latest and _continues(out[latest[key]], service):
            out[latest[key]] = _joined(
                out[latest[key]],
                service,
                "the same drug continued in a new bag as the last one ran out: one "
                "infusion, minutes added",
            )
            continue
        if (
            service.kind == "iv_infusion"
            and key in first
            and policy.same_drug_reinfusion == "additional_hour"
            and not intersect(list(out[first[key]].spans), list(service.spans))
        ):
            out[first[key]] = _joined(
                out[first[key]],
                service,
                "same drug infused again: minutes added to the first infusion "
                "(policy same_drug_reinfusion=additional_hour)",
            )
            latest[key] = first[key]
            continue
        if _timed_bag(service):
            latest[key] = len(out)
        if service.kind == "iv_infusion":
            first.setdefault(key, len(out))
        out.append(service)
    return out


def _timed_bag(service: Service) -> bool:
    """An IV bag charted with its start and stop: an infusion, or one short enough to count as
    a push on its own (not a drug charted as a push)."""
    return service.kind == "iv_infusion" or (
        service.kind == "iv_push" and service.lead.method == "infusion" and bool(service.spans)
    )


def _continues(earlier: Service, service: Service) -> bool:
    """`service` starts the moment `earlier` stops running: no minute without the drug."""
    return bool(earlier.spans and service.spans) and service.spans[0][0] == earlier.spans[-1][1]


def _joined(earlier: Service, later: Service, note: str) -> Service:
    spans = merge([*earlier.spans, *later.spans])
    minutes = whole_minutes(spans)
    return replace(
        earlier,
        kind=earlier.kind if is_push_length(minutes) else "iv_infusion",
        members=earlier.members + later.members,
        spans=tuple(spans),
        minutes=minutes,
        note=note,
    )


def _code_iv(book: _Book, services: list[Service]) -> list[SiteGroup]:
    office = book.record.encounter.setting == "office" and book.honour_primary
    groups = group_by_site(book.record, services)
    drugs = drug_running_spans(book.record)
    for group in groups:
        hydration = [s for s in group.services if s.kind == "hydration"]
        group.hydration_alone = alone_spans(hydration, drugs)
        group.hydration_minutes = policy_minutes(
            group.hydration_alone, book.policy.hydration_segments
        )
        group.initial, why = choose_initial(group, office=office)
        if group.initial is not None and group.initial.kind != "hydration":
            _code_initial(book, group, why)
    first = primary_group(groups, office=office)
    if first is not None:
        book.primary_group = first.key
    if office and not any(m.primary for s in services for m in s.members) and services:
        book.findings.append(
            Finding(
                "CODING-OFFICE",
                "info",
                "Office visit with no administration flagged as the primary reason: "
                "the initial service was chosen by the hierarchy",
                (),
                "primary",
            )
        )
    concurrent_used = False
    for group in groups:
        infusions = sorted(
            (s for s in group.services if s.kind == "iv_infusion"),
            key=lambda s: (s.start, s.lead.id),
        )
        for n, service in enumerate(infusions):
            if service is group.initial:
                continue
            concurrent_used = _code_infusion_after_initial(
                book,
                group,
                service,
                infusions,
                _already_running(group, infusions[:n]),
                concurrent_used,
            )
    return groups


def _already_running(group: SiteGroup, hung_before: list[Service]) -> list[Service]:
    """The infusions whose minutes a later one gives up where they overlap: the initial
    infusion and those hung before it. The infusion already running keeps its time; the one
    hung beside it is the concurrent one (CPT; the overlap counted once, as MedLearn and HCPro
    citing CPT Assistant do; coding-rules §4 would take it out of both)."""
    running = [s for s in hung_before if s is not group.initial]
    if group.initial is not None and group.initial.kind == "iv_infusion":
        running.append(group.initial)
    return running


def _code_initial(book: _Book, group: SiteGroup, why: str) -> None:
    service = group.initial
    assert service is not None
    fam = service.family
    note = f"; {service.note}" if service.note else ""
    if service.kind == "iv_push":
        book.add(
            codes.INITIAL_PUSH[fam],
            [service.start],
            service.ids,
            f"{why}; {service.drugs} IV push{note}",
            group=group.key,
            initial=True,
        )
        return
    book.add(
        codes.INITIAL_INFUSION[fam],
        [service.start],
        service.ids,
        f"{why}; {service.drugs} {service.timing()}{note}",
        group=group.key,
        initial=True,
    )
    _additional_hours(book, group, service, list(service.spans), codes.ADDITIONAL_HOUR[fam])


def _additional_hours(
    book: _Book, group: SiteGroup, service: Service, spans: list[Span], code: str
) -> None:
    minutes = whole_minutes(spans)
    hours = additional_hours(minutes)
    if hours:
        book.add(
            code,
            [instant_after(spans, HOUR * k) for k in range(1, hours + 1)],
            service.ids,
            f"{service.drugs} {minutes} min: {hours} additional hour(s), one for each hour "
            "beyond the first with more than 30 minutes in it (ceil((minutes - 90) / 60))",
            group=group.key,
        )


def _code_infusion_after_initial(
    book: _Book,
    group: SiteGroup,
    service: Service,
    infusions: list[Service],
    running: list[Service],
    concurrent_used: bool,
) -> bool:
    """Sequential on the minutes it ran apart from the infusions already running, else
    concurrent, else nothing (never two codes)."""
    others = merge(s for other in running for s in other.spans)
    own = list(service.spans)
    alone = subtract(own, others)
    overlap = intersect(own, others)
    alone_min, overlap_min = whole_minutes(alone), whole_minutes(overlap)
    fam = service.family
    taken_out = (
        f" ({overlap_min} min alongside infusions already running taken out)" if overlap_min else ""
    )
    if alone_min >= INFUSION_MIN_MINUTES:
        earlier = [
            s
            for s in infusions
            if s is not service and s.drug_key == service.drug_key and s.start < service.start
        ]
        if earlier:
            what = (
                "the same drug infused again after its first infusion was stopped "
                "(policy same_drug_reinfusion=sequential)"
            )
        else:
            what = "sequential infusion of a new drug after the initial service"
        book.add(
            codes.SEQUENTIAL_INFUSION[fam],
            [alone[0][0]],
            service.ids,
            f"{what}: {service.drugs} {alone_min} min{taken_out}"
            + (f"; {service.note}" if service.note else ""),
            group=group.key,
        )
        _additional_hours(book, group, service, alone, codes.ADDITIONAL_HOUR[fam])
        return concurrent_used
    minimum = book.policy.concurrent_min_overlap
    if overlap_min >= minimum:
        partners = [o for o in running if intersect(own, list(o.spans))]
        # Drugs on two different lines are separate bags; on one line the chart must say so.
        separate_bags = all(
            o.site != service.site
            or (service.lead.bag is not None and o.lead.bag is not None
                and o.lead.bag != service.lead.bag)
            for o in partners
        )  # fmt: skip
        if not separate_bags:
            book.skip(
                service.ids,
                f"{service.drugs} ran {overlap_min} min alongside another infusion on the same "
                "line, but separate bags are not charted (RAC-6): not coded as concurrent",
            )
        elif concurrent_used:
            book.skip(
                service.ids,
                f"{service.drugs} was concurrent too, but 96368 is reported once per encounter",
            )
        elif not codes.ADD_ON_PRIMARIES[codes.CONCURRENT_INFUSION] & {ln.code for ln in book.lines}:
            book.skip(
                service.ids,
                f"{service.drugs} ran {overlap_min} min alongside another infusion, but 96368 is "
                "reported only with an initial infusion or its hours (CPT), and the initial "
                "service here is a push",
            )
        else:
            book.add(
                codes.CONCURRENT_INFUSION,
                [overlap[0][0]],
                service.ids,
                f"concurrent infusion: {service.drugs} in its own bag ran {overlap_min} min "
                f"alongside another infusion (at least {minimum} min, policy "
                f"concurrent_min_overlap) and only {alone_min} min alone; once per encounter",
                group=group.key,
            )
            return True
        return concurrent_used
    book.skip(
        service.ids,
        f"{service.drugs}: {alone_min} min alone and {overlap_min} min alongside other "
        f"infusions: short of a sequential infusion ({INFUSION_MIN_MINUTES} min) or a concurrent "
        f"one ({minimum} min)",
    )
    return concurrent_used


# --- Pushes -------------------------------------------------------------------------------------


def _code_pushes(book: _Book, groups: list[SiteGroup], services: list[Service]) -> None:
    """96375 / 96411 for each new drug; 96376 for a drug the encounter already reports, more than
    30 minutes after its last reported push (the clock runs between pushes of that drug only)."""
    office = book.record.encounter.setting == "office"
    group_of = {id(s): g for g in groups for s in g.services}
    initials = {id(g.initial) for g in groups if g.initial is not None}
    charged_ids = {i for line in book.lines for i in line.administrations}
    # A pump's start (96416) is reported on its own, outside the IV services, so the drug in the
    # pump is not "already reported": its bolus is a push of a new drug (FOLFOX: 96411 + 96416).
    reported_drugs = {
        s.drug_key
        for s in services
        if s.kind not in ("iv_push", "pump") and set(s.ids) & charged_ids
    }
    reported_drugs |= {
        s.drug_key for g in groups if (s := g.initial) is not None and s.kind == "iv_push"
    }
    last_push: dict[str, float] = {}
    pushes = [s for s in services if s.kind == "iv_push"]
    for push in sorted(pushes, key=lambda s: (s.start, s.lead.id)):
        group = group_of[id(push)]
        key = push.drug_key
        if id(push) in initials:
            last_push[key] = push.start
            continue
        previous = last_push.get(key)
        if previous is None and key not in reported_drugs:
            book.add(
                codes.PUSH_OF_NEW_DRUG[push.family],
                [push.start],
                push.ids,
                f"IV push of a new drug: {push.drugs} at {book.time(push.start)}"
                + (f"; {push.note}" if push.note else ""),
                group=group.key,
            )
            last_push[key] = push.start
            reported_drugs.add(key)
            continue
        if previous is not None and push.start - previous <= PUSH_SAME_DRUG_CLOCK_MINUTES * 60:
            book.skip(
                push.ids,
                f"{push.drugs} pushed again at {book.time(push.start)}, within "
                f"{PUSH_SAME_DRUG_CLOCK_MINUTES} min of its last reported push "
                f"({book.time(previous)}): earns nothing",
            )
            continue
        if push.family == "chemo":
            book.skip(
                push.ids,
                f"{push.drugs} pushed again: CPT has no code for another push of the same "
                "chemotherapy drug (96411 is for a new drug)",
            )
            continue
        if office:
            book.skip(
                push.ids,
                f"{push.drugs} pushed again: 96376 (same drug) is not reported in the office",
            )
            continue
        since = (
            f"{(push.start - previous) // 60:.0f} min after its last reported push"
            if previous is not None
            else "a drug this encounter already reports through another service"
        )
        book.add(
            codes.PUSH_OF_SAME_DRUG,
            [push.start],
            push.ids,
            f"IV push of the same drug (facility): {push.drugs} at {book.time(push.start)}, "
            f"{since} (more than {PUSH_SAME_DRUG_CLOCK_MINUTES} min)",
            group=group.key,
        )
        last_push[key] = push.start


# --- Hydration ----------------------------------------------------------------------------------


def _code_hydration(book: _Book, group: SiteGroup) -> None:
    hydration = [s for s in group.services if s.kind == "hydration"]
    if not hydration:
        return
    segments = book.policy.hydration_segments
    alone = group.hydration_alone
    runs = countable_runs(alone, segments)
    contributing = tuple(i for s in hydration if intersect(list(s.spans), alone) for i in s.ids)
    silent = tuple(i for s in hydration for i in s.ids if i not in contributing)
    drugs = ", ".join(dict.fromkeys(s.drugs for s in hydration))
    if silent:
        book.skip(silent, "ran only alongside another infusion or push: hydration not charged")
    if not runs:
        if segments == "total":
            counted = f"{whole_minutes(alone)} min in all"
        else:
            longest = max((whole_minutes([r]) for r in alone), default=0)
            counted = (
                f"at most {longest} min at a stretch (this payer judges each continuous run on "
                "its own: policy hydration_segments=continuous)"
            )
        message = (
            f"Hydration ({drugs}) ran by itself {counted}: hydration is charged only from "
            "31 minutes running alone"
        )
        book.findings.append(Finding("DOC-5", "error", message, contributing or silent, "stop"))
        book.skip(contributing, message)
        return
    # Under `continuous` a fluid whose own runs alone were all too short earns nothing, though
    # another run of the group counts.
    counted_spans = [span for run in runs for span in run]
    short = tuple(
        i
        for s in hydration
        if intersect(list(s.spans), alone) and not intersect(list(s.spans), counted_spans)
        for i in s.ids
    )
    if short:
        short_drugs = ", ".join(dict.fromkeys(s.drugs for s in hydration if s.ids[0] in short))
        message = (
            f"Hydration ({short_drugs}) ran by itself less than 31 minutes at a stretch (this "
            "payer judges each continuous run on its own: policy hydration_segments=continuous):"
            " not charged"
        )
        book.findings.append(Finding("DOC-5", "error", message, short, "stop"))
        book.skip(short, message)
        contributing = tuple(i for i in contributing if i not in short)
    policy_note = (
        "runs alone before, between and after drug services added (policy hydration_segments=total)"
        if segments == "total"
        else "each continuous run judged on its own (policy hydration_segments=continuous)"
    )
    if group.initial is not None and group.initial.kind == "hydration":
        main_run = max(runs, key=whole_minutes)
        minutes = whole_minutes(main_run)
        book.add(
            codes.HYDRATION_INITIAL,
            [main_run[0][0]],
            contributing,
            f"initial service: hydration is the only IV service; {drugs} ran {minutes} min "
            f"alone (31 min or more); {policy_note}",
            group=group.key,
            initial=True,
        )
        hours = additional_hours(minutes)
        if hours:
            book.add(
                codes.HYDRATION_ADDITIONAL,
                [instant_after(main_run, HOUR * k) for k in range(1, hours + 1)],
                contributing,
                f"hydration {minutes} min: {hours} additional hour(s) beyond the first, each "
                "with more than 30 minutes in it",
                group=group.key,
            )
        runs = [r for r in runs if r is not main_run]
    for run in runs:
        minutes = whole_minutes(run)
        units = hydration_add_on_units(minutes)
        book.add(
            codes.HYDRATION_ADDITIONAL,
            [instant_after(run, HOUR * k) for k in range(units)],
            contributing,
            f"hydration after another initial service: {drugs} ran {minutes} min alone "
            f"(minutes alongside drugs taken out), one unit per hour started beyond 30 minutes "
            f"(ceil((minutes - 30) / 60) = {units}); {policy_note}",
            group=group.key,
        )


# --- Services outside the IV hierarchy ---------------------------------------------------------


def _code_outside_hierarchy(book: _Book, services: list[Service]) -> None:
    _code_injections(book, [s for s in services if s.kind == "injection"])
    _code_sq_infusions(book, [s for s in services if s.kind == "sq_infusion"])
    _code_intra_arterial(book, [s for s in services if s.kind in ("ia_infusion", "ia_push")])
    for service in services:
        if service.kind == "pump":
            _code_pump(book, service)
        elif service.kind == "intralesional":
            _code_intralesional(book, service)
        elif service.kind in ("intrathecal", "intracavitary"):
            _code_into_a_space(book, service)


def _code_pump(book: _Book, service: Service) -> None:
    lead = service.lead
    code = codes.PUMP_START_IV if lead.route == "iv" else codes.PUMP_START_IA
    policy = ""
    if lead.route == "iv" and book.policy.facility_pump_code != codes.PUMP_START_IV:
        code = book.policy.facility_pump_code
        policy = f" (policy facility_pump_code={code}: pump supplied by the facility)"
    book.add(
        code,
        [lead.start.timestamp()],
        service.ids,
        f"initiation of a prolonged chemotherapy infusion: {service.drugs} on a {lead.pump} pump "
        f"planned for {lead.planned_hours:g} h (more than 8); reported on its own, not ranked "
        f"against the initial service{policy}",
    )


def _code_injections(book: _Book, injections: list[Service]) -> None:
    """SQ/IM injections: one per drug per session (policy `split_dose_injections`)."""
    sessions: list[list[Service]] = []
    for service in sorted(injections, key=lambda s: (s.start, s.lead.id)):
        for session in sessions:
            head = session[0]
            if (
                head.drug_key == service.drug_key
                and head.lead.route == service.lead.route
                and service.start - head.start <= SAME_SESSION_MINUTES * 60
            ):
                session.append(service)
                break
        else:
            sessions.append([service])
    for session in sessions:
        head = session[0]
        code = codes.SQ_IM_INJECTION[head.drug_class]
        route = "IM" if head.lead.route == "im" else "SQ"
        what = {
            "96401": "non-hormonal antineoplastic",
            "96402": "hormonal antineoplastic",
            "96372": "therapeutic",
        }[code]
        note = f"; {head.note}" if head.note else ""
        base = (
            f"{route} {what} injection of {head.drugs}: reported on its own, outside the IV "
            f"hierarchy{note}"
        )
        if len(session) == 1:
            book.add(code, [head.start], head.ids, base)
        elif book.policy.split_dose_injections == "one":
            ids = tuple(i for s in session for i in s.ids)
            book.add(
                code,
                [head.start],
                ids,
                f"{base}; one drug in {len(session)} syringes at one session is one injection "
                "(policy split_dose_injections=one)",
            )
        else:
            for n, service in enumerate(session):
                book.add(
                    code,
                    [service.start],
                    service.ids,
                    f"{base}; syringe {n + 1} of {len(session)} reported separately "
                    "(policy split_dose_injections=each)",
                    modifiers=("59",) if n else (),
                )


def _code_sq_infusions(book: _Book, infusions: list[Service]) -> None:
    """96369 for the longest SQ infusion (with its hours on 96370), 96371 for an additional pump
    set-up with a new SQ site; CPT: 96369 and 96371 only once per encounter."""
    if not infusions:
        return
    ordered = sorted(infusions, key=lambda s: (-s.minutes, s.start, s.lead.id))
    initial = ordered[0]
    book.add(
        codes.SQ_INFUSION_INITIAL,
        [initial.start],
        initial.ids,
        f"initial SQ infusion incl. pump set-up: {initial.drugs} {initial.timing()}; "
        "longest SQ infusion of the encounter",
    )
    hours = additional_hours(initial.minutes)
    if hours:
        book.add(
            codes.SQ_INFUSION_ADDITIONAL_HOUR,
            [instant_after(list(initial.spans), HOUR * k) for k in range(1, hours + 1)],
            initial.ids,
            f"SQ infusion {initial.minutes} min: {hours} additional hour(s)",
        )
    sites_used = {initial.site}
    new_site_coded = False
    for service in sorted(ordered[1:], key=lambda s: (s.start, s.lead.id)):
        if service.site is not None and service.site not in sites_used:
            sites_used.add(service.site)
            if new_site_coded:
                book.skip(
                    service.ids,
                    f"{service.drugs}: another new SQ infusion site ({service.site}), but 96371 "
                    "is reported only once per encounter (CPT)",
                )
                continue
            new_site_coded = True
            book.add(
                codes.SQ_INFUSION_NEW_SITE,
                [service.start],
                service.ids,
                f"additional pump set-up with a new SQ infusion site ({service.site}) for "
                f"{service.drugs}; once per encounter",
            )
        else:
            book.skip(
                service.ids,
                f"{service.drugs}: another SQ infusion through a site already set up is "
                "included in 96369/96370",
            )


def _code_intra_arterial(book: _Book, services: list[Service]) -> None:
    """Intra-arterial services have their own access: coded per site, apart from the IV ranking."""
    by_site: dict[str | None, list[Service]] = defaultdict(list)
    for service in services:
        by_site[service.site].append(service)
    for site in sorted(by_site, key=lambda s: s or ""):
        infused = False
        for service in sorted(by_site[site], key=lambda s: (-s.minutes, s.start, s.lead.id)):
            if service.kind == "ia_push":
                book.add(
                    codes.IA_PUSH[service.family],
                    [service.start],
                    service.ids,
                    f"intra-arterial push of {service.drugs}"
                    + (f"; {service.note}" if service.note else ""),
                )
            elif service.family != "chemo":
                # CPT has no specific code for it; its unlisted code keeps the service billable
                # (and a longer infusion never earns less than the injection it would be).
                book.add(
                    codes.UNLISTED_INJECTION_OR_INFUSION,
                    [service.start],
                    service.ids,
                    f"therapeutic intra-arterial infusion of {service.drugs} {service.timing()}: "
                    "no specific CPT code, reported as unlisted 96379",
                )
                book.findings.append(
                    Finding(
                        "CODING-UNLISTED",
                        "warning",
                        f"96379 (unlisted) for the intra-arterial infusion of {service.drugs}: "
                        "the claim needs the procedure note attached",
                        service.ids,
                    )
                )
            elif infused:
                book.skip(
                    service.ids,
                    f"{service.drugs}: CPT has no add-on for another intra-arterial infusion "
                    "through the same access",
                )
            else:
                infused = True
                book.add(
                    codes.IA_INFUSION_INITIAL,
                    [service.start],
                    service.ids,
                    f"intra-arterial chemotherapy infusion, initial: {service.drugs} "
                    f"{service.timing()}",
                )
                hours = additional_hours(service.minutes)
                if hours:
                    book.add(
                        codes.IA_INFUSION_ADDITIONAL_HOUR,
                        [instant_after(list(service.spans), HOUR * k) for k in range(1, hours + 1)],
                        service.ids,
                        f"intra-arterial infusion {service.minutes} min: "
                        f"{hours} additional hour(s)",
                    )


def _code_intralesional(book: _Book, service: Service) -> None:
    lesions = service.lead.lesions
    if lesions is None:
        book.findings.append(
            Finding(
                "CODING-LESIONS",
                "warning",
                f"The number of lesions injected with {service.drugs} is not charted: "
                "coded as up to 7 (96405)",
                service.ids,
                "lesions",
            )
        )
    if lesions is not None and lesions > codes.INTRALESIONAL_MAX_LESIONS_FOR_96405:
        code, words = codes.INTRALESIONAL_MORE_THAN_7, f"{lesions} lesions (more than 7)"
    else:
        code, words = codes.INTRALESIONAL_UP_TO_7, f"{lesions or 'unstated'} lesion(s) (up to 7)"
    book.add(code, [service.start], service.ids, f"intralesional chemotherapy: {words}")


def _code_into_a_space(book: _Book, service: Service) -> None:
    site = book.record.site(service.site)
    where = f"{site.kind} {site.location}".lower() if site else ""
    if service.lead.route == "intrathecal":
        if "ventric" in where or "ommaya" in where:
            code, words = codes.VENTRICULAR_RESERVOIR, "via a ventricular reservoir"
        else:
            code, words = codes.INTRATHECAL, "into the CNS (intrathecal)"
    elif "pleur" in where:
        code, words = codes.PLEURAL_CAVITY, "into the pleural cavity"
    elif "periton" in where:
        code, words = codes.PERITONEAL_CAVITY, "into the peritoneal cavity"
    else:
        message = (
            f"{service.drugs} was given into a body cavity, but the site does not say which "
            "(pleural 96440 or peritoneal 96446)"
        )
        book.findings.append(Finding("CODING-ROUTE", "error", message, service.ids, "site"))
        book.skip(service.ids, message)
        return
    book.add(code, [service.start], service.ids, f"chemotherapy {words}: {service.drugs}")


def _code_port_irrigation(book: _Book) -> None:
    """96523 only when irrigating an implanted port is the sole service of the encounter."""
    if book.record.administrations:
        return
    ports = {s.id for s in book.record.sites if s.kind == "port"}
    flushes = [f for f in book.record.flushes if f.site in ports]
    if flushes:
        book.add(
            codes.PORT_IRRIGATION,
            [flushes[0].at.timestamp()],
            (),
            f"irrigation of implanted venous access device {flushes[0].site} at "
            f"{hhmm(flushes[0].at, book.record.encounter.timezone)}: the only service of the "
            "encounter",
        )


# --- Modifiers, edits, result -------------------------------------------------------------------


def _apply_distinct_modifiers(book: _Book, groups: list[SiteGroup]) -> None:
    """59 (or the payer's X modifier) on a second site's initial service and on the initial
    service of a second encounter the same day; on every line under scope `all`."""
    policy = book.policy
    every_line = policy.distinct_modifier_scope == "all"
    second_sites = {g.key for g in groups if g.initial is not None and g.key != book.primary_group}
    for line in book.lines:
        if line.group in second_sites and (line.initial or every_line):
            _add_modifier(line, policy.second_site_modifier)
            line.why += (
                f"; modifier {policy.second_site_modifier}: second vascular site, medically "
                f"necessary ({_reason(book, line.group)})"
            )
    if book.record.encounter.sequence_of_day >= 2 and book.lines:
        firsts = [ln for ln in book.lines if ln.initial and ln.group not in second_sites]
        in_claim_order = _claim_order(book.lines, book.primary_group)
        targets = book.lines if every_line else (firsts[:1] or in_claim_order[:1])
        for line in targets:
            _add_modifier(line, policy.second_encounter_modifier)
            line.why += (
                f"; modifier {policy.second_encounter_modifier}: encounter "
                f"{book.record.encounter.sequence_of_day} of the day at this facility"
            )


def _reason(book: _Book, group_key: str) -> str:
    """Why a second line was needed: the reason on the second site, or, when the hierarchy puts
    the site with the reason first, the reason written there."""
    for key in (group_key, book.primary_group):
        site = book.record.site(key)
        if site is not None and site.separate_site_reason:
            return site.separate_site_reason
    return ""


def _add_modifier(line: _Line, modifier: str) -> None:
    if modifier not in line.modifiers:
        line.modifiers.append(modifier)


def _claim_order(lines: list[_Line], primary_group: str | None) -> list[_Line]:
    """The encounter's initial service first, then each group's add-ons in the order they attach;
    services outside the IV hierarchy go with the encounter's initial group, in time order."""

    def home(line: _Line) -> str | None:
        return primary_group if line.group is None and primary_group is not None else line.group

    group_rank: dict[str | None, int] = {} if primary_group is None else {primary_group: 0}
    for line in sorted(lines, key=lambda ln: (not ln.initial, ln.at)):
        group_rank.setdefault(home(line), len(group_rank))
    return sorted(
        lines,
        key=lambda ln: (group_rank[home(ln)], not ln.initial, ln.at, ln.code, ln.day),
    )


def _result(book: _Book) -> Result:
    lines = _claim_order(book.lines, book.primary_group)
    charges = tuple(
        Charge(
            code=ln.code,
            units=ln.units,
            date=ln.day,
            administrations=ln.administrations,
            why=ln.why,
            modifiers=tuple(ln.modifiers),
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
            reasons[adm.id] = NotCharged(adm.id, "no separately reportable service")
    findings = sorted(set(book.findings), key=Finding.sort_key)
    return Result(
        encounter=book.record.encounter.id,
        charges=charges,
        findings=tuple(findings),
        not_charged=tuple(reasons[a.id] for a in book.record.administrations if a.id in reasons),
    )
