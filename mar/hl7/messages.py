"""Reading an inbound HL7 v2 message (hl7apy) and building its ACK.

hl7apy parses the message and checks its structure and version; fields are then read as the
text of each field (`Segment.text(n)`) split on the message's own component separator, which
is all this interface needs and keeps the handlers readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

# The versions this interface reads (MSH-12). Messages of other versions are rejected (AR).
VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
ACK_APPLICATION = "INFUSION_MAR"


class Hl7Error(Exception):
    """A message that cannot be processed: AE (application error: fix the data, resend) or AR
    (rejected: the message itself is unacceptable), with where (segment, field) and the HL7
    error code (table 0357)."""

    def __init__(
        self,
        text: str,
        *,
        segment: str = "",
        field: int | None = None,
        code: str = "207",
        ack: str = "AE",
    ) -> None:
        super().__init__(text)
        self.text, self.segment, self.field, self.code, self.ack = text, segment, field, code, ack

    @property
    def location(self) -> str:
        if not self.segment:
            return ""
        return f"{self.segment}-{self.field}" if self.field else self.segment


# HL7 table 0357 codes used here.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
APPLICATION_ERROR = "207"


@dataclass
class Segment:
    """One segment's fields as text (field n is `text(n)`; MSH counts its separator as 1)."""

    name: str
    fields: list[str]
    component_separator: str

    def text(self, n: int) -> str:
        index = n - 1 if self.name == "MSH" else n
        return self.fields[index] if 0 <= index < len(self.fields) else ""

    def component(self, n: int, k: int = 1) -> str:
        parts = self.text(n).split("~")[0].split(self.component_separator)
        return parts[k - 1].strip() if len(parts) >= k else ""

    def components(self, n: int) -> list[str]:
        return [p.strip() for p in self.text(n).split("~")[0].split(self.component_separator)]


@dataclass
class Inbound:
    """A parsed message: its header values and its segments in order."""

    control_id: str
    sender: str
    message_type: str  # "ADT^A04"
    version: str
    segments: list[Segment]

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def one(self, name: str, *, required: bool = True) -> Segment | None:
        found = self.all(name)
        if not found and required:
            raise Hl7Error(
                f"The {name} segment is missing.", segment=name, code=SEGMENT_SEQUENCE_ERROR
            )
        return found[0] if found else None

    def need(self, name: str) -> Segment:
        segment = self.one(name)
        assert segment is not None
        return segment


def text_normalise(raw: bytes) -> str:
    """Bytes as received -> text with CR between segments (LF and CRLF tolerated)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\x00", "")  # PostgreSQL text holds no NUL; HL7 has no use for one
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return "\r".join(line for line in lines if line.strip())


def header_peek(text: str) -> tuple[str, str, str, str]:
    """(control id, sender, type, version) read straight from the MSH, for a message hl7apy
    cannot parse, so its ACK still names it."""
    if not text.startswith("MSH") or len(text) < 8:
        return "", "", "", ""
    separator = text[3]
    fields = text.split("\r", 1)[0].split(separator)

    def at(n: int) -> str:
        return fields[n - 1] if len(fields) >= n else ""

    component = at(2)[:1] or "^"
    return (
        at(10)[:199],
        f"{at(3).split(component)[0]}^{at(4).split(component)[0]}"[:200],
        "^".join(at(9).split(component)[:2])[:40],
        at(12).split(component)[0][:10],
    )


def message_parse(text: str) -> Inbound:
    """hl7apy's parse (structure, version) then the segments as text; Hl7Error (AR) when it is
    not an HL7 message this interface can read."""
    if not text.startswith("MSH"):
        raise Hl7Error(
            "Not an HL7 message: it does not start with an MSH segment.",
            segment="MSH",
            code=SEGMENT_SEQUENCE_ERROR,
            ack="AR",
        )
    control_id, sender, message_type, version = header_peek(text)
    if not control_id:
        raise Hl7Error(
            "MSH-10 (message control id) is empty.",
            segment="MSH",
            field=10,
            code=REQUIRED_FIELD_MISSING,
            ack="AR",
        )
    if version not in VERSIONS:
        raise Hl7Error(
            f"HL7 version {version or '(none)'} is not accepted; send {', '.join(VERSIONS)}.",
            segment="MSH",
            field=12,
            code=UNSUPPORTED_VERSION,
            ack="AR",
        )
    try:
        message = parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)
    except HL7apyException as exc:
        raise Hl7Error(
            f"The message cannot be parsed: {exc}", segment="MSH", code=DATA_TYPE_ERROR, ack="AR"
        ) from None
    component = text[4] if len(text) > 4 else "^"
    separator = text[3]
    segments = []
    for child in message.children:
        er7 = child.to_er7()
        name = child.name
        fields = er7.split(separator)
        if name == "MSH":  # MSH-1 is the separator itself: field n is at index n - 1
            fields = [separator, *fields[1:]]
        segments.append(Segment(name=name, fields=fields, component_separator=component))
    return Inbound(
        control_id=control_id,
        sender=sender,
        message_type=message_type,
        version=version,
        segments=segments,
    )


def hl7_time(value: str, *, zone: ZoneInfo, segment: str, field: int) -> datetime | None:
    """An HL7 TS ('202603020800', with seconds or an offset) as an aware datetime; blank: None.
    Without an offset the time is the hospital's wall clock (`zone`)."""
    value = value.strip()
    if not value:
        return None
    digits, offset = value, ""
    for sign in "+-":
        if sign in value[8:]:
            at = value.index(sign, 8)
            digits, offset = value[:at], value[at:]
    digits = digits.split(".")[0]
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 10: "%Y%m%d%H", 8: "%Y%m%d"}
    try:
        parsed = datetime.strptime(digits, formats[len(digits)])
        if offset:
            return datetime.strptime(digits + offset, formats[len(digits)] + "%z")
    except (KeyError, ValueError):
        raise Hl7Error(
            f"{segment}-{field}: {value!r} is not an HL7 time (YYYYMMDDHHMM[SS][+ZZZZ]).",
            segment=segment,
            field=field,
            code=DATA_TYPE_ERROR,
        ) from None
    return parsed.replace(tzinfo=zone)


def ack_build(
    *,
    inbound_id: str,
    sender: str,
    message_type: str,
    version: str,
    code: str,
    control_id: str,
    error: Hl7Error | None = None,
    at: datetime,
    note: str = "",
) -> str:
    """The ACK (hl7apy): MSA-1 AA/AE/AR and MSA-2 the message's control id; on an error, MSA-3
    its text and an ERR segment naming the segment and field (ERR-2 error location, ERR-3 the
    table 0357 code, ERR-4 severity; ERR-1 as well for versions before 2.5). `note`: what an
    accepted message did worth saying (an account number filled), in MSA-3 (its text message)."""
    ack_version = version if version in VERSIONS else "2.5"
    msg = Message("ACK", version=ack_version, validation_level=VALIDATION_LEVEL.TOLERANT)
    app, _, facility = sender.partition("^")
    msg.msh.msh_3 = ACK_APPLICATION
    msg.msh.msh_5 = _escape(app)
    msg.msh.msh_6 = _escape(facility)
    msg.msh.msh_7 = at.strftime("%Y%m%d%H%M%S")
    trigger = message_type.split("^")[1] if "^" in message_type else ""
    msg.msh.msh_9 = f"ACK^{_escape(trigger)}^ACK" if trigger else "ACK"
    msg.msh.msh_10 = control_id
    msg.msh.msh_11 = "P"
    msg.msh.msh_12 = ack_version
    msg.add_segment("MSA")
    msg.msa.msa_1 = code
    msg.msa.msa_2 = _escape(inbound_id)
    if note and error is None:
        msg.msa.msa_3 = _escape(note[:80])
    if error is not None:
        if ack_version < "2.5":
            msg.msa.msa_3 = _escape(error.text[:80])
        err = msg.add_segment("ERR")
        location = f"{error.segment}^1^{error.field or ''}" if error.segment else ""
        if ack_version < "2.5":
            err.err_1 = f"{location}^{error.code}&{_escape(error.text[:200])}"
        else:
            err.err_2 = location
            err.err_3 = f"{error.code}^{_escape(error.text[:200])}^HL70357"
            err.err_4 = "E"
            err.err_8 = _escape(error.text[:250])
    return msg.to_er7()


def _escape(text: str) -> str:
    """HL7 escape sequences for the delimiters inside a value."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("~", "\\R\\")
        .replace("&", "\\T\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )
