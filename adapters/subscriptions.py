"""PAS subscriptions: where they are kept (DynamoDB, or memory for tests) and how a Bundle reaches
a subscriber's endpoint.

| method                        | DynamoDB (requests from dynamo_keys)                      |
|-------------------------------|-----------------------------------------------------------|
| create(sub)                   | TransactWriteItems: the subscription + its lookup copy +  |
|                               |   its handshake record (pending)                          |
| get(id)                       | GetItem (consistent)                                      |
| handshake_of(id)              | GetItem (consistent)                                      |
| record_handshake(sub, was,    | TransactWriteItems: the attempt (if the record is as      |
|   now, status, error)         |   read) + the status it leads to; False when either fails |
| set_status(id, status, error) | GetItem, then TransactWriteItems updating both; False     |
|                               |   when the subscription is unknown or off                 |
| delete(id)                    | TransactWriteItems: status off, lookup deleted            |
| for_organizations(values)     | one Query per value (SUBORG#<value>), active only         |
| for_case(case)                | for_organizations(organization_values) + matches          |
| next_event(id)                | UpdateItem ADD events 1, the new number returned          |

`post_bundle(sub, bundle)` POSTs a handshake or notification Bundle with the subscriber's headers
and answers with outbound's Answer (never raises). `deliver_handshake` is the delivery worker's
attempt at a new subscription's handshake: judged as any delivery (review/delivery.judge: a 2xx
makes the subscription active; no answer, 408, 429 and 5xx are tried again after the backoff,
because a client may only start listening once our 201 reached it; anything else, or the
partner's `max_attempts`, makes it error with the reason).
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any, Callable

from fhir_mappings.subscription import (
    Handshake, PasSubscription, Status, handshake_bundle, header_fields, matches, organization_values,
)
from review.delivery import OK_2XX, Backoff, Outcome, http_answer, judge
from review.errors import NotFound
from review.model import Case
from review.outbox import DeliveryState

from . import dynamo_keys as keys
from .dynamo_pages import items

HANDSHAKE_TIMEOUT = 5.0  # seconds a subscriber has to answer a handshake


def post_bundle(sub: PasSubscription, bundle: dict, timeout: float = HANDSHAKE_TIMEOUT) -> Any:
    """POST `bundle` to the subscription's endpoint with its headers: an outbound.Answer (status None
    when nothing answered; `delivered` for a 2xx)."""
    from adapters.outbound import post_json  # httpx: paid for by the requests that send

    body = json.dumps(bundle, separators=(",", ":")).encode()
    return post_json(sub.endpoint, body, header_fields(sub), timeout)


def fhir_base_url() -> str:
    """The FHIR base the notifications' URLs start with, where no request tells it (the delivery worker)."""
    return os.environ.get("PUBLIC_BASE_URL", "").rstrip("/") + "/fhir"


def deliver_handshake(store: Any, subscription_id: str, max_attempts: Callable[[str], int], now: datetime,
                      backoff: Backoff = Backoff(), base_url: str | None = None,
                      send: Callable[[PasSubscription, dict], Any] = post_bundle) -> Outcome | None:
    """One attempt at a subscription's handshake. None when there is nothing to do: the record is
    gone or settled (a copy of a message), the subscription was deleted, or the attempt was recorded
    by another worker first. `max_attempts(partner id)` is the subscribing partner's."""
    sub, handshake = store.get(subscription_id), store.handshake_of(subscription_id)
    if (sub is None or handshake is None or sub.status is not Status.REQUESTED
            or handshake.state in (DeliveryState.DELIVERED, DeliveryState.DEAD)):
        return None
    sent = send(sub, handshake_bundle(sub, base_url or fhir_base_url()))
    answer = http_answer(sent.status, sent.latency_ms, sent.retry_after, sent.error, ok=OK_2XX)
    outcome = judge(handshake, answer, max_attempts(sub.partner_id), now, backoff)
    status, error = {DeliveryState.DELIVERED: (Status.ACTIVE, None),
                     DeliveryState.DEAD: (Status.ERROR, _refusal(sent))}.get(outcome.state, (None, None))
    if not store.record_handshake(sub, handshake, handshake.attempted(outcome.state, outcome.attempt), status, error):
        return None
    return outcome


def _refusal(sent: Any) -> str:
    """Subscription.error for a handshake that will not be tried again (no body, no header value)."""
    if sent.status is None:
        return f"handshake: no answer from the endpoint ({sent.error})"
    return f"handshake: the endpoint answered {sent.status}"


class DynamoSubscriptions:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def create(self, sub: PasSubscription) -> None:
        self.client.transact_write_items(**keys.create_subscription_transaction(self.table, sub))

    def get(self, subscription_id: str) -> PasSubscription | None:
        item = self.client.get_item(TableName=self.table, Key=keys.subscription_key(subscription_id),
                                    ConsistentRead=True).get("Item")
        return keys.subscription_of(item) if item else None

    def set_status(self, subscription_id: str, status: Status | str, error: str | None = None) -> bool:
        sub = self.get(subscription_id)
        if sub is None:
            return False
        return self._transact(keys.subscription_status_transaction(self.table, sub, Status(status).value, error))

    def handshake_of(self, subscription_id: str) -> Handshake | None:
        item = self.client.get_item(TableName=self.table, Key=keys.handshake_key(subscription_id),
                                    ConsistentRead=True).get("Item")
        return keys.handshake_of(item) if item else None

    def record_handshake(self, sub: PasSubscription, was: Handshake, now: Handshake, status: Status | None = None,
                         error: str | None = None) -> bool:
        return self._transact(keys.handshake_transaction(self.table, sub, was, now, status and status.value, error))

    def delete(self, subscription_id: str) -> bool:
        sub = self.get(subscription_id)
        return sub is not None and self._transact(keys.delete_subscription_transaction(self.table, sub))

    def for_organizations(self, values: list[str]) -> list[PasSubscription]:
        found: dict[str, PasSubscription] = {}
        for value in dict.fromkeys(values):
            request = keys.subscriptions_query(self.table, value)
            found |= {s.id: s for s in map(keys.subscription_of, items(self.client, request))}
        return list(found.values())

    def for_case(self, case: Case) -> list[PasSubscription]:
        return [s for s in self.for_organizations(organization_values(case)) if matches(s, case)]

    def next_event(self, subscription_id: str) -> int:
        try:
            answer = self.client.update_item(**keys.subscription_event_update(self.table, subscription_id))
        except self.client.exceptions.ConditionalCheckFailedException:
            raise NotFound("no such subscription") from None
        return int(answer["Attributes"]["events"]["N"])

    def _transact(self, request: dict) -> bool:
        """False when a condition failed: the subscription was deleted (or never stored) meanwhile."""
        try:
            self.client.transact_write_items(**request)
            return True
        except self.client.exceptions.TransactionCanceledException:
            return False


class MemorySubscriptions:
    """The same contract in memory, for unit tests."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, PasSubscription] = {}
        self.handshakes: dict[str, Handshake] = {}

    def create(self, sub: PasSubscription) -> None:
        if sub.id in self.subscriptions:
            raise ValueError("a subscription with this id exists")
        self.subscriptions[sub.id] = sub
        self.handshakes[sub.id] = Handshake(subscription_id=sub.id)

    def handshake_of(self, subscription_id: str) -> Handshake | None:
        return self.handshakes.get(subscription_id)

    def record_handshake(self, sub: PasSubscription, was: Handshake, now: Handshake, status: Status | None = None,
                         error: str | None = None) -> bool:
        current, stored = self.handshakes.get(sub.id), self.subscriptions.get(sub.id)
        if current is None or (current.state, current.tries) != (was.state, was.tries):
            return False
        if status is not None and (stored is None or stored.status is Status.OFF):
            return False
        self.handshakes[sub.id] = now
        if status is not None:
            self.subscriptions[sub.id] = stored.model_copy(update={"status": status, "error": error})
        return True

    def get(self, subscription_id: str) -> PasSubscription | None:
        return self.subscriptions.get(subscription_id)

    def set_status(self, subscription_id: str, status: Status | str, error: str | None = None) -> bool:
        sub = self.subscriptions.get(subscription_id)
        if sub is None or sub.status is Status.OFF:
            return False
        self.subscriptions[subscription_id] = sub.model_copy(update={"status": Status(status), "error": error})
        return True

    def delete(self, subscription_id: str) -> bool:
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            return False
        self.subscriptions[subscription_id] = sub.model_copy(update={"status": Status.OFF})
        return True

    def for_organizations(self, values: list[str]) -> list[PasSubscription]:
        return [s for s in self.subscriptions.values() if s.status is Status.ACTIVE and s.org.value in values]

    def for_case(self, case: Case) -> list[PasSubscription]:
        return [s for s in self.for_organizations(organization_values(case)) if matches(s, case)]

    def next_event(self, subscription_id: str) -> int:
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise NotFound("no such subscription")
        self.subscriptions[subscription_id] = sub.model_copy(update={"events": sub.events + 1})
        return sub.events + 1
