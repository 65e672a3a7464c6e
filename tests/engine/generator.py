"""Realistic `infusion-record/1` documents, generated from a seed (issue 13, "Proof").

    for doc in generated_records(300, seed=13):
        result = code_record(parse_record(doc))

Each record is one encounter built from the pieces a day unit charts: chemotherapy regimens
(premedication pushes, chemo bags one after another or side by side, a bolus and a 46-hour pump),
therapeutic infusions (antibiotics, electrolytes; the same drug in a new bag hung as the last ran
out, or a few minutes before), mixed bags, repeated pushes of one drug, hydration, SQ/IM
injections in one or two syringes, intra-arterial and intralesional services, second IV lines
with and without a documented reason, pauses; in the facility or the office, first or second
encounter of the day, under every policy. Times are minutes after 08:00 (records.t).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .records import BASE, SALINE, adm, record, site, t

CHEMO_INFUSED = ["cisplatin", "oxaliplatin", "paclitaxel", "carboplatin", "irinotecan",
                 "gemcitabine", "rituximab"]  # fmt: skip
CHEMO_PUSHED = ["doxorubicin", "vincristine", "fluorouracil", "bortezomib"]
PREMEDS = ["ondansetron", "dexamethasone", "famotidine", "diphenhydramine", "palonosetron"]
THERAPEUTIC_INFUSED = ["vancomycin", "cefazolin", "magnesium sulfate", "potassium chloride",
                       "fosaprepitant", "iron sucrose", "pantoprazole"]  # fmt: skip
PUSHED = ["morphine", "hydromorphone", "ondansetron", "furosemide", "metoclopramide"]
INJECTED = [("enoxaparin", "therapeutic"), ("ceftriaxone", "therapeutic"),
            ("leuprolide", "chemo_hormonal"), ("fulvestrant", "chemo_hormonal"),
            ("methotrexate", "chemo"), ("filgrastim", "therapeutic")]  # fmt: skip

POLICIES: dict[str, list[Any]] = {
    "hydration_segments": ["total", "continuous"],
    "second_site_modifier": ["59", "XU", "XS"],
    "second_encounter_modifier": ["59", "XE"],
    "distinct_modifier_scope": ["initial", "all"],
    "concurrent_min_overlap": [0, 1, 10, 16, 30],
    "same_drug_reinfusion": ["sequential", "additional_hour"],
    "split_dose_injections": ["one", "each"],
    "facility_pump_code": ["96416", "G0498"],
    "second_line_without_reason": ["one_line", "own_minutes"],
    "split_dose_window_minutes": [0, 15, 30, 60],
}
SECOND_LINE_REASONS = [None, None, "vesicant requires a dedicated line",
                       "incompatible with the running infusion", "IV restarted after infiltration",
                       "convenience"]  # fmt: skip


class _Builder:
    """The administrations of one encounter, with fresh ids and the sites they use."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.adms: list[dict[str, Any]] = []
        self.bags = 0
        self.lines = ["S1"]

    def line(self) -> str:
        return self.rnd.choice(self.lines)

    def bag(self) -> str:
        self.bags += 1
        return f"B{self.bags}"

    def add(self, drug: str, drug_class: str | None, **kw: Any) -> dict[str, Any]:
        a = adm(f"A{len(self.adms) + 1}", drug, drug_class, **kw)
        self.adms.append(a)
        return a

    def maybe_pause(self, a: dict[str, Any], start: int, minutes: int) -> None:
        if minutes >= 30 and self.rnd.random() < 0.15:
            p_start = start + self.rnd.randint(5, minutes - 20)
            a["pauses"] = [{"start": _t(p_start), "end": _t(p_start + self.rnd.randint(1, 15))}]

    def infusion(
        self, drug: str, drug_class: str, start: int, minutes: int, **kw: Any
    ) -> dict[str, Any]:
        kw.setdefault("site", self.line())
        kw.setdefault("bag", self.bag())
        a = self.add(drug, drug_class, start=start, minutes=minutes, **kw)
        self.maybe_pause(a, start, minutes)
        return a

    def push(self, drug: str, drug_class: str, at: int, **kw: Any) -> dict[str, Any]:
        kw.setdefault("site", self.line())
        if self.rnd.random() < 0.2:  # some nurses chart a stop a minute or two later
            kw.setdefault("stop", at + self.rnd.randint(1, 3))
        return self.add(drug, drug_class, method="push", start=at, **kw)


def _t(minutes: int) -> str:
    value = t(minutes)
    assert value is not None
    return value


def _chemo_regimen(b: _Builder, start: int) -> int:
    rnd = b.rnd
    at = start
    for premed in rnd.sample(PREMEDS, rnd.randint(0, 3)):
        if rnd.random() < 0.3:
            b.infusion(premed, "therapeutic", at, rnd.choice([15, 20, 30]))
        else:
            b.push(premed, "therapeutic", at)
        at += rnd.choice([2, 5, 10])
    if rnd.random() < 0.25:  # a mixed premedication bag
        bag = b.bag()
        minutes = rnd.choice([15, 20, 30])
        for drug in rnd.sample(PREMEDS, 2):
            b.add(drug, "therapeutic", start=at, minutes=minutes, site="S1", bag=bag)
        at += minutes
    drugs = rnd.sample(CHEMO_INFUSED, rnd.randint(1, 2))
    for n, drug in enumerate(drugs):
        minutes = rnd.choice([30, 46, 60, 90, 120, 180])
        side_by_side = n > 0 and rnd.random() < 0.3
        begin = at - rnd.randint(10, 40) if side_by_side else at
        b.infusion(drug, "chemo", max(begin, start), minutes)
        at = max(at, max(begin, start) + minutes)
    if rnd.random() < 0.4:  # FOLFOX-like: bolus then a 46-hour pump
        b.push("fluorouracil", "chemo", at + 2)
        b.add("fluorouracil", "chemo", start=at + 5, stop=None, site=b.line(),
              pump=rnd.choice(["portable", "portable", "implanted"]),
              planned_hours=rnd.choice([24, 46]))  # fmt: skip
        if rnd.random() < 0.5:  # something hung beside the running pump
            beside = rnd.choice(["fosaprepitant", "magnesium sulfate", "leucovorin"])
            b.infusion(beside, "therapeutic", at + rnd.randint(5, 30), rnd.choice([20, 60, 120]))
        if rnd.random() < 0.3:
            b.infusion(rnd.choice(CHEMO_INFUSED), "chemo", at + 10, rnd.choice([30, 60]))
        at += 10
    if rnd.random() < 0.3:
        b.push(rnd.choice(CHEMO_PUSHED), "chemo", at + rnd.randint(0, 20))
    if rnd.random() < 0.2:  # the chemo drug pushed again later
        b.push(drugs[0], "chemo", at + rnd.randint(5, 60))
    return at


def _therapeutic(b: _Builder, start: int) -> int:
    rnd = b.rnd
    drug = rnd.choice(THERAPEUTIC_INFUSED)
    minutes = rnd.choice([16, 30, 45, 60, 90, 91, 120, 150])
    b.infusion(drug, "therapeutic", start, minutes)
    at = start + minutes
    if rnd.random() < 0.35:  # the next bag of the same drug, back to back or a little early
        early = rnd.choice([0, 0, 2, 5, 15])
        more = rnd.choice([30, 60, 90])
        b.infusion(drug, "therapeutic", at - early, more + early, site=b.adms[-1]["site"])
        at += more
    if rnd.random() < 0.3:  # the same drug again after a gap
        gap = rnd.choice([5, 30, 120])
        b.infusion(drug, "therapeutic", at + gap, rnd.choice([30, 60]))
        at += gap + 30
    if rnd.random() < 0.4:  # another drug hung beside it
        hung = start + rnd.randint(0, max(1, minutes - 5))
        b.infusion(rnd.choice(THERAPEUTIC_INFUSED), "therapeutic", hung, rnd.choice([16, 30, 60]))
    return at


def _pushes(b: _Builder, start: int) -> int:
    rnd = b.rnd
    drug = rnd.choice(PUSHED)
    at = start
    for _ in range(rnd.randint(1, 4)):
        b.push(drug if rnd.random() < 0.7 else rnd.choice(PUSHED), "therapeutic", at)
        at += rnd.choice([10, 15, 20, 29, 30, 31, 45, 60])
    return at


def _hydration(b: _Builder, start: int) -> int:
    rnd = b.rnd
    minutes = rnd.choice([20, 30, 31, 45, 60, 90, 120, 180])
    purpose = rnd.choice(["hydration", "hydration", "hydration", "vehicle", "kvo"])
    b.add(SALINE, "hydration", start=start, minutes=minutes, site=b.line(), purpose=purpose)
    return start + rnd.randint(0, minutes)


def _injections(b: _Builder, start: int) -> int:
    rnd = b.rnd
    drug, drug_class = rnd.choice(INJECTED)
    route = rnd.choice(["sq", "im"])
    b.add(drug, drug_class, route=route, method="injection", start=start)
    if rnd.random() < 0.4:  # a split dose: a second syringe
        b.add(drug, drug_class, route=route, method="injection",
              start=start + rnd.choice([0, 5, 15, 30, 31, 45, 90]))  # fmt: skip
    return start + 5


def _outside(b: _Builder, start: int) -> int:
    rnd = b.rnd
    kind = rnd.choice(["ia_push", "ia_infusion", "intralesional", "sq_infusion"])
    if kind == "ia_push":
        drug_class = rnd.choice(["chemo", "therapeutic"])
        b.add("cisplatin" if drug_class == "chemo" else "verapamil", drug_class, route="ia",
              method="push", start=start)  # fmt: skip
    elif kind == "ia_infusion":
        b.add("floxuridine", "chemo", route="ia", start=start, minutes=rnd.choice([30, 120]))
    elif kind == "intralesional":
        for _ in range(rnd.randint(1, 3)):
            lesions = rnd.choice([None, 1, 2, 3, 4, 5, 8])
            extra = {} if lesions is None else {"lesions": lesions}
            b.add("bleomycin", "chemo", route="intralesional", method="injection", start=start,
                  **extra)  # fmt: skip
            start += 5
    else:
        b.add("immune globulin", "therapeutic", route="sq", start=start,
              minutes=rnd.choice([10, 45, 120]))  # fmt: skip
    return start + 30


PIECES = [_chemo_regimen, _therapeutic, _therapeutic, _pushes, _hydration, _injections, _outside]


def generated_record(rnd: random.Random, n: int = 0) -> dict[str, Any]:
    """One realistic encounter."""
    b = _Builder(rnd)
    sites = [site("S1", rnd.choice(["peripheral_iv", "port", "picc"]))]
    if rnd.random() < 0.35:
        reason = rnd.choice(SECOND_LINE_REASONS)
        sites.append(site("S2", "peripheral_iv", reason=reason, location="right forearm"))
        b.lines.append("S2")
    at = rnd.randint(-60, 60)
    for piece in rnd.sample(PIECES, rnd.randint(1, 3)):
        at = piece(b, at) + rnd.choice([0, 5, 15, 40])
    if rnd.random() < 0.1 and b.adms:  # a hydration running under everything
        first = min(int(_minutes_of(a["start"])) for a in b.adms)
        b.add(SALINE, "hydration", start=first - 30, minutes=rnd.choice([60, 240]),
              site="S1", purpose="hydration")  # fmt: skip
    office = rnd.random() < 0.2
    if office and b.adms and rnd.random() < 0.7:
        rnd.choice(b.adms)["primary"] = True
    encounter: dict[str, Any] = {"id": f"GEN-{n}"}
    if office:
        encounter["setting"] = "office"
    if rnd.random() < 0.15:
        encounter["sequence_of_day"] = 2
    policy = {k: rnd.choice(v) for k, v in POLICIES.items() if rnd.random() < 0.5}
    return record(*b.adms, sites=sites, policy=policy or None, **encounter)


def _minutes_of(iso: str) -> float:
    return (datetime.fromisoformat(iso) - BASE).total_seconds() / 60


def generated_records(count: int, seed: int = 13) -> Iterator[dict[str, Any]]:
    """`count` records from one seed: the same seed gives the same records."""
    rnd = random.Random(seed)
    for n in range(count):
        yield generated_record(rnd, n)
