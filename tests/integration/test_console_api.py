"""What the console reads beyond the worklist and lifecycle (tests/integration/test_review_api.py):
the inbound message log, masked reads and the audited member reveal, document links, the case's
ClaimResponse, reason codes, open-case counts per partner, and the console's own files and local
sign-in. Real HTTP against the local stack; the console itself is driven in tests/browser."""
from __future__ import annotations

import base64
import json
import socket

import requests

from infra.local.console import ROOT
from infra.local.topology import Topology
from tests import factories as f
from tests import hl7_factories as h
from tests.integration.test_review_api import FAMILY, GIVEN, PDF, ok, request, submitted


def messages(lead, **params) -> list[dict]:
    return ok(lead.get("/messages", **params))["messages"]


def entry_for(lead, control_id: str) -> dict:
    return next(m for m in messages(lead, limit=200) if m.get("control_id") == control_id)


def hl7_post(base_url: str, body: str) -> str:
    resp = requests.post(f"{base_url}/hl7v2", data=body.encode(), timeout=30, headers={
        "Authorization": "Bearer token-alpha", "Content-Type": "x-application/hl7-v2+er7"})
    assert resp.status_code == 200, resp.text
    return resp.text


def mllp(port: int, message: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        data = b""
        while not data.endswith(b"\x1c\r"):
            data += s.recv(65536)
    return data.strip(b"\x0b\x1c\r").decode()


# ---- the message log -----------------------------------------------------------------------------

def test_an_accepted_fhir_submission_is_logged_with_its_case(api, reviewer):
    case_id = submitted(api(), request("LOG-1"))
    entry = entry_for(reviewer("lead-demo"), "RVW-B-LOG-1")
    assert entry == {**entry, "partner": "alpha", "door": "fhir", "type": "Claim/$submit", "outcome": "200",
                     "case_id": case_id}
    assert entry["at"].endswith("Z")


def test_a_replay_is_logged_again_and_a_reused_transaction_id_as_its_own(api, reviewer):
    body = request("LOG-2")
    case_id = submitted(api(), body)
    assert api().submit(body).status_code == 200
    reused = request("LOG-2", items=2)  # the same transaction id, other content: a new transaction
    other = submitted(api(), reused)
    assert other != case_id
    log = [m for m in messages(reviewer("lead-demo"), limit=200) if m.get("control_id") == "RVW-B-LOG-2"]
    assert [(m["outcome"], m.get("case_id")) for m in log] == [("200", other), ("200", case_id), ("200", case_id)]


def test_a_refused_fhir_request_is_logged_without_content(api, reviewer):
    body = request("LOG-3")
    claim = next(e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Claim")
    del claim["item"]
    resp = api().submit(body)
    assert resp.status_code in (400, 422), resp.text
    entry = entry_for(reviewer("lead-demo"), "RVW-B-LOG-3")
    assert entry["outcome"] == str(resp.status_code) and entry.get("case_id") is None
    assert FAMILY not in json.dumps(entry)


def test_hl7_messages_are_logged_per_door_with_their_ack_code(stack, base_url, reviewer):
    accepted = hl7_post(base_url, h.rqa(ref="LOG4", control_id="LOG-HL7-AA"))
    assert "|AA|" in accepted
    unknown_event = h.rqa(ref="LOG5", control_id="LOG-HL7-AR").replace("RQA^I08^RQA_I08", "RQA^I99^RQA_I08")
    assert "|AR|" in hl7_post(base_url, unknown_event)
    by_mllp = mllp(stack.mllp_port, h.rqa(ref="LOG6", control_id="LOG-MLLP-AA"))
    assert "|AA|" in by_mllp
    lead = reviewer("lead-demo")
    aa, ar, over_mllp = (entry_for(lead, c) for c in ("LOG-HL7-AA", "LOG-HL7-AR", "LOG-MLLP-AA"))
    assert (aa["door"], aa["type"], aa["outcome"], aa["partner"]) == ("hl7-http", "RQA^I08", "AA", "alpha")
    assert aa["case_id"]
    assert (ar["door"], ar["type"], ar["outcome"], ar.get("case_id")) == ("hl7-http", "RQA^I99", "AR", None)
    assert (over_mllp["door"], over_mllp["outcome"]) == ("mllp", "AA")
    assert "DOE" not in json.dumps([aa, ar, over_mllp])  # the member named in PID never reaches the log


def test_the_message_log_pages_newest_first(api, reviewer):
    for n in range(3):
        submitted(api(), request(f"LOG-P{n}"))
    lead = reviewer("lead-demo")
    first = ok(lead.get("/messages", limit=2))
    second = ok(lead.get("/messages", limit=2, cursor=first["next"]))
    assert [m["control_id"] for m in first["messages"]] == ["RVW-B-LOG-P2", "RVW-B-LOG-P1"]
    assert second["messages"][0]["control_id"] == "RVW-B-LOG-P0"
    ats = [m["at"] for m in first["messages"] + second["messages"]]
    assert ats == sorted(ats, reverse=True)
    bad = lead.get("/messages", cursor="not-a-cursor")
    assert bad.status_code == 422 and bad.json()["issue"][0]["expression"] == ["cursor"]


def test_the_message_log_is_for_supervisors(reviewer):
    resp = reviewer("nurse-demo").get("/messages")
    assert resp.status_code == 403 and resp.json()["issue"][0]["code"] == "forbidden"


def test_the_table_expires_message_log_entries(stack, dynamodb):
    import os

    ttl = dynamodb.describe_time_to_live(TableName=os.environ["CASES_TABLE"])["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expires", "ENABLED")


# ---- the case page's reads -----------------------------------------------------------------------

def test_a_masked_read_erases_the_member_and_the_reveal_is_audited(api, reviewer):
    case_id = submitted(api(), request("MASK-1"))
    nurse = reviewer("nurse-demo")
    member = ok(nurse.get(f"/cases/{case_id}", member="masked"))["case"]["member"]
    assert FAMILY not in json.dumps(member) and GIVEN not in json.dumps(member)
    assert member["family"] == "*****" and all(i["value"] == "*****" for i in member["identifiers"])
    assert member["identifiers"][0]["system"]  # what kind of id it is stays readable
    revealed = ok(nurse.get(f"/cases/{case_id}/member"))["member"]
    assert (revealed["family"], revealed["given"]) == (FAMILY, [GIVEN])
    access = ok(reviewer("lead-demo").get(f"/cases/{case_id}/audit"))["access"]
    assert [(a["action"], a["actor"]["id"]) for a in access if a["actor"]["id"] == "nurse-demo"] == [
        ("read", "nurse-demo"), ("member-reveal", "nurse-demo")]
    assert reviewer("nurse-demo").get(f"/cases/{case_id}", member="plain").status_code == 422


def test_a_document_opens_through_a_short_lived_link(api, reviewer):
    case_id = submitted(api(), request("DOC-1", supportingInfo=f.supporting_info(PDF)))
    link = ok(reviewer().get(f"/cases/{case_id}/documents/0"))
    assert (link["content_type"], link["expires_in"]) == ("application/pdf", 60)
    assert "X-Amz-Expires=60" in link["url"] and "X-Amz-Signature=" in link["url"]
    assert requests.get(link["url"], timeout=30).content == PDF
    assert reviewer().get(f"/cases/{case_id}/documents/1").status_code == 404
    access = ok(reviewer("lead-demo").get(f"/cases/{case_id}/audit"))["access"]
    assert "document:0" in [a["action"] for a in access]


def test_the_case_claim_response_is_what_the_requester_reads(api, reviewer):
    case_id = submitted(api(), request("CR-1"))
    mine = reviewer().get(f"/cases/{case_id}/claimresponse")
    assert mine.status_code == 200 and mine.headers["Content-Type"].startswith("application/fhir+json")
    theirs = ok(api().get(f"/fhir/ClaimResponse/{case_id}"))
    assert mine.json() == theirs


def test_reason_codes_are_offered_from_one_list(reviewer):
    codes = ok(reviewer("nurse-demo").get("/reason-codes"))
    assert codes["system"] == "https://codesystem.x12.org/external/886"
    assert {"code": "0U", "display": "Not medically necessary"} in codes["codes"]


def test_open_case_counts_per_partner(api, reviewer, fresh_partner):
    for n in range(2):
        submitted(api(fresh_partner), request(f"CNT-{fresh_partner}-{n}"))
    report = ok(reviewer("lead-demo").get("/reports/open-cases"))
    assert report["due_soon_hours"] == 24
    row = next(r for r in report["rows"] if r["partner"] == fresh_partner)
    assert row == {"partner": fresh_partner, "open": 2, "due_soon": 0, "overdue": 0}
    assert reviewer("nurse-demo").get("/reports/open-cases").status_code == 403


def test_the_worklist_says_when_a_case_is_due_soon(reviewer):
    assert ok(reviewer().get("/cases", limit=1))["due_soon_hours"] == 24


# ---- the console's files and local sign-in -------------------------------------------------------

def test_console_files_carry_the_templates_security_headers(base_url):
    csp = Topology.load().console_headers["Content-Security-Policy"]
    for path in ("/console/", "/console/cases/CASE-X", "/console/operations"):
        resp = requests.get(base_url + path, timeout=10)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
        assert resp.content == (ROOT / "index.html").read_bytes()
        assert resp.headers["Content-Security-Policy"] == csp and "script-src 'self'" in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
    assert requests.get(base_url + "/console/nothing.js", timeout=10).status_code == 404
    assert requests.get(base_url + "/console/../template.yaml", timeout=10).status_code in (302, 404)
    assert requests.get(base_url + "/", allow_redirects=False, timeout=10).headers["Location"] == "/console/"
    assert requests.get(base_url + "/console/config.json", timeout=10).json() == {"signIn": "local"}


def test_the_local_sign_in_lists_the_demo_reviewers_and_signs_one_in(base_url, stack):
    users = requests.get(f"{base_url}/local/users", timeout=10).json()["users"]
    assert {"username": "lead-demo", "groups": ["supervisor"]} in users
    token = requests.post(f"{base_url}/local/token", json={"username": "lead-demo"}, timeout=10).json()["id_token"]
    me = requests.get(f"{base_url}/reviewers/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert me["id"] == "lead-demo"
    assert base64.urlsafe_b64decode(token.split(".")[1] + "==")


def test_the_local_sign_in_answers_this_machine_only(stack):
    gateway = stack_gateway(stack)
    status, _, body = gateway.handle("GET", "/local/users", {}, b"", source_ip="192.0.2.7")
    assert status == 403 and b"this machine only" in body
    for host in ("evil.example:8080", "localhost.evil.example"):  # DNS rebinding: another site's name
        status, _, _ = gateway.handle("POST", "/local/token", {"Host": host}, b'{"username": "lead-demo"}')
        assert status == 403, host
    for host in ("localhost:8080", "127.0.0.1:8080", "[::1]:8080"):
        assert gateway.handle("GET", "/local/users", {"Host": host}, b"")[0] == 200, host


def test_the_message_log_refuses_cursors_it_did_not_make(reviewer):
    import base64 as b64

    lead = reviewer("lead-demo")
    for sk in ("2036-11-25T00:00:00.000000Z#00000000", "2026-02-30T00:00:00.000000Z#00000000",
               "2020-01-01T00:00:00.000000Z#00000000"):
        resp = lead.get("/messages", cursor=b64.urlsafe_b64encode(sk.encode()).decode())
        assert resp.status_code == 422 and resp.json()["issue"][0]["expression"] == ["cursor"], sk


def test_console_paths_that_name_no_file_are_not_found(base_url):
    for path in ("/console/a%00b.js", "/console/" + "x" * 5000 + ".js"):
        assert requests.get(base_url + path, timeout=10).status_code == 404


def stack_gateway(stack):
    from infra.local.stack import Gateway

    return Gateway(stack.topology, user_pool=stack.user_pool)
