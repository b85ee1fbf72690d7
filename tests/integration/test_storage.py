"""What a submission leaves in DynamoDB and the archive, read back with plain boto3."""
from __future__ import annotations

import json
import os

import boto3

from adapters import dynamo_keys as keys
from functions.bootstrap import services
from tests import factories as f


def test_submission_stores_case_record_event_lookups_and_raw_bytes(api, dynamodb, stack):
    body = json.dumps(f.pas_bundle(f.claim("STORE-1"), identifier="STORE-B")).encode()
    cr = api("alpha").submit(body).json()["entry"][0]["resource"]
    table = os.environ["CASES_TABLE"]
    items = dynamodb.query(TableName=table, KeyConditionExpression="PK = :pk",
                           ExpressionAttributeValues={":pk": {"S": f"CASE#{cr['id']}"}})["Items"]
    case = next(i for i in items if i["SK"]["S"] == "CASE")
    assert case["GSI1PK"]["S"] == "OPEN" and case["GSI2PK"]["S"] == "PARTNER#alpha" and case["version"]["N"] == "1"
    assert [i["SK"]["S"][:6] for i in items if i["SK"]["S"] != "CASE"] == ["EVENT#"]
    record = dynamodb.get_item(TableName=table, Key=keys.submission_key("alpha", "urn:example:submissions|STORE-B"))["Item"]
    assert record["case_id"]["S"] == cr["id"]
    doc = json.loads(case["doc"]["S"])
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    raw = s3.get_object(Bucket=os.environ["ARCHIVE_BUCKET"], Key=doc["raw"]["key"])["Body"].read()
    assert raw == body  # archived unchanged


def test_a_new_submission_is_exactly_one_dynamodb_write_call(api):
    api("alpha").get("/fhir/metadata")
    client = services().store.client
    calls: list[str] = []
    record = lambda model, **_: calls.append(model.name)  # noqa: E731
    client.meta.events.register("before-call.dynamodb", record)
    try:
        resp = api("alpha").submit(f.pas_bundle(f.claim("CALLS-1"), identifier="CALLS-B"))
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)
    assert resp.status_code == 200
    assert calls == ["TransactWriteItems"]


def test_worklist_lists_open_cases_by_due_time(api, reviewer):
    client, dr = api("gamma"), reviewer()
    standard = client.submit(f.pas_bundle(f.claim("WL-1"), identifier="WL-B1")).json()["entry"][0]["resource"]["id"]
    urgent = client.submit(f.pas_bundle(f.claim("WL-2", priority="stat"), identifier="WL-B2")).json()["entry"][0]["resource"]["id"]
    listed = [c["id"] for c in dr.get("/cases", partner="gamma", limit=200).json()["cases"]]
    assert listed.index(urgent) < listed.index(standard)
    dr.decide(urgent, {"item_sequence": 1, "decision": "approved"})
    assert urgent not in [c["id"] for c in dr.get("/cases", partner="gamma", limit=200).json()["cases"]]
