"""The embedded DynamoDB endpoint under volume: infra/local/moto_fixes.py, over real HTTP.

Cost is counted, not timed: the items moto copies to be able to roll a transaction back. Without
the fix that is the whole table for every item of the transaction, so these tests fail when the
fix is removed (the benchmark shows the same in milliseconds).
"""
from __future__ import annotations

import gc
import uuid
import weakref

import boto3
import pytest
from moto.dynamodb.models.dynamo_type import Item

pytestmark = pytest.mark.integration


@pytest.fixture
def table(stack):
    client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
    name = f"volume-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                   {"AttributeName": "SK", "KeyType": "RANGE"}])
    yield client, name
    client.delete_table(TableName=name)


def fill(client, table: str, start: int, stop: int) -> None:
    for first in range(start, stop, 25):
        client.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"PK": {"S": f"CASE#{n}"}, "SK": {"S": "CASE"}, "doc": {"S": "x" * 200}}}}
            for n in range(first, min(first + 25, stop))]})


def new_case(table: str, n: str) -> dict:
    """A new case as the store writes it: eight puts, the first two conditional."""
    puts = [("CASE#" + n, "CASE"), ("SUBMISSION#" + n, "SUBMISSION"), ("CASE#" + n, "EVENT#1")]
    puts += [(f"LOOKUP#{n}-{k}", "CASE#" + n) for k in range(5)]
    return {"TransactItems": [
        {"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": sk}},
                 **({"ConditionExpression": "attribute_not_exists(PK)"} if i < 2 else {})}}
        for i, (pk, sk) in enumerate(puts)]}


@pytest.fixture
def copies(monkeypatch):
    """Counts the items moto deep-copies."""
    counted = {"items": 0}
    original = Item.__deepcopy__

    def counting(self, memo):
        counted["items"] += 1
        return original(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting)
    return counted


def test_a_transaction_copies_only_the_items_it_touches_however_large_the_table(table, copies):
    client, name = table
    per_transaction = []
    for size in (100, 5_000):
        fill(client, name, len(per_transaction) and 100, size)
        copies["items"] = 0
        client.transact_write_items(**new_case(name, f"new-{size}"))
        per_transaction.append(copies["items"])
    assert per_transaction[0] == per_transaction[1] <= 8, per_transaction  # flat: case 100 costs what case 5,000 does


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    client, name = table
    fill(client, name, 0, 50)
    client.transact_write_items(**new_case(name, "taken"))
    replay = new_case(name, "taken")
    # The same case again, led by an unconditional change to an existing item and a brand-new item:
    replay["TransactItems"][:0] = [
        {"Put": {"TableName": name, "Item": {"PK": {"S": "CASE#7"}, "SK": {"S": "CASE"}, "doc": {"S": "changed"}}}},
        {"Put": {"TableName": name, "Item": {"PK": {"S": "CASE#new"}, "SK": {"S": "CASE"}}}},
    ]
    with pytest.raises(client.exceptions.TransactionCanceledException) as err:
        client.transact_write_items(**replay)
    reasons = [r["Code"] for r in err.value.response["CancellationReasons"]]
    assert reasons[:4] == ["None", "None", "ConditionalCheckFailed", "ConditionalCheckFailed"]

    def get(pk: str, sk: str = "CASE") -> dict | None:
        return client.get_item(TableName=name, Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")

    assert get("CASE#7")["doc"]["S"] == "x" * 200  # the unconditional put was undone
    assert get("CASE#new") is None  # and the new item removed
    assert get("CASE#taken") is not None and get("SUBMISSION#taken", "SUBMISSION") is not None
    assert client.scan(TableName=name, Select="COUNT")["Count"] == 50 + 8


def moto_table(name: str):
    from moto.dynamodb.models import dynamodb_backends

    return next(t for account in dynamodb_backends.values() for backend in account.values()
                for t in backend.tables.values() if t.name == name)


def test_items_written_and_replaced_are_freed(table):
    """moto's instance tracking kept every model object (each item ever written) alive."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    client, name = table
    tracked = len(Item.instances_tracked)  # by a moto that ran in this process before the fixes, if any
    client.transact_write_items(**new_case(name, "first"))
    key = DynamoType({"S": "CASE#first"}), DynamoType({"S": "CASE"})
    first = weakref.ref(moto_table(name).items[key[0]][key[1]])
    client.put_item(TableName=name, Item={"PK": {"S": "CASE#first"}, "SK": {"S": "CASE"}, "v": {"N": "2"}})
    gc.collect()
    assert first() is None  # the replaced item is gone
    assert len(Item.instances_tracked) == tracked
