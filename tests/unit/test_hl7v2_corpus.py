"""The whole shared HL7 v2 corpus, fuzzed files included: every message gets an answer (or none where
HL7 says none: an ACK, or enhanced mode asking for none), quickly, and never an exception."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from adapters.hl7v2.ack import Header
from adapters.memory import MemoryArchive, MemoryCaseStore
from adapters.hl7v2 import wire
from functions import bootstrap
from functions.hl7v2.intake import handle_message
from tests.conftest import CORPUS, corpus_files, or_skipped

HL7_FILES = or_skipped(corpus_files(CORPUS / "hl7v2", "*/*.hl7"))


@pytest.fixture(autouse=True)
def services(tmp_path, monkeypatch):
    partners = tmp_path / "partners.yaml"  # the corpus senders, so their messages reach the mapping
    partners.write_text("partners:\n  - id: corpus\n    hl7_facilities: [EWHIN, GHHSFacility, SENDING_FACILITY]\n")
    monkeypatch.setenv("PARTNERS_FILE", str(partners))
    store = MemoryCaseStore()
    bootstrap.override(lambda: bootstrap.Services(store, MemoryArchive(), lambda: datetime.now(timezone.utc)))
    yield
    bootstrap.override(None)


def expects_no_answer(text: str) -> bool:
    header = Header.of(text)
    return header.message_type == "ACK" or (header.enhanced and header.accept_ack_type == "NE"
                                            and header.application_ack_type == "NE")


@pytest.mark.parametrize("path", HL7_FILES, ids=lambda p: getattr(p, "parent", None) and f"{p.parent.name}/{p.name}")
def test_every_corpus_message_is_answered_in_bounded_time(path):
    raw = path.read_bytes()
    started = time.perf_counter()
    answers = handle_message(raw)
    assert time.perf_counter() - started < 2.0
    batch = wire.split(raw)
    if batch.enveloped:
        [envelope] = answers
        segments = envelope.decode().rstrip("\r").split("\r")
        assert segments[0].startswith(("FHS", "BHS")) and segments[-1].startswith(("BTS", "FTS"))
        owed = [m for m in batch.messages if not (m.startswith("MSH") and expects_no_answer(m))]
        assert sum(s.startswith("MSA") for s in segments) >= len(owed)  # every message owed one has its ACK
        assert f"BTS|{sum(s.startswith('MSH') for s in segments)}" in segments
        return
    text = batch.messages[0]
    if text.startswith("MSH") and expects_no_answer(text):
        assert answers == []
        return
    assert len(answers) >= 1
    for answer in answers:
        segments = answer.decode("utf-8", "replace").rstrip("\r").split("\r")
        assert segments[0].startswith("MSH") and segments[1].startswith("MSA")
        code = segments[1][4:6]
        assert code in ("AA", "AE", "AR", "CA", "CE", "CR")
        if code not in ("AA", "CA"):
            assert any(s.startswith("ERR") for s in segments)


def test_the_standards_own_rqa_i08_and_the_ref_i12_samples_are_accepted():
    for name in ("ex_hl7/rqa_i08_v24_readme.hl7", "fhir-converter/REF-I12-01.hl7", "fhir-converter/REF-I12-02.hl7"):
        path = CORPUS / "hl7v2" / name
        if not path.exists():
            pytest.skip("../shared/corpus is not present")
        [answer] = handle_message(path.read_bytes())
        assert b"MSA|AA|" in answer, name
