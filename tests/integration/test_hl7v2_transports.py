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


def test_http_answers_another_content_type_415_in_plain_text_not_an_ack(base_url):
    wrong_type = requests.post(f"{base_url}/hl7v2", data=h.rqa(), timeout=10, headers={
        "Authorization": "Bearer token-alpha", "Content-Type": "application/json"})
    assert wrong_type.status_code == 415 and wrong_type.headers["Content-Type"].startswith("text/plain")
    assert wrong_type.text.startswith("415 Unsupported Media Type: send HL7 v2 as ")
    assert "x-application/hl7-v2+er7" in wrong_type.text and "MSA" not in wrong_type.text


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
    bucket = stack.names["Hl7BatchBucket"]  # the partners' batch bucket, apart from the archive
    body = "FHS|^~\\&|ACMEAPP|ACMEHLTH\rBHS|^~\\&|ACMEAPP|ACMEHLTH\r" + h.rqa(control_id="FILE-1", ref="file1") \
        + h.rqa(control_id="FILE-2", ref="file2").replace("ACMEHLTH", "NOSUCH", 1) + "BTS|2\rFTS|1\r"
    s3.put_object(Bucket=bucket, Key="inbound/alpha/day1.hl7", Body=body.encode())
    event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": bucket}, "object": {"key": "inbound/alpha/day1.hl7"}}}]}
    assert batch.lambda_handler(event, None) == {"acknowledgments": ["outbound/alpha/day1.hl7.ack"]}
    acks = s3.get_object(Bucket=bucket, Key="outbound/alpha/day1.hl7.ack")["Body"].read().decode()
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


def test_unreachable_store_is_ar_and_the_resend_is_taken_in(stack, api):
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
        assert msa(answer.decode())[1:3] == ["AR", "FAULT-1"] and "|207^" in answer.decode()
    finally:
        bootstrap.override(lambda: working)
    assert api("alpha").get("/fhir/ClaimResponse", identifier="REF-fault1").json()["total"] == 0
    [answer] = handle_message(h.rqa(control_id="FAULT-1", ref="fault1").encode())
    assert msa(answer.decode())[1] == "AA"
    assert api("alpha").get("/fhir/ClaimResponse", identifier="REF-fault1").json()["total"] == 1
    bootstrap.override(None)


def archived_for(stack, partner: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    listed = s3.list_objects_v2(Bucket=os.environ["ARCHIVE_BUCKET"], Prefix=f"inbound/{partner}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_training_and_debugging_messages_over_http_and_mllp_are_validated_and_create_nothing(
        stack, fresh_partner, case_count, api):
    facility = fresh_partner.upper()
    training = h.rqa(control_id="TRAIN-HTTP", ref="train1", facility=facility).replace("|P|2.5|", "|T|2.5|", 1)
    debugging = h.rqa(control_id="DEBUG-MLLP", ref="debug1", facility=facility).replace("|P|2.5|", "|D|2.5|", 1)
    resp = post(stack.base_url, training, token=f"token-{fresh_partner}")
    assert resp.status_code == 200 and msa(resp.text)[1:3] == ["AA", "TRAIN-HTTP"]
    assert msa(resp.text)[3] == "Validated only: processing ID T (training), no case created"
    with MLLPClient("127.0.0.1", stack.mllp_port) as client:
        answer = client.send_message(debugging).decode()
    assert msa(answer)[1:3] == ["AA", "DEBUG-MLLP"] and "processing ID D (debugging)" in msa(answer)[3]
    invalid = "\r".join(s for s in training.split("\r") if not s.startswith("PID")).replace("TRAIN-HTTP", "TRAIN-BAD")
    assert msa(post(stack.base_url, invalid, token=f"token-{fresh_partner}").text)[1] == "AE"  # as P would
    assert case_count(fresh_partner) == 0 and archived_for(stack, fresh_partner) == []
    for ref in ("REF-train1", "REF-debug1"):
        assert api(fresh_partner).get("/fhir/ClaimResponse", identifier=ref).json()["total"] == 0
    production = post(stack.base_url, training.replace("|T|2.5|", "|P|2.5|", 1).replace("TRAIN-HTTP", "PROD-1"),
                      token=f"token-{fresh_partner}")
    assert msa(production.text)[1] == "AA" and len(msa(production.text)) == 3  # P: a case, and no such words
    assert case_count(fresh_partner) == 1 and len(archived_for(stack, fresh_partner)) == 1


NEEDS_NO_ANSWER = dict(ack="NE", app_ack="NE")


def test_claimbridge_send_does_not_wait_for_a_message_that_needs_no_answer(stack, tmp_path, api):
    path = tmp_path / "ne-ne.hl7"
    path.write_text(h.rqa(control_id="NENE-1", ref="nene1", **NEEDS_NO_ANSWER).replace("\r", "\n"))
    cli = str(Path(sys.executable).with_name("claimbridge"))
    run = subprocess.run([cli, "send", "--mllp", f"127.0.0.1:{stack.mllp_port}", str(path)],
                         capture_output=True, text=True, timeout=20)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("0 without answer, 1 needing no answer"), run.stdout
    assert api("alpha").get("/fhir/ClaimResponse", identifier="REF-nene1").json()["total"] == 1  # taken in


def test_mllp_send_waits_for_an_answer_that_never_comes_as_the_readme_warns(stack, tmp_path):
    """python-hl7's mllp_send reads an answer after every message; MSH-15/16 NE/NE gets none."""
    path = tmp_path / "ne-ne.hl7"
    path.write_text(h.rqa(control_id="NENE-2", ref="nene2", **NEEDS_NO_ANSWER).replace("\r", "\n"))
    try:
        subprocess.run([MLLP_SEND, "--port", str(stack.mllp_port), "--file", str(path), "--loose", "127.0.0.1"],
                       capture_output=True, text=True, timeout=3)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("mllp_send returned: the README's caveat about NE/NE messages is out of date")
