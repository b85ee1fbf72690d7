"""HL7 v2 on the wire: bytes in, clean CR-terminated text out; batch and file envelopes split.

Real feeds send CR, LF or CRLF terminators, a UTF-8 BOM, MSH-18 character sets and envelopes
(FHS/BHS ... BTS/FTS). Everything downstream sees one message as text with CR between segments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CONTENT_TYPE = "x-application/hl7-v2+er7"
BOM = b"\xef\xbb\xbf"
# MSH-18 -> Python codec. Anything else (or nothing) tries UTF-8, then windows-1252.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
}
_TERMINATORS = re.compile(r"\r\n|\n|\r")


def decode(raw: bytes) -> str:
    """Bytes -> text, by MSH-18 where it names a known character set, else UTF-8 then windows-1252."""
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    codec = codec_of(raw.decode("latin-1", "replace")[:4096])
    for candidate in ([codec] if codec else []) + ["utf-8", "cp1252"]:
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")  # every byte maps; never fails


def segments(text: str) -> list[str]:
    """Segments of a message or batch, whatever the terminator; blank lines and padding dropped."""
    return [s for s in (line.strip("\x00 \t") for line in _TERMINATORS.split(text)) if s]


@dataclass(frozen=True)
class Batch:
    header: list[str]  # FHS / BHS segments, as received
    messages: list[str]  # each message, segments joined by CR

    @property
    def enveloped(self) -> bool:
        return bool(self.header)


def split(raw: bytes) -> Batch:
    """One message, or a batch/file of them. Stray segments before the first MSH are dropped; with
    no MSH at all they stand as one message, which the intake answers with a generic reject."""
    header: list[str] = []
    stray: list[str] = []
    messages: list[list[str]] = []
    for seg in segments(decode(raw)):
        kind = seg[:3]
        if kind in ("FHS", "BHS"):
            header.append(seg)
        elif kind in ("BTS", "FTS"):
            continue
        elif kind == "MSH":
            messages.append([seg])
        elif messages:
            messages[-1].append(seg)
        else:
            stray.append(seg)
    if not messages and stray:
        messages.append(stray)
    return Batch(header, ["\r".join(m) for m in messages])


def codec_of(text: str) -> str | None:
    """The Python codec for the character set the (first) MSH-18 declares, if one we know."""
    start = text.find("MSH")
    line = _TERMINATORS.split(text[start:start + 2048], 1)[0] if start >= 0 else ""
    if len(line) < 5:
        return None
    fields = line.split(line[3])
    return CHARSETS.get(fields[17].split(line[4])[0].strip().upper()) if len(fields) > 17 else None
