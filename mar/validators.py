"""Identifiers a claim carries, checked where they enter: NPI, NDC; and the reasons of the
high-impact actions, in words (`validate_reason_in_words`).

Plain functions (each returns the normalised value or raises ValueError with a sentence a person
can act on), and Django validators built on them for the model fields.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# The NPI check digit is the Luhn digit of the 9 leading digits prefixed by 80840 (the health
# industry prefix of ISO/IEC 7812), as CMS's "NPI check digit" paper describes.
NPI_PREFIX = "80840"


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit that makes `digits` + digit a valid Luhn number."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:  # doubled: the rightmost of the payload, then every other one
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def npi_normalise(value: str) -> str:
    """A 10-digit NPI whose last digit is the Luhn check digit over 80840 + its first 9."""
    npi = value.strip()
    if not re.fullmatch(r"\d{10}", npi):
        raise ValueError("An NPI is 10 digits")
    if npi[0] not in "12":
        raise ValueError("An NPI starts with 1 or 2")
    if luhn_check_digit(NPI_PREFIX + npi[:9]) != int(npi[9]):
        raise ValueError("The NPI's check digit is wrong (a typing error?)")
    return npi


# 11-digit NDC (5-4-2), the form claims use (837I LIN/N4, the HIPAA NDC). A 10-digit labeled NDC
# in 4-4-2, 5-3-2 or 5-4-1 is padded with a zero in the short segment.
_NDC_10 = {
    (4, 4, 2): lambda a, b, c: "0" + a + b + c,
    (5, 3, 2): lambda a, b, c: a + "0" + b + c,
    (5, 4, 1): lambda a, b, c: a + b + "0" + c,
}


def ndc_normalise(value: str) -> str:
    """'0409-4888-02' or '00409488802' -> '00409488802'; anything else raises ValueError."""
    text = value.strip()
    if re.fullmatch(r"\d{11}", text):
        return text
    parts = text.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        shape = tuple(len(p) for p in parts)
        if shape == (5, 4, 2):
            return "".join(parts)
        if shape in _NDC_10:
            return _NDC_10[shape](*parts)  # type: ignore[index]
    raise ValueError(
        "An NDC is 11 digits (5-4-2), or a labeled 10-digit NDC with its dashes "
        "(4-4-2, 5-3-2 or 5-4-1)"
    )


def ndc_display(ndc: str) -> str:
    """'00409488802' -> '00409-4888-02'."""
    return f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}" if len(ndc) == 11 else ndc


def validate_npi(value: str) -> None:
    if value == "":
        return
    try:
        normalised = npi_normalise(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="npi") from exc
    if normalised != value:
        raise ValidationError("An NPI is 10 digits, no spaces", code="npi")


def validate_ndc11(value: str) -> None:
    if not re.fullmatch(r"\d{11}", value):
        raise ValidationError("An NDC is stored as 11 digits (5-4-2 without dashes)", code="ndc")


# Characters no name, unit or note holds: the C0 controls but tab, line feed and carriage
# return (FHIR's string type forbids them too), and DEL. PostgreSQL refuses NUL outright.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_problems(model: type, values: dict[str, str]) -> dict[str, list[str]]:
    """What a column of `model` cannot take, said per field: a text longer than the column
    (PostgreSQL would refuse the whole save with a DataError naming no field) or one holding a
    control character. For the services that take text from elsewhere than a form (HL7, FHIR),
    whose forms' own limits never ran."""
    errors: dict[str, list[str]] = {}
    for field, value in values.items():
        limit = model._meta.get_field(field).max_length  # type: ignore[attr-defined]
        if limit is not None and len(value) > limit:
            errors[field] = [f"At most {limit} characters (this one has {len(value)})."]
        elif CONTROL.search(value):
            errors[field] = ["It holds a control character (not text): remove it."]
    return errors


# --- reasons ------------------------------------------------------------------------------------
# The reason of a high-impact action (a class change that re-bills every signed visit using the
# drug, an order's class override, a coder's correction or question, a safety override, a change
# to a signed record) is kept in the audit trail and read by auditors, coders and the nurse: "x",
# "." or "??" says nothing (QA: a one-character reason was accepted). A reason holds a few
# letters at least (digits counting with them, a letter among them: `in_words`); what it says
# is the person's own. Empty is not this validator's business:
# the form or the service that requires a reason says so in its own words (Django runs no
# validator on an empty value).
REASON_MIN_LETTERS = 3
REASON_IN_WORDS = (
    "Say why in words (a few letters at least): the reason is kept in the audit trail."
)
QUESTION_IN_WORDS = (
    "Write the question in words (a few letters at least): it is kept in the audit trail."
)


def in_words(text: str) -> bool:
    """At least REASON_MIN_LETTERS letters or digits (of any script), a letter among them: not a
    key struck ("x", "ok"), punctuation ("??") or a number alone ("1234"). Digits count with
    the letters, as clinical and coding shorthand says why in them: "BP 80/50" (an order held),
    "C61" (the indication an order's class override rests on)."""
    kept = [char for char in text if char.isalnum()]
    return len(kept) >= REASON_MIN_LETTERS and any(char.isalpha() for char in kept)


@deconstructible
class InWords:
    """A form field's validator: the text is `in_words`, else `message`, beside the field."""

    def __init__(self, message: str = REASON_IN_WORDS) -> None:
        self.message = message

    def __call__(self, value: str) -> None:
        if not in_words(value):
            raise ValidationError(self.message, code="in_words")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InWords) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


# The one validator every high-impact reason field carries (the coder's question: its own words).
validate_reason_in_words = InWords()
validate_question_in_words = InWords(QUESTION_IN_WORDS)
