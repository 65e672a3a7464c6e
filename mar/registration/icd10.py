"""The ICD-10-CM subset shipped for infusion indications (mar/data/icd10cm_infusion.csv).

A small list, not the whole code set: the diagnoses an infusion center orders for (cancers,
anemias, inflammatory and autoimmune diseases, infections, dehydration, electrolytes). A code not
in the list is still accepted when it is a well-formed ICD-10-CM code; it just has no words.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "icd10cm_infusion.csv"
# A letter (not U), a digit, a digit or A/B; then optionally a dot and 1-4 characters.
CODE_RE = re.compile(r"^[A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?$")


@dataclass(frozen=True)
class Diagnosis:
    code: str
    description: str

    @property
    def label(self) -> str:
        return f"{self.code} {self.description}"


@cache
def diagnoses() -> tuple[Diagnosis, ...]:
    with DATA.open(newline="", encoding="utf-8") as handle:
        return tuple(Diagnosis(row["code"], row["description"]) for row in csv.DictReader(handle))


def normalise_code(text: str) -> str:
    """'c50911' or ' C50.911 ' -> 'C50.911' (the dot goes after the third character)."""
    code = text.strip().upper().replace(" ", "")
    if "." not in code and len(code) > 3:
        code = code[:3] + "." + code[3:]
    return code


def icd10_lookup(code: str) -> Diagnosis | None:
    wanted = normalise_code(code)
    return next((d for d in diagnoses() if d.code == wanted), None)


def icd10_search(query: str, *, limit: int = 20) -> list[Diagnosis]:
    """By code prefix ('C50', 'c50.9') or by words, all of which must appear ('breast left')."""
    query = query.strip()
    if not query:
        return []
    code = normalise_code(query).rstrip(".")
    by_code = [
        d for d in diagnoses() if d.code.startswith(code) or d.code.startswith(query.upper())
    ]
    if by_code:
        return by_code[:limit]
    words = query.casefold().split()
    return [d for d in diagnoses() if all(w in d.description.casefold() for w in words)][:limit]


def icd10_resolve(text: str) -> Diagnosis:
    """What an order's indication field holds ('C50.911', 'C50.911 Malignant ...', or words that
    match one diagnosis only) as a diagnosis; ValueError with the reason otherwise."""
    text = text.strip()
    if not text:
        raise ValueError("Enter the indication as an ICD-10-CM code, or search by words.")
    first = text.split()[0]
    if CODE_RE.match(normalise_code(first)):
        found = icd10_lookup(first)
        return found or Diagnosis(normalise_code(first), "")
    matches = icd10_search(text, limit=6)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ValueError(f"No ICD-10-CM code matches “{text}”: type the code (C50.911).")
    shown = "; ".join(d.label for d in matches[:5])
    raise ValueError(f"“{text}” matches several codes, choose one: {shown}")
