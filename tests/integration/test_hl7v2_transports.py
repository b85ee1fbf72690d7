"""HL7 v2 through every transport of the real stack: HTTP, MLLP (driven by python-hl7's `mllp_send`,
a client nobody here wrote) and batch files, against the embedded DynamoDB and S3."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import requests
from hl7.client import MLLPClient

from functions.hl7v2 import batch
from tests import hl7_factories as h

MLLP_SEND = str(Path(sys.executable).with_name("mllp_send"))


def post(base_url: str, body: str | bytes, token: str = "token-alpha") -> requests.Response:
    return requests.post(f"{base_url}/hl7v2", data=body.encode() if isinstance(body, str) else body, timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "x-application/hl7-v2+er7"})


def msa(answer: str) -> list[str]:
    return next(s for s in answer.split("\r") if s.startswith("MSA")).split("|")


def test_http_accepts_a_message_and_the_case_is_like_any_fhir_case(base_url, api, reviewer):
    resp = post(base_url, h.rqa(control_id="HTTP-1", ref="http1"))
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("x-application/hl7-v2+er7")
    assert msa(resp.text)[1:3] == ["AA", "HTTP-1"]
    client = api("alpha")
    found = client.get("/fhir/ClaimResponse", identifier="REF-http1").json()
    assert found["total"] == 1
    cr = found["entry"][0]["resource"]
    assert cr["outcome"] == "complete" and cr["meta"]["profile"] and [i["itemSequence"] for i in cr["item"]] == [1]
    dr = reviewer()
    case = dr.get(f"/cases/{cr['id']}").json()["case"]
    assert case["kind"] == "prior-auth" and case["member"]["family"] == "DOE"
    assert dr.decide(cr["id"], {"item_sequence": 1, "decision": "approved"}).status_code == 200
    assert client.get(f"/fhir/ClaimResponse/{cr['id']}").json()["preAuthRef"]


def test_http_batch_gets_an_enveloped_ack_per_message(base_url):
    body = "BHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(control_id="HB-1", ref="hb1") + h.rqa(control_id="HB-2", ref="hb2") + "BTS|2\r"
    resp = post(base_url, body)
    segments = resp.text.strip().split("\r")
    assert segments[0].startswith("BHS") and segments[-1] == "BTS|2"
    assert [s.split("|")[1:3] for s in segments if s.startswith("MSA")] == [["AA", "HB-1"], ["AA", "HB-2"]]


def test_http_refuses_a_facility_the_token_does_not_own(base_url):
    resp = post(base_url, h.rqa(control_id="HTTP-X"), token="token-beta")
    assert resp.status_code == 200 and msa(resp.text)[1] == "AR"
    assert requests.post(f"{base_url}/hl7v2", data=h.rqa(), timeout=10,
                         headers={"Content-Type": "x-application/hl7-v2+er7"}).status_code == 401
    wrong_type = requests.post(f"{base_url}/hl7v2", data=h.rqa(), timeout=10, headers={
        "Authorization": "Bearer token-alpha", "Content-Type": "application/json"})
    assert wrong_type.status_code == 415 and msa(wrong_type.text)[1] == "AR"


def test_mllp_send_delivers_many_messages_on_one_connection(stack, tmp_path):
    messages = [h.rqa(control_id=f"MLLP-{n}", ref=f"mllp{n}") for n in range(3)]
    path = tmp_path / "messages.hl7"
    path.write_text("".join(messages).replace("\r", "\n"))  # a plain file, one segment per line
    run = subprocess.run([MLLP_SEND, "--port", str(stack.mllp_port), "--file", str(path), "--loose", "127.0.0.1"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answers = [line for line in run.stdout.replace("\r", "\n").split("\n") if line.startswith("MSA")]
    assert [a.split("|")[1:3] for a in answers] == [["AA", f"MLLP-{n}"] for n in range(3)]


def test_concurrent_copies_make_one_case(stack, api):
    for round_ in range(3):
        message = h.rqa(control_id=f"CONC-{round_}", ref=f"conc{round_}")
        answers: list[str] = []

        def deliver():
            with MLLPClient("127.0.0.1", stack.mllp_port) as client:
                answers.append(client.send_message(message).decode())

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(answers) == 8 and {tuple(msa(a)[1:3]) for a in answers} == {("AA", f"CONC-{round_}")}
        assert len({a.split("\r")[0].split("|")[9] for a in answers}) == 1  # the same acknowledgment
        assert api("alpha").get("/fhir/ClaimResponse", identifier=f"REF-conc{round_}").json()["total"] == 1


def test_batch_file_dropped_in_s3_gets_an_ack_file(stack, api):
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    bucket = os.environ["ARCHIVE_BUCKET"]
    body = "FHS|^~\\&|ACMEAPP|ACMEHLTH\rBHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(control_id="FILE-1", ref="file1") \
        + h.rqa(control_id="FILE-2", ref="file2").replace("ACMEHLTH", "NOSUCH", 1) + "BTS|2\rFTS|1\r"
    s3.put_object(Bucket=bucket, Key="hl7/inbound/acme/day1.hl7", Body=body.encode())
    event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": bucket}, "object": {"key": "hl7/inbound/acme/day1.hl7"}}}]}
    assert batch.lambda_handler(event, None) == {"acknowledgments": ["hl7/outbound/acme/day1.hl7.ack"]}
    acks = s3.get_object(Bucket=bucket, Key="hl7/outbound/acme/day1.hl7.ack")["Body"].read().decode()
    segments = acks.strip().split("\r")
    assert segments[0].startswith("FHS") and segments[1].startswith("BHS") and segments[-2:] == ["BTS|2", "FTS|1"]
    assert [s.split("|")[1:3] for s in segments if s.startswith("MSA")] == [["AA", "FILE-1"], ["AR", "FILE-2"]]
    assert api("alpha").get("/fhir/ClaimResponse", identifier="REF-file1").json()["total"] == 1


def test_claimbridge_send_over_mllp_and_http(stack, tmp_path):
    path = tmp_path / "one.hl7"
    path.write_text(h.rqa(control_id="SEND-1", ref="send1"))
    cli = str(Path(sys.executable).with_name("claimbridge"))
    for target in (["--mllp", f"127.0.0.1:{stack.mllp_port}"], ["--http", stack.base_url, "--token", "token-alpha"]):
        run = subprocess.run([cli, "send", *target, str(path)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.search(r"\b1 AA\b", run.stdout + run.stderr), run.stdout + run.stderr


def test_unreachable_store_is_ae_and_the_resend_is_taken_in(stack, api):
    """Fault injected at the edge: the real DynamoDB store, pointed at a port where nothing listens."""
    from botocore.config import Config

    from adapters.case_store import DynamoCaseRepository
    from functions import bootstrap
    from functions.hl7v2.intake import handle_message

    working = bootstrap.services()
    dead = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", config=Config(
        retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1))
    bootstrap.override(lambda: bootstrap.Services(DynamoCaseRepository(dead, os.environ["CASES_TABLE"]),
                                                  working.archive, working.clock))
    try:
        [answer] = handle_message(h.rqa(control_id="FAULT-1", ref="fault1").encode())
        assert msa(answer.decode())[1:3] == ["AE", "FAULT-1"] and "|207^" in answer.decode()
    finally:
        bootstrap.override(lambda: working)
    assert api("alpha").get("/fhir/ClaimResponse", identifier="REF-fault1").json()["total"] == 0
    [answer] = handle_message(h.rqa(control_id="FAULT-1", ref="fault1").encode())
    assert msa(answer.decode())[1] == "AA"
    assert api("alpha").get("/fhir/ClaimResponse", identifier="REF-fault1").json()["total"] == 1
    bootstrap.override(None)
