"""Where PAS subscriptions are kept: the requests dynamo_keys builds for them, and the store contract,
run here on MemorySubscriptions and in tests/integration/test_subscriptions.py on DynamoDB."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from adapters import dynamo_keys as keys
from adapters.subscriptions import MemorySubscriptions
from fhir_mappings.subscription import OrgFilter, PasSubscription, Status
from review.errors import NotFound
from tests import factories as f

T0 = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def subscription(value: str, id: str | None = None, partner: str = "p", system: str | None = None) -> PasSubscription:
    return PasSubscription(id=id or uuid.uuid4().hex, partner_id=partner, org=OrgFilter(system=system, value=value),
                           endpoint="https://ehr.example/n", headers=["Authorization: Bearer s"], reason="r",
                           created=T0)


def check_contract(store) -> None:
    """What the handler and the delivery worker rely on, for any store."""
    org, other = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    first, second, elsewhere = subscription(org), subscription(org, system="urn:x"), subscription(other)
    for sub in (first, second, elsewhere):
        store.create(sub)
    assert store.get(first.id) == first and store.get("no-such-id") is None
    assert store.for_organizations([org]) == []  # requested: not yet notified

    assert store.set_status(first.id, Status.ACTIVE) and store.set_status(second.id, "error", "handshake: no answer")
    assert store.get(second.id).error == "handshake: no answer" and store.get(second.id).status is Status.ERROR
    assert store.set_status(second.id, Status.ACTIVE) and store.get(second.id).error is None
    assert store.set_status(elsewhere.id, Status.ACTIVE)
    assert sorted(s.id for s in store.for_organizations([org, org])) == sorted([first.id, second.id])
    assert [s.id for s in store.for_organizations([other, "nobody"])] == [elsewhere.id]
    found = {s.id: s for s in store.for_organizations([org])}[first.id]
    assert (found.status, found.headers, found.org) == (Status.ACTIVE, first.headers, first.org)

    assert [store.next_event(first.id) for _ in range(3)] == [1, 2, 3]
    assert store.get(first.id).events == 3 and store.get(second.id).events == 0
    with pytest.raises(NotFound):
        store.next_event("no-such-id")

    assert store.delete(second.id)
    assert store.get(second.id).status is Status.OFF
    assert [s.id for s in store.for_organizations([org])] == [first.id]
    assert not store.set_status(second.id, Status.ACTIVE)  # off is final
    assert store.get(second.id).status is Status.OFF
    assert store.delete(second.id)  # again: still off
    assert not store.delete("no-such-id") and not store.set_status("no-such-id", Status.ACTIVE)


def test_memory_store_keeps_the_contract():
    check_contract(MemorySubscriptions())


def test_for_case_finds_the_active_subscriptions_for_the_requester_of_any_partner():
    store = MemorySubscriptions()
    mine, theirs, insurer = subscription("1234567893"), subscription("1234567893", partner="q"), subscription("1111111112")
    for sub in (mine, theirs, insurer):
        store.create(sub)
        store.set_status(sub.id, Status.ACTIVE)
    case = f.case().model_copy(update={"partner_id": "p"})
    assert sorted(s.id for s in store.for_case(case)) == sorted([mine.id, theirs.id])  # not the insurer's


# The requests, as built


def test_create_writes_the_subscription_and_its_lookup_copy_once():
    sub = subscription("1234567893", id="s1")
    [main, lookup] = keys.create_subscription_transaction("T", sub)["TransactItems"]
    assert main["Put"]["Item"]["PK"] == {"S": "SUBSCRIPTION#s1"} and main["Put"]["Item"]["SK"] == {"S": "SUBSCRIPTION"}
    assert main["Put"]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert (main["Put"]["Item"]["status"], main["Put"]["Item"]["events"]) == ({"S": "requested"}, {"N": "0"})
    assert lookup["Put"]["Item"]["PK"] == {"S": "SUBORG#1234567893"} and lookup["Put"]["Item"]["SK"] == {"S": "SUBSCRIPTION#s1"}
    assert "events" not in lookup["Put"]["Item"]
    assert keys.subscription_of(lookup["Put"]["Item"]) == sub


def test_status_updates_both_items_unless_the_subscription_is_off():
    sub = subscription("1234567893", id="s1")
    updates = [i["Update"] for i in keys.subscription_status_transaction("T", sub, "error", "no answer")["TransactItems"]]
    assert [u["Key"]["PK"]["S"] for u in updates] == ["SUBSCRIPTION#s1", "SUBORG#1234567893"]
    for update in updates:
        assert update["UpdateExpression"] == "SET #status = :status, #error = :error"
        assert update["ConditionExpression"] == "attribute_exists(PK) AND #status <> :off"
        assert update["ExpressionAttributeValues"][":error"] == {"S": "no answer"}
    cleared = keys.subscription_status_transaction("T", sub, "active", None)["TransactItems"][0]["Update"]
    assert cleared["UpdateExpression"] == "SET #status = :status REMOVE #error"


def test_delete_turns_it_off_and_removes_the_lookup():
    [off, gone] = keys.delete_subscription_transaction("T", subscription("v", id="s1"))["TransactItems"]
    assert off["Update"]["Key"]["PK"] == {"S": "SUBSCRIPTION#s1"} and off["Update"]["ExpressionAttributeValues"] == {":off": {"S": "off"}}
    assert gone["Delete"]["Key"] == {"PK": {"S": "SUBORG#v"}, "SK": {"S": "SUBSCRIPTION#s1"}}


def test_the_event_counter_is_one_atomic_add():
    request = keys.subscription_event_update("T", "s1")
    assert (request["UpdateExpression"], request["ReturnValues"]) == ("ADD events :one", "UPDATED_NEW")
    assert request["ConditionExpression"] == "attribute_exists(PK)"


def test_the_worker_query_reads_one_partition_for_active_copies():
    request = keys.subscriptions_query("T", "1234567893")
    assert request["ExpressionAttributeValues"] == {":pk": {"S": "SUBORG#1234567893"}, ":active": {"S": "active"}}
    assert request["KeyConditionExpression"] == "PK = :pk" and "IndexName" not in request
