"""Every DynamoDB key and request parameter the store uses, as pure functions.

Single table, keys PK/SK:
| item              | PK                               | SK                      | notes                          |
|-------------------|----------------------------------|-------------------------|--------------------------------|
| case              | CASE#<case id>                   | CASE                    | doc = case JSON, version, and  |
|                   |                                  |                         | the small attributes indexed   |
| history event     | CASE#<case id>                   | EVENT#<at>#<n>          | append-only                    |
| access record     | CASE#<case id>                   | ACCESS#<at>#<n>         | append-only, no PHI            |
| submission record | SUBMISSION#<partner>#<hash(key)> | SUBMISSION              | idempotency: case id + sha256  |
| lookup            | LOOKUP#<partner>#<hash(key)>     | CASE#<case id>          | claim id, Claim ref, member id |
| reviewer profile  | REVIEWERS                        | REVIEWER#<user id>      | conflicts of interest          |
| outbox record     | CASE#<case id>                   | OUTBOX#<version>#<target> | state, tries, attempts (no bodies) |
| subscription      | SUBSCRIPTION#<id>                | SUBSCRIPTION            | doc, status, error, events (counter), partner |
| subscription lookup | SUBORG#<org filter value>      | SUBSCRIPTION#<id>       | a copy (doc, status, error), one per subscription, while not off |
| handshake record  | SUBSCRIPTION#<id>                | OUTBOX#handshake        | state, tries, attempts: the Pipe sends it to the delivery queue as it does outbox records |
| inbound message   | MESSAGES#<yyyy-mm-dd> (UTC)      | <at>#<random>           | the message log: ids and codes, no PHI; TTL `expires` |

Sparse global secondary indexes, all on a case's small attributes (INCLUDE projection, no document):
| index               | hash key                          | range key (GSI1SK / GSI5SK) | while        |
|---------------------|-----------------------------------|-----------------------------|--------------|
| Worklist            | GSI1PK = OPEN                     | <due at>#<case id>          | open         |
| WorklistByPartner   | GSI2PK = PARTNER#<partner>        | <due at>#<case id>          | open         |
| WorklistByAssignee  | GSI3PK = ASSIGNEE#<user id>       | <due at>#<case id>          | open, assigned |
| WorklistByStatus    | GSI4PK = STATUS#<status>          | <due at>#<case id>          | open         |
| Decisions           | GSI5PK = DECIDED#<partner>#<yyyy-mm> | <decided at>#<case id>   | decided      |
| Deliveries          | GSI6PK = DELIVERY#<state>         | <owed at>#<case id>#<key>   | outbox records until delivered (ALL) |
Identifiers (member ids among them) are hashed into keys: keys show up in places item contents do
not (CloudTrail data events, Contributor Insights), and PHI must not.
Nothing outside this module spells these strings.
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from datetime import date, datetime, timedelta, timezone

from fhir_mappings.subscription import Handshake, PasSubscription
from review.errors import Invalid
from review.metrics import outcome_of
from review.model import (
    DETERMINED_STATUSES, OPEN_STATUSES, Case, Event, InboundMessage, Reviewer, Status, Submission, instant,
)
from review.outbox import Attempt, DeliveryState, OutboxRecord
from review.views import AccessRecord, WorklistQuery

OPEN = "OPEN"
# index -> (hash key attribute, range key attribute)
INDEXES = {
    "Worklist": ("GSI1PK", "GSI1SK"),
    "WorklistByPartner": ("GSI2PK", "GSI1SK"),
    "WorklistByAssignee": ("GSI3PK", "GSI1SK"),
    "WorklistByStatus": ("GSI4PK", "GSI1SK"),
    "Decisions": ("GSI5PK", "GSI5SK"),
    "Deliveries": ("GSI6PK", "GSI6SK"),
}
# The case attributes a worklist row and a report row read (projected into the indexes).
SUMMARY = ("partner", "status", "kind", "priority", "assignee", "due", "received", "version", "lob", "sla")
DECISION = ("partner", "lob", "kind", "appealed_kind", "priority", "outcome", "received", "decided", "extended")
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


def due_key(case_id: str, due_at: datetime) -> str:
    return f"{instant(due_at)}#{case_id}"


def case_attributes(case: Case) -> dict[str, Any]:
    """Every attribute of a case item but its key; None where the attribute must be absent (the
    sparse index keys of a case that left the worklist, an unassigned case's assignee)."""
    doc = case.model_dump_json(exclude_defaults=True)
    if len(doc) > MAX_CASE_DOC_BYTES:
        raise Invalid("the request is too large to keep as one review case", None, "too-costly")
    # A determination stays on the Decisions index when the requester cancels afterwards: it was
    # made, and the report counts it (the cancel marks the items cancelled, their determinations kept).
    # A reopened case has none (decided_at is cleared) until it is decided again.
    open_ = case.is_open
    decided = (case.status in DETERMINED_STATUSES or case.status is Status.CANCELLED) and case.decided_at is not None
    determined = case.items if case.status is Status.CANCELLED else case.active_items
    due = due_key(case.id, case.due_at)
    return {
        "partner": _s(case.partner_id), "status": _s(case.status.value), "version": {"N": str(case.version)},
        "doc": _s(doc), "kind": _s(case.kind.value), "priority": _s(case.priority.value), "lob": _s(case.line_of_business),
        "due": _s(instant(case.due_at)), "received": _s(instant(case.received_at)),
        "assignee": _s(case.assignee) if case.assignee else None,
        "GSI1PK": _s(OPEN) if open_ else None,
        "GSI1SK": _s(due) if open_ else None,
        "GSI2PK": _s(f"PARTNER#{case.partner_id}") if open_ else None,
        "GSI3PK": _s(f"ASSIGNEE#{case.assignee}") if open_ and case.assignee else None,
        "GSI4PK": _s(f"STATUS#{case.status.value}") if open_ else None,
        "GSI5PK": _s(f"DECIDED#{case.partner_id}#{case.decided_at:%Y-%m}") if decided else None,
        "GSI5SK": _s(f"{instant(case.decided_at)}#{case.id}") if decided else None,
        "decided": _s(instant(case.decided_at)) if decided else None,
        "outcome": _s(outcome_of([i.determination.decision for i in determined if i.determination]))
        if decided else None,
        "extended": {"BOOL": bool(case.extensions)} if decided else None,
        "appealed_kind": _s(case.appealed_kind.value) if case.appealed_kind else None,
    }


def _s(value: str) -> Item:
    return {"S": value}


def case_item(case: Case) -> Item:
    return {**case_key(case.id), **{k: v for k, v in case_attributes(case).items() if v is not None}}


def _update_case(table: str, case: Case, expected_version: int) -> Item:
    """The case item rewritten in place (an Update, not a Put: attributes others keep on the item,
    such as the SLA monitor's marks, survive), guarded by its version."""
    attrs = case_attributes(case)
    names = {f"#a{n}": k for n, k in enumerate(attrs)}
    alias = {k: a for a, k in names.items()}
    sets = [k for k, v in attrs.items() if v is not None]
    removes = [k for k, v in attrs.items() if v is None]
    expression = "SET " + ", ".join(f"{alias[k]} = :v{n}" for n, k in enumerate(sets))
    if removes:
        expression += " REMOVE " + ", ".join(alias[k] for k in removes)
    return {"Update": {
        "TableName": table, "Key": case_key(case.id), "UpdateExpression": expression,
        "ConditionExpression": "#version = :expected",
        "ExpressionAttributeNames": {**names, "#version": "version"},
        "ExpressionAttributeValues": {**{f":v{n}": attrs[k] for n, k in enumerate(sets)},
                                      ":expected": {"N": str(expected_version)}},
        "ReturnValuesOnConditionCheckFailure": "NONE",
    }}


def event_item(case_id: str, event: Event, n: int = 0) -> Item:
    """`n` orders the events one write stores at one instant (an update that also answers an information
    request); the random tail keeps apart events other writes store at the same instant."""
    return {
        "PK": {"S": case_pk(case_id)},
        "SK": {"S": f"EVENT#{event.at.isoformat()}#{n:02d}{secrets.token_hex(4)}"},
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


def create_case_transaction(table: str, case: Case, submission: Submission, event: Event,
                            message: InboundMessage | None = None) -> Item:
    """One TransactWriteItems for a new case: case, submission record, first event, claim lookups,
    and the message's entry in the message log."""
    return {"TransactItems": [
        _put(table, case_item(case), "attribute_not_exists(PK)"),
        _put(table, submission_item(case.partner_id, submission, case.id), "attribute_not_exists(PK)"),
        _put(table, event_item(case.id, event)),
        *[_put(table, i) for i in lookup_items(case.partner_id, case.lookup_keys, case)],
        *([_put(table, message_item(message))] if message else []),
    ]}


def replace_case_transaction(table: str, case: Case, expected_version: int, events: list[Event],
                             submission: Submission | None, outbox: list[OutboxRecord] = (),
                             message: InboundMessage | None = None) -> Item:
    """One TransactWriteItems for a changed case, guarded by its version (optimistic locking), with
    the outbox records the change owes (review/outbox.py), each written once, and the entry of the
    message that changed it (if one did) in the message log."""
    items = [_update_case(table, case, expected_version)]
    if submission is not None:
        items.append(_put(table, submission_item(case.partner_id, submission, case.id), "attribute_not_exists(PK)"))
        items += [_put(table, i) for i in lookup_items(case.partner_id, submission.draft.claim_keys, case)]
    items += [_put(table, event_item(case.id, e, n)) for n, e in enumerate(events)]
    items += [_put(table, outbox_item(r), "attribute_not_exists(PK)") for r in outbox]
    if message is not None:
        items.append(_put(table, message_item(message)))
    return {"TransactItems": items}


# The inbound message log: one partition per UTC day, newest last; DynamoDB's TTL removes entries
# MESSAGE_LOG_DAYS after they were written (the `expires` attribute, epoch seconds).
MESSAGE_LOG_DAYS = 30


def _message_pk(day: date) -> str:
    return f"MESSAGES#{day.isoformat()}"


def message_item(message: InboundMessage) -> Item:
    at = message.at.astimezone(timezone.utc)
    # Microseconds in the sort key: the log reads in arrival order, however many come in a second.
    return {"PK": _s(_message_pk(at.date())), "SK": _s(f"{at:%Y-%m-%dT%H:%M:%S.%fZ}#{secrets.token_hex(4)}"),
            "doc": _s(message.model_dump_json(exclude_none=True)),
            "expires": {"N": str(int((at + timedelta(days=MESSAGE_LOG_DAYS)).timestamp()))}}


def message_query(table: str, day: date, limit: int, before: str | None = None) -> Item:
    """One day's entries, newest first, those sorting before `before` (an entry's SK) only."""
    request: Item = {"TableName": table, "KeyConditionExpression": "PK = :pk", "ScanIndexForward": False,
                     "Limit": limit, "ExpressionAttributeValues": {":pk": _s(_message_pk(day))}}
    if before:
        request["KeyConditionExpression"] += " AND SK < :before"
        request["ExpressionAttributeValues"][":before"] = _s(before)
    return request


OUTBOX_SK = "OUTBOX#"


def outbox_key(case_id: str, key: str) -> Item:
    """PK CASE#<id>, SK OUTBOX#<case version>#<target>: the case's deliveries, in the order owed."""
    return {"PK": _s(case_pk(case_id)), "SK": _s(OUTBOX_SK + key)}


def outbox_ref(pk: str, sk: str) -> tuple[str, str]:
    """(case id, record key) from an outbox item's keys, as the stream (and the queue's messages) carry them."""
    if not (pk.startswith("CASE#") and sk.startswith(OUTBOX_SK)):
        raise ValueError("not an outbox item's keys")
    return pk.removeprefix("CASE#"), sk.removeprefix(OUTBOX_SK)


def _undelivered_keys(record: OutboxRecord, state: DeliveryState) -> dict[str, Item | None]:
    """The sparse Deliveries index holds records until they are delivered."""
    if state is DeliveryState.DELIVERED:
        return {"GSI6PK": None, "GSI6SK": None}
    return {"GSI6PK": _s(f"DELIVERY#{state.value}"), "GSI6SK": _s(f"{instant(record.created_at)}#{record.case_id}#{record.key}")}


def outbox_item(record: OutboxRecord) -> Item:
    item = {**outbox_key(record.case_id, record.key),
            "target": _s(record.target), "notice": _s(record.notice.value),
            "case_version": {"N": str(record.case_version)}, "created": _s(instant(record.created_at)),
            "state": _s(record.state.value), "tries": {"N": str(record.tries)},
            "attempts": {"L": [_s(a.model_dump_json(exclude_none=True)) for a in record.attempts]},
            **_undelivered_keys(record, record.state)}
    return {k: v for k, v in item.items() if v is not None}


def outbox_record(item: Item) -> OutboxRecord:
    case_id, _ = outbox_ref(item["PK"]["S"], item["SK"]["S"])
    return OutboxRecord(case_id=case_id, case_version=int(item["case_version"]["N"]), target=item["target"]["S"],
                        notice=item["notice"]["S"], created_at=item["created"]["S"].replace("Z", "+00:00"),
                        state=item["state"]["S"], tries=int(item.get("tries", {"N": "0"})["N"]),
                        attempts=[Attempt.model_validate_json(a["S"]) for a in item.get("attempts", {"L": []})["L"]])


def outbox_query(table: str, case_id: str) -> Item:
    return {"TableName": table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :outbox)",
            "ExpressionAttributeValues": {":pk": _s(case_pk(case_id)), ":outbox": _s(OUTBOX_SK)},
            "ConsistentRead": True}


def outbox_put(table: str, was: OutboxRecord, now: OutboxRecord) -> Item:
    """A record written as it now is (an attempt recorded, a redrive), if it is still as read:
    every write of a record changes its state or its tries, so of two workers holding copies of one
    message only one records its attempt."""
    put = _put(table, outbox_item(now), "#state = :was AND tries = :tries",
               {":was": _s(was.state.value), ":tries": {"N": str(was.tries)}})
    put["Put"]["ExpressionAttributeNames"] = {"#state": "state"}
    return put


def fan_out_transaction(table: str, put: Item, owed: list[OutboxRecord]) -> Item:
    """A fan-out record's attempt and the records it owes, in one write (each written once)."""
    return {"TransactItems": [put,
                              *[_put(table, outbox_item(r), "attribute_not_exists(PK)") for r in owed]]}


def deliveries_query(table: str, state: DeliveryState) -> Item:
    """Undelivered records in one state, oldest first (the sparse Deliveries index)."""
    return {"TableName": table, "IndexName": "Deliveries", "KeyConditionExpression": "GSI6PK = :pk",
            "ExpressionAttributeValues": {":pk": _s(f"DELIVERY#{state.value}")}}


def lookup_query(table: str, partner_id: str, key: str, limit: int | None = None, after: str | None = None,
                 count: bool = False) -> Item:
    """The cases under a lookup key, newest first: `limit` a page, starting after case `after` (the
    key of the last item of the page before); `count` for the number only."""
    pk = lookup_pk(partner_id, key)
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ScanIndexForward": False,
        **({"Limit": limit} if limit else {}),
        **({"ExclusiveStartKey": {"PK": {"S": pk}, "SK": {"S": case_pk(after)}}} if after else {}),
        **({"Select": "COUNT"} if count else {}),
    }


def history_query(table: str, case_id: str) -> Item:
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :events)",
        "ExpressionAttributeValues": {":pk": {"S": case_pk(case_id)}, ":events": {"S": "EVENT#"}},
    }


def access_item(record: AccessRecord) -> Item:
    return {"PK": _s(case_pk(record.case_id)), "SK": _s(f"ACCESS#{record.at.isoformat()}#{secrets.token_hex(4)}"),
            "doc": _s(record.model_dump_json())}


def access_query(table: str, case_id: str) -> Item:
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :access)",
        "ExpressionAttributeValues": {":pk": _s(case_pk(case_id)), ":access": _s("ACCESS#")},
    }


def reviewer_item(reviewer: Reviewer) -> Item:
    return {**reviewer_key(reviewer.id), "doc": _s(reviewer.model_dump_json())}


def reviewer_key(reviewer_id: str) -> Item:
    return {"PK": _s("REVIEWERS"), "SK": _s(f"REVIEWER#{reviewer_id}")}


def reviewers_query(table: str) -> Item:
    return {"TableName": table, "KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": _s("REVIEWERS")}}


def worklist_plan(query: WorklistQuery) -> tuple[str, str, list[str]]:
    """Which index a worklist query reads, its hash key value, and the filters left over (applied
    as a FilterExpression). The most selective key offered wins: assignee, partner, status, else
    every open case."""
    if query.status is not None and query.status not in OPEN_STATUSES:
        raise Invalid(f"the worklist holds open cases: status is one of {', '.join(sorted(OPEN_STATUSES))}",
                      "status", "not-supported")
    for field, index, prefix in (("assignee", "WorklistByAssignee", "ASSIGNEE#"),
                                 ("partner", "WorklistByPartner", "PARTNER#"),
                                 ("status", "WorklistByStatus", "STATUS#")):
        if (value := getattr(query, field)) is not None:
            # partner is left over only beside an assignee (it wins over status)
            rest = [f for f in ("partner", "status", "kind", "priority") if f != field and getattr(query, f) is not None]
            return index, f"{prefix}{value}", rest
    return "Worklist", OPEN, [f for f in ("kind", "priority") if getattr(query, f) is not None]


def worklist_query(table: str, query: WorklistQuery, page_size: int) -> Item:
    """Open cases, soonest due first (then by id), through the index worklist_plan picks."""
    index, pk, filters = worklist_plan(query)
    hash_attr, range_attr = INDEXES[index]
    request: Item = {
        "TableName": table, "IndexName": index, "Limit": page_size,
        "KeyConditionExpression": "#pk = :pk", "ExpressionAttributeNames": {"#pk": hash_attr},
        "ExpressionAttributeValues": {":pk": _s(pk)},
    }
    if query.due_before is not None:
        request["KeyConditionExpression"] += " AND #due < :due"
        request["ExpressionAttributeNames"]["#due"] = range_attr
        request["ExpressionAttributeValues"][":due"] = _s(instant(query.due_before))
    if filters:
        request["FilterExpression"] = " AND ".join(f"#{f} = :{f}" for f in filters)
        request["ExpressionAttributeNames"] |= {f"#{f}": f for f in filters}
        request["ExpressionAttributeValues"] |= {f":{f}": _s(str(getattr(query, f))) for f in filters}
    return request


def index_key(index: str, item: Item) -> Item:
    """The ExclusiveStartKey that resumes an index query after this item."""
    return {k: item[k] for k in ("PK", "SK", *INDEXES[index])}


def open_counts_query(table: str) -> Item:
    """Every open case's partner and priority, and nothing else: what the SLA monitor counts."""
    return _worklist_pass(table, ProjectionExpression="#partner, #priority",
                          ExpressionAttributeNames={"#partner": "partner", "#priority": "priority"})


def due_by_query(table: str, at: datetime) -> Item:
    """The summaries of the open cases due at or before `at`, soonest first: a key range of the
    Worklist index, so a run reads the cases near their deadline, not every open case."""
    past_at = instant(at) + "$"  # "$" follows "#": after every <due>#<case id> key of that second
    return _worklist_pass(table, KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :past",
                          ExpressionAttributeValues={":pk": _s(OPEN), ":past": _s(past_at)})


def _worklist_pass(table: str, **asked: Any) -> Item:
    return {"TableName": table, "IndexName": "Worklist", "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": _s(OPEN)}, **asked}


def sla_marked(value: str | None, due_at: datetime) -> str | None:
    """The threshold an `sla` attribute marks for this deadline; None if unmarked or for another deadline."""
    mark, _, due = (value or "").partition("@")
    return mark if value and due == instant(due_at) else None


def sla_unmark(table: str, case_id: str, due_at: datetime, mark: str) -> Item:
    return {"TableName": table, "Key": case_key(case_id), "UpdateExpression": "REMOVE sla",
            "ConditionExpression": "sla = :mark", "ExpressionAttributeValues": {":mark": _s(f"{mark}@{instant(due_at)}")}}


def sla_mark_transaction(table: str, case_id: str, due_at: datetime, mark: str, event: Event) -> Item:
    """Marks an open case once per threshold and deadline ("overdue@<due>"): the condition fails
    when another run marked it first, or the case closed or its deadline moved meanwhile."""
    value = f"{mark}@{instant(due_at)}"
    return {"TransactItems": [
        {"Update": {"TableName": table, "Key": case_key(case_id), "UpdateExpression": "SET sla = :mark",
                    "ConditionExpression": "GSI1SK = :due AND (attribute_not_exists(sla) OR sla <> :mark)",
                    "ExpressionAttributeValues": {":mark": _s(value), ":due": _s(due_key(case_id, due_at))}}},
        _put(table, event_item(case_id, event)),
    ]}


def decisions_query(table: str, partner_id: str, month: str, start: datetime, end: datetime) -> Item:
    """A partner's cases decided in one month (yyyy-mm), within [start, end]."""
    return {
        "TableName": table, "IndexName": "Decisions",
        "KeyConditionExpression": "GSI5PK = :pk AND GSI5SK BETWEEN :start AND :end",
        "ExpressionAttributeValues": {":pk": _s(f"DECIDED#{partner_id}#{month}"), ":start": _s(instant(start)),
                                      ":end": _s(instant(end) + "#~")},
    }


# PAS subscriptions (fhir_mappings/subscription.py). An org filter's value is a public registry
# number (an NPI), not PHI, so the lookup key carries it as it is. The lookup item holds a copy of
# the subscription: the delivery worker finds a requester's subscriptions with one Query.
SUBSCRIPTION = "SUBSCRIPTION"


def subscription_key(subscription_id: str) -> Item:
    return {"PK": _s(f"{SUBSCRIPTION}#{subscription_id}"), "SK": _s(SUBSCRIPTION)}


def subscription_lookup_key(org_value: str, subscription_id: str) -> Item:
    return {"PK": _s(f"SUBORG#{org_value}"), "SK": _s(f"{SUBSCRIPTION}#{subscription_id}")}


def _subscription_state(sub: PasSubscription) -> Item:
    """The attributes that change after creation (the doc keeps the values it was created with)."""
    return {"status": _s(sub.status.value), **({"error": _s(sub.error)} if sub.error else {})}


def subscription_item(sub: PasSubscription) -> Item:
    return {**subscription_key(sub.id), "doc": _s(sub.model_dump_json()), "partner": _s(sub.partner_id),
            **_subscription_state(sub), "events": {"N": str(sub.events)}}


def subscription_lookup_item(sub: PasSubscription) -> Item:
    return {**subscription_lookup_key(sub.org.value, sub.id), "doc": _s(sub.model_dump_json()),
            "partner": _s(sub.partner_id), **_subscription_state(sub)}


def subscription_of(item: Item) -> PasSubscription:
    """A subscription item (or its lookup copy, whose events count is not kept) as the model."""
    sub = PasSubscription.model_validate_json(item["doc"]["S"])
    changed = {"status": item["status"]["S"], "error": item["error"]["S"] if "error" in item else None}
    if "events" in item:
        changed["events"] = int(item["events"]["N"])
    return PasSubscription.model_validate(sub.model_dump() | changed)


def create_subscription_transaction(table: str, sub: PasSubscription) -> Item:
    """The subscription, its lookup copy and the handshake it owes (pending: the stream's Pipe
    takes it to the delivery queue, so the handshake goes out after the 201, as a client waits for it)."""
    return {"TransactItems": [_put(table, subscription_item(sub), "attribute_not_exists(PK)"),
                              _put(table, subscription_lookup_item(sub)),
                              _put(table, handshake_item(Handshake(subscription_id=sub.id)), "attribute_not_exists(PK)")]}


HANDSHAKE_SK = OUTBOX_SK + "handshake"  # under OUTBOX#: the Pipe's filter (template.yaml) passes it


def handshake_key(subscription_id: str) -> Item:
    return {"PK": _s(f"{SUBSCRIPTION}#{subscription_id}"), "SK": _s(HANDSHAKE_SK)}


def handshake_ref(pk: str, sk: str) -> str:
    """The subscription id from a handshake record's keys (as a delivery message carries them)."""
    if not (pk.startswith(f"{SUBSCRIPTION}#") and sk == HANDSHAKE_SK):
        raise ValueError("not a handshake record's keys")
    return pk.removeprefix(f"{SUBSCRIPTION}#")


def handshake_item(handshake: Handshake) -> Item:
    """Not in the Deliveries index: that lists cases' records; a handshake that fails shows as the
    subscription's error."""
    return {**handshake_key(handshake.subscription_id), "state": _s(handshake.state.value),
            "tries": {"N": str(handshake.tries)},
            "attempts": {"L": [_s(a.model_dump_json(exclude_none=True)) for a in handshake.attempts]}}


def handshake_of(item: Item) -> Handshake:
    return Handshake(subscription_id=handshake_ref(item["PK"]["S"], item["SK"]["S"]), state=item["state"]["S"],
                     tries=int(item["tries"]["N"]),
                     attempts=[Attempt.model_validate_json(a["S"]) for a in item["attempts"]["L"]])


def handshake_transaction(table: str, sub: PasSubscription, was: Handshake, now: Handshake,
                          status: str | None, error: str | None) -> Item:
    """An attempt at the handshake recorded (if the record is still as read: of two copies of one
    message only one records), with the status it leads to, if any (never on a subscription deleted meanwhile)."""
    put = _put(table, handshake_item(now), "#state = :was AND tries = :tries",
               {":was": _s(was.state.value), ":tries": {"N": str(was.tries)}})
    put["Put"]["ExpressionAttributeNames"] = {"#state": "state"}
    changed = subscription_status_transaction(table, sub, status, error)["TransactItems"] if status else []
    return {"TransactItems": [put, *changed]}


def subscription_status_transaction(table: str, sub: PasSubscription, status: str, error: str | None) -> Item:
    """The status (and error) set on the subscription and its lookup copy; never on one deleted
    meanwhile (off is final)."""
    values: Item = {":status": _s(status), ":off": _s("off")}
    update = "SET #status = :status"
    if error:
        update, values[":error"] = update + ", #error = :error", _s(error)
    else:
        update += " REMOVE #error"
    names = {"#status": "status", "#error": "error"}

    def changed(key: Item, condition: str) -> Item:
        return {"Update": {"TableName": table, "Key": key, "UpdateExpression": update, "ConditionExpression": condition,
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}
    return {"TransactItems": [changed(subscription_key(sub.id), "attribute_exists(PK) AND #status <> :off"),
                              changed(subscription_lookup_key(sub.org.value, sub.id), "attribute_exists(PK) AND #status <> :off")]}


def delete_subscription_transaction(table: str, sub: PasSubscription) -> Item:
    """Deleting keeps the subscription, status off, for GET to show; its lookup goes, so no
    notification finds it again."""
    return {"TransactItems": [
        {"Update": {"TableName": table, "Key": subscription_key(sub.id), "UpdateExpression": "SET #status = :off",
                    "ConditionExpression": "attribute_exists(PK)", "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":off": _s("off")}}},
        {"Delete": {"TableName": table, "Key": subscription_lookup_key(sub.org.value, sub.id)}},
    ]}


def subscription_event_update(table: str, subscription_id: str) -> Item:
    """The next event number: the counter incremented in place (atomic), the new value returned."""
    return {"TableName": table, "Key": subscription_key(subscription_id), "UpdateExpression": "ADD events :one",
            "ConditionExpression": "attribute_exists(PK)", "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW"}


def subscriptions_query(table: str, org_value: str) -> Item:
    """The active subscriptions whose filter has this value (any system: matches() tells them apart)."""
    return {"TableName": table, "KeyConditionExpression": "PK = :pk", "FilterExpression": "#status = :active",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":pk": _s(f"SUBORG#{org_value}"), ":active": _s("active")}}
