"""Modifiers and claim order (coding-rules.md §3, §5; CMS Claims Processing Manual ch. 4 §230.2).

The distinct modifier (59, or the payer's X modifier) goes on a second, medically necessary
site's initial service and on the initial service of a second encounter the same day (on every
line under policy `distinct_modifier_scope=all`). Lines are claimed with the encounter's initial
service first, then each group's add-ons in the order they attach, one line per code, date and
modifiers (its units summed).
"""

from __future__ import annotations

from datetime import date

from . import rules as r
from .book import Book, Line
from .hierarchy import SiteGroup


def apply_distinct_modifiers(book: Book, groups: list[SiteGroup]) -> None:
    """59 (or the payer's X modifier) on a second site's initial service and on the initial
    service of a second encounter the same day; on every line under scope `all`."""
    policy = book.policy
    every_line = policy.distinct_modifier_scope == "all"
    second_sites = {g.key for g in groups if g.initial is not None and g.key != book.primary_group}
    for line in book.lines:
        if line.group in second_sites and (line.initial or every_line):
            held = _add_modifier(line, policy.second_site_modifier)
            line.apply(r.MOD_SECOND_SITE, *((r.MOD_SCOPE,) if every_line else ()))
            line.why += (
                f"; modifier {policy.second_site_modifier}{held}: second vascular site, "
                f"medically necessary ({_reason(book, line.group)})"
            )
    if book.record.encounter.sequence_of_day >= 2 and book.lines:
        firsts = [ln for ln in book.lines if ln.initial and ln.group not in second_sites]
        targets = book.lines if every_line else (firsts[:1] or _first_outside(book.lines)[:1])
        for line in targets:
            held = _add_modifier(line, policy.second_encounter_modifier)
            line.apply(r.MOD_SECOND_ENCOUNTER, *((r.MOD_SCOPE,) if every_line else ()))
            line.why += (
                f"; modifier {policy.second_encounter_modifier}{held}: encounter "
                f"{book.record.encounter.sequence_of_day} of the day at this facility"
            )


# With no IV initial service, the encounter's initial service is the first of these by the same
# ranking as the IV hierarchy (chemotherapy before therapeutic, infusion before push or
# injection), a service with its own access (intra-arterial, SQ infusion) before an injection.
OUTSIDE_INITIAL_ORDER = (
    "96422", "96425", "96416", "G0498", "96420", "96450", "96542", "96440", "96446", "96405",
    "96406", "96401", "96402", "96369", "96379", "96373", "96372",
)  # fmt: skip


def _first_outside(lines: list[Line]) -> list[Line]:
    """The encounter's initial service when it has no IV initial: the distinct modifier of a
    second encounter goes there (CMS Claims Processing Manual ch. 4 §230.2: the modifier marks
    the second encounter's initial service), not on whichever line came first in time."""
    rank = {code: n for n, code in enumerate(OUTSIDE_INITIAL_ORDER)}
    ranked = [ln for ln in lines if ln.code in rank]
    if not ranked:
        return sorted(lines, key=lambda ln: (ln.at, ln.code))[:1]
    return [min(ranked, key=lambda ln: (rank[ln.code], ln.at))]


def _reason(book: Book, group_key: str) -> str:
    """Why a second line was needed: the reason on the second site, or, when the hierarchy puts
    the site with the reason first, the reason written there."""
    for key in (group_key, book.primary_group):
        site = book.record.site(key)
        if site is not None and site.separate_site_reason:
            return site.separate_site_reason
    return ""


# 59 and its more specific subsets X{EPSU}: one of them a line. CMS (CR8863; MLN1783722, from
# NCCI Policy Manual ch. 1): the X modifiers are "more selective versions" of 59, not reported
# with it, and a line takes the one X modifier saying why it is distinct. A line both of a
# second site and of a second encounter (scope `all`) keeps the one it was given first.
DISTINCT = ("59", "XE", "XP", "XS", "XU")


def _add_modifier(line: Line, modifier: str) -> str:
    """Put `modifier` on the line unless it carries a distinct modifier already; "" when it is
    on the line, else the words saying why it was not added (for the line's reason)."""
    if modifier in line.modifiers:
        return ""
    held = [m for m in line.modifiers if m in DISTINCT]
    if modifier in DISTINCT and held:
        return f" not added (the line carries {held[0]}; one distinct modifier a line)"
    line.modifiers.append(modifier)
    return ""


def claim_order(lines: list[Line], primary_group: str | None) -> list[Line]:
    """The encounter's initial service first, then each group's add-ons in the order they attach;
    services outside the IV hierarchy go with the encounter's initial group, in time order."""

    def home(line: Line) -> str | None:
        return primary_group if line.group is None and primary_group is not None else line.group

    group_rank: dict[str | None, int] = {} if primary_group is None else {primary_group: 0}
    for line in sorted(lines, key=lambda ln: (not ln.initial, ln.at)):
        group_rank.setdefault(home(line), len(group_rank))
    return sorted(
        lines,
        key=lambda ln: (group_rank[home(ln)], not ln.initial, ln.at, ln.code, ln.day),
    )


def one_line_per_code(lines: list[Line]) -> list[Line]:
    """Lines of one code, date and modifiers become one line whose units are their sum, at the
    first one's place in claim order (two pushes of new drugs: 96375 x2, not two lines of 96375).
    record-format.md: "a code whose units fall on two dates is two lines", so one date is one
    line; Medicare contractors deny a second line of the same code and date of service as an
    exact duplicate (Noridian, "Billing multiple units of service with the same HCPCS code and
    same date of service": bill them "on one claim line"). A different modifier (a second site's
    59/XU) keeps its own line."""
    merged: dict[tuple[str, date, tuple[str, ...]], Line] = {}
    out: list[Line] = []
    for line in lines:
        key = (line.code, line.day, tuple(line.modifiers))
        first = merged.get(key)
        if first is None:
            merged[key] = line
            out.append(line)
            continue
        combined = Line(
            first.code,
            first.units + line.units,
            first.day,
            (
                *first.administrations,
                *(a for a in line.administrations if a not in first.administrations),
            ),
            f"{first.why}; and {line.why}",
            first.at,
            group=first.group,
            initial=first.initial,
            modifiers=list(first.modifiers),
            rules=[*first.rules, *(x for x in line.rules if x not in first.rules)],
        )
        combined.apply(r.ONE_LINE_PER_CODE)
        merged[key] = combined
        out[out.index(first)] = combined
    return out
