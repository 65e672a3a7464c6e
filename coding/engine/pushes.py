"""IV pushes after the initial service: a new drug, or the same drug again (coding-rules.md §4).

96375 / 96411 for each new drug; 96376 (facility only) for a drug the encounter already reports,
more than 30 minutes from every reported push of that drug. A push that is the initial service is
coded with the infusions (infusions.py).

"Already reported" is asked of each drug: a drug mixed with another in a bag is reported by that
bag, so a later push of it is the same drug (CPT 96376 "same substance/drug"; CPT Assistant on
drugs mixed in one bag). The 30-minute clock runs over every reported push of the drug, the
initial one included, wherever it falls in time (CPT's 96376 guidance: a push of the same
substance within 30 minutes of a reported push of it is not reported; the engine, as before,
counts exactly 30 minutes as within); a push's length is not a service length, so the initial
push of a drug is its first (hierarchy.py).
"""

from __future__ import annotations

from . import codes
from . import rules as r
from .book import Book
from .classify import Service
from .hierarchy import SiteGroup
from .timing import PUSH_SAME_DRUG_CLOCK_MINUTES

CLOCK_SECONDS = PUSH_SAME_DRUG_CLOCK_MINUTES * 60


def code_pushes(book: Book, groups: list[SiteGroup], services: list[Service]) -> None:
    """96375 / 96411 for a push with a drug the encounter does not report yet; 96376 for one whose
    drugs are all reported already, more than 30 minutes from every reported push of them."""
    office = book.record.encounter.setting == "office"
    group_of = {id(s): g for g in groups for s in g.services}
    initials = {id(g.initial) for g in groups if g.initial is not None}
    charged_ids = {i for line in book.lines for i in line.administrations}
    # A pump's start (96416) is reported on its own, outside the IV services, so the drug in the
    # pump is not "already reported": its bolus is a push of a new drug (FOLFOX: 96411 + 96416).
    reported_drugs = {
        name
        for s in services
        if s.kind not in ("iv_push", "pump") and not charged_ids.isdisjoint(s.ids)
        for name in s.drug_names
    }
    reported_pushes: dict[str, list[float]] = {}
    for g in groups:
        initial = g.initial
        if initial is not None and initial.kind == "iv_push":
            _report(reported_pushes, initial)
            reported_drugs |= initial.drug_names
    pushes = [s for s in services if s.kind == "iv_push" and id(s) not in initials]
    for push in sorted(pushes, key=lambda s: (s.start, s.lead.id)):
        group = group_of[id(push)]
        if not push.drug_names <= reported_drugs:
            book.add(
                codes.PUSH_OF_NEW_DRUG[push.family],
                [push.start],
                push.ids,
                f"IV push of a new drug: {push.drugs} at {book.time(push.start)}"
                + (f"; {push.note}" if push.note else ""),
                rules=(r.PUSH_NEW_DRUG, r.ALREADY_REPORTED, *push.rules),
                group=group.key,
            )
            _report(reported_pushes, push)
            reported_drugs |= push.drug_names
            continue
        same = (r.PUSH_SAME_DRUG, r.ALREADY_REPORTED)
        near = _nearest_reported_push(push, reported_pushes)
        if near is not None and abs(push.start - near) <= CLOCK_SECONDS:
            book.skip(
                push.ids,
                f"{push.drugs} pushed again at {book.time(push.start)}, within "
                f"{PUSH_SAME_DRUG_CLOCK_MINUTES} min of a reported push of the same drug "
                f"({book.time(near)}): earns nothing",
                rules=(*same, r.PUSH_CLOCK, *push.rules),
            )
            continue
        if push.family == "chemo":
            book.skip(
                push.ids,
                f"{push.drugs} pushed again: CPT has no code for another push of a chemotherapy "
                "drug the encounter already reports (96411 is for a new drug)",
                rules=(r.PUSH_CHEMO_AGAIN, r.ALREADY_REPORTED, *push.rules),
            )
            continue
        if office:
            book.skip(
                push.ids,
                f"{push.drugs} pushed again: 96376 (same drug) is not reported in the office",
                rules=(*same, r.OFFICE_NO_96376, *push.rules),
            )
            continue
        since = (
            f"{abs(push.start - near) // 60:.0f} min from its nearest reported push"
            if near is not None
            else "a drug this encounter already reports through another service"
        )
        book.add(
            codes.PUSH_OF_SAME_DRUG,
            [push.start],
            push.ids,
            f"IV push of the same drug (facility): {push.drugs} at {book.time(push.start)}, "
            f"{since} (more than {PUSH_SAME_DRUG_CLOCK_MINUTES} min)",
            rules=(*same, *((r.PUSH_CLOCK,) if near is not None else ()), *push.rules),
            group=group.key,
        )
        _report(reported_pushes, push)


def _report(reported: dict[str, list[float]], push: Service) -> None:
    for name in push.drug_names:
        reported.setdefault(name, []).append(push.start)


def _nearest_reported_push(push: Service, reported: dict[str, list[float]]) -> float | None:
    """The reported push of one of its drugs nearest in time, before or after it."""
    times = [when for name in push.drug_names for when in reported.get(name, ())]
    return min(times, key=lambda when: (abs(push.start - when), when)) if times else None
