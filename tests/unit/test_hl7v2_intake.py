"""HL7 v2 intake end to end in-process (in-memory adapters): acknowledgments, both modes, duplicates,
partners, store failure, dirty input. ACKs are read back with hl7apy, per version."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message, parse_segment

from adapters.hl7v2 import wire
from adapters.hl7v2.ack import Header
from adapters.memory import MemoryArchive, MemoryCaseStore
from functions import bootstrap
from functions.hl7v2.intake import handle_message
from review.model import Kind, Status
from tests import hl7_factories as h


@pytest.fixture
def store(tmp_path, monkeypatch):
    partners = tmp_path / "partners.yaml"
    partners.write_text("partners:\n  - id: acme\n    hl7_facilities: [ACMEHLTH]\n"
                        "  - id: other\n    hl7_facilities: [OTHERPAY]\n")
    monkeypatch.setenv("PARTNERS_FILE", str(partners))
    store = MemoryCaseStore()
    archive = MemoryArchive()
    store.archive = archive
    services = bootstrap.Services(store, archive, lambda: datetime(2026, 11, 23, 12, tzinfo=timezone.utc))
    bootstrap.override(lambda: services)
    yield store
    bootstrap.override(None)


def send(text: str | bytes, token_partner: str | None = None) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    return [a.decode() for a in handle_message(raw, token_partner)]


def seg(ack: str, name: str) -> list[str]:
    line = next(s for s in ack.split("\r") if s.startswith(name))
    return line.split("|")


def read(ack: str, version: str):
    """hl7apy, strict: the library that knows each version's ACK structure."""
    if version == "2.3":  # hl7apy has no 2.3 structure for ACK^event; check each segment strictly
        for s in ack.strip().split("\r"):
            parse_segment(s, version=version, validation_level=VALIDATION_LEVEL.STRICT)
        return parse_message(ack, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    msg = parse_message(ack, validation_level=VALIDATION_LEVEL.STRICT, find_groups=False)
    msg.validate()
    return msg


@pytest.mark.parametrize("version", ["2.3", "2.4", "2.5", "2.6", "2.8"])
def test_original_mode_accept_swaps_parties_keeps_version_and_echoes_control_id(store, version):
    [ack] = send(h.rqa(control_id="CTRL-1", version=version))
    msg = read(ack, version)
    assert msg.msa.msa_1.value == "AA" and msg.msa.msa_2.value == "CTRL-1"
    assert msg.msh.msh_12.to_er7() == version
    msh = seg(ack, "MSH")
    assert (msh[2], msh[3], msh[4], msh[5]) == ("CLAIMBRIDGE", "IRO", "ACMEAPP", "ACMEHLTH")
    assert msh[9] not in ("", "CTRL-1") and msh[8].startswith("ACK^I08")
    assert len(store.cases) == 1


@pytest.mark.parametrize("version, layout", [("2.3", "ERR-1"), ("2.4", "ERR-1"), ("2.5", "ERR-2/3/4"), ("2.8", "ERR-2/3/4")])
def test_error_segment_uses_the_versions_layout(store, version, layout):
    [ack] = send(h.rqa(version=version).replace("RQA^I08^RQA_I08", "RQA^I07^RQA_I07"))
    msg = read(ack, version)
    assert msg.msa.msa_1.value == "AR"
    err = seg(ack, "ERR")
    if layout == "ERR-1":
        assert err[1] == "MSH^1^9^201&Unsupported event code&HL70357"
    else:
        assert (err[1], err[2], err[3], err[4]) == ("", "MSH^1^9", "201^Unsupported event code^HL70357", "E")
        assert msg.err.err_3.to_er7().startswith("201")


@pytest.mark.parametrize("text, code, field", [
    (h.rqa().replace("RQA^I08^RQA_I08", "ADT^A01^ADT_A01"), "200", "9"),
    (h.rqa().replace("RQA^I08^RQA_I08", "RQA^I07^RQA_I07"), "201", "9"),
    (h.rqa(version="2.2"), "203", "12"),
    (h.ehc("E20", version="2.5"), "203", "12"),  # EHC exists from 2.6
    (h.rqa().replace("|P|2.5", "|X|2.5"), "202", "11"),
])
def test_unsupported_messages_get_ar(store, text, code, field):
    [ack] = send(text)
    err = "|".join(seg(ack, "ERR"))  # ERR-1 layout before 2.5, ERR-2/3 from 2.5
    assert seg(ack, "MSA")[1] == "AR" and f"MSH^1^{field}" in err and f"{code}" in err
    assert not store.cases


def test_an_ack_is_never_acknowledged(store):
    assert send("MSH|^~\\&|ACMEAPP|ACMEHLTH|CB|IRO|20261123||ACK^I08^ACK|A1|P|2.5\rMSA|AA|X\r") == []


def test_bytes_without_a_usable_msh_get_a_generic_ar(store):
    for junk in (b"", b"hello", b"\x0b\x1c\r", b"PID|||1", b"MSH"):
        [ack] = send(junk)
        assert seg(ack, "MSA")[1] == "AR"


@pytest.mark.parametrize("accept, app, expected", [
    ("AL", "AL", ["CA", "AA"]), ("AL", "NE", ["CA"]), ("NE", "AL", ["AA"]), ("ER", "AL", ["AA"]),
    ("SU", "ER", ["CA"]), ("NE", "NE", []),
])
def test_enhanced_mode_on_success(store, accept, app, expected):
    answers = send(h.rqa(ack=accept, app_ack=app))
    assert [seg(a, "MSA")[1] for a in answers] == expected
    assert all(seg(a, "MSA")[2] == "RQAI08-1" for a in answers) and len(store.cases) == 1


@pytest.mark.parametrize("accept, app, expected", [
    ("AL", "AL", ["CR"]), ("ER", "AL", ["CR"]), ("NE", "AL", ["AR"]), ("SU", "AL", ["AR"]), ("NE", "NE", []),
])
def test_enhanced_mode_on_rejection(store, accept, app, expected):
    answers = send(h.rqa(ack=accept, app_ack=app, facility="NOSUCH"))
    assert [seg(a, "MSA")[1] for a in answers] == expected


def test_store_failure_is_ar_then_nothing_is_lost_on_resend(store, monkeypatch):
    """HL7 v2: AR for a failure unrelated to the message's content (system down); enhanced mode
    answers CE (not committed), not CR, which is for a type, version or processing id refused."""
    real = store.create

    def broken(*args, **kwargs):
        raise ConnectionError("DynamoDB unreachable")
    monkeypatch.setattr(store, "create", broken)
    [ack] = send(h.rqa())
    assert seg(ack, "MSA")[1] == "AR" and seg(ack, "ERR")[3].startswith("207") and not store.cases
    assert [seg(a, "MSA")[1] for a in send(h.rqa(ack="AL", app_ack="AL"))] == ["CE"]
    monkeypatch.setattr(store, "create", real)
    [ack] = send(h.rqa())
    assert seg(ack, "MSA")[1] == "AA" and len(store.cases) == 1


def test_duplicate_gets_the_same_acknowledgment_and_no_second_case(store):
    first, again = send(h.rqa()), send(h.rqa())
    assert [seg(a, "MSA") for a in first] == [seg(a, "MSA") for a in again]
    assert seg(first[0], "MSH")[9] == seg(again[0], "MSH")[9]  # the same ACK control id
    assert len(store.cases) == 1


def test_control_id_reused_for_other_content_is_rejected_whatever_the_partner_policy(store):
    """HL7 requires MSH-10 unique: unlike a FHIR transaction id, its reuse is never a new transaction."""
    send(h.rqa(control_id="SAME"))
    [ack] = send(h.rqa(control_id="SAME", ref="other"))
    assert seg(ack, "MSA")[1] == "AR" and seg(ack, "ERR")[3].startswith("205") and len(store.cases) == 1


def test_partner_is_decided_by_the_registry(store):
    [ack] = send(h.rqa(facility="NOSUCH"))
    assert seg(ack, "MSA")[1] == "AR" and seg(ack, "ERR")[2] == "MSH^1^4"
    [ack] = send(h.rqa(), token_partner="other")  # a token for another partner than MSH-4 names
    assert seg(ack, "MSA")[1] == "AR" and not store.cases
    [ack] = send(h.rqa(), token_partner="acme")
    assert seg(ack, "MSA")[1] == "AA" and next(iter(store.cases.values())).partner_id == "acme"


def test_missing_patient_is_ae(store):
    text = "\r".join(s for s in h.rqa().split("\r") if not s.startswith("PID"))
    [ack] = send(text)
    assert seg(ack, "MSA")[1] == "AE" and seg(ack, "ERR")[2] == "PID^1^" and seg(ack, "ERR")[3].startswith("100")


def test_modify_cancel_and_resubmit_follow_the_original(store):
    send(h.rqa("I08", ref="9"))
    [case] = store.cases.values()
    assert seg(send(h.rqa("I09", ref="9"))[0], "MSA")[1] == "AA"
    assert store.cases[case.id].version == 2 and store.cases[case.id].status is Status.RECEIVED
    assert seg(send(h.rqa("I11", ref="9"))[0], "MSA")[1] == "AA"
    assert store.cases[case.id].status is Status.CANCELLED
    assert seg(send(h.rqa("I10", ref="9"))[0], "MSA")[1] == "AA"  # re-opens: a new case, linked
    reopened = [c for c in store.cases.values() if c.id != case.id]
    assert len(reopened) == 1 and reopened[0].original_case_id == case.id and reopened[0].is_open
    [ack] = send(h.rqa("I09", ref="never-sent"))
    assert seg(ack, "MSA")[1] == "AE" and seg(ack, "ERR")[3].startswith("204")


def test_ehc_invoice_cancel_and_reassessment(store):
    send(h.ehc("E01", inv="3"))
    [invoice] = store.cases.values()
    assert invoice.kind is Kind.CLAIM and invoice.source == "hl7v2"
    [ack] = send(h.ehc("E04", inv="3"))
    assert seg(ack, "MSA")[1] == "AA"
    appeal = next(c for c in store.cases.values() if c.id != invoice.id)
    assert appeal.kind is Kind.APPEAL and appeal.original_case_id == invoice.id
    assert appeal.member.family == "DOE"  # taken from the invoice: E04 carries no PID
    assert (appeal.due_at - appeal.received_at).days == 60  # a payment reconsideration
    send(h.ehc("E02", inv="3"))
    assert store.cases[invoice.id].status is Status.CANCELLED


def test_ehc_authorization_request_and_its_cancel(store):
    send(h.ehc("E20", inv="4"))
    [case] = store.cases.values()
    assert case.kind is Kind.PRIOR_AUTH and [i.sequence for i in case.items] == [1, 2]
    send(h.ehc("E21", inv="4"))
    assert store.cases[case.id].status is Status.CANCELLED


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_any_segment_terminator_and_a_bom(store, terminator):
    raw = b"\xef\xbb\xbf" + h.rqa().replace("\r", terminator).encode()
    [ack] = send(raw)
    assert seg(ack, "MSA")[1] == "AA"
    [case] = store.cases.values()
    assert store.archive.objects[case.raw.key] == raw  # archived unchanged


@pytest.mark.parametrize("charset, encoded", [("8859/1", "latin-1"), ("UNICODE UTF-8", "utf-8"), ("", "cp1252")])
def test_character_sets(store, charset, encoded):
    text = h.rqa(charset=charset).replace("DOE^JANE", "MÜLLER^RENÉ")
    [ack] = send(text.encode(encoded))
    assert seg(ack, "MSA")[1] == "AA"
    [case] = store.cases.values()
    assert (case.member.family, case.member.given[0]) == ("MÜLLER", "RENÉ")


def test_z_segments_are_kept_in_the_archive(store):
    raw = (h.rqa() + "ZIN|1|custom^value\r").encode()
    send(raw)
    [case] = store.cases.values()
    assert b"ZIN|1|custom^value" in store.archive.objects[case.raw.key]


def test_batch_gets_one_ack_per_message_in_an_envelope(store):
    batch = "BHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(ref="1") + h.rqa(ref="2") + "RQA|bogus\rBTS|2\r"
    [answer] = send(batch)
    segments = answer.strip().split("\r")
    assert segments[0].startswith("BHS") and segments[-1] == "BTS|2"
    assert [s.split("|")[1] for s in segments if s.startswith("MSA")] == ["AA", "AA"]
    assert len(store.cases) == 2


@pytest.mark.parametrize("junk", [b"MSH\r", b"MSH\rPID|1", b"xxMSH\n", b"MSH|^\r", b"\x00\x00MSH|", b"MSH|^~\\&|" + b"^" * 300_000])
def test_hostile_bytes_get_a_generic_ar_not_a_crash(store, junk):
    [ack] = send(junk)
    assert seg(ack, "MSA")[1] == "AR" and not store.cases


def test_stray_segments_before_msh_are_dropped_not_answered(store):
    answers = send("garbage line\r" + h.rqa())
    assert [seg(a, "MSA")[1] for a in answers] == ["AA"]


def test_missing_version_is_rejected(store):
    [ack] = send(h.rqa().replace("|P|2.5|", "|P||", 1))
    assert seg(ack, "MSA")[1] == "AR" and "203" in seg(ack, "ERR")[1] + "|".join(seg(ack, "ERR"))


def test_impossible_values_are_dropped_and_invalid_fhir_is_ae_102(store):
    text = h.rqa().replace("19700102", "19701399")
    [ack] = send(text)
    assert seg(ack, "MSA")[1] == "AA"
    [case] = store.cases.values()
    assert case.member.birth_date is None
    [ack] = send(h.rqa(control_id="BAD-CODE").replace("72148^MRI", "72  148^MRI"))
    assert seg(ack, "MSA")[1] == "AE" and seg(ack, "ERR")[2] == "PR1^1^" and seg(ack, "ERR")[3].startswith("102")


def test_a_resend_stamped_anew_is_still_the_same_message(store):
    first = send(h.rqa())
    again = send(h.rqa().replace("20261123101500-0500", "20261123111500-0500", 1))
    assert [seg(a, "MSA") for a in first] == [seg(a, "MSA") for a in again] and len(store.cases) == 1


def test_unknown_request_is_located_at_the_field_that_names_it(store):
    [ack] = send(h.ehc("E02", inv="never"))
    assert seg(ack, "MSA")[1] == "AE" and seg(ack, "ERR")[2] == "IVC^1^1" and seg(ack, "ERR")[3].startswith("204")
    send(h.ehc("E01", inv="6"))
    [ack] = send(h.ehc("E21", inv="6"))  # cancel *authorization* naming an invoice: not the same request
    assert seg(ack, "MSA")[1] == "AE" and next(iter(store.cases.values())).status is Status.RECEIVED


def test_modify_after_a_decision_reopens_as_a_new_linked_prior_auth(store):
    from review import commands as cmd, lifecycle
    from review.model import Caller, Role
    send(h.rqa("I08", ref="21"))
    [case] = store.cases.values()
    nurse, at = Caller(id="nurse-demo", roles=frozenset({Role.REVIEWER})), datetime(2026, 11, 24, tzinfo=timezone.utc)
    case, _ = lifecycle.assign(case, nurse, cmd.Assign(version=1, reviewer="nurse-demo"), None, at)
    case, _ = lifecycle.start(case, nurse, at)
    case, event = lifecycle.decide(case, nurse, cmd.Decide(version=3, decisions=[
        {"item_sequence": 1, "decision": "approved"}]), at)
    store.replace(case, 1, [event])
    [ack] = send(h.rqa("I09", ref="21"))
    assert seg(ack, "MSA")[1] == "AA"
    reopened = next(c for c in store.cases.values() if c.id != case.id)
    assert reopened.kind is Kind.PRIOR_AUTH and reopened.original_case_id == case.id and reopened.is_open


def test_malformed_escapes_never_reach_the_logs(store, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    send(h.rqa().replace("DOE^JANE", "DOE\\Xzz\\SECRETNAME^JANE\\C2842\\"))
    assert "SECRETNAME" not in caplog.text and "DOE" not in caplog.text


def test_escape_sequences_decode_to_text(store):
    send(h.rqa().replace("DOE^JANE", "\\H\\DOE\\N\\^REN\\XC3A9\\"))
    [case] = store.cases.values()
    assert (case.member.family, case.member.given[0]) == ("DOE", "RENé")


def test_batch_ack_names_the_inbound_batch(store):
    [answer] = send("BHS|^~\\&|ACMEAPP|ACMEHLTH|||||||BATCH-77\r" + h.rqa() + "BTS|1\r")
    bhs = answer.split("\r")[0].split("|")
    assert bhs[0] == "BHS" and bhs[11] == "BATCH-77" and bhs[10]


@pytest.mark.parametrize("stamp", ["20261123", "202611231015", "20261123101500.1234+0100", ""])
def test_any_msh7_precision_is_accepted(store, stamp):
    [ack] = send(h.rqa().replace("20261123101500-0500", stamp, 1))
    assert seg(ack, "MSA")[1] == "AA"


def test_archive_or_update_failure_is_ar_and_takes_nothing_in(store, monkeypatch):
    def broken(*args, **kwargs):
        raise TimeoutError("S3 slow")
    put = store.archive.put
    monkeypatch.setattr(store.archive, "put", broken)
    [ack] = send(h.rqa())
    assert seg(ack, "MSA")[1] == "AR" and not store.cases
    monkeypatch.setattr(store.archive, "put", put)
    send(h.rqa())
    [case] = store.cases.values()
    monkeypatch.setattr(store, "replace", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down")))
    [ack] = send(h.rqa("I11"))
    assert seg(ack, "MSA")[1] == "AR" and store.cases[case.id].status is Status.RECEIVED


# found by tests/unit/test_fuzz_hl7.py

def test_msh9_is_read_once_as_admitted(store):
    """The mapping used to read MSH-9 again, unstripped: " RQA" was no message type it knew (AE 207)."""
    [ack] = send(h.rqa().replace("|RQA^I08", "| RQA^I08", 1))
    assert seg(ack, "MSA")[1] == "AA" and len(store.cases) == 1


@pytest.mark.parametrize("encoding", ["^0", "A~\\&", "^~ &"])
def test_a_letter_digit_or_blank_as_delimiter_is_refused_not_misread(store, encoding):
    """With "0" as repetition separator, M-1001 read as M-1 and a case was made of that."""
    [ack] = send(h.rqa().replace("MSH|^~\\&|", f"MSH|{encoding}|", 1))
    assert seg(ack, "MSA")[1] == "AR" and seg(ack, "ERR")[3].startswith("100") and not store.cases


def test_an_ack_is_not_acknowledged_even_when_it_cannot_be_read(store):
    assert send("MSH|^0|ACMEAPP|ACMEHLTH|CB|IRO|20261123||ACK^I08^ACK|A1|P|2.5\rMSA|AA|X\r") == []


# Processing ID (MSH-11): T (training) and D (debugging) are checked as P is, acknowledged, never kept.

def nothing_kept(store) -> bool:
    return not store.cases and not store.archive.objects and not store.submissions and not store.outboxes


@pytest.mark.parametrize("processing_id", ["T", "D"])
@pytest.mark.parametrize("version", ["2.3", "2.4", "2.5", "2.6", "2.8"])
def test_training_and_debugging_messages_are_validated_acknowledged_and_not_kept(store, processing_id, version):
    text = h.rqa(control_id="TRAIN-1", version=version).replace(f"|P|{version}|", f"|{processing_id}|{version}|", 1)
    [ack] = send(text)
    msg = read(ack, version)
    assert msg.msa.msa_1.value == "AA" and seg(ack, "MSH")[10] == processing_id
    said = f"Validated only: processing ID {processing_id}"
    if version == "2.8":  # MSA-3 is withdrawn from 2.7: the words go in an informational ERR-8
        err = seg(ack, "ERR")
        assert err[3].startswith("0^Message accepted") and err[4] == "I" and err[8].startswith(said)
    else:
        assert seg(ack, "MSA")[3].startswith(said) and "no case created" in seg(ack, "MSA")[3]
    assert nothing_kept(store)


def test_training_messages_get_the_refusals_production_would(store):
    train = (lambda text: text.replace("|P|2.5|", "|T|2.5|", 1))  # noqa: E731
    no_pid = "\r".join(s for s in h.rqa().split("\r") if not s.startswith("PID"))
    for text, code, err in [(no_pid, "AE", "100"), (h.rqa(facility="NOSUCH"), "AR", "204"),
                            (h.rqa().replace("72148^MRI", "72  148^MRI"), "AE", "102"),
                            (h.rqa("I09", ref="never-sent"), "AE", "204"), (h.rqa(version="2.2"), "AR", "203")]:
        [production] = send(text)
        [training] = send(train(text) if "|P|2.5|" in text else text.replace("|P|2.2", "|T|2.2"))
        assert (seg(training, "MSA")[1], "|".join(seg(training, "ERR"))) == (code, "|".join(seg(production, "ERR")))
        assert err in "|".join(seg(training, "ERR"))
    assert not store.cases


def test_a_training_change_to_a_production_case_changes_nothing(store):
    send(h.rqa("I08", ref="31"))
    [case] = store.cases.values()
    writes, objects = store.writes, dict(store.archive.objects)
    for trigger in ("I09", "I11"):
        [ack] = send(h.rqa(trigger, ref="31").replace("|P|2.5|", "|T|2.5|", 1))
        assert seg(ack, "MSA")[1] == "AA" and "Validated only" in seg(ack, "MSA")[3]
    assert store.cases[case.id] == case and store.writes == writes and store.archive.objects == objects
    assert not store.outbox(case.id)


# Acknowledgment codes: AE where the content is in error, AR where the message could not be processed.

def withdrawn_case(store, ref: str):
    from review import commands as cmd, lifecycle
    from review.model import Caller, Role
    send(h.rqa("I08", ref=ref))
    [case] = store.cases.values()
    lead = Caller(id="lead-demo", roles=frozenset({Role.SUPERVISOR}))
    withdrawn, event = lifecycle.withdraw(case, lead, cmd.Withdraw(version=1, reason="requester withdrew"),
                                          datetime(2026, 11, 24, tzinfo=timezone.utc))
    store.replace(withdrawn, 1, [event])
    return withdrawn


@pytest.mark.parametrize("version", ["2.4", "2.5", "2.8"])
def test_a_change_the_case_is_closed_to_is_an_application_error_saying_why(store, version):
    case = withdrawn_case(store, f"closed{version}")
    [ack] = send(h.rqa("I11", ref=f"closed{version}", version=version))  # a cancel of a withdrawn request
    read(ack, version)
    assert seg(ack, "MSA")[1] == "AE"
    err = "|".join(seg(ack, "ERR"))
    assert "207" in err and "206" not in err
    said = seg(ack, "MSA")[3] if version != "2.8" else seg(ack, "ERR")[8]
    assert said == "cannot cancel: the case is withdrawn"
    assert store.cases[case.id] == case
    [commit] = send(h.rqa("I11", ref=f"closed{version}", version=version, control_id="AGAIN", ack="AL", app_ack="AL"))
    assert seg(commit, "MSA")[1] == "CE"


def test_a_concurrent_change_that_won_the_race_is_ar_206_and_ce(store, monkeypatch):
    from review.errors import StaleVersion
    send(h.rqa("I08", ref="race"))

    def lost(*args, **kwargs):
        raise StaleVersion("the case changed meanwhile", "version")
    monkeypatch.setattr(store, "replace", lost)
    [ack] = send(h.rqa("I09", ref="race"))
    assert seg(ack, "MSA")[1] == "AR" and seg(ack, "ERR")[3].startswith("206")
    assert [seg(a, "MSA")[1] for a in send(h.rqa("I09", ref="race", control_id="R2", ack="AL", app_ack="AL"))] == ["CE"]


def test_the_ack_time_carries_its_offset(store):
    import re
    [ack] = send(h.rqa())
    assert re.fullmatch(r"\d{14}[+-]\d{4}", seg(ack, "MSH")[6])
    [answer] = send("FHS|^~\\&|ACMEAPP|ACMEHLTH\rBHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(ref="2") + "BTS|1\rFTS|1\r")
    assert all(re.fullmatch(r"\d{14}[+-]\d{4}", s.split("|")[6]) for s in answer.split("\r")[:2])


def test_the_batch_envelope_answers_in_the_batchs_delimiters_with_the_parties_swapped(store):
    batch = ("FHS|^~\\&|ACMEAPP|ACMEHLTH|CLAIMBRIDGE|IRO|20261123||day1.hl7||FILE-9\r"
             "BHS|^~\\&|ACMEAPP|ACMEHLTH|CLAIMBRIDGE|IRO|20261123||||BATCH-9\r"
             + h.rqa(ref="env1") + h.rqa(ref="env2") + "BTS|2\rFTS|1\r").replace("|", "#")
    [answer] = send(batch)
    segments = answer.rstrip("\r").split("\r")
    fhs, bhs = segments[0].split("#"), segments[1].split("#")
    assert fhs[:6] == ["FHS", "^~\\&", "CLAIMBRIDGE", "IRO", "ACMEAPP", "ACMEHLTH"] and fhs[11] == "FILE-9"
    assert bhs[:6] == ["BHS", "^~\\&", "CLAIMBRIDGE", "IRO", "ACMEAPP", "ACMEHLTH"] and bhs[11] == "BATCH-9"
    assert segments[-2:] == ["BTS#2", "FTS#1"]
    assert [s.split("#")[1] for s in segments if s.startswith("MSA")] == ["AA", "AA"]


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.hl7"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_shipped_examples_pass_hl7apys_strict_validation_for_their_version(path):
    batch = wire.split(path.read_bytes())
    assert batch.messages
    for text in batch.messages:
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        msg.validate()  # segment order and groups of the version's structure, required fields, data types
        assert msg.msh.msh_4.to_er7() == "DEMOPAYER"
    # hl7apy reads no FHS/BHS (it takes FHS-1/FHS-2 for ordinary fields); the trailers it does read
    for trailer in ("BTS", "FTS"):
        for line in (s for s in wire.segments(path.read_text()) if s.startswith(trailer)):
            parse_segment(line, version=Header.of(batch.messages[0]).version, validation_level=VALIDATION_LEVEL.STRICT)
