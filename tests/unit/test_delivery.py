"""review/delivery.py: how an answer is judged, how long a retry waits, when a case is delivered,
and one attempt at a record against the in-memory store (the DynamoDB store keeps the same contract:
tests/integration/test_delivery.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory import MemoryCaseStore
from review import delivery
from review.delivery import Answer, Backoff, Verdict, http_answer, judge
from review.model import Status
from review.outbox import FHIR, HL7V2, SUBSCRIPTIONS, DeliveryState, Notice, OutboxRecord
from review.rules import ReviewPolicy
from tests import factories as f
from tests.unit.test_services import T0

BACKOFF = Backoff(base=30, cap=3600)


def record(target: str = FHIR, state: DeliveryState = DeliveryState.PENDING, tries: int = 0, version: int = 5,
           notice: Notice = Notice.DETERMINATION) -> OutboxRecord:
    return OutboxRecord(case_id="case1", case_version=version, target=target, notice=notice, created_at=T0,
                        state=state, tries=tries)


@pytest.mark.parametrize("status, verdict", [
    (200, Verdict.OK), (201, Verdict.OK), (None, Verdict.RETRY), (408, Verdict.RETRY), (429, Verdict.RETRY),
    (500, Verdict.RETRY), (503, Verdict.RETRY), (400, Verdict.REFUSED), (401, Verdict.REFUSED),
    (404, Verdict.REFUSED), (409, Verdict.REFUSED), (204, Verdict.REFUSED), (302, Verdict.REFUSED)])
def test_http_answers_are_judged(status, verdict):
    assert http_answer(status, 12.5).verdict is verdict


def test_a_notification_takes_any_2xx():
    assert http_answer(204, 1, ok=frozenset(range(200, 300))).verdict is Verdict.OK


@pytest.mark.parametrize("attempt, low, high", [(1, 15, 30), (2, 30, 60), (3, 60, 120), (8, 1800, 3600),
                                                (20, 1800, 3600)])
def test_backoff_is_exponential_with_jitter_and_capped(attempt, low, high):
    assert BACKOFF.delay(attempt, None, rand=lambda: 0.0) == low
    assert BACKOFF.delay(attempt, None, rand=lambda: 0.999999) == high


def test_retry_after_is_waited_instead_up_to_what_sqs_can_wait():
    assert BACKOFF.delay(1, 120.0) == 120 and BACKOFF.delay(1, 0.2) == 1
    assert BACKOFF.delay(1, 10 ** 9) == 43_200


def test_a_retry_is_recorded_with_when_it_comes_back():
    outcome = judge(record(tries=2), Answer(Verdict.RETRY, "503", 41.6, retry_after=90), 8, T0, BACKOFF)
    assert outcome.state is DeliveryState.RETRYING and outcome.delay == 90
    assert (outcome.attempt.n, outcome.attempt.code, outcome.attempt.latency_ms) == (3, "503", 42)
    assert outcome.attempt.next_at == T0 + timedelta(seconds=90)


def test_the_last_attempt_and_a_refusal_are_dead_and_come_back_never():
    out_of_tries = judge(record(tries=7), Answer(Verdict.RETRY, None, 5000, error="ConnectTimeout"), 8, T0, BACKOFF)
    refused = judge(record(), Answer(Verdict.REFUSED, "AE", 3, error="207 Application internal error"), 8, T0, BACKOFF)
    for outcome in (out_of_tries, refused):
        assert outcome.state is DeliveryState.DEAD and outcome.delay is None and outcome.attempt.next_at is None
    assert out_of_tries.attempt.n == 8 and refused.attempt.error == "207 Application internal error"


def test_a_case_is_delivered_when_its_latest_change_reached_every_target():
    decided = f.decided(f.case(), {1: f.determination()}).model_copy(update={"version": 5})
    both = [record(FHIR, DeliveryState.DELIVERED), record(HL7V2, DeliveryState.RETRYING)]
    assert not delivery.case_delivered(decided, both)
    both[1] = record(HL7V2, DeliveryState.DELIVERED)
    assert delivery.case_delivered(decided, both)
    older_dead = [record(FHIR, DeliveryState.DEAD, version=3, notice=Notice.INFORMATION_REQUEST), *both]
    assert delivery.case_delivered(decided, older_dead)  # what an earlier change owed does not hold it back
    assert not delivery.case_delivered(decided.model_copy(update={"status": Status.CANCELLED}), both)
    notified = [*both, record("subscription:s1:1", DeliveryState.DEAD)]
    assert delivery.case_delivered(decided, notified)  # a subscriber that went away holds nothing back


class Sent:
    def __init__(self, *answers: Answer):
        self.answers, self.calls = list(answers), []

    def __call__(self, case, rec):
        self.calls.append(rec.target)
        return self.answers.pop(0)


@pytest.fixture
def store():
    store = MemoryCaseStore()
    case = f.decided(f.case(), {1: f.determination()}).model_copy(update={"version": 5})
    store.cases[case.id] = case
    store.outboxes[case.id] = {r.key: r for r in [record(FHIR)]}
    return store


def policy(_: str) -> ReviewPolicy:
    return ReviewPolicy(max_attempts=2)


def test_one_attempt_records_itself_and_the_case_becomes_delivered(store):
    send = Sent(Answer(Verdict.RETRY, "503", 10), Answer(Verdict.OK, "201", 10))
    first = delivery.deliver(store, send, policy, "case1", "00000005#fhir", T0, BACKOFF)
    assert first.state is DeliveryState.RETRYING and store.cases["case1"].status is Status.DECIDED
    second = delivery.deliver(store, send, policy, "case1", "00000005#fhir", T0, BACKOFF)
    assert second.state is DeliveryState.DELIVERED
    [stored] = store.outbox("case1")
    assert [a.code for a in stored.attempts] == ["503", "201"] and stored.tries == 2
    assert store.cases["case1"].status is Status.DELIVERED
    assert [e.type for e in store.history("case1")] == ["delivered"]
    assert delivery.deliver(store, send, policy, "case1", "00000005#fhir", T0, BACKOFF) is None  # a copy
    assert send.calls == [FHIR, FHIR]


def test_a_dead_record_is_redriven_with_its_tries_counted_afresh(store):
    send = Sent(Answer(Verdict.REFUSED, "400", 1), Answer(Verdict.OK, "200", 1))
    assert delivery.deliver(store, send, policy, "case1", "00000005#fhir", T0, BACKOFF).state is DeliveryState.DEAD
    [moved] = delivery.redrive(store, "case1")
    assert (moved.state, moved.tries) == (DeliveryState.PENDING, 0) and delivery.redrive(store, None) == []
    outcome = delivery.deliver(store, send, policy, "case1", "00000005#fhir", T0, BACKOFF)
    assert outcome.state is DeliveryState.DELIVERED and outcome.attempt.n == 1


class Subscribers:
    def __init__(self, *ids: str):
        self.ids, self.events = ids, {}

    def for_case(self, case):
        return [type("Sub", (), {"id": i})() for i in self.ids]

    def next_event(self, subscription_id):
        self.events[subscription_id] = self.events.get(subscription_id, 0) + 1
        return self.events[subscription_id]


def test_a_subscriptions_record_fans_out_one_numbered_notification_per_subscription(store):
    store.outboxes["case1"] = {r.key: r for r in [record(SUBSCRIPTIONS)]}
    subscribers = Subscribers("s1", "s2")
    outcome = delivery.deliver(store, Sent(), policy, "case1", f"00000005#{SUBSCRIPTIONS}", T0, BACKOFF, subscribers)
    assert outcome.state is DeliveryState.DELIVERED and outcome.attempt.code == "2"
    records = {r.target: r for r in store.outbox("case1")}
    assert set(records) == {SUBSCRIPTIONS, "subscription:s1:1", "subscription:s2:1"}
    assert records["subscription:s1:1"].state is DeliveryState.PENDING  # each then delivered on its own
    assert store.cases["case1"].status is Status.DECIDED  # notifications alone never make a case delivered


def test_a_fan_out_that_found_no_subscriber_delivers_nothing(store):
    store.outboxes["case1"] = {r.key: r for r in [record(SUBSCRIPTIONS)]}
    delivery.deliver(store, Sent(), policy, "case1", f"00000005#{SUBSCRIPTIONS}", T0, BACKOFF, Subscribers())
    [fan_out] = store.outbox("case1")
    assert fan_out.state is DeliveryState.DELIVERED and fan_out.attempts[0].code == "0"
    assert store.cases["case1"].status is Status.DECIDED  # nothing went to the requester: nothing was delivered
