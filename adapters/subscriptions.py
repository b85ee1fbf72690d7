"""PAS subscriptions: where they are kept (DynamoDB, or memory for tests) and how a Bundle reaches
a subscriber's endpoint.

| method                        | DynamoDB (requests from dynamo_keys)                      |
|-------------------------------|-----------------------------------------------------------|
| create(sub)                   | TransactWriteItems: the subscription + its lookup copy    |
| get(id)                       | GetItem (consistent)                                      |
| set_status(id, status, error) | GetItem, then TransactWriteItems updating both; False     |
|                               |   when the subscription is unknown or off                 |
| delete(id)                    | TransactWriteItems: status off, lookup deleted            |
| for_organizations(values)     | one Query per value (SUBORG#<value>), active only         |
| for_case(case)                | for_organizations(organization_values) + matches          |
| next_event(id)                | UpdateItem ADD events 1, the new number returned          |

`post_bundle(sub, bundle)` POSTs a handshake or notification Bundle with the subscriber's headers
and answers with outbound's Answer (never raises).
"""
from __future__ import annotations

import json
from typing import Any

from fhir_mappings.subscription import PasSubscription, Status, header_fields, matches, organization_values
from review.errors import NotFound
from review.model import Case

from . import dynamo_keys as keys
from .dynamo_pages import items

HANDSHAKE_TIMEOUT = 5.0  # seconds: the handshake runs inside the client's POST


def post_bundle(sub: PasSubscription, bundle: dict, timeout: float = HANDSHAKE_TIMEOUT) -> Any:
    """POST `bundle` to the subscription's endpoint with its headers: an outbound.Answer (status None
    when nothing answered; `delivered` for a 2xx)."""
    from adapters.outbound import post_json  # httpx: paid for by the requests that send

    body = json.dumps(bundle, separators=(",", ":")).encode()
    return post_json(sub.endpoint, body, header_fields(sub), timeout)


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

    def create(self, sub: PasSubscription) -> None:
        if sub.id in self.subscriptions:
            raise ValueError("a subscription with this id exists")
        self.subscriptions[sub.id] = sub

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
