"""A delivery worker killed mid-delivery loses nothing: `claimbridge serve` is killed (-9) while the
payer's server holds the PUT; restarted on the same data directory, the stack owes the record again
(it was never acknowledged) and delivers it."""
from __future__ import annotations

import json
import signal
import time

import pytest
import requests

from adapters.partners import token_hash
from infra.local.identity import LocalUserPool
from tests.e2e.test_crash_restart import QUIET, bundle
from tests.e2e.test_serve import start_serve, stop
from tests.receivers import Receiver, Reply

pytestmark = pytest.mark.e2e


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)
    return found


def test_a_worker_killed_mid_delivery_delivers_after_the_restart(tmp_path):
    with Receiver() as payer:
        payer.answer("/fhir/ClaimResponse", Reply(201, delay=60))  # the first PUT is held: the worker waits
        payer.serve("/fhir/ClaimResponse", Reply(201))
        partners = tmp_path / "partners.yaml"
        partners.write_text(json.dumps({"partners": [{"id": "payer", "token_sha256": [token_hash("payer-token")],
                                                      "delivery": {"fhir": {"base_url": f"{payer.url}/fhir"}}}]}))
        key = tmp_path / "signing-key.pem"
        args = ("--data-dir", str(tmp_path / "store"), "--partners", str(partners), "--signing-key", str(key))
        base, proc = start_serve(QUIET, *args)
        reviewer = {"Authorization": f"Bearer {LocalUserPool(signing_key=key).token('dr-demo')}"}
        resp = requests.post(f"{base}/fhir/Claim/$submit", data=bundle(1), timeout=30, headers={
            "Authorization": "Bearer payer-token", "Content-Type": "application/fhir+json"})
        assert resp.status_code == 200, resp.text
        case_id = resp.json()["entry"][0]["resource"]["id"]
        version = 1
        for command, body in (("assignment", {"reviewer": "dr-demo"}), ("start", {}),
                              ("determination", {"decisions": [{"item_sequence": n, "decision": "approved"} for n in (1, 2)]})):
            answer = requests.post(f"{base}/cases/{case_id}/{command}", json={"version": version, **body},
                                   headers=reviewer, timeout=30)
            assert answer.status_code == 200, answer.text
            version = answer.json()["version"]

        wait_for(lambda: payer.to(f"/fhir/ClaimResponse/{case_id}"))  # the PUT is in flight, unanswered
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        base, proc = start_serve(QUIET, *args)
        try:
            case = wait_for(lambda: (c := requests.get(f"{base}/cases/{case_id}", headers=reviewer, timeout=30).json())
                            ["case"]["status"] == "delivered" and c)
        finally:
            stop(proc)
        puts = payer.to(f"/fhir/ClaimResponse/{case_id}")
    assert len(puts) == 2 and puts[0].body == puts[1].body  # the same resource, sent again whole
    [record] = [d for d in case["deliveries"] if d["target"] == "fhir"]
    assert record["state"] == "delivered" and [a["code"] for a in record["attempts"]] == ["201"]
