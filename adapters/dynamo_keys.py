"""Every DynamoDB key and request parameter the store uses, as pure functions.

Single table, keys PK/SK:
| item              | PK                               | SK                      | notes                          |
|-------------------|----------------------------------|-------------------------|--------------------------------|
| case              | CASE#<case id>                   | CASE                    | doc = case JSON, version       |
| history event     | CASE#<case id>                   | EVENT#<at>#<n>          | append-only                    |
| submission record | SUBMISSION#<partner>#<hash(key)> | SUBMISSION              | idempotency: case id + sha256  |
| lookup            | LOOKUP#<partner>#<hash(key)>     | CASE#<case id>          | claim id, Claim ref, member id |
Sparse GSI "Worklist": GSI1PK = WORKLIST#<partner>#<status>, GSI1SK = <due at>#<case id>, set on open cases only.
Identifiers (member ids among them) are hashed into keys: keys show up in places item contents do
not (CloudTrail data events, Contributor Insights), and PHI must not.
Nothing outside this module spells these strings.
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from review.errors import Invalid
from review.model import Case, Event, Submission

WORKLIST_INDEX = "Worklist"
MAX_CASE_DOC_BYTES = 350_000  # DynamoDB items stop at 400 KB
Item = dict[str, Any]


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def case_pk(case_id: str) -> str:
    return f"CASE#{case_id}"


def case_key(case_id: str) -> Item:
    return {"PK": {"S": case_pk(case_id)}, "SK": {"S": "CASE"}}


def submission_key(partner_id: str, key: str) -> Item:
    return {"PK": {"S": f"SUBMISSION#{partner_id}#{_hashed(key)}"}, "SK": {"S": "SUBMISSION"}}


def lookup_pk(partner_id: str, key: str) -> str:
    return f"LOOKUP#{partner_id}#{_hashed(key)}"


def worklist_pk(partner_id: str, status: str) -> str:
    return f"WORKLIST#{partner_id}#{status}"


def case_item(case: Case) -> Item:
    doc = case.model_dump_json(exclude_defaults=True)
    if len(doc) > MAX_CASE_DOC_BYTES:
        raise Invalid("the request is too large to keep as one review case", None, "too-costly")
    item = {
        **case_key(case.id),
        "partner": {"S": case.partner_id},
        "status": {"S": case.status.value},
        "version": {"N": str(case.version)},
        "doc": {"S": doc},
    }
    if case.is_open:
        item["GSI1PK"] = {"S": worklist_pk(case.partner_id, case.status.value)}
        item["GSI1SK"] = {"S": f"{case.due_at.isoformat()}#{case.id}"}
    return item


def event_item(case_id: str, event: Event) -> Item:
    return {
        "PK": {"S": case_pk(case_id)},
        "SK": {"S": f"EVENT#{event.at.isoformat()}#{secrets.token_hex(4)}"},
        "doc": {"S": event.model_dump_json()},
    }


def submission_item(partner_id: str, submission: Submission, case_id: str) -> Item:
    return {
        **submission_key(partner_id, submission.key.key),
        "case_id": {"S": case_id},
        "sha256": {"S": submission.sha256},
    }


def lookup_items(partner_id: str, keys: list[str], case: Case) -> list[Item]:
    return [{"PK": {"S": lookup_pk(partner_id, k)}, "SK": {"S": case_pk(case.id)},
             "case_id": {"S": case.id}, "kind": {"S": case.kind.value}} for k in dict.fromkeys(keys)]


def _put(table: str, item: Item, condition: str | None = None, values: Item | None = None) -> Item:
    put: Item = {"TableName": table, "Item": item}
    if condition:
        put["ConditionExpression"] = condition
        put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if values:
        put["ExpressionAttributeValues"] = values
    return {"Put": put}


# Positions in the transactions below; CancellationReasons come back in the same order.
CASE_AT, SUBMISSION_AT = 0, 1


def create_case_transaction(table: str, case: Case, submission: Submission, event: Event) -> Item:
    """One TransactWriteItems for a new case: case, submission record, first event, claim lookups."""
    return {"TransactItems": [
        _put(table, case_item(case), "attribute_not_exists(PK)"),
        _put(table, submission_item(case.partner_id, submission, case.id), "attribute_not_exists(PK)"),
        _put(table, event_item(case.id, event)),
        *[_put(table, i) for i in lookup_items(case.partner_id, case.lookup_keys, case)],
    ]}


def replace_case_transaction(table: str, case: Case, expected_version: int, event: Event,
                             submission: Submission | None) -> Item:
    """One TransactWriteItems for a changed case, guarded by its version (optimistic locking)."""
    items = [_put(table, case_item(case), "version = :expected", {":expected": {"N": str(expected_version)}})]
    if submission is not None:
        items.append(_put(table, submission_item(case.partner_id, submission, case.id), "attribute_not_exists(PK)"))
        items += [_put(table, i) for i in lookup_items(case.partner_id, submission.draft.claim_keys, case)]
    items.append(_put(table, event_item(case.id, event)))
    return {"TransactItems": items}


def lookup_query(table: str, partner_id: str, key: str) -> Item:
    """The newest cases under a lookup key."""
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": lookup_pk(partner_id, key)}},
        "ScanIndexForward": False,
        "Limit": 25,
    }


def history_query(table: str, case_id: str) -> Item:
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :events)",
        "ExpressionAttributeValues": {":pk": {"S": case_pk(case_id)}, ":events": {"S": "EVENT#"}},
    }


def worklist_query(table: str, partner_id: str, status: str, limit: int = 50) -> Item:
    return {
        "TableName": table,
        "IndexName": WORKLIST_INDEX,
        "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": worklist_pk(partner_id, status)}},
        "Limit": limit,
    }
