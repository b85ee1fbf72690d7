"""Delivery end to end through the local stack: a determination's outbox record flows from the
table's stream through the Pipe into the queue, the delivery worker sends it to a receiver this
test starts on loopback, and the record, its attempts and the case show what happened."""
from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from infra.local import cli
from tests import factories as f
from tests.certs import make_pki
from tests.fhir_validate import validate
from tests.receivers import Receiver, Reply

pytestmark = pytest.mark.integration
PAS_CLAIMRESPONSE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claimresponse"


def eventually(check, timeout: float = 60.0, every: float = 0.05):
    """`check()`'s first truthy answer, waiting up to `timeout` seconds for one."""
    deadline = time.monotonic() + timeout
    while True:
        if found := check():
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(every)


@pytest.fixture
def decided(api, reviewer):
    """decided(partner, claim id) -> the id of a case of that partner's, submitted and approved."""
    def run(partner: str, claim: str, decision: str = "approved") -> str:
        resp = api(partner).submit(f.pas_bundle(f.claim(claim), identifier=f"B-{claim}"))
        assert resp.status_code == 200, resp.text
        case_id = resp.json()["entry"][0]["resource"]["id"]
        answer = reviewer().decide(case_id, {"item_sequence": 1, "decision": decision})
        assert answer.status_code == 200, answer.text
        return case_id
    return run


@pytest.fixture
def case_of(reviewer):
    return lambda case_id: reviewer().get(f"/cases/{case_id}").json()


def delivery(case: dict, target: str = "fhir") -> dict:
    [record] = [d for d in case["deliveries"] if d["target"] == target]
    return record


def settled(case_of, case_id: str, state: str, target: str = "fhir"):
    """The case once its delivery to `target` is in `state` (and, when delivered, so is the case)."""
    def reached():
        case = case_of(case_id)
        done = delivery(case, target)["state"] == state
        return case if done and (state != "delivered" or case["case"]["status"] == "delivered") else None
    return eventually(reached)


def printed(capsys) -> list[list[str]]:
    """The CLI's lines (the worker's metric lines share stdout in this process)."""
    return [line.split("\t") for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]


def secret_file(stack, name: str, content: bytes) -> str:
    """A secret beside the partners file, named relative to it (as the README's example does)."""
    path = Path(stack.partners_file).parent / name
    path.write_bytes(content)
    return name


def test_a_determination_is_put_to_the_payer_and_the_case_becomes_delivered(stack, delivering_partner, decided,
                                                                             case_of, tmp_path):
    with Receiver() as payer:
        payer.serve("/r4/ClaimResponse", Reply(201))
        token = secret_file(stack, "payer-a.token", b"s3cret-payer-token\n")
        partner = delivering_partner({"fhir": {"base_url": f"{payer.url}/r4/",
                                               "auth": {"type": "bearer", "token_file": token}}})
        case_id = decided(partner, "DELIVER-OK")
        case = settled(case_of, case_id, "delivered")
        [put] = payer.to(f"/r4/ClaimResponse/{case_id}")
    assert put.method == "PUT" and put.headers["content-type"] == "application/fhir+json"
    assert put.headers["authorization"] == "Bearer s3cret-payer-token"
    sent = put.json()
    assert sent["resourceType"] == "ClaimResponse" and sent["id"] == case_id and sent["outcome"] == "complete"
    assert sent["meta"]["profile"] == [PAS_CLAIMRESPONSE] and sent["item"][0]["itemSequence"] == 1
    record = delivery(case)
    [attempt] = record["attempts"]
    assert (record["state"], record["tries"], attempt["n"], attempt["code"], attempt["target"]) == \
        ("delivered", 1, 1, "201", "fhir")
    assert attempt["latency_ms"] >= 0 and attempt.get("next_at") is None and "body" not in attempt
    # Every target acknowledged the determination: decided -> delivered, recorded in the history.
    assert case["case"]["status"] == "delivered"
    assert [e["type"] for e in case["history"]][-2:] == ["determination", "delivered"]
    validate(tmp_path, {"delivered-claimresponse": sent})


def test_a_target_that_is_down_is_retried_until_it_is_up(delivering_partner, decided, case_of, reviewer):
    with socket.socket() as probe:  # a free port, with nothing listening on it yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    partner = delivering_partner({"fhir": {"base_url": f"http://127.0.0.1:{port}/fhir"}})
    case_id = decided(partner, "DELIVER-DOWN")
    eventually(lambda: len(delivery(case_of(case_id))["attempts"]) >= 2)
    with Receiver(port=port) as payer:
        payer.serve("/fhir/ClaimResponse", Reply(200))
        case = settled(case_of, case_id, "delivered")
    attempts = delivery(case)["attempts"]
    failed, last = attempts[:-1], attempts[-1]
    assert all(a["code"] is None and a["error"] == "ConnectError" and a["next_at"] for a in failed)
    assert [a["n"] for a in attempts] == list(range(1, len(attempts) + 1)) and last["code"] == "200"
    for before, after in zip(attempts, attempts[1:]):  # each retry waited at least until its next_at
        assert datetime.fromisoformat(after["at"]) >= datetime.fromisoformat(before["next_at"]).replace(microsecond=0)
    assert case["case"]["status"] == "delivered"


def test_a_refusal_is_dead_lettered_at_once_and_redriven_once_the_receiver_is_fixed(
        stack, delivering_partner, decided, case_of, capsys):
    with Receiver() as payer:
        payer.serve("/fhir/ClaimResponse", Reply(400, {"Content-Type": "application/fhir+json"}, b'{"resourceType":'
                                                   b'"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}'))
        partner = delivering_partner({"fhir": {"base_url": f"{payer.url}/fhir"}, "max_attempts": 5})
        case_id = decided(partner, "DELIVER-400")
        case = settled(case_of, case_id, "dead")
        [attempt] = delivery(case)["attempts"]  # not retried: a 400 will not get better by itself
        assert (attempt["code"], attempt.get("next_at")) == ("400", None) and case["case"]["status"] == "decided"
        dead_letters = boto3.client("sqs", endpoint_url=stack.aws_endpoint)
        queue = os.environ["DELIVERY_DEAD_LETTERS_URL"]
        parked = eventually(lambda: dead_letters.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                                 VisibilityTimeout=0).get("Messages"))
        assert {"PK": f"CASE#{case_id}", "SK": f"OUTBOX#{delivery(case)['case_version']:08d}#fhir"} in \
            [json.loads(m["Body"]) for m in parked]

        listing = ["--url", stack.base_url, "--signing-key", str(stack.user_pool.key_path)]
        assert cli.main(["deliveries", "--failed", *listing]) == 0
        lines = printed(capsys)
        assert [case_id, "fhir", "dead", "determination"] in [line[:4] for line in lines]
        assert ["last=400"] == [line[6] for line in lines if line[0] == case_id]

        payer.serve("/fhir/ClaimResponse", Reply(201))  # the payer fixed its side
        assert cli.main(["redrive", "--case", case_id, *listing]) == 0
        assert [line[:3] for line in printed(capsys)] == [[case_id, "fhir", "pending"]]  # only the dead one
        case = settled(case_of, case_id, "delivered")
        assert len(payer.to(f"/fhir/ClaimResponse/{case_id}")) == 2
    record = delivery(case)
    assert [(a["n"], a["code"]) for a in record["attempts"]] == [(1, "400"), (1, "201")]  # counted afresh
    assert case["case"]["status"] == "delivered"
    assert cli.main(["deliveries", "--case", case_id, *listing]) == 0
    # Every record of the case; the session registers an EHR for organizations, so it owed a fan-out too.
    assert [line[:3] for line in printed(capsys)] == [[case_id, "fhir", "delivered"],
                                                      [case_id, "subscriptions", "delivered"]]


def test_retry_after_is_honoured(delivering_partner, decided, case_of):
    with Receiver() as payer:
        payer.answer("/fhir/ClaimResponse", Reply(429, {"Retry-After": "3"}))
        payer.serve("/fhir/ClaimResponse", Reply(200))
        partner = delivering_partner({"fhir": {"base_url": f"{payer.url}/fhir"}})
        case_id = decided(partner, "DELIVER-429")
        case = settled(case_of, case_id, "delivered")
        first, second = payer.to(f"/fhir/ClaimResponse/{case_id}")
    busy, ok = delivery(case)["attempts"]
    assert (busy["code"], ok["code"]) == ("429", "200")
    waited = datetime.fromisoformat(ok["at"]) - datetime.fromisoformat(busy["at"])
    assert waited.total_seconds() >= 3 and (datetime.fromisoformat(busy["next_at"]) -
                                            datetime.fromisoformat(busy["at"])).total_seconds() == pytest.approx(3, abs=1)


def test_a_duplicate_message_delivers_nothing_twice(stack, delivering_partner, decided, case_of):
    with Receiver() as payer:
        payer.serve("/fhir/ClaimResponse", Reply(201))
        partner = delivering_partner({"fhir": {"base_url": f"{payer.url}/fhir"}})
        case_id = decided(partner, "DELIVER-TWICE")
        case = settled(case_of, case_id, "delivered")
        sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint)
        body = json.dumps({"PK": f"CASE#{case_id}", "SK": f"OUTBOX#{delivery(case)['case_version']:08d}#fhir"})
        for _ in range(2):  # SQS delivers at least once: the same message again, twice
            sqs.send_message(QueueUrl=os.environ["DELIVERY_QUEUE_URL"], MessageBody=body)
        later = decided(partner, "DELIVER-TWICE-AFTER")  # queued behind the copies: they were read first
        settled(case_of, later, "delivered")
        assert len(payer.to(f"/fhir/ClaimResponse/{case_id}")) == 1  # one resource version at the payer
    assert len(delivery(case_of(case_id))["attempts"]) == 1


def test_smart_backend_services(stack, delivering_partner, decided, case_of):
    """Discovery, a client assertion the token endpoint verifies, tokens cached until 60 s before
    expiry (these live 61 s: one second of use), and a 401 answered by one new token and a retry."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    issued: list[str] = []

    with Receiver() as payer:
        def token_endpoint(request):
            form = request.form()
            claims = jwt.decode(form["client_assertion"], key.public_key(), algorithms=["RS384"],
                                audience=f"{payer.url}/auth/token")
            assert claims["iss"] == claims["sub"] == "claimbridge-iro" and claims["exp"] - claims["iat"] <= 300
            assert form["grant_type"] == "client_credentials" and form["scope"] == "system/ClaimResponse.write"
            assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            issued.append(f"access-{len(issued)}")
            return Reply.json({"access_token": issued[-1], "token_type": "bearer", "expires_in": 61})

        def resource_server(request):
            granted = request.headers.get("authorization") == f"Bearer {issued[-1]}" if issued else False
            return Reply(201 if granted else 401)

        payer.serve("/fhir/.well-known/smart-configuration",
                    Reply.json({"token_endpoint": f"{payer.url}/auth/token", "capabilities": ["client-confidential-asymmetric"]}))
        payer.serve("/auth/token", token_endpoint)
        payer.serve("/fhir/ClaimResponse", resource_server)
        partner = delivering_partner({"fhir": {"base_url": f"{payer.url}/fhir", "auth": {
            "type": "smart-backend", "client_id": "claimbridge-iro", "alg": "RS384",
            "key_file": secret_file(stack, "smart-key.pem", pem)}}})
        first = decided(partner, "DELIVER-SMART-1")
        settled(case_of, first, "delivered")
        time.sleep(1.2)  # the token is now within 60 s of its expiry: the next delivery gets a new one
        second = decided(partner, "DELIVER-SMART-2")
        settled(case_of, second, "delivered")
        issued.append("revoked-elsewhere")  # the server forgets the current token: 401, new token, retry
        third = decided(partner, "DELIVER-SMART-3")
        settled(case_of, third, "delivered")
        assert len(payer.to("/fhir/.well-known/smart-configuration")) == 1  # discovered once
        assert len(payer.to("/auth/token")) == 3
        assert [r.headers["authorization"] for r in payer.to(f"/fhir/ClaimResponse/{third}")] == \
            ["Bearer access-1", "Bearer access-3"]


def test_mutual_tls(stack, delivering_partner, decided, case_of, tmp_path):
    pki = make_pki(tmp_path)
    with Receiver(tls=pki.server_context()) as payer:
        payer.serve("/fhir/ClaimResponse", Reply(201))
        partner = delivering_partner({"fhir": {"base_url": f"https://127.0.0.1:{payer.port}/fhir", "auth": {
            "type": "mtls", "cert_file": str(pki.client_cert), "key_file": str(pki.client_key),
            "ca_file": str(pki.ca_file)}}})
        case_id = decided(partner, "DELIVER-MTLS")
        settled(case_of, case_id, "delivered")
        [put] = payer.to(f"/fhir/ClaimResponse/{case_id}")
    subject = dict(pair for rdn in put.peer_cert["subject"] for pair in rdn)
    assert subject["commonName"] == "claimbridge client"
