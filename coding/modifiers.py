"""The CPT/HCPCS modifiers a coder may put on a line of these charges, and the rules of a line's
modifiers (coding/README.md "Modifiers", with the CMS sources).

The facility bills OPPS outpatient hospital claims (UB-04 / 837I) for an infusion center:
drug administration lines (963xx, 964xx, 965xx) and drug lines (J codes). A modifier is two
letters or digits; of the well-formed ones, only those below are taken. The list is kept
conservative: every modifier the engine can put on a line (the distinct-service modifiers of
`coding/engine/modifiers.py` and `coding/engine/ptp.py`, the payer policy's choices in
`coding/engine/record.py`, the waste modifiers of `coding/engine/drug_units.py`) is in it
(tests/coding/test_modifier_rules.py runs the engine over its scenarios and holds it so), plus
the ones a coder adds on these lines. A modifier a new line needs is added here, with its
meaning, and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from coding.engine.modifiers import DISTINCT

# Each modifier with its meaning, in words a coder reads beside the field.
MODIFIERS: dict[str, str] = {
    # CPT (Level I) modifiers used on hospital outpatient lines
    "25": "significant, separately identifiable E/M service on the day of a procedure",
    "27": "multiple outpatient hospital E/M encounters on the same date",
    "59": "distinct procedural service (NCCI)",
    "76": "repeat procedure or service by the same physician",
    "77": "repeat procedure or service by another physician",
    "91": "repeat clinical diagnostic laboratory test",
    # HCPCS Level II: the distinct-service subsets of 59 (NCCI, -X{EPSU})
    "XE": "separate encounter: distinct because it occurred during a separate encounter",
    "XP": "separate practitioner: distinct because another practitioner performed it",
    "XS": "separate structure: distinct because it was performed on a separate organ/structure",
    "XU": "unusual non-overlapping service: does not overlap the main service's usual parts",
    # HCPCS Level II: drugs from single-dose containers, 340B
    "JW": "drug amount discarded, not administered to any patient",
    "JZ": "zero drug amount discarded, none left unadministered",
    "JG": "drug or biological acquired with a 340B discount (payment adjusted)",
    "TB": "drug or biological acquired with a 340B discount (reported for tracking)",
    # HCPCS Level II: liability and coverage
    "GA": "waiver of liability statement (ABN) issued as required by payer policy",
    "GY": "item or service statutorily excluded, or not a Medicare benefit",
    "GZ": "item or service expected to be denied as not reasonable and necessary, no ABN",
    "KX": "requirements of the medical policy met",
    # HCPCS Level II: clinical research, off-campus departments
    "Q0": "investigational clinical service in an approved clinical research study",
    "Q1": "routine clinical service in an approved clinical research study",
    "PO": "service in an excepted off-campus provider-based department",
    "PN": "non-excepted service in an off-campus provider-based department",
}

MODIFIER_RE = re.compile(r"^[0-9A-Z]{2}$")
# A line of an institutional claim carries at most four: 837I SV202-3 to SV202-6, UB-04 FL 44
# (HCPCS code and modifiers); CMS's outpatient claim files hold a first to a fourth modifier.
MAX_MODIFIERS = 4


def modifiers_typed(value: str) -> list[str]:
    """Modifiers as typed ("59 jw", "59,JW"): split on spaces and commas, in capitals."""
    return [part.upper() for part in value.replace(",", " ").split() if part]


def modifiers_known() -> str:
    """The modifiers taken, said in a sentence's words: "25, 27, 59, ... XU"."""
    return ", ".join(sorted(MODIFIERS))


# The distinct-service modifiers: 59 and its more specific subsets X{EPSU} (CMS MLN1783722
# "Proper Use of Modifiers 59, XE, XP, XS and XU", from NCCI Policy Manual ch. 1 §E; CR8863),
# as the engine holds them (one distinct modifier a line: coding/engine/modifiers.py).
DISTINCT_59 = "59"
X_MODIFIERS = tuple(m for m in DISTINCT if m != DISTINCT_59)
# JW and JZ are drug-line modifiers: they go on the drug's HCPCS Level II line (J, Q, ... codes),
# never on a CPT (Level I) code, which begins with a digit (96365).
DRUG_LINE_MODIFIERS = ("JW", "JZ")


def is_cpt_code(code: str) -> bool:
    """A CPT (Level I) code begins with a digit (96365); a HCPCS Level II code with a letter
    (J9267, Q0138, G0498)."""
    return code.strip()[:1].isdigit()


def modifiers_refusal(modifiers: Iterable[str], code: str | None = None) -> str | None:
    """Why these modifiers cannot go on one line, or None: each two letters or digits, one the
    facility uses (`MODIFIERS`, listed in the words), none twice, at most `MAX_MODIFIERS`, not
    JW with JZ, not 59 with an X{EPSU} modifier nor two X{EPSU} modifiers, and (the line's
    `code` given) no JW/JZ on a CPT code. Said as a sentence, ending with its full stop."""
    mods = [m.strip().upper() for m in modifiers if m.strip()]
    malformed = [m for m in mods if not MODIFIER_RE.match(m)]
    if malformed:
        said = " ".join(malformed)
        verb = "is not a modifier" if len(malformed) == 1 else "are not modifiers"
        return (
            f"{said} {verb}: a modifier is two letters or digits, "
            "several separated by spaces (59 JW)."
        )
    unknown = [m for m in dict.fromkeys(mods) if m not in MODIFIERS]
    if unknown:
        said = " ".join(unknown)
        verb = "is not a modifier" if len(unknown) == 1 else "are not modifiers"
        return f"{said} {verb} of these lines: the ones taken are {modifiers_known()}."
    twice = sorted({m for m in mods if mods.count(m) > 1})
    if twice:
        return f"{' '.join(twice)} given twice: once is enough."
    if len(mods) > MAX_MODIFIERS:
        return f"{len(mods)} modifiers: a claim line carries at most {MAX_MODIFIERS}."
    if "JW" in mods and "JZ" in mods:
        # CMS JW/JZ policy (Pub. 100-04 ch. 17 §40): JW is the amount discarded, on a line of its
        # own; JZ says nothing was discarded. The edit EDIT-JW-JZ-BOTH flags such a line made
        # before this refusal (coding/engine/edits.py).
        return (
            "JW and JZ on one line: JW is a line of its own for the amount discarded, JZ says "
            "nothing was discarded; keep one."
        )
    xs = [m for m in mods if m in X_MODIFIERS]
    if DISTINCT_59 in mods and xs:
        # CMS (MLN1783722, NCCI Policy Manual ch. 1 §E): the X{EPSU} modifiers are more specific
        # kinds of 59; CMS still recognizes 59, but the two are not used together on a line.
        return (
            f"59 and {xs[0]} on one line: {xs[0]} is a more specific kind of 59 and CMS does "
            "not take them together (NCCI Policy Manual ch. 1); keep the one that says why the "
            "service is distinct."
        )
    if len(xs) > 1:
        return (
            f"{' and '.join(xs)} on one line: a line takes one X modifier (XE, XP, XS or XU), "
            "the one that says why the service is distinct (NCCI Policy Manual ch. 1); keep one."
        )
    drug_mods = [m for m in mods if m in DRUG_LINE_MODIFIERS]
    if code and drug_mods and is_cpt_code(code):
        said = code.strip().upper()
        return (
            f"{' and '.join(drug_mods)} on {said}: JW and JZ go on the drug's HCPCS line "
            f"(J9267), not on {said}."
        )
    return None


def modifiers_checked(modifiers: Iterable[str], code: str | None = None) -> list[str]:
    """The modifiers in capitals, or a ValidationError beside the modifiers field."""
    mods = [m.strip().upper() for m in modifiers if m.strip()]
    refusal = modifiers_refusal(mods, code)
    if refusal is not None:
        raise ValidationError({"modifiers": refusal})
    return mods
