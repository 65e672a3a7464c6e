"""IV pushes after the initial service: a new drug, or the same drug again (coding-rules.md §4).

96375 / 96411 for each new drug; 96376 (facility only) for a drug the encounter already reports,
more than 30 minutes after its last reported push. A push that is the initial service is coded
with the infusions (infusions.py).
"""

from __future__ import annotations

from . import codes
from .book import Book
from .classify import Service
from .hierarchy import SiteGroup
from .timing import PUSH_SAME_DRUG_CLOCK_MINUTES


def code_pushes(book: Book, groups: list[SiteGroup], services: list[Service]) -> None:
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
