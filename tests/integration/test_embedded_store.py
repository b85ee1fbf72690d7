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


def create(client, name: str, range_key: bool = True, stream: bool = False) -> None:
    keys = [("PK", "HASH")] + ([("SK", "RANGE")] if range_key else [])
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                        **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
                           if stream else {}))


@pytest.fixture
def table(stack):
    client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
    name = f"volume-{uuid.uuid4().hex[:8]}"
    create(client, name)
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
        request = new_case(name, f"new-{size}")  # and a change to a case already there:
        request["TransactItems"].append({"Put": {"TableName": name, "Item": {"PK": {"S": "CASE#3"}, "SK": {"S": "CASE"}}}})
        client.transact_write_items(**request)
        per_transaction.append(copies["items"])
    assert per_transaction == [1, 1], per_transaction  # the one existing item; case 100 costs what case 5,000 does


@pytest.mark.parametrize("range_key", [True, False])
def test_a_cancelled_transaction_leaves_every_item_and_the_stream_as_they_were(stack, range_key):
    client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
    name = f"rollback-{uuid.uuid4().hex[:8]}"
    create(client, name, range_key, stream=True)

    def key(pk: str) -> dict:
        return {"PK": {"S": pk}, **({"SK": {"S": "CASE"}} if range_key else {})}

    for n in range(5):
        client.put_item(TableName=name, Item={**key(f"CASE#{n}"), "doc": {"S": f"v{n}"}})
    before = client.scan(TableName=name)["Items"]
    records = stream_records(stack, client, name)
    with pytest.raises(client.exceptions.TransactionCanceledException) as err:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {**key("CASE#0"), "doc": {"S": "changed"}}}},
            {"Update": {"TableName": name, "Key": key("CASE#1"), "UpdateExpression": "SET doc = :d",
                        "ExpressionAttributeValues": {":d": {"S": "changed"}}}},
            {"Delete": {"TableName": name, "Key": key("CASE#2")}},
            {"Put": {"TableName": name, "Item": {**key("CASE#new"), "doc": {"S": "new"}}}},
            {"ConditionCheck": {"TableName": name, "Key": key("CASE#3"), "ConditionExpression": "attribute_not_exists(PK)"}},
        ])
    assert [r["Code"] for r in err.value.response["CancellationReasons"]][-1] == "ConditionalCheckFailed"
    assert sorted(client.scan(TableName=name)["Items"], key=str) == sorted(before, key=str)
    assert stream_records(stack, client, name) == records  # the cancelled writes left no stream records
    client.delete_table(TableName=name)


def stream_records(stack, client, table: str) -> int:
    streams = boto3.client("dynamodbstreams", endpoint_url=stack.aws_endpoint)
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"])


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


def test_stream_records_are_kept_until_every_reader_has_passed_them(stack):
    """Fix 6: a read forgets its iterator and drops what every reader of the shard has passed."""
    client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
    streams = boto3.client("dynamodbstreams", endpoint_url=stack.aws_endpoint)
    name = f"stream-{uuid.uuid4().hex[:8]}"
    create(client, name, stream=True)
    arn = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def reader() -> str:
        return streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    fast, slow = reader(), reader()
    for n in range(5):
        client.put_item(TableName=name, Item={"PK": {"S": f"CASE#{n}"}, "SK": {"S": "CASE"}, "doc": {"S": "x"}})
    first = streams.get_records(ShardIterator=fast, Limit=1000)
    assert len(first["Records"]) == 5
    fast = first["NextShardIterator"]
    streams.get_records(ShardIterator=fast, Limit=1000)  # the fast reader has passed all five
    shard = moto_table(name).stream_shard
    assert len(shard.items) == 5  # the slow reader has not
    late = streams.get_records(ShardIterator=slow, Limit=1000)
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in late["Records"]] == [f"CASE#{n}" for n in range(5)]
    streams.get_records(ShardIterator=late["NextShardIterator"], Limit=1000)
    assert len(shard.items) == 0  # every reader passed them: gone, as DynamoDB drops them after 24 hours
    with pytest.raises(streams.exceptions.ClientError):  # a read iterator is not kept (one answer names the next)
        streams.get_records(ShardIterator=fast, Limit=1000)
    client.delete_table(TableName=name)
