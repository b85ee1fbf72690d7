"""Property: whatever bytes arrive, the HL7 v2 intake answers with acknowledgments and never raises.
Every answer is an ACK (MSH, MSA); an error carries an ERR that quotes nothing it was sent; a refused
message changes nothing stored; every stored case reads back from its JSON (as the DynamoDB store
reads it); with in-memory adapters nothing is ever an internal error (207).

Inputs are the messages of tests/hl7_factories.py, mutated: segments, fields, components, encoding
characters, terminators, MLLP framing bytes, truncation, random and non-UTF-8 bytes, batch envelopes.
Every string a mutation inserts carries the example's marker. `HYPOTHESIS_PROFILE=fuzz` runs a long
campaign (tests/unit/conftest.py).
"""
from __future__ import annotations

from datetime import datetime, timezone
from string import ascii_uppercase

import hypothesis
import pytest
from hypothesis import given, note, strategies as st

from adapters.hl7v2 import wire
from adapters.hl7v2.ack import Header
from adapters.memory import MemoryArchive, MemoryCaseStore
from adapters.partners import PartnerRegistry
from functions import bootstrap
from functions.hl7v2.intake import handle_message
from review.model import Case
from tests import hl7_factories as h

PARTNERS = PartnerRegistry.from_document("partners:\n  - id: acme\n    hl7_facilities: [ACMEHLTH]\n"
                                         "  - id: other\n    hl7_facilities: [OTHERPAY]\n")
STORED = [h.rqa(ref="1", control_id="STORED-RQA"), h.ehc("E01", inv="1", control_id="STORED-EHC")]
SEEDS = [h.rqa("I08", ref="2"), h.rqa("I09", ref="1"), h.rqa("I10", ref="1"), h.rqa("I11", ref="1"),
         h.rqa("I08", ref="3", version="2.3", ack="AL", app_ack="ER"), h.ref_i12(), h.ehc("E20", inv="2"),
         h.ehc("E21", inv="2"), h.ehc("E01", inv="2", version="2.8"), h.ehc("E02", inv="1"), h.ehc("E04", inv="1")]
ERROR_CODES = {"AE", "AR", "CE", "CR"}
SEGMENT_NAMES = ["MSH", "PID", "PR1", "AUT", "PRD", "IN1", "IN2", "DG1", "RF1", "PSL", "IVC", "MSA", "BHS", "BTS",
                 "FHS", "ZZZ", "PID1", ""]


# --- mutations of the segments (field separator |, components ^) ---------------------------------

def values(marker: str):
    """What goes into a field or component: the marker in many shapes, and values a mapping reads."""
    return st.one_of(
        st.sampled_from([marker, f"{marker}^{marker}", f"{marker}~{marker}", f"{marker}&{marker}", '""', "",
                         f"{marker}\\F\\{marker}", f"\\Xzz\\{marker}", f"\\XC3\\{marker}", f"{marker}\\",
                         f"\\H\\{marker}\\N\\", f"{marker}  {marker}", marker * 2000, f"{marker}\x00",
                         "9" * 40 + marker, "1e400", "-1", "0", "nan", "inf", "20261399", "2026", "99999999999999",
                         "S", "A", "RP", "NPI", "M", "AL", "NE", "2.5", "I10", "HL70357"]),
        st.text(max_size=10).map(lambda t: t + marker))


MSH_VALUES = ["ACK", "ACK^I08", "rqa^i08", "RQA^I08^RQA_I08^X", "EHC^E04", "ADT^A01", "RQA^I09", "2.3", "2.8.2", "2.9",
              "2.5^x", "P", "T", "D", "X", "ACMEHLTH", "acmehlth", "ACMEHLTH^x^y", "OTHERPAY", "ER", "SU",
              "UNICODE UTF-8", "8859/1", "ASCII", "UTF-16"]
MSH_FIELDS = [3, 4, 7, 8, 9, 10, 11, 12, 15, 16, 18]  # MSH-n is part n-1 of the segment: MSH-1 is the separator
SEPARATORS = ["#", "^", "~", "\\", "&", "M", "S", " ", "\t", "\x00", "é", "\x0b", "\x1c"]
ENCODING_CHARACTERS = ["", "^", "^~", "^~\\", "^~\\&#", "^^^^", "&~\\^", "~~~~", "é~\\&", "^0", "A~\\&"]


def with_part(text: str, separator: str, index: int, value: str) -> str:
    """`text` with its `index`th part set to `value` (padded with empty parts as needed)."""
    parts = text.split(separator)
    parts += [""] * (index + 1 - len(parts))
    parts[index] = value
    return separator.join(parts)


@st.composite
def segment_mutation(draw, segments: list[str], marker: str) -> list[str]:
    kind = draw(st.sampled_from(["field", "field", "component", "component", "msh field", "msh field",
                                 "delete", "duplicate", "swap", "insert", "truncate", "field separator",
                                 "encoding characters"]))
    note(kind)
    i = draw(st.integers(0, len(segments) - 1)) if segments else 0
    if not segments or kind == "insert":
        segments.insert(i, draw(st.sampled_from(SEGMENT_NAMES)) + "|" + draw(values(marker)))
    elif kind == "delete":
        del segments[i]
    elif kind == "duplicate":
        segments.insert(draw(st.integers(0, len(segments))), segments[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(segments) - 1))
        segments[i], segments[j] = segments[j], segments[i]
    elif kind == "truncate":
        del segments[draw(st.integers(0, len(segments))):]
    elif kind == "field":
        n = draw(st.integers(1, segments[i].count("|") + 2))
        segments[i] = with_part(segments[i], "|", n, draw(values(marker)))
    elif kind == "component":
        n = draw(st.integers(1, segments[i].count("|") + 2))
        field = (segments[i].split("|") + [""] * n)[n]
        component = with_part(field, "^", draw(st.integers(0, field.count("^") + 1)), draw(values(marker)))
        segments[i] = with_part(segments[i], "|", n, component)
    elif kind == "msh field":
        value = draw(st.one_of(values(marker), st.sampled_from(MSH_VALUES)))
        segments[0] = with_part(segments[0], "|", draw(st.sampled_from(MSH_FIELDS)) - 1, value)
    elif kind == "field separator":  # MSH-1; the rest keeps |
        if segments[0].startswith("MSH") and len(segments[0]) > 3:
            segments[0] = "MSH" + draw(st.sampled_from(SEPARATORS)) + segments[0][4:]
    else:  # MSH-2
        segments[0] = with_part(segments[0], "|", 1, draw(st.sampled_from(ENCODING_CHARACTERS + [marker])))
    return segments


# --- mutations of the bytes -----------------------------------------------------------------------

NOT_UTF8 = [b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\x80", b"\xed\xa0\x80"]  # invalid starts, truncations, a surrogate


@st.composite
def byte_mutation(draw, raw: bytes) -> bytes:
    kind = draw(st.sampled_from(["framing", "random", "not utf-8", "truncate", "bom"]))
    note(kind)
    at = draw(st.integers(0, len(raw)))
    if kind == "framing":
        return raw[:at] + draw(st.sampled_from([b"\x0b", b"\x1c", b"\x1c\r", b"\r", b"\n", b"\x00"])) + raw[at:]
    if kind == "random":
        return raw[:at] + draw(st.binary(max_size=16)) + raw[at:]
    if kind == "not utf-8":
        return raw[:at] + draw(st.sampled_from(NOT_UTF8)) + raw[at:]
    if kind == "truncate":
        return raw[:at]
    return wire.BOM + raw


@st.composite
def messages(draw) -> tuple[str, bytes]:
    marker = "ZQX" + draw(st.text(ascii_uppercase, min_size=5, max_size=5))
    segments = draw(st.sampled_from(SEEDS)).rstrip("\r").split("\r")
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))):
        segments = draw(segment_mutation(segments, marker))
    terminator = draw(st.sampled_from(["\r", "\r", "\n", "\r\n"]))
    text = terminator.join(segments) + draw(st.sampled_from([terminator, ""]))
    envelope = draw(st.sampled_from(["", "", "", "batch", "file", "two"]))
    if envelope == "batch":
        text = f"BHS|^~\\&|ACMEAPP|ACMEHLTH|||||||{marker}\r{text}BTS|1\r"
    elif envelope == "file":
        text = f"FHS|^~\\&|ACMEAPP|ACMEHLTH\rBHS|^~\\&\r{text}BTS|1\rFTS|1\r"
    elif envelope == "two":
        text = h.rqa(ref="4") + text
    raw = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "cp1252"])), "replace")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        raw = draw(byte_mutation(raw))
    return marker, raw


# --- reading the answers --------------------------------------------------------------------------

def acknowledgments(answer: bytes) -> list[list[str]]:
    """Each ACK in an answer (a batch envelope holds several) as its segments."""
    batch = wire.split(answer)
    return [m.split("\r") for m in batch.messages]


def fields(segment: str, separator: str) -> list[str]:
    """A segment's fields after its name: robust to a separator that is a letter of the name."""
    return segment[4:].split(separator)


def fresh_store() -> MemoryCaseStore:
    store = MemoryCaseStore()
    services = bootstrap.Services(store, MemoryArchive(), lambda: datetime(2026, 11, 23, 12, tzinfo=timezone.utc),
                                  partners=lambda: PARTNERS)
    bootstrap.override(lambda: services)
    for text in STORED:
        handle_message(text.encode())
    assert len(store.cases) == len(STORED)
    return store


@given(messages(), st.sampled_from([None, None, "acme", "other"]), st.booleans())
def test_any_bytes_get_acknowledgments_that_echo_nothing_and_refusals_store_nothing(errors_logged, message, token_partner,
                                                                                  envelope):
    marker, raw = message
    store = fresh_store()
    before = (store.writes, dict(store.cases))
    answers = handle_message(raw, token_partner, envelope)
    assert isinstance(answers, list) and all(isinstance(a, bytes) for a in answers)
    inbound = wire.split(raw).messages
    if not answers:  # only an ACK, or what enhanced mode (MSH-15/16) asks no answer for, goes unanswered
        assert all(Header.of(m).message_type == "ACK" or Header.of(m).enhanced for m in inbound)
    codes = []
    for answer in answers:
        for ack in acknowledgments(answer):
            msh, separator = ack[0], ack[0][3:4]
            assert msh.startswith("MSH") and separator, ack
            [msa] = [s for s in ack if s.startswith("MSA" + separator)]
            code = fields(msa, separator)[0]
            codes.append(code)
            hypothesis.event(f"MSA-1 {code}")
            errs = [s for s in ack if s.startswith("ERR" + separator)]
            assert code in ERROR_CODES | {"AA", "CA"}, ack
            if code in ERROR_CODES:
                assert errs, ack
            assert not any(marker in e for e in errs) and marker not in "".join(fields(msa, separator)[2:3]), ack
            assert not any("207" in e for e in errs), errors_logged.last  # the in-memory store never fails
    assert all(Case.model_validate_json(c.model_dump_json()) == c for c in store.cases.values())  # as stored
    if len(inbound) == 1 and codes and not {"AA", "CA"} & set(codes):
        assert (store.writes, store.cases) == before, codes
