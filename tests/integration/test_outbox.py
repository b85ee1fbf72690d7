"""Outbox records against the embedded endpoint: written in the determination's own transaction,
one per target the partner configures, never by a write that fails its version check."""
from __future__ import annotations

import os

import pytest
import requests

from tests import factories as f
from tests import hl7_factories as h

pytestmark = pytest.mark.integration


def outbox_items(dynamodb, case_id: str) -> list[dict]:
    return dynamodb.query(TableName=os.environ["CASES_TABLE"], KeyConditionExpression="PK = :pk AND begins_with(SK, :o)",
                          ExpressionAttributeValues={":pk": {"S": f"CASE#{case_id}"}, ":o": {"S": "OUTBOX#"}},
                          ConsistentRead=True)["Items"]


def test_a_determination_and_its_deliveries_are_one_write(dynamodb, api, reviewer):
    resp = api("gamma").submit(f.pas_bundle(f.claim("OUTBOX-1"), identifier="OUTBOX-B1"))
    assert resp.status_code == 200, resp.text
    case_id = resp.json()["entry"][0]["resource"]["id"]
    dr = reviewer("dr-demo")
    assert dr.command(case_id, "assignment", reviewer="dr-demo").status_code == 200
    assert dr.command(case_id, "start").status_code == 200
    assert outbox_items(dynamodb, case_id) == []
    version = dr.get(f"/cases/{case_id}").json()["case"]["version"]
    decisions = [{"item_sequence": 1, "decision": "approved"}]
    stale = dr.post(f"/cases/{case_id}/determination", {"version": version - 1, "decisions": decisions})
    assert stale.status_code == 409 and outbox_items(dynamodb, case_id) == []  # refused whole
    decided = dr.post(f"/cases/{case_id}/determination", {"version": version, "decisions": decisions})
    assert decided.status_code == 200, decided.text
    items = outbox_items(dynamodb, case_id)
    # A FHIR case: the FHIR endpoint (an HL7 application response answers HL7 requests), and the PAS
    # subscriptions fan-out (this session's registry has an EHR registered for organizations).
    assert [(i["SK"]["S"], i["target"]["S"], i["notice"]["S"]) for i in items] == [
        (f"OUTBOX#{version + 1:08d}#fhir", "fhir", "determination"),
        (f"OUTBOX#{version + 1:08d}#subscriptions", "subscriptions", "determination")]
    assert items[0]["state"]["S"] in ("pending", "retrying")  # gamma's endpoint is down: the worker may have tried
    again = dr.post(f"/cases/{case_id}/determination", {"version": version, "decisions": decisions})
    assert again.status_code == 409 and len(outbox_items(dynamodb, case_id)) == 2  # a replay adds nothing
    shown = [d for d in dr.get(f"/cases/{case_id}").json()["deliveries"] if d["target"] == "fhir"]
    assert [(d["target"], d["notice"], d["case_version"]) for d in shown] == [("fhir", "determination", version + 1)]
    assert shown[0]["state"] in ("pending", "retrying")


def test_a_case_that_came_in_over_hl7_also_owes_its_sender_an_application_response(dynamodb, base_url, api, reviewer):
    message = h.rqa(control_id="OUTBOX-HL7-1", ref="outbox-hl7", facility="GAMMA")
    resp = requests.post(f"{base_url}/hl7v2", data=message.encode(), timeout=30,
                         headers={"Authorization": "Bearer token-gamma", "Content-Type": "x-application/hl7-v2+er7"})
    assert resp.status_code == 200 and "MSA|AA|OUTBOX-HL7-1" in resp.text, resp.text
    [entry] = api("gamma").get("/fhir/ClaimResponse", identifier="REF-outbox-hl7").json()["entry"]
    case_id = entry["resource"]["id"]
    dr = reviewer("dr-demo")
    decided = dr.decide(case_id, {"item_sequence": 1, "decision": "approved"})
    assert decided.status_code == 200, decided.text
    version = decided.json()["version"]
    assert [(i["target"]["S"], i["notice"]["S"], int(i["case_version"]["N"])) for i in outbox_items(dynamodb, case_id)] \
        == [("fhir", "determination", version), ("hl7v2", "determination", version),
            ("subscriptions", "determination", version)]
