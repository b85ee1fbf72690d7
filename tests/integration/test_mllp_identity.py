"""Who may send as a partner over MLLP and in batch files, against the embedded DynamoDB and S3.

MLLP: the listener `claimbridge serve` and the Fargate service run (infra.mllp.listener), over real
sockets, with certificates made here (tests/certs.py): TLS terminated by the listener, a client
certificate from its CA required and mapped to the partner listing its fingerprint; or, without TLS,
the partner whose source_cidrs hold the address. Batch files: the partner is the key's prefix."""
from __future__ import annotations

import json
import logging
import os
import ssl

import boto3
import pytest

from adapters.hl7v2.mllp import exchange, server_tls
from adapters.partners import token_hash
from functions.hl7v2 import batch
from infra.mllp import listener
from tests import hl7_factories as h
from tests.certs import make_pki

LOOPBACK = "127.0.0.0/8"
ELSEWHERE = "192.0.2.0/24"  # TEST-NET-1: no test connects from there


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("mllp-pki"))


@pytest.fixture(scope="module")
def certs(pki, tmp_path_factory):
    """Client certificates: two partners', one no partner lists (same CA), one from another CA."""
    stranger = make_pki(tmp_path_factory.mktemp("other-ca"))
    return {"a": pki.issue_client("partner-a"), "b": pki.issue_client("partner-b"),
            "unlisted": pki.issue_client("unlisted"), "other-ca": stranger.issue_client("partner-a")}


@pytest.fixture
def partners(stack, tmp_path, monkeypatch):
    """partners({id: mllp block or None}) -> the registry for this test; partner <id> owns facility
    <ID> and token token-<id>. The session stack's own file is put back afterwards."""
    def write(blocks: dict[str, dict | None]) -> None:
        path = tmp_path / "partners.json"
        path.write_text(json.dumps({"partners": [
            {"id": pid, "token_sha256": [token_hash(f"token-{pid}")], "hl7_facilities": [pid.upper()],
             **({"mllp": block} if block else {})} for pid, block in blocks.items()]}))
        monkeypatch.setenv("PARTNERS_FILE", str(path))
    return write


@pytest.fixture
def tls_listener(stack, pki):
    with listener("127.0.0.1", 0, tls=server_tls(str(pki.server_cert), str(pki.server_key), str(pki.ca_file)),
                  frame_timeout=5) as running:
        yield running


@pytest.fixture
def plain_listener(stack):
    with listener("127.0.0.1", 0, frame_timeout=5) as running:
        yield running


def send(port: int, message: str, context: ssl.SSLContext | None = None) -> str | None:
    """The answer to one message, or None when the listener closed the connection unanswered."""
    try:
        answer = exchange("127.0.0.1", port, message.encode(), context=context, timeout=10)
    except (ssl.SSLError, ConnectionError):
        return None  # TLS 1.3: a refused client certificate shows on the first read
    return answer.decode() if answer is not None else None


def reasons(caplog) -> list[str]:
    """Why the listener refused connections, as it logged (a field of the record, not its message)."""
    return [r.reason for r in caplog.records if hasattr(r, "reason")]


def msa(answer: str) -> list[str]:
    return next(s for s in answer.split("\r") if s.startswith("MSA")).split("|")


def err(answer: str) -> str:
    return next(s for s in answer.split("\r") if s.startswith("ERR"))


def stored(api, partner: str, ref: str) -> int:
    return api(partner).get("/fhir/ClaimResponse", identifier=f"REF-{ref}").json()["total"]


def test_a_partner_presenting_its_certificate_is_accepted(partners, tls_listener, pki, certs, api):
    partners({"tlsa": {"client_certs": [certs["a"].fingerprint]}, "tlsb": {"client_certs": [certs["b"].fingerprint]}})
    answer = send(tls_listener.port, h.rqa(facility="TLSA", control_id="TLS-A1", ref="tls-a1"),
                  pki.client_context(certs["a"]))
    assert answer is not None and msa(answer)[1:3] == ["AA", "TLS-A1"]
    assert stored(api, "tlsa", "tls-a1") == 1


@pytest.mark.parametrize("client", [None, "other-ca"])
def test_no_certificate_or_one_from_another_ca_is_refused_in_the_handshake(
        partners, tls_listener, pki, certs, api, caplog, client):
    partners({"tlsa": {"client_certs": [certs["a"].fingerprint, certs["other-ca"].fingerprint]}})
    context = pki.client_context(certs[client] if client else None)
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # so the client's own handshake sees the refusal
    with caplog.at_level(logging.WARNING), pytest.raises(ssl.SSLError):
        exchange("127.0.0.1", tls_listener.port, h.rqa(facility="TLSA", ref="tls-refused").encode(),
                 context=context, timeout=10)
    assert send(tls_listener.port, h.rqa(facility="TLSA", ref="tls-refused"), pki.client_context(
        certs[client] if client else None)) is None  # TLS 1.3 too
    assert stored(api, "tlsa", "tls-refused") == 0
    assert "mllp tls handshake refused" in caplog.text
    assert set(reasons(caplog)) == {"PEER_DID_NOT_RETURN_A_CERTIFICATE" if client is None
                                    else "CERTIFICATE_VERIFY_FAILED"}


def test_partner_a_certificate_sending_as_partner_b_gets_ar_and_nothing_is_stored(
        partners, tls_listener, pki, certs, api):
    partners({"tlsa": {"client_certs": [certs["a"].fingerprint]}, "tlsb": {"client_certs": [certs["b"].fingerprint]}})
    answer = send(tls_listener.port, h.rqa(facility="TLSB", control_id="TLS-AB", ref="tls-ab", version="2.5"),
                  pki.client_context(certs["a"]))
    assert msa(answer)[1:3] == ["AR", "TLS-AB"]
    assert err(answer).split("|")[2:4] == ["MSH^1^4", "204^Unknown key identifier^HL70357"]
    assert "MSH-4 is not a facility of the partner this sender was identified as" in msa(answer)[3]  # no values; within MSA-3's 80 characters
    assert stored(api, "tlsb", "tls-ab") == 0 and stored(api, "tlsa", "tls-ab") == 0


def test_a_certificate_no_partner_lists_is_refused_before_any_message(partners, tls_listener, pki, certs, api,
                                                                     caplog):
    partners({"tlsa": {"client_certs": [certs["a"].fingerprint]}})
    with caplog.at_level(logging.WARNING):
        assert send(tls_listener.port, h.rqa(facility="TLSA", ref="tls-unlisted"),
                    pki.client_context(certs["unlisted"])) is None
    assert stored(api, "tlsa", "tls-unlisted") == 0
    assert reasons(caplog) == ["the client certificate is no partner's"]


def test_a_certificate_used_outside_its_partners_networks_is_refused(partners, tls_listener, pki, certs, api):
    partners({"tlsa": {"client_certs": [certs["a"].fingerprint], "source_cidrs": [ELSEWHERE]}})
    assert send(tls_listener.port, h.rqa(facility="TLSA", ref="tls-elsewhere"), pki.client_context(certs["a"])) is None
    assert stored(api, "tlsa", "tls-elsewhere") == 0


def test_without_tls_the_source_network_names_the_partner(partners, plain_listener, api):
    partners({"neta": {"source_cidrs": [LOOPBACK]}, "netx": {"source_cidrs": [ELSEWHERE]}})
    answer = send(plain_listener.port, h.rqa(facility="NETA", control_id="NET-A", ref="net-a"))
    assert msa(answer)[1:3] == ["AA", "NET-A"] and stored(api, "neta", "net-a") == 1
    # netx's facility from neta's network: AR, as a certificate of the wrong partner gets
    answer = send(plain_listener.port, h.rqa(facility="NETX", control_id="NET-X", ref="net-x"))
    assert msa(answer)[1:3] == ["AR", "NET-X"] and stored(api, "netx", "net-x") == 0


def test_an_address_outside_every_partners_networks_is_refused(partners, plain_listener, api, caplog):
    partners({"netx": {"source_cidrs": [ELSEWHERE]}, "unbound": None})
    with caplog.at_level(logging.WARNING):
        assert send(plain_listener.port, h.rqa(facility="NETX", ref="net-refused")) is None
        assert send(plain_listener.port, h.rqa(facility="UNBOUND", ref="net-refused")) is None  # no mllp block
    assert stored(api, "netx", "net-refused") == 0 and stored(api, "unbound", "net-refused") == 0
    assert reasons(caplog) == ["no partner's client certificate or source network"] * 2


def test_with_no_partner_bound_msh_4_still_names_the_sender(partners, plain_listener, api):
    partners({"free": None})
    answer = send(plain_listener.port, h.rqa(facility="FREE", control_id="FREE-1", ref="free-1"))
    assert msa(answer)[1:3] == ["AA", "FREE-1"] and stored(api, "free", "free-1") == 1


# Batch files: the session stack's partners (alpha owns ACMEHLTH and ALPHA; beta owns BETA).

def drop(stack, key: str, body: str) -> list[str]:
    """Put a file in the batch bucket and run the function on its event, as S3 would; the ACK file's segments."""
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    bucket = stack.names["Hl7BatchBucket"]
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}
    [ack_key] = batch.lambda_handler(event, None)["acknowledgments"]
    assert ack_key == key.replace("inbound/", "outbound/", 1) + ".ack"
    return s3.get_object(Bucket=bucket, Key=ack_key)["Body"].read().decode().strip().split("\r")


def codes(segments: list[str]) -> list[list[str]]:
    return [s.split("|")[1:3] for s in segments if s.startswith("MSA")]


def test_a_batch_under_the_partners_prefix_is_taken_in_as_that_partner(stack, api):
    body = "BHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(control_id="BP-1", ref="bp1") + "BTS|1\r"
    assert codes(drop(stack, "inbound/alpha/own.hl7", body)) == [["AA", "BP-1"]]
    assert stored(api, "alpha", "bp1") == 1


def test_a_batch_whose_header_names_another_partner_is_refused_whole(stack, api):
    body = "BHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(facility="BETA", control_id="BX-1", ref="bx1") + "BTS|1\r"
    segments = drop(stack, "inbound/beta/forged.hl7", body)
    assert codes(segments) == [["AR", "BX-1"]]
    assert next(s for s in segments if s.startswith("ERR")).split("|")[2] == "BHS^1^4"
    assert next(s for s in segments if s.startswith("MSA")).split("|")[3] == \
        "Batch refused: BHS-4 names another sender than the key's partner"
    assert stored(api, "beta", "bx1") == 0 and stored(api, "alpha", "bx1") == 0


def test_a_message_naming_another_partner_in_a_partners_batch_gets_ar(stack, api):
    body = "BHS|^~\\&|BETAAPP|BETA\r" + h.rqa(facility="BETA", control_id="BM-1", ref="bm1") \
        + h.rqa(control_id="BM-2", ref="bm2") + "BTS|2\r"  # the second names ACMEHLTH: alpha's
    assert codes(drop(stack, "inbound/beta/mixed.hl7", body)) == [["AA", "BM-1"], ["AR", "BM-2"]]
    assert stored(api, "beta", "bm1") == 1 and stored(api, "alpha", "bm2") == 0


@pytest.mark.parametrize("key", ["inbound/nobody/file.hl7", "inbound/file.hl7"])
def test_a_batch_under_no_partners_prefix_is_refused(stack, api, key):
    assert codes(drop(stack, key, h.rqa(control_id="BN-1", ref="bn1"))) == [["AR", "BN-1"]]
    assert stored(api, "alpha", "bn1") == 0


def test_batch_files_are_kept_apart_from_the_archive(stack):
    assert stack.names["Hl7BatchBucket"] != os.environ["ARCHIVE_BUCKET"]
