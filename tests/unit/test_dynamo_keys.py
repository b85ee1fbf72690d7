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
    assert puts[keys.SUBMISSION_AT]["Item"] == {
        **keys.submission_key("p1", "urn:example:submissions|BND-1"), "case_id": {"S": "c1"}, "sha256": {"S": sub.sha256}}
    assert puts[keys.SUBMISSION_AT]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert puts[2]["Item"]["SK"]["S"].startswith("EVENT#")
    lookups = {p["Item"]["PK"]["S"] for p in puts[3:]}
    assert {keys.lookup_pk("p1", k) for k in ("urn:example:claims|CLM-1", "CLM-1", "Claim/req-claim",
                                              "member:urn:example:member|M-1", "subscriber:M-1")} == lookups
    assert all(p["TableName"] == "T" for p in puts)


def test_identifiers_never_appear_in_keys():
    case, sub = make()
    request = keys.create_case_transaction("T", case, sub, rules.event(T0, "received"))
    key_text = " ".join(i["Put"]["Item"]["PK"]["S"] + i["Put"]["Item"]["SK"]["S"] for i in request["TransactItems"])
    for secret in ("M-1", "CLM-1", "BND-1", "req-claim"):
        assert secret not in key_text


def test_oversized_case_is_refused_before_any_write():
    import pytest
    from review.errors import Invalid
    case, _ = make()
    big = case.model_copy(update={"parties": [{"reference": "Patient/x", "fullUrl": "x", "resource": {"d": "x" * 400_000}}]})
    with pytest.raises(Invalid):
        keys.case_item(big)


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
