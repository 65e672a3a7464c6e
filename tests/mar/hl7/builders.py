"""HL7 v2 test messages, built field by field so a test says which field it sets."""

from __future__ import annotations

from datetime import datetime

from mar.hl7.messages import Hl7Error  # noqa: F401 - re-exported for tests

_count = 0


def segment(name: str, fields: dict[int, str]) -> str:
    size = max(fields, default=0)
    return "|".join([name, *(fields.get(n, "") for n in range(1, size + 1))])


def message(kind: str, *segments: str, control: str | None = None, version: str = "2.5.1") -> str:
    global _count
    _count += 1
    control = control or f"T{_count:06d}"
    structure = {
        "ADT^A04": "ADT_A01",
        "ADT^A08": "ADT_A01",
        "ADT^A03": "ADT_A03",
        "ADT^A11": "ADT_A09",
        "RDE^O11": "RDE_O11",
        "ORM^O01": "ORM_O01",
    }.get(kind, "")
    msh = (
        f"MSH|^~\\&|REG|GENERAL|INFUSION_MAR|INF|20260302080000||{kind}^{structure}|{control}|P|"
        f"{version}"
    )
    return "\r".join([msh, *segments])


def hl7_ts(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%z")


def pid(
    mrn: str = "H-1001", name: str = "Nguyen^Linh^T", born: str = "19640302", sex: str = "F"
) -> str:
    return segment(
        "PID", {1: "1", 3: f"{mrn}^^^GENERAL^MR" if mrn else "", 5: name, 7: born, 8: sex}
    )


def pv1(account: str = "V-9001", arrived: str = "202603020745", **extra: str) -> str:
    fields = {
        1: "1",
        2: "O",
        3: "Infusion Center^^7",
        7: "1234567893^Okafor^Amara^^^Dr.",
        19: account,
        44: arrived,
    }
    fields.update({int(k[1:]): v for k, v in extra.items()})
    return segment("PV1", fields)


def al1(allergen: str, reaction: str = "") -> str:
    return segment("AL1", {1: "1", 2: "DA", 3: f"^{allergen}", 5: reaction})


def orc(npi: str = "1234567893") -> str:
    return segment("ORC", {1: "NW", 2: "P100", 12: f"{npi}^Okafor^Amara^^^Dr."})


def rxe(
    code: str = "^oxaliplatin^",
    amount: str = "85",
    units: str = "mg/m2",
    indication: str = "C18.9",
    rate: str = "",
    rate_units: str = "",
) -> str:
    return segment("RXE", {2: code, 3: amount, 5: units, 23: rate, 24: rate_units, 27: indication})


def rxr(route: str = "IV") -> str:
    return segment("RXR", {1: route})


def tq1(minutes: str = "120") -> str:
    return segment("TQ1", {1: "1", 13: f"{minutes}^min"})


def register(mrn: str = "H-1001", account: str = "V-9001", **kw: str) -> str:
    return message("ADT^A04", segment("EVN", {1: "A04"}), pid(mrn), pv1(account), **kw)


def rde(mrn: str = "H-1001", account: str = "V-9001", *order: str, **kw: str) -> str:
    body = order or (orc(), rxe(), rxr(), tq1())
    return message("RDE^O11", pid(mrn), pv1(account), *body, **kw)
