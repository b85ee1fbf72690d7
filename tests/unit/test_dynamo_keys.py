"""The DynamoDB requests the store sends, asserted as built (no I/O)."""
from __future__ import annotations

from datetime import datetime, timezone

from adapters import dynamo_keys as keys
from fhir_mappings.claim_to_case import submission_from_fhir
from review import rules
from review.model import Case
from tests import factories as f

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def make():
    sub = submission_from_fhir(f.pas_bundle())
    case = Case(**dict(sub.draft), id="c1", partner_id="p1", received_at=T0, due_at=T0)
    return case, sub


def test_new_case_is_one_transaction_with_guarded_case_and_submission():
    case, sub = make()
    request = keys.create_case_transaction("T", case, sub, rules.event(T0, "received"))
    puts = [i["Put"] for i in request["TransactItems"]]
    assert puts[keys.CASE_AT]["Item"]["PK"] == {"S": "CASE#c1"}
    assert puts[keys.CASE_AT]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert puts[keys.SUBMISSION_AT]["Item"]["PK"] == {"S": "SUBMISSION#p1#urn:example:submissions|BND-1"}
    assert puts[keys.SUBMISSION_AT]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert puts[2]["Item"]["SK"]["S"].startswith("EVENT#")
    lookups = {p["Item"]["PK"]["S"] for p in puts[3:]}
    assert {"LOOKUP#p1#urn:example:claims|CLM-1", "LOOKUP#p1#CLM-1", "LOOKUP#p1#Claim/req-claim",
            "LOOKUP#p1#member:urn:example:member|M-1"} <= lookups
    assert all(p["TableName"] == "T" for p in puts)


def test_open_case_is_on_the_sparse_worklist_and_closed_case_is_not():
    case, _ = make()
    item = keys.case_item(case)
    assert item["GSI1PK"] == {"S": "WORKLIST#p1#pending-review"}
    assert item["GSI1SK"]["S"].startswith(T0.isoformat())
    assert "GSI1PK" not in keys.case_item(rules.cancel(case))


def test_replace_is_guarded_by_version():
    case, _ = make()
    request = keys.replace_case_transaction("T", case, 3, rules.event(T0, "determination"), None)
    put = request["TransactItems"][0]["Put"]
    assert put["ConditionExpression"] == "version = :expected"
    assert put["ExpressionAttributeValues"] == {":expected": {"N": "3"}}
    assert len(request["TransactItems"]) == 2
