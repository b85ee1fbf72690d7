"""kill -9 under load, restart on the same data directory, resend what got no answer: every message
becomes exactly one case. Senders that got no answer must resend; idempotency answers them."""
from __future__ import annotations

import json
import re
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import requests

from tests.e2e.test_serve import ROOT, start_serve, stop

pytestmark = pytest.mark.e2e
MESSAGES = 160
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING"}  # stdout is a pipe nobody drains while under load
HEADERS = {"Authorization": "Bearer demo-token", "Content-Type": "application/fhir+json"}


def bundle(n: int) -> str:
    doc = json.loads((ROOT / "examples" / "pas-request.json").read_bytes())
    doc["identifier"] = {"system": "urn:crash-test", "value": f"crash-{n}"}
    return json.dumps(doc)


def submit(base: str, n: int) -> str | None:
    """The case id the answer names, or None when no answer came (the stack died meanwhile)."""
    try:
        resp = requests.post(f"{base}/fhir/Claim/$submit", data=bundle(n), headers=HEADERS, timeout=20)
    except requests.RequestException:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["entry"][0]["resource"]["id"]


def embedded_endpoint(proc) -> str:
    for line in proc.stdout:
        if m := re.search(r"embedded DynamoDB/S3 endpoint ([^\s,]+)", line):
            return m.group(1)
    raise AssertionError("no embedded endpoint printed")


def test_kill_under_load_then_resend_makes_each_message_one_case(tmp_path):
    data = tmp_path / "store"
    base, proc = start_serve(QUIET, "--data-dir", str(data))
    answered: dict[int, str] = {}
    enough = threading.Event()

    def send(n: int) -> None:
        if (case_id := submit(base, n)) is not None:
            answered[n] = case_id
            if len(answered) >= MESSAGES // 3:
                enough.set()

    with ThreadPoolExecutor(8) as pool:
        sent = [pool.submit(send, n) for n in range(MESSAGES)]
        enough.wait(60)
        proc.send_signal(signal.SIGKILL)  # mid-load: some requests in flight, some not yet sent
    proc.wait(10)
    for future in sent:
        future.result()  # an answer other than 200 fails here, not silently
    assert MESSAGES // 3 <= len(answered) < MESSAGES

    journal = data / "journal.jsonl"
    with open(journal, "ab") as f:
        f.write(b'{"method":"POST","path":"/","query":"","headers":{"HTTP_X_AMZ_TARGET":"Dyn')  # torn mid-append

    base, proc = start_serve(QUIET, "--data-dir", str(data))
    try:
        endpoint = embedded_endpoint(proc)
        unanswered = [n for n in range(MESSAGES) if n not in answered]
        with ThreadPoolExecutor(8) as pool:
            resent = dict(zip(unanswered, pool.map(lambda n: submit(base, n), unanswered)))
        replayed = {n: submit(base, n) for n in list(answered)[:10]}  # an answered message sent again
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id="local", aws_secret_access_key="local")
        pages = dynamodb.get_paginator("scan").paginate(TableName="claimbridge-CasesTable")
        stored = [i["PK"]["S"] for page in pages for i in page["Items"] if i["SK"]["S"] == "CASE"]
    finally:
        stop(proc)

    assert None not in resent.values()
    assert replayed == {n: answered[n] for n in replayed}  # the same case, not a second one
    case_ids = {**answered, **resent}
    assert len(case_ids) == MESSAGES and len(set(case_ids.values())) == MESSAGES  # one case per message
    assert sorted(stored) == sorted(f"CASE#{c}" for c in case_ids.values())  # and no stray ones
    assert journal.read_bytes().endswith(b"\n")  # the torn record was cut off
