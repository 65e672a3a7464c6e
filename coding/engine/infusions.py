"""IV infusions: the initial service's line, its hours, and every infusion after it.

coding-rules.md §2 and §4. The initial service itself is chosen in hierarchy.py; here it gets its
line and additional hours, the same drug continued in a new bag runs on as one infusion, and each
later infusion of the site group is sequential on the minutes it ran apart from the infusions
already running, else concurrent, else nothing (never two codes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from . import codes
from . import rules as r
from .book import Book
from .classify import Service
from .hierarchy import SiteGroup, choose_initial, group_by_site, primary_group, site_group_key
from .hydration import measure_hydration
from .outside import pump_code
from .record import Record
from .result import Finding
from .terms import number_of
from .timing import (
    HOUR,
    INFUSION_MIN_MINUTES,
    Span,
    additional_hours,
    instant_after,
    intersect,
    is_push_length,
    merge,
    subtract,
    whole_minutes,
)


def merge_reinfusions(record: Record, services: list[Service]) -> list[Service]:
    """The same drug continued on the same line in a new bag or bottle, hung as the last one ran
    out, is one infusion: its minutes run on (96367 / 96417 are for a new or different drug, and
    nothing was stopped), a bag of 15 minutes or less included (a desensitisation's first
    steps). Under policy `same_drug_reinfusion=additional_hour` the same drug infused again
    after it was stopped also adds its minutes to the first infusion.

    "The same line" is the site group: a line restarted elsewhere (infiltrated, dislodged) or
    a second line without a documented reason is not a separate site (coding-rules §3), so the
    drug running on through it is still one infusion. Under policy
    `second_line_without_reason=own_minutes` each line keeps its minutes, and so its drugs."""
    policy = record.policy
    own_lines = policy.second_line_without_reason == "own_minutes"
    out: list[Service] = []
    first: dict[tuple[str | None, str], int] = {}
    latest: dict[tuple[str | None, str], int] = {}
    for service in sorted(services, key=lambda s: (s.start, s.lead.id)):
        line = service.site if own_lines else site_group_key(record, service.site)
        key = (line, service.drug_key)
        if _timed_bag(service) and key in latest and _continues(out[latest[key]], service):
            out[latest[key]] = _joined(
                out[latest[key]],
                service,
                "the same drug continued in a new bag as the last one ran out: one "
                "infusion, minutes added (minutes the bags overlapped counted once)",
                r.SAME_DRUG_NEW_BAG,
            )
            continue
        if (
            service.kind == "iv_infusion"
            and key in first
            and policy.same_drug_reinfusion == "additional_hour"
            and not intersect(out[first[key]].spans, service.spans)
        ):
            out[first[key]] = _joined(
                out[first[key]],
                service,
                "same drug infused again: minutes added to the first infusion "
                "(policy same_drug_reinfusion=additional_hour)",
                r.SAME_DRUG_REINFUSION,
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
    """`service` starts the moment `earlier` stops running, or while it still runs (the next bag
    hung a few minutes before the last ran out): no minute without the drug. Overlapping minutes
    are counted once, so overlapping bags code as back-to-back ones, under either
    `same_drug_reinfusion` (CPT counts the time the drug ran, not the bags)."""
    if not (earlier.spans and service.spans):
        return False
    return earlier.spans[0][0] <= service.spans[0][0] <= earlier.spans[-1][1]


def _joined(earlier: Service, later: Service, note: str, rule: str) -> Service:
    spans = merge([*earlier.spans, *later.spans])
    minutes = whole_minutes(spans)
    return replace(
        earlier,
        kind=earlier.kind if is_push_length(minutes) else "iv_infusion",
        members=earlier.members + later.members,
        spans=tuple(spans),
        minutes=minutes,
        note=note,
        rules=tuple(dict.fromkeys((*earlier.rules, *later.rules, rule))),
    )


def code_iv(book: Book, services: list[Service], pumps: Sequence[Service] = ()) -> list[SiteGroup]:
    """The IV site groups' initial services and infusions. `pumps` are the prolonged pump
    infusions (coded on their own, outside.py): minutes beside a running pump on the same line
    are not sequential time."""
    office = book.record.encounter.setting == "office" and book.honour_primary
    groups = group_by_site(book.record, services)
    measure_hydration(book.record, groups)
    for group in groups:
        group.initial, why, chose = choose_initial(group, office=office)
        group.initial_rules = chose
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
    group_pumps: dict[str, list[Service]] = {}
    for pump in pumps:
        group_pumps.setdefault(site_group_key(book.record, pump.site), []).append(pump)
    pump_codes = {pump_code(pump, book.policy)[0] for pump in pumps}
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
                _already_running(group, infusions[:n]) + group_pumps.get(group.key, []),
                concurrent_used,
                pump_codes,
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


def _code_initial(book: Book, group: SiteGroup, why: str) -> None:
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
            rules=(*group.initial_rules, r.INITIAL_PUSH, *service.rules),
            group=group.key,
            initial=True,
        )
        return
    book.add(
        codes.INITIAL_INFUSION[fam],
        [service.start],
        service.ids,
        f"{why}; {service.drugs} {service.timing()}{note}",
        rules=(*group.initial_rules, r.INITIAL_INFUSION, *service.rules),
        group=group.key,
        initial=True,
    )
    _additional_hours(
        book,
        group,
        service,
        list(service.spans),
        codes.ADDITIONAL_HOUR[fam],
        (r.INITIAL_INFUSION, *service.rules),
    )


def _additional_hours(
    book: Book,
    group: SiteGroup,
    service: Service,
    spans: list[Span],
    code: str,
    rules: tuple[str, ...],
) -> None:
    """`rules`: those of the line whose hours these are."""
    minutes = whole_minutes(spans)
    hours = additional_hours(minutes)
    if hours:
        book.add(
            code,
            [instant_after(spans, HOUR * k) for k in range(1, hours + 1)],
            service.ids,
            f"{service.drugs} {minutes} min: {number_of(hours, 'additional hour')}, one for "
            "each hour beyond the first with more than 30 minutes in it "
            "(ceil((minutes - 90) / 60))",
            rules=(r.ADDITIONAL_HOUR, *rules),
            group=group.key,
        )


def _code_infusion_after_initial(
    book: Book,
    group: SiteGroup,
    service: Service,
    infusions: list[Service],
    running: list[Service],
    concurrent_used: bool,
    pump_codes: set[str],
) -> bool:
    """Sequential on the minutes it ran apart from the infusions already running and any pump
    running on the line, else concurrent (never for a chemotherapy drug), else nothing (never
    two codes).

    `running` are the infusions already running and the group's prolonged pumps. Under policy
    `second_line_without_reason=one_line` (default) every line of the site group counts; under
    `own_minutes` only those on the service's own site (each line keeps its minutes).
    """
    policy = book.policy
    own_minutes = policy.second_line_without_reason == "own_minutes"
    considered = [o for o in running if not own_minutes or o.site == service.site]
    others = merge(s for other in considered for s in other.spans)
    own = list(service.spans)
    alone = subtract(own, others)
    overlap = intersect(own, others)
    alone_min, overlap_min = whole_minutes(alone), whole_minutes(overlap)
    fam = service.family
    notes, shared_rules = _overlap_notes(service, running, own, own_minutes)
    beside_pump = any(o.kind == "pump" for o in considered)
    infusions_beside = (
        merge(s for o in considered if o.kind != "pump" for s in o.spans) if beside_pump else others
    )
    if whole_minutes(intersect(own, infusions_beside)):
        shared_rules = (r.OVERLAP_COUNTED_ONCE, *shared_rules)
    taken_out = (
        f" ({overlap_min} min alongside infusions already running taken out)" if overlap_min else ""
    )
    if alone_min >= INFUSION_MIN_MINUTES:
        # The same drug infused at another time in the group, before or after this infusion
        # (the later, longer one may be the initial service): not a new drug.
        same_drug = [s for s in infusions if s is not service and s.drug_key == service.drug_key]
        if any(s.start < service.start for s in same_drug):
            what = (
                "the same drug infused again after its first infusion was stopped "
                "(policy same_drug_reinfusion=sequential)"
            )
        elif same_drug:
            what = (
                "the same drug, stopped and infused again later "
                "(policy same_drug_reinfusion=sequential)"
            )
        else:
            what = "sequential infusion of a new drug after the initial service"
        applied = (
            r.SEQUENTIAL,
            *((r.SAME_DRUG_REINFUSION,) if same_drug else ()),
            *service.rules,
            *shared_rules,
        )
        book.add(
            codes.SEQUENTIAL_INFUSION[fam],
            [alone[0][0]],
            service.ids,
            f"{what}: {service.drugs} {alone_min} min{taken_out}{notes}"
            + (f"; {service.note}" if service.note else ""),
            rules=applied,
            group=group.key,
        )
        _additional_hours(book, group, service, alone, codes.ADDITIONAL_HOUR[fam], applied)
        return concurrent_used
    minimum = policy.concurrent_min_overlap
    enough = bool(overlap) and overlap_min >= minimum
    least = (
        "any overlap, policy concurrent_min_overlap=0"
        if minimum == 0
        else f"at least {minimum} min, policy concurrent_min_overlap"
    )
    if enough:
        partners = [o for o in considered if intersect(own, o.spans)]
        # Drugs on two different lines are separate bags; on one line the chart must say so; a
        # pump is its own container.
        separate_bags = all(
            o.kind == "pump"
            or o.site != service.site
            or (service.lead.bag is not None and o.lead.bag is not None
                and o.lead.bag != service.lead.bag)
            for o in partners
        )  # fmt: skip
        beside = (
            "the running pump of " + ", ".join(o.drugs for o in partners)
            if all(o.kind == "pump" for o in partners)
            else "another infusion"
        )
        primaries = codes.ADD_ON_PRIMARIES[codes.CONCURRENT_INFUSION]
        if not separate_bags:
            book.skip(
                service.ids,
                f"{service.drugs} ran {overlap_min} min alongside another infusion on the same "
                "line, but separate bags are not charted (RAC-6): not coded as concurrent",
                rules=(r.CONCURRENT, r.CONCURRENT_SEPARATE_BAGS, "RAC-6", *service.rules),
            )
        elif fam == "chemo":
            message = (
                f"{service.drugs} (chemotherapy) ran {overlap_min} min alongside {beside}: CPT "
                "has no concurrent chemotherapy code (96368 is for non-chemotherapy drugs, CPT "
                "Assistant Nov 2005), so it is not coded; unlisted 96549 is the coder's decision"
            )
            book.findings.append(
                Finding("CODING-CONCURRENT-CHEMO", "warning", message, service.ids)
            )
            book.skip(
                service.ids,
                message,
                rules=(r.CONCURRENT, "CODING-CONCURRENT-CHEMO", *service.rules, *shared_rules),
            )
        elif concurrent_used:
            book.skip(
                service.ids,
                f"{service.drugs} was concurrent too, but 96368 is reported once per encounter",
                rules=(r.CONCURRENT, r.CONCURRENT_ONCE, *service.rules),
            )
        elif not primaries & ({ln.code for ln in book.lines} | pump_codes):
            pump_policy = (
                " (the pump is reported as G0498 under policy facility_pump_code=G0498, which "
                "is not a primary of 96368)"
                if "G0498" in pump_codes
                else ""
            )
            book.skip(
                service.ids,
                f"{service.drugs} ran {overlap_min} min alongside {beside}, but 96368 is "
                "reported only with an initial infusion, its hours or a pump start (96416) "
                f"(CPT), and there is none here{pump_policy}",
                rules=(
                    r.CONCURRENT,
                    r.CONCURRENT_PRIMARY,
                    *((r.PUMP_G0498,) if pump_policy else ()),
                    *service.rules,
                    *shared_rules,
                ),
            )
        else:
            book.add(
                codes.CONCURRENT_INFUSION,
                [overlap[0][0]],
                service.ids,
                f"concurrent infusion: {service.drugs} in its own bag ran {overlap_min} min "
                f"alongside {beside} ({least}) and only {alone_min} min alone; once per "
                f"encounter{notes}",
                rules=(
                    r.CONCURRENT,
                    r.CONCURRENT_ONCE,
                    r.CONCURRENT_PRIMARY,
                    *service.rules,
                    *shared_rules,
                ),
                group=group.key,
            )
            return True
        return concurrent_used
    book.skip(
        service.ids,
        f"{service.drugs}: {alone_min} min alone and {overlap_min} min alongside other "
        f"infusions: short of a sequential infusion ({INFUSION_MIN_MINUTES} min) or a concurrent "
        f"one ({least}){notes}",
        rules=(r.SEQUENTIAL, r.CONCURRENT, *service.rules, *shared_rules),
    )
    return concurrent_used


def _overlap_notes(
    service: Service, running: list[Service], own: list[Span], own_minutes: bool
) -> tuple[str, tuple[str, ...]]:
    """What the line's reason says about minutes shared with a pump or a second line, and the
    rules that said it."""
    words = ""
    applied: list[str] = []
    pumps = [o for o in running if o.kind == "pump" and (not own_minutes or o.site == service.site)]
    pump_min = (
        whole_minutes(intersect(own, merge(s for p in pumps for s in p.spans))) if pumps else 0
    )
    if pump_min:
        words += (
            f"; {pump_min} min beside the running pump of "
            + ", ".join(dict.fromkeys(p.drugs for p in pumps))
            + " on the line are not sequential time"
        )
        applied.append(r.PUMP_NOT_SEQUENTIAL)
    elsewhere = [o for o in running if o.site != service.site]
    shared = (
        whole_minutes(intersect(own, merge(s for o in elsewhere for s in o.spans)))
        if elsewhere
        else 0
    )
    if shared and own_minutes:
        words += (
            f"; {shared} min that ran beside another line kept (policy "
            "second_line_without_reason=own_minutes: each line keeps its minutes)"
        )
        applied.append(r.SECOND_LINE_WITHOUT_REASON)
    elif shared:
        words += (
            f"; {shared} min that ran at the same time on another line without a documented "
            "reason are not sequential time (policy second_line_without_reason=one_line: the "
            "lines are one site group)"
        )
        applied.append(r.SECOND_LINE_WITHOUT_REASON)
    return words, tuple(applied)
