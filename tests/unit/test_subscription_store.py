"""Where PAS subscriptions are kept: the requests dynamo_keys builds for them, and the store contract,
run here on MemorySubscriptions and in tests/integration/test_subscriptions.py on DynamoDB; and the
delivery worker's attempts at a new subscription's handshake (deliver_handshake)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from adapters import dynamo_keys as keys
from adapters.outbound import Answer
from adapters.subscriptions import MemorySubscriptions, deliver_handshake
from fhir_mappings.subscription import Handshake, OrgFilter, PasSubscription, Status
from review.delivery import Backoff
from review.errors import NotFound
from review.outbox import Attempt, DeliveryState
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
    check_handshake_contract(store)


def check_handshake_contract(store) -> None:
    """Each subscription is created owing its handshake; an attempt is recorded only on the record as
    read, with the status it leads to, and never on a subscription deleted meanwhile."""
    sub, gone = subscription(uuid.uuid4().hex[:10]), subscription(uuid.uuid4().hex[:10])
    store.create(sub)
    store.create(gone)
    owed = store.handshake_of(sub.id)
    assert owed == Handshake(subscription_id=sub.id) and owed.state is DeliveryState.PENDING
    assert store.handshake_of("no-such-id") is None

    first = Attempt(n=1, at=T0, target="handshake", code="503", latency_ms=4, next_at=T0)
    retrying = owed.attempted(DeliveryState.RETRYING, first)
    assert store.record_handshake(sub, owed, retrying)  # tried again later: no status yet
    assert store.handshake_of(sub.id) == retrying and store.get(sub.id).status is Status.REQUESTED
    assert not store.record_handshake(sub, owed, retrying)  # a copy of the message, as read before

    delivered = retrying.attempted(DeliveryState.DELIVERED, Attempt(n=2, at=T0, target="handshake", code="200", latency_ms=3))
    assert store.record_handshake(sub, retrying, delivered, Status.ACTIVE)
    assert (store.handshake_of(sub.id), store.get(sub.id).status) == (delivered, Status.ACTIVE)
    assert sub.id in [s.id for s in store.for_organizations([sub.org.value])]

    assert store.delete(gone.id)
    dead = store.handshake_of(gone.id).attempted(DeliveryState.DEAD, Attempt(n=1, at=T0, target="handshake", latency_ms=1))
    assert not store.record_handshake(gone, store.handshake_of(gone.id), dead, Status.ERROR, "handshake: no answer")
    assert store.get(gone.id).status is Status.OFF


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


def test_create_writes_the_subscription_its_lookup_copy_and_its_handshake_once():
    sub = subscription("1234567893", id="s1")
    [main, lookup, handshake] = keys.create_subscription_transaction("T", sub)["TransactItems"]
    assert main["Put"]["Item"]["PK"] == {"S": "SUBSCRIPTION#s1"} and main["Put"]["Item"]["SK"] == {"S": "SUBSCRIPTION"}
    assert main["Put"]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert (main["Put"]["Item"]["status"], main["Put"]["Item"]["events"]) == ({"S": "requested"}, {"N": "0"})
    assert lookup["Put"]["Item"]["PK"] == {"S": "SUBORG#1234567893"} and lookup["Put"]["Item"]["SK"] == {"S": "SUBSCRIPTION#s1"}
    assert "events" not in lookup["Put"]["Item"]
    assert keys.subscription_of(lookup["Put"]["Item"]) == sub
    # The Pipe's filter (template.yaml): SK under OUTBOX#, state pending; not in the Deliveries index.
    item = handshake["Put"]["Item"]
    assert (item["PK"], item["SK"], item["state"]) == ({"S": "SUBSCRIPTION#s1"}, {"S": "OUTBOX#handshake"}, {"S": "pending"})
    assert handshake["Put"]["ConditionExpression"] == "attribute_not_exists(PK)" and "GSI6PK" not in item
    assert keys.handshake_of(item) == Handshake(subscription_id="s1")
    assert keys.handshake_ref("SUBSCRIPTION#s1", "OUTBOX#handshake") == "s1"
    with pytest.raises(ValueError):
        keys.handshake_ref("CASE#s1", "OUTBOX#00000001#fhir")


def test_a_handshake_attempt_is_recorded_with_the_status_it_leads_to():
    sub, was = subscription("v", id="s1"), Handshake(subscription_id="s1")
    now = was.attempted(DeliveryState.DELIVERED, Attempt(n=1, at=T0, target="handshake", code="200", latency_ms=2))
    [put, *status] = keys.handshake_transaction("T", sub, was, now, "active", None)["TransactItems"]
    assert put["Put"]["ConditionExpression"] == "#state = :was AND tries = :tries"
    assert put["Put"]["ExpressionAttributeValues"] == {":was": {"S": "pending"}, ":tries": {"N": "0"}}
    assert keys.handshake_of(put["Put"]["Item"]) == now
    assert [u["Update"]["Key"]["PK"]["S"] for u in status] == ["SUBSCRIPTION#s1", "SUBORG#v"]
    assert len(keys.handshake_transaction("T", sub, was, now, None, None)["TransactItems"]) == 1


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


# The handshake, as the delivery worker tries it


class Endpoint:
    """A subscriber's endpoint: answers in turn (an int status, or None for no answer), and records the Bundles."""

    def __init__(self, *answers: int | None):
        self.answers, self.sent = list(answers), []

    def __call__(self, sub, bundle) -> Answer:
        self.sent.append(bundle)
        status = self.answers.pop(0)
        return Answer(status, latency_ms=3.0, error=None if status else "ConnectTimeout")


def attempt(store, sub_id: str, endpoint: Endpoint, max_attempts: int = 3):
    return deliver_handshake(store, sub_id, lambda partner: max_attempts, T0, Backoff(30, 3600), "https://iro.example/fhir",
                             send=endpoint)


def created(store) -> PasSubscription:
    sub = subscription("1234567893")
    store.create(sub)
    return sub


def test_an_answered_handshake_makes_the_subscription_active():
    store, endpoint = MemorySubscriptions(), Endpoint(200)
    sub = created(store)
    outcome = attempt(store, sub.id, endpoint)
    assert outcome.state is DeliveryState.DELIVERED and outcome.attempt.code == "200"
    assert store.get(sub.id).status is Status.ACTIVE and store.handshake_of(sub.id).tries == 1
    [bundle] = endpoint.sent
    status = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
    assert (status["type"]["valueCode"], status["status"]["valueCode"]) == ("handshake", "requested")
    assert bundle["entry"][0]["request"]["url"] == f"https://iro.example/fhir/Subscription/{sub.id}/$status"
    assert attempt(store, sub.id, Endpoint()) is None  # a copy of the message: nothing sent


def test_a_handshake_is_tried_again_while_the_endpoint_is_not_listening_yet():
    """The PAS test kit's listener answers 500 until its test waits, which is after our 201."""
    store, endpoint = MemorySubscriptions(), Endpoint(500, None, 204)
    sub = created(store)
    first = attempt(store, sub.id, endpoint)
    assert first.state is DeliveryState.RETRYING and 15 <= first.delay <= 30
    assert store.get(sub.id).status is Status.REQUESTED
    assert attempt(store, sub.id, endpoint).state is DeliveryState.RETRYING  # no answer
    assert attempt(store, sub.id, endpoint).state is DeliveryState.DELIVERED
    assert store.get(sub.id).status is Status.ACTIVE
    assert [a.code for a in store.handshake_of(sub.id).attempts] == ["500", None, "204"]


@pytest.mark.parametrize("answers, error", [
    ((301,), "handshake: the endpoint answered 301"),  # refused at once
    ((404,), "handshake: the endpoint answered 404"),
    ((503, 503, 503), "handshake: the endpoint answered 503"),  # out of attempts
    ((None, None, None), "handshake: no answer from the endpoint (ConnectTimeout)"),
])
def test_a_refused_or_unanswered_handshake_leaves_the_subscription_in_error(answers, error):
    store, endpoint = MemorySubscriptions(), Endpoint(*answers)
    sub = created(store)
    outcomes = [attempt(store, sub.id, endpoint) for _ in answers]
    assert outcomes[-1].state is DeliveryState.DEAD
    assert (store.get(sub.id).status, store.get(sub.id).error) == (Status.ERROR, error)
    assert attempt(store, sub.id, Endpoint()) is None


def test_a_deleted_subscription_gets_no_handshake():
    store = MemorySubscriptions()
    sub = created(store)
    store.delete(sub.id)
    assert attempt(store, sub.id, Endpoint()) is None and attempt(store, "no-such-id", Endpoint()) is None


def test_a_delivery_message_names_a_handshake_or_an_outbox_record():
    from adapters.queue import handshake_of_message, message_ref

    assert handshake_of_message('{"PK": "SUBSCRIPTION#s1", "SK": "OUTBOX#handshake"}') == "s1"
    case_message = '{"PK": "CASE#c1", "SK": "OUTBOX#00000003#fhir"}'
    assert handshake_of_message(case_message) is None and message_ref(case_message) == ("c1", "00000003#fhir")
    for unreadable in ("not json", "[]", '{"PK": "SUBSCRIPTION#s1"}', '{"PK": 1, "SK": 2}'):
        assert handshake_of_message(unreadable) is None
