"""The ICD-10-CM code list an order's indication is checked against.

Shipped: a sample for infusion indications (mar/data/icd10cm_infusion.csv: cancers, anemias,
inflammatory and autoimmune diseases, infections, dehydration, electrolytes), not the whole code
set. A site loads the full list of billable codes with `ICD10CM_FILE` (CMS's
`icd10cm-codes-YYYY.txt`, or a CSV `code,description`) and `ICD10CM_FY` (its fiscal year).

Every code in a list is billable (CMS's codes file lists only those). A code with codes of the
list under it (C50.9: C50.911, C50.912, C50.919) is a category, a header, never billable: refused
when typed at order entry, whichever list is loaded. A well-formed code not in the list is
refused when the full list is loaded; with the sample it may well be a real code, so it is
accepted, the person told, and the coder sees it on the review (coding/claim.py CLAIM-DX).
"""

from __future__ import annotations

import bisect
import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "icd10cm_infusion.csv"
# A letter (not U), a digit, a digit or A/B; then optionally a dot and 1-4 characters.
CODE_RE = re.compile(r"^[A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?$")
SHOWN_UNDER = 4  # the codes under a category a refusal names


@dataclass(frozen=True)
class Diagnosis:
    code: str
    description: str

    @property
    def label(self) -> str:
        return f"{self.code} {self.description}"


@dataclass(frozen=True)
class CodeList:
    """The list loaded: its diagnoses as the file gives them, and whether it is the whole code
    set; `by_code` and `codes` (sorted) index it."""

    diagnoses: tuple[Diagnosis, ...]
    complete: bool
    fiscal_year: str
    by_code: dict[str, Diagnosis] = field(default_factory=dict)
    codes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        if self.complete:
            return f"FY{self.fiscal_year}" if self.fiscal_year else "the list loaded"
        return f"a sample of {len(self.diagnoses)} codes, not the full code set"


def _read(path: Path) -> list[Diagnosis]:
    with path.open(newline="", encoding="utf-8") as handle:
        first = handle.readline()
        handle.seek(0)
        if first.lower().startswith("code,"):
            rows = [(row["code"], row["description"]) for row in csv.DictReader(handle)]
        else:  # CMS's codes file: "C50911  Malignant neoplasm of ..." (no dot)
            rows = [
                (parts[0], parts[1].strip() if len(parts) > 1 else "")
                for parts in (line.split(None, 1) for line in handle)
                if parts
            ]
    return [Diagnosis(normalise_code(code), description) for code, description in rows]


@cache
def code_list() -> CodeList:
    """`ICD10CM_FILE` when set (the full list), else the shipped sample. Cached per process
    (`code_list.cache_clear()` after changing the setting)."""
    path = getattr(settings, "ICD10CM_FILE", "")
    found = _read(Path(path)) if path else _read(SAMPLE)
    by_code = {d.code: d for d in found}
    return CodeList(
        tuple(found),
        complete=bool(path),
        fiscal_year=str(getattr(settings, "ICD10CM_FY", "")),
        by_code=by_code,
        codes=tuple(sorted(by_code)),
    )


def diagnoses() -> tuple[Diagnosis, ...]:
    return code_list().diagnoses


def normalise_code(text: str) -> str:
    """'c50911' or ' C50.911 ' -> 'C50.911' (the dot goes after the third character)."""
    code = text.strip().upper().replace(" ", "")
    if "." not in code and len(code) > 3:
        code = code[:3] + "." + code[3:]
    return code


def icd10_lookup(code: str) -> Diagnosis | None:
    return code_list().by_code.get(normalise_code(code))


def icd10_under(code: str) -> list[Diagnosis]:
    """The codes of the list under `code` (C50.9: C50.911, C50.912, C50.919), in code order."""
    wanted = normalise_code(code).rstrip(".")
    listed = code_list()
    if not wanted:
        return []
    # C50 is the head of C50.911: compare with the dot of a 3-character code added.
    stem = wanted + "." if len(wanted) == 3 else wanted
    under = []
    for code_listed in listed.codes[bisect.bisect_left(listed.codes, stem) :]:
        if not code_listed.startswith(stem):
            break
        if code_listed != wanted:
            under.append(listed.by_code[code_listed])
    return under


@dataclass(frozen=True)
class CodeProblem:
    """Why a well-formed code is not a billable code of the list loaded."""

    code: str
    under: tuple[Diagnosis, ...]  # a category's codes; empty: the code is not in the list
    loaded: CodeList

    @property
    def category(self) -> bool:
        return bool(self.under)

    @property
    def refused(self) -> bool:
        """A category always; a code not in the list only when the list is the full one."""
        return self.category or self.loaded.complete

    def choices(self) -> str:
        shown = ", ".join(d.code for d in self.under[:SHOWN_UNDER])
        more = len(self.under) - SHOWN_UNDER
        return shown + (f" (and {more} more: search {self.code})" if more > 0 else "")

    @property
    def message(self) -> str:
        """What the person typing it is told, beside the field."""
        if self.category:
            return (
                f"{self.code} is a category, not a billable code: choose one of {self.choices()}."
            )
        if self.loaded.complete:
            return (
                f"{self.code} is not in the ICD-10-CM list loaded ({self.loaded.name}): check the "
                "code, or search by words."
            )
        return (
            f"{self.code} is not in the ICD-10-CM list loaded here ({self.loaded.name}): check it "
            "is a billable code; the coder sees it on the review."
        )

    @property
    def finding(self) -> str:
        """What the coder is told on the review (the claim carries the code as it is)."""
        said = f"indication {self.code} is not a billable ICD-10-CM code in the list loaded"
        if self.category:
            return (
                f"{said}: a category, its codes are {self.choices()}; the claim carries it as "
                "its lines' diagnosis: ask for the specific code"
            )
        return (
            f"{said} ({self.loaded.name}); the claim carries it as its lines' diagnosis: check it"
        )


def icd10_billable_problem(code: str) -> CodeProblem | None:
    """None when `code` is a code of the list loaded, or not a well-formed code at all (that is
    the caller's to say); else why it is not billable."""
    wanted = normalise_code(code)
    if not CODE_RE.match(wanted) or icd10_lookup(wanted) is not None:
        return None
    return CodeProblem(wanted, tuple(icd10_under(wanted)), code_list())


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


def icd10_resolve(text: str, *, words_match: bool = True) -> Diagnosis:
    """What an order's indication field holds ('C50.911', 'C50.911 Malignant ...' as the list
    offers it, or words that match one diagnosis only) as a diagnosis; ValueError with the
    reason otherwise. `words_match=False` (typed by a person): words are never taken for a
    code, even when one diagnosis matches them; the refusal names the match to choose."""
    text = text.strip()
    if not text:
        raise ValueError("Enter the indication as an ICD-10-CM code, or search by words.")
    first = text.split()[0]
    if CODE_RE.match(normalise_code(first)):
        found = icd10_lookup(first)
        return found or Diagnosis(normalise_code(first), "")
    matches = icd10_search(text, limit=6)
    if len(matches) == 1 and words_match:
        return matches[0]
    if len(matches) == 1:
        raise ValueError(f"“{text}” matches {matches[0].label}: choose it or type the code.")
    if not matches:
        raise ValueError(f"No ICD-10-CM code matches “{text}”: type the code (C50.911).")
    shown = "; ".join(d.label for d in matches[:5])
    raise ValueError(f"“{text}” matches several codes, choose one: {shown}")
