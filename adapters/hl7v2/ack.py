"""HL7 v2 acknowledgments: original mode (AA/AE/AR) and enhanced mode (CA/CE/CR, then AA/AE/AR).

Built as text rather than with hl7apy: an hl7apy ACK costs ~2 ms, five times the parse of the
message it answers, and an ACK is four short segments. The tests read every ACK back with hl7apy,
per version, so its structure is checked by the library that knows the standard.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

DEFAULT_ENCODING = "^~\\&"
GENERIC_VERSION = "2.5"
# HL7 table 0357, message error condition codes
MESSAGE_ACCEPTED = "0"
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION_ID = "203"
UNKNOWN_KEY_IDENTIFIER = "204"
DUPLICATE_KEY_IDENTIFIER = "205"
APPLICATION_RECORD_LOCKED = "206"
APPLICATION_INTERNAL_ERROR = "207"
ERROR_TEXT = {
    "0": "Message accepted",
    "100": "Segment sequence error", "101": "Required field missing", "102": "Data type error",
    "200": "Unsupported message type",
    "201": "Unsupported event code", "202": "Unsupported processing id", "203": "Unsupported version id",
    "204": "Unknown key identifier", "205": "Duplicate key identifier", "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(frozen=True)
class Header:
    """What an acknowledgment needs from the inbound MSH, kept as received (components included)."""

    field_sep: str = "|"
    encoding: str = DEFAULT_ENCODING
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = "CLAIMBRIDGE"
    receiving_facility: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = GENERIC_VERSION
    message_type: str = ""
    trigger: str = ""
    accept_ack_type: str = ""  # MSH-15
    application_ack_type: str = ""  # MSH-16

    @classmethod
    def of(cls, text: str) -> Header:
        line = text.split("\r", 1)[0]
        sep = line[3] if len(line) > 3 else "|"
        fields = line.split(sep)
        get = (lambda n: fields[n - 1].strip() if len(fields) >= n else "")  # noqa: E731 (MSH-n)
        component = get(2)[0] if get(2) else "^"
        msh9 = get(9).split(component)
        return cls(sep, get(2) or DEFAULT_ENCODING, get(3), get(4), get(5), get(6), get(10), get(11) or "P",
                   get(12).split(component)[0], msh9[0].upper(),
                   (msh9[1] if len(msh9) > 1 else "").upper(), get(15).upper(), get(16).upper())

    @property
    def event(self) -> str:
        """The message type as the message log names it: "RQA^I08" ("?" when MSH-9 is empty)."""
        return f"{self.message_type}^{self.trigger}" if self.message_type else "?"

    @property
    def facility(self) -> str:
        """MSH-4's namespace id: the sender's facility as partners are registered."""
        return self.sending_facility.split(self.encoding[0])[0] if self.sending_facility else ""

    @property
    def enhanced(self) -> bool:
        return bool(self.accept_ack_type or self.application_ack_type)

    @property
    def version_tuple(self) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in self.version.split(".")[:3])
        except ValueError:
            return (2, 5)


@dataclass(frozen=True)
class Error:
    code: str  # table 0357
    segment: str = "MSH"  # "" for no location
    field: int | None = None
    severity: str = "E"

    @property
    def text(self) -> str:
        return ERROR_TEXT.get(self.code, "Error")


def wanted(condition: str, success: bool) -> bool:
    """MSH-15/16 conditions (table 0155): AL always, NE never, ER on error, SU on success.
    An empty condition in enhanced mode counts as AL."""
    return {"NE": False, "ER": not success, "SU": success}.get(condition, True)


def acknowledgment(header: Header, code: str, error: Error | None = None, at: datetime | None = None,
                   control_id: str | None = None, *, text: str = "") -> str:
    """An ACK for `header`'s message: sender and receiver swapped, its version kept, MSA-2 = its MSH-10.
    `text` (already escaped for the message's delimiters) goes in MSA-3 where the version has it;
    from 2.7, which withdrew MSA-3, in ERR-8 (an informational ERR, code 0, when nothing was wrong)."""
    s, enc = header.field_sep, header.encoding
    comp, sub = enc[0], (enc[3] if len(enc) > 3 else "&")
    structure = f"{comp}ACK" if header.version_tuple >= (2, 3, 1) else ""
    msh = s.join([
        "MSH", enc, header.receiving_application, header.receiving_facility, header.sending_application,
        header.sending_facility, timestamp(at), "",
        f"ACK{comp}{header.trigger}{structure}" if header.trigger else "ACK",
        control_id or new_control_id(), header.processing_id, header.version or GENERIC_VERSION,
    ])
    in_msa = text and header.version_tuple < (2, 7)
    segments = [msh, s.join(["MSA", code, header.control_id] + ([text] if in_msa else []))]
    user_message = [] if in_msa or not text else ["", "", "", text]  # ERR-5..8
    if error is None and user_message:
        error = Error(MESSAGE_ACCEPTED, segment="", severity="I")
    if error is not None:
        location = comp.join([error.segment, "1", str(error.field or "")]) if error.segment else ""
        if header.version_tuple < (2, 5):  # ERR-1: location ^ code & text & table
            segments.append(s.join(["ERR", comp.join([location, sub.join([error.code, error.text, "HL70357"])])]))
        else:  # ERR-2 location, ERR-3 code, ERR-4 severity
            segments.append(s.join(["ERR", "", location, comp.join([error.code, error.text, "HL70357"]),
                                    error.severity, *user_message]))
    return "\r".join(segments) + "\r"


def timestamp(at: datetime | None = None) -> str:
    """MSH-7 / FHS-7 / BHS-7: to the second, with the UTC offset (+0000), as DTM allows."""
    return (at or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S%z")


def new_control_id() -> str:
    return "CB" + secrets.token_hex(8).upper()


def replay_control_id(header: Header, code: str) -> str:
    """The same inbound message (sender + MSH-10) always gets an ACK with the same control id."""
    seed = f"{header.sending_application}|{header.sending_facility}|{header.control_id}|{code}"
    return "CB" + hashlib.sha256(seed.encode()).hexdigest()[:16].upper()


def generic_reject(error_code: str = SEGMENT_SEQUENCE_ERROR) -> str:
    """For bytes with no usable MSH: an AR in a default 2.5 header."""
    return acknowledgment(Header(), "AR", Error(error_code))


def batch_envelope(inbound_header: list[str], acks: list[str]) -> str:
    """The ACKs of a batch, wrapped as the batch came (FHS/BHS ... BTS/FTS), in the batch's own
    delimiters (FHS-1/2, BHS-1/2). Each header answers its inbound twin: sender and receiver swapped
    (-3/-4 <-> -5/-6; our application is CLAIMBRIDGE where the sender named none), and -12 names the
    inbound batch's control id (-11)."""
    stamp = timestamp()

    def answering(kind: str) -> str | None:
        seg = next((s for s in inbound_header if s.startswith(kind)), None)
        if seg is None:
            return None
        sep = seg[3] if len(seg) > 3 else "|"
        inbound = seg.split(sep) + [""] * 12  # padded: FHS-n is inbound[n-1], as MSH-1 is the separator
        return sep.join([kind, inbound[1] or DEFAULT_ENCODING, inbound[4] or "CLAIMBRIDGE", inbound[5],
                         inbound[2], inbound[3], stamp, "", "", "", new_control_id(), inbound[10]])

    fhs, bhs = answering("FHS"), answering("BHS")
    bhs = bhs or f"BHS|{DEFAULT_ENCODING}|CLAIMBRIDGE||||{stamp}||||{new_control_id()}"  # bare messages, enveloped
    sep = bhs[3]
    tail = [f"BTS{sep}{len(acks)}"] + ([f"FTS{fhs[3]}1"] if fhs else [])
    return "\r".join(([fhs] if fhs else []) + [bhs]) + "\r" + "".join(acks) + "\r".join(tail) + "\r"


COMMIT_CODE = {"AA": "CA", "AE": "CE", "AR": "CR"}


def acknowledgments(header: Header, code: str, error: Error | None = None, *, commit: str | None = None,
                    text: str = "") -> list[str]:
    """What a message gets for an outcome (AA, AE or AR). Original mode: that one ACK. Enhanced
    mode: the commit ACK per MSH-15 (`commit`, else the code's twin: CA, CE, CR), then the
    application ACK per MSH-16, the latter only for a committed (accepted) message or when no
    commit ACK told the sender otherwise. `text`: see `acknowledgment`."""
    return [acknowledgment(header, c, error, control_id=replay_control_id(header, c), text=text)
            for c in sent_codes(header, code, commit)]


def sent_codes(header: Header, code: str, commit: str | None = None) -> list[str]:
    """The MSA-1 of each acknowledgment an outcome sends, in order (see `acknowledgments`)."""
    if not header.enhanced:
        return [code]
    committed = code == "AA"  # nothing refused is stored, so only an accepted message is committed
    out = []
    commit_sent = wanted(header.accept_ack_type, committed)
    if commit_sent:
        out.append(commit or COMMIT_CODE[code])
    if (committed or not commit_sent) and wanted(header.application_ack_type, committed):
        out.append(code)
    return out


def outcome(header: Header, code: str, commit: str | None = None) -> str:
    """What the message log records: the last acknowledgment's code (the application's, where one is
    sent), or the outcome's own where the sender asked for none."""
    return (sent_codes(header, code, commit) or [code])[-1]
