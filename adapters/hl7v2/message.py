"""Read access to one parsed HL7 v2 message, by the positions the standard numbers.

python-hl7 parses (it is ~20x faster than hl7apy and keeps Z-segments); this wrapper reads its
nested containers uniformly and decodes escape sequences. `""` (explicit null) and empty both
read as None: for a new case there is nothing to delete, so the difference does not matter.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import hl7

# python-hl7 logs whole field values when an escape sequence is malformed: PHI. It is never asked
# to unescape here, and its logger is closed besides.
logging.getLogger("hl7").setLevel(logging.CRITICAL + 1)
MAX_SEPARATORS = 200_000  # a message with more is hostile or broken; parsing it would take seconds
FORMATTING = {".br": "\n", ".sp": " "}  # other formatting (\H\ \N\ .in .ti .sk .ce) and charset switches drop


class Unparseable(Exception):
    """No usable MSH: nothing can be acknowledged but a generic reject."""


def _at(node: Any, index: int) -> Any:
    if isinstance(node, str):
        return node if index == 0 else ""
    return node[index] if index < len(node) else ""


@dataclass(frozen=True)
class Segment:
    message: V2Message
    raw: Any  # hl7.Segment

    @property
    def name(self) -> str:
        return str(self.raw[0])

    def get(self, field: int, component: int = 1, repetition: int = 1, sub: int = 1) -> str | None:
        """FIELD-n.component.subcomponent, the given repetition (all 1-based)."""
        value = _at(_at(_at(_at(self.raw, field), repetition - 1), component - 1), sub - 1)
        if not isinstance(value, str):  # a deeper level than asked for: take its first leaf
            while not isinstance(value, str):
                value = _at(value, 0)
        if not value or value == '""':
            return None
        return self.message.unescape(value) if self.message.escape in value else value

    def repetitions(self, field: int) -> int:
        value = _at(self.raw, field)
        if isinstance(value, str) or not value:
            return 1 if value else 0
        return len(value) if isinstance(value[0], hl7.Repetition) else 1


class V2Message:
    def __init__(self, text: str):
        if not text.startswith("MSH") or len(text) < 8 or text[3] in "\r\n":
            raise Unparseable("no MSH segment")
        encoding = text[4:8]
        declared = text[3] + text[4:].split(text[3], 1)[0][:4]  # MSH-1 and MSH-2
        # A letter, digit or blank as a delimiter splits ordinary values ("^0" cuts M-1001 to M-1):
        # the message cannot be read as its sender meant it.
        if any(c.isalnum() or c == " " or not c.isprintable() for c in declared):
            raise Unparseable("unusable delimiters")
        if sum(text.count(c) for c in (text[3], *encoding[:2])) > MAX_SEPARATORS:
            raise Unparseable("too many fields")
        try:
            self.parsed = hl7.parse(text)
        except Exception as err:  # any parser failure on hostile input means: reject
            raise Unparseable(type(err).__name__) from None
        self.escape = encoding[2] if len(encoding) > 2 else "\\"
        component, repetition = (encoding + "^~")[:2]
        subcomponent = encoding[3] if len(encoding) > 3 else "&"
        self._escaped = {"F": text[3], "S": component, "R": repetition, "T": subcomponent, "E": self.escape}

    def unescape(self, value: str) -> str:
        """HL7 escape sequences: delimiters (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\), \\Xhh..\\ bytes (read as UTF-8,
        else Latin-1), .br and .sp; highlighting and other formatting are dropped."""
        out, esc, i = [], self.escape, 0
        while i < len(value):
            end = value.find(esc, i + 1) if value[i] == esc else -1
            if end < 0:
                out.append(value[i])
                i += 1
                continue
            seq = value[i + 1:end]
            if seq in self._escaped:
                out.append(self._escaped[seq])
            elif seq[:1] == "X" and len(seq) % 2 == 1 and all(c in "0123456789abcdefABCDEF" for c in seq[1:]):
                raw = bytes.fromhex(seq[1:])
                try:
                    out.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append(raw.decode("latin-1"))
            else:
                out.append(FORMATTING.get(seq, ""))
            i = end + 1
        return "".join(out)

    @cached_property
    def msh(self) -> Segment:
        return Segment(self, self.parsed[0])

    def segments(self, name: str) -> list[Segment]:
        return [Segment(self, s) for s in self.parsed if str(s[0]) == name]

    def first(self, name: str) -> Segment | None:
        found = self.segments(name)
        return found[0] if found else None

    def groups(self, head: str, members: tuple[str, ...]) -> list[list[Segment]]:
        """Each `head` segment with the `members` segments that follow it (e.g. PR1 and its AUT)."""
        out: list[list[Segment]] = []
        current: list[Segment] | None = None
        for raw in self.parsed:
            name = str(raw[0])
            if name == head:
                current = [Segment(self, raw)]
                out.append(current)
            elif current is not None and name in members:
                current.append(Segment(self, raw))
            else:
                current = None
        return out
