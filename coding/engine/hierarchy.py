"""Choosing the initial service: the facility hierarchy, one per access site (coding-rules.md §3).

Each encounter has one initial IV service, chosen by rank whatever the order in which things were
given: chemotherapy infusion, chemotherapy push, therapeutic infusion, therapeutic push, hydration.
Ties go to the longer administration, then the earlier start; pushes have no length, so of pushes
the first given is the initial. A second vascular site earns its own
initial service only when the record documents why it was medically necessary; without a
documented reason every IV service is coded against one initial service. Of the two initial
services, the hierarchy picks the encounter's; the other carries the modifier (CMS/NCCI). In the
physician office the initial service is the one flagged as the primary reason for the visit.

Scenarios: P08, P09, P10, P14, P19, P20, P24.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import rules as r
from .classify import Service
from .record import Record
from .terms import is_documented_separate_site
from .timing import Span

MAIN = ""  # the group of every site without a documented reason (and of services with no site)

RANK_NAMES = {
    1: "chemotherapy infusion",
    2: "chemotherapy push",
    3: "therapeutic infusion",
    4: "therapeutic push",
    5: "hydration",
}


def rank(service: Service) -> int:
    """Place in the facility hierarchy (1 is highest)."""
    if service.kind == "hydration":
        return 5
    infusion = service.kind == "iv_infusion"
    if service.family == "chemo":
        return 1 if infusion else 2
    return 3 if infusion else 4


@dataclass(init=False, slots=True)
class SiteGroup:
    """IV services coded against one initial service: one site, or all undocumented sites."""

    key: str
    services: list[Service] = field(default_factory=list)
    hydration_alone: list[Span] = field(default_factory=list)
    hydration_minutes: int = 0  # as the policy counts it: total, or the longest continuous run
    hydration_counts: bool = False  # enough minutes alone to be charged (hydration.py decides)
    initial: Service | None = None
    initial_rules: tuple[str, ...] = ()  # the rules that chose `initial` (choose_initial)

    def __init__(
        self,
        key: str,
        services: list[Service] | None = None,
        hydration_alone: list[Span] | None = None,
        hydration_minutes: int = 0,
        hydration_counts: bool = False,
        initial: Service | None = None,
        initial_rules: tuple[str, ...] = (),
    ) -> None:
        self.key = key
        self.services = services if services is not None else []
        self.hydration_alone = hydration_alone if hydration_alone is not None else []
        self.hydration_minutes = hydration_minutes
        self.hydration_counts = hydration_counts
        self.initial = initial
        self.initial_rules = initial_rules


def site_group_key(record: Record, site_id: str | None) -> str:
    """The site group of a site: its own when it has a documented reason, else the main one."""
    site = record.site(site_id)
    return site.id if site is not None and is_documented_separate_site(site) else MAIN


def group_by_site(record: Record, services: list[Service]) -> list[SiteGroup]:
    """Sites with a documented reason stand alone; every other IV service shares one group."""
    own_group = {site.id: site.id for site in record.sites if is_documented_separate_site(site)}
    groups: dict[str, SiteGroup] = {}
    for service in services:
        key = own_group.get(service.site, MAIN) if service.site is not None else MAIN
        if key not in groups:
            groups[key] = SiteGroup(key)
        groups[key].services.append(service)
    separate = [g for k, g in groups.items() if k != MAIN]
    main = groups.get(MAIN)
    if main is not None and separate and all(s.site is None for s in main.services):
        # Services with no site are coded against the encounter's first initial (RAC-4), not a
        # group of their own.
        best = min(separate, key=lambda g: min(_hierarchy_key(s, g) for s in g.services))
        best.services.extend(main.services)
        del groups[MAIN]
    return sorted(groups.values(), key=lambda g: g.key)


def _minutes(service: Service, group: SiteGroup) -> int:
    """The length the hierarchy ranks by. A push has none: the time a nurse charted between a
    push's start and stop is not a service length (CPT: a push is an injection of 15 minutes or
    less, reported per push), so of pushes of one rank the first given is the initial, and the
    30-minute clock of 96376 starts there (pushes.py)."""
    if service.kind == "iv_push":
        return 0
    return group.hydration_minutes if service.kind == "hydration" else service.minutes


def _hierarchy_key(service: Service, group: SiteGroup) -> tuple[int, int, float, str]:
    return (rank(service), -_minutes(service, group), service.start, service.lead.id)


def choose_initial(
    group: SiteGroup, *, office: bool
) -> tuple[Service | None, str, tuple[str, ...]]:
    """The group's initial service, the words that justify it and the rules that chose it."""
    candidates = [s for s in group.services if s.kind != "hydration" or group.hydration_counts]
    if not candidates:
        return None, "", ()
    site = (r.SECOND_SITE,) if group.key != MAIN else ()
    if office:
        flagged = [s for s in candidates if any(m.primary for m in s.members)]
        if flagged:
            chosen = min(flagged, key=lambda s: _hierarchy_key(s, group))
            return (
                chosen,
                "initial service: flagged as the primary reason for the office visit",
                (r.OFFICE_PRIMARY, *site),
            )
    chosen = min(candidates, key=lambda s: _hierarchy_key(s, group))
    words = f"initial service: {RANK_NAMES[rank(chosen)]} ranks first in the facility hierarchy"
    first = min(group.services, key=lambda s: (s.start, s.lead.id))
    if first is not chosen and rank(first) != rank(chosen):
        words += f" (given after {first.drugs}: hierarchy, not chronology)"
    ties = [s for s in candidates if s is not chosen and rank(s) == rank(chosen)]
    if ties:
        longest = max(_minutes(s, group) for s in ties)
        if chosen.kind == "iv_push":
            words += "; the first push of its rank (a push's length is not a service length)"
        elif _minutes(chosen, group) > longest:
            words += "; the longest service of its rank"
        else:
            words += "; of services of its rank and length, the first given"
    if office:
        words += " (office: no administration flagged primary, so the hierarchy decides)"
    return chosen, words, (r.IV_HIERARCHY, *((r.OFFICE_PRIMARY,) if office else ()), *site)


def primary_group(groups: list[SiteGroup], *, office: bool) -> SiteGroup | None:
    """The group whose initial service is the encounter's initial; the others are second sites.

    CMS (Claims Processing Manual ch. 4 §230.2) and NCCI ch. XI allow one initial service per
    encounter, chosen by the hierarchy; the initial service of a second, medically necessary
    site is the additional one and carries the modifier, so it goes on the lower-ranked code
    (the column-two code of the NCCI pair), whichever of the two sites the reason is written on.
    """
    with_initial = [g for g in groups if g.initial is not None]
    if not with_initial:
        return None
    if office:
        for g in with_initial:
            assert g.initial is not None
            if any(m.primary for m in g.initial.members):
                return g
    return min(
        with_initial,
        key=lambda g: (
            _hierarchy_key(g.initial, g) if g.initial is not None else (9, 0, 0.0, ""),
            g.key != MAIN,
        ),
    )
