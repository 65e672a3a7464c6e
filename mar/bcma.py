"""Barcode medication administration: reading what a scanner or camera sends. Plain Python.

A hand scanner is a keyboard: it types the barcode's text and Enter. What can arrive:

- a patient's wristband: the MRN as printed (matched against `Patient.mrn` by the caller);
- a linear drug barcode, UPC-A: "3" + the 10-digit NDC + a check digit (12 digits), as printed
  on US drug packages (FDA 21 CFR 207.35); a GTIN-14 of 14 digits ("003" + NDC10 + check);
- a GS1 DataMatrix (the DSCSA 2D barcode): application identifiers 01 (GTIN-14, fixed 14
  digits), 17 (expiry YYMMDD, fixed 6), 10 (lot, variable, ended by the group separator
  ASCII 29 or the end of the data) and 21 (serial, variable). Scanners send it raw, with or
  without a symbology identifier ("]d2"), or as the human-readable text "(01)...(17)...(10)...";
- an NDC typed or printed with hyphens: 4-4-2, 5-3-2, 5-4-1 (10 digits) or 5-4-2 (11 digits).

The 10-digit NDC inside a barcode has no hyphens, so which of its three forms it is cannot be
read from the digits: `ndc11_candidates` gives the (up to three) 11-digit NDCs it may be, and
the formulary (which keeps each drug's 11-digit NDCs) decides. The 11-digit form pads the short
segment with a leading zero: 4-4-2 -> 0+4-4-2, 5-3-2 -> 5-0+3-2, 5-4-1 -> 5-4-0+1 (the HIPAA
billing format, 5-4-2).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

GS = "\x1d"  # ASCII group separator: ends a variable-length GS1 element
# What keyboard-wedge scanners are often set to send for GS (it has no key), accepted as GS.
_GS_STANDINS = ("<GS>", "{GS}", "^]", "␝")
_SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9]")  # "]d2" DataMatrix, "]C1" GS1-128, "]Q3" QR


class BarcodeError(ValueError):
    """The text is not a barcode this reader understands; the message says why."""


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for `body` (the digits before it): weights 3,1,3,1... from
    the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_valid(code: str) -> bool:
    return code.isdigit() and len(code) >= 2 and gtin_check_digit(code[:-1]) == int(code[-1])


_NDC_HYPHENATED = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


def ndc_to_11(ndc: str) -> str:
    """An NDC with hyphens (4-4-2, 5-3-2, 5-4-1, or already 5-4-2) or 11 plain digits, as the
    11-digit NDC (digits only). A plain 10-digit NDC is ambiguous: see `ndc11_candidates`."""
    text = ndc.strip()
    if text.isdigit() and len(text) == 11:
        return text
    match = _NDC_HYPHENATED.match(text)
    if match is None:
        raise BarcodeError(f"{ndc!r} is not an NDC (4-4-2, 5-3-2, 5-4-1 or 5-4-2)")
    labeler, product, package = match.groups()
    shape = (len(labeler), len(product), len(package))
    if shape == (4, 4, 2):
        return f"0{labeler}{product}{package}"
    if shape == (5, 3, 2):
        return f"{labeler}0{product}{package}"
    if shape == (5, 4, 1):
        return f"{labeler}{product}0{package}"
    if shape == (5, 4, 2):
        return f"{labeler}{product}{package}"
    raise BarcodeError(f"{ndc!r} is not an NDC (4-4-2, 5-3-2, 5-4-1 or 5-4-2)")


def ndc11_candidates(ndc10: str) -> tuple[str, ...]:
    """The 11-digit NDCs a plain 10-digit NDC may be, one per form (4-4-2, 5-3-2, 5-4-1).

    A form is left out when its padded segment would have to start with the zero that the
    padding adds on the other side (none is left out: the digits allow all three)."""
    if not (ndc10.isdigit() and len(ndc10) == 10):
        raise BarcodeError(f"{ndc10!r} is not a 10-digit NDC")
    forms = (
        f"{ndc10[:4]}-{ndc10[4:8]}-{ndc10[8:]}",
        f"{ndc10[:5]}-{ndc10[5:8]}-{ndc10[8:]}",
        f"{ndc10[:5]}-{ndc10[5:9]}-{ndc10[9:]}",
    )
    return tuple(dict.fromkeys(ndc_to_11(form) for form in forms))


def gtin_to_ndc10(gtin: str) -> str:
    """The NDC inside a GTIN-12 (UPC-A "3"+NDC10+check) or GTIN-14 (indicator, "03",
    NDC10, check). Raises BarcodeError for a GTIN that is not an NDC or whose check digit is
    wrong."""
    if not gtin_valid(gtin):
        raise BarcodeError(f"{gtin} is not a valid GTIN (check digit)")
    if len(gtin) == 12 and gtin[0] == "3":
        return gtin[1:11]
    if len(gtin) == 14 and gtin[1:3] == "03":
        return gtin[3:13]
    if len(gtin) == 13 and gtin[:2] == "03":
        return gtin[2:12]
    raise BarcodeError(f"{gtin} is not a drug's GTIN (no NDC in it: it does not start 03)")


@dataclass(frozen=True)
class DrugScan:
    """What a drug barcode says: the NDC (the 10 digits, and the 11-digit NDCs they may be),
    and from a GS1 DataMatrix the GTIN, lot, expiry and serial."""

    ndc10: str
    ndc11: tuple[str, ...]
    gtin: str = ""
    lot: str = ""
    expiry: date | None = None
    serial: str = ""
    symbology: str = ""  # "gs1", "upc", "gtin", "ndc"

    def expired(self, today: date) -> bool:
        """A lot is usable through its expiry date."""
        return self.expiry is not None and self.expiry < today


def gs1_expiry(yymmdd: str, *, today: date | None = None) -> date:
    """AI 17: YYMMDD, DD 00 = the last day of the month. The century follows GS1's rule (General
    Specifications 7.12): a year more than 50 years ahead of `today` is of the last century,
    one 50 or more years behind is of the next."""
    if not (yymmdd.isdigit() and len(yymmdd) == 6):
        raise BarcodeError(f"expiry {yymmdd!r} is not YYMMDD")
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    this_year = (today or date.today()).year
    century = this_year // 100 * 100
    difference = yy - this_year % 100
    if difference >= 51:
        century -= 100
    elif difference <= -50:
        century += 100
    year = century + yy
    if not 1 <= mm <= 12:
        raise BarcodeError(f"expiry {yymmdd!r}: month {mm} does not exist")
    if dd == 0:
        dd = calendar.monthrange(year, mm)[1]
    try:
        return date(year, mm, dd)
    except ValueError as exc:
        raise BarcodeError(f"expiry {yymmdd!r} is not a date") from exc


# AI: (fixed length or None for variable, max length)
_AIS = {"01": (14, 14), "17": (6, 6), "10": (None, 20), "21": (None, 20), "11": (6, 6)}
_PAREN_AI = re.compile(r"\((\d{2,4})\)")


def parse_gs1(data: str, *, today: date | None = None) -> dict[str, str]:
    """The application identifiers of a GS1 element string (raw with GS, or "(01)..." text)."""
    text = data
    for standin in _GS_STANDINS:
        text = text.replace(standin, GS)
    text = _SYMBOLOGY_ID.sub("", text).lstrip(GS)
    if text.startswith("("):
        parts = _PAREN_AI.split(text)[1:]
        return {ai: value.strip() for ai, value in zip(parts[::2], parts[1::2], strict=True)}
    found: dict[str, str] = {}
    i = 0
    while i < len(text):
        if text[i] == GS:
            i += 1
            continue
        ai = text[i : i + 2]
        if ai not in _AIS:
            raise BarcodeError(f"GS1 application identifier {ai!r} is not one this reader knows")
        fixed, longest = _AIS[ai]
        i += 2
        if fixed is not None:
            value = text[i : i + fixed]
            if len(value) != fixed:
                raise BarcodeError(f"GS1 ({ai}) is cut short")
            i += fixed
        else:
            end = text.find(GS, i)
            end = len(text) if end < 0 else end
            value = text[i:end]
            if len(value) > longest:
                raise BarcodeError(f"GS1 ({ai}) is longer than {longest} characters")
            i = end
        found[ai] = value
    return found


def _looks_gs1(text: str) -> bool:
    stripped = _SYMBOLOGY_ID.sub("", text).lstrip(GS)
    return stripped.startswith("(01)") or (
        stripped.startswith("01") and len(stripped) > 16 and stripped[2:16].isdigit()
    )


def parse_drug_barcode(raw: str, *, today: date | None = None) -> DrugScan:
    """A drug barcode (GS1 DataMatrix, UPC-A, GTIN-14, or a hyphenated NDC) as a DrugScan."""
    text = raw.strip("\r\n ")
    if not text:
        raise BarcodeError("nothing was scanned")
    if _looks_gs1(text) or GS in text or _SYMBOLOGY_ID.match(text):
        ais = parse_gs1(text, today=today)
        gtin = ais.get("01", "")
        if not gtin:
            raise BarcodeError("this GS1 barcode has no GTIN (01)")
        ndc10 = gtin_to_ndc10(gtin)
        expiry = gs1_expiry(ais["17"], today=today) if "17" in ais else None
        return DrugScan(
            ndc10=ndc10,
            ndc11=ndc11_candidates(ndc10),
            gtin=gtin,
            lot=ais.get("10", ""),
            expiry=expiry,
            serial=ais.get("21", ""),
            symbology="gs1",
        )
    if text.isdigit() and len(text) in (12, 13, 14):
        ndc10 = gtin_to_ndc10(text)
        return DrugScan(
            ndc10=ndc10,
            ndc11=ndc11_candidates(ndc10),
            gtin=text.zfill(14),
            symbology="upc" if len(text) == 12 else "gtin",
        )
    if "-" in text or (text.isdigit() and len(text) == 11):
        ndc11 = ndc_to_11(text)
        return DrugScan(ndc10="", ndc11=(ndc11,), symbology="ndc")
    if text.isdigit() and len(text) == 10:
        return DrugScan(ndc10=text, ndc11=ndc11_candidates(text), symbology="ndc")
    raise BarcodeError(f"{text[:40]!r} is not a drug barcode (UPC-A, GS1 DataMatrix or NDC)")


def wristband_mrn(raw: str) -> str:
    """The MRN on a wristband: the text scanned, less a "MRN:" prefix some bands print."""
    text = raw.strip()
    if text.upper().startswith("MRN:"):
        text = text[4:].strip()
    return text
