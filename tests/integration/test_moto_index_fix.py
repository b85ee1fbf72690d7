"""Index and table Queries on the embedded DynamoDB endpoint: fix 3 of infra/local/moto_fixes.py.

moto answers a Query by looking at every item of the table; the fix keeps each index's partitions in
order and shows moto only the items a page can reach. Its answers must be moto's own: a seeded
random history of writes (puts, updates that move items between partitions or out of an index,
deletes, batches, transactions cancelled and not) is checked, page by page, against a reference
computed here from a model of the table, and against moto answering alone (tests/integration/unfixed.py).
Cost is checked as a ratio to a GetItem: without the fix, a page costs a sort of the whole table.
"""
from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from infra.local import moto_fixes
from infra.local.embedded import EmbeddedAws
from tests.integration.unfixed import moto_alone

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Index:
    name: str
    hash_attr: str
    range_attr: str | None
    projection: tuple[str, ...] | None  # non-key attributes kept; None: ALL
    local: bool = False

    @property
    def order(self) -> tuple[str, ...]:
        """The attributes moto orders a Query by: index keys, then the table's (a GSI without a
        range key is ordered by the table's range key first)."""
        return (self.hash_attr, self.range_attr or "SK", "PK", "SK")

    def holds(self, item: dict) -> bool:
        return self.hash_attr in item and (self.range_attr is None or self.range_attr in item)

    def project(self, item: dict) -> dict:
        if self.projection is None:
            return dict(item)
        kept = {"PK", "SK", self.hash_attr, self.range_attr, *self.projection}
        return {k: v for k, v in item.items() if k in kept}

    def last_key(self, item: dict) -> dict:
        return {k: item[k] for k in ("PK", "SK", self.hash_attr, self.range_attr) if k}


INDEXES = [
    Index("Worklist", "GSI1PK", "GSI1SK", ("status", "due_at")),
    Index("ByPartner", "GSI2PK", "GSI2SK", ()),  # KEYS_ONLY
    Index("ByDecision", "GSI3PK", None, None),
    Index("ByAssignee", "PK", "LSI1SK", None, local=True),
]
TABLE_ITSELF = Index("", "PK", "SK", None)
KEY_ATTRS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "LSI1SK")


def projection(index: Index) -> dict:
    if index.projection is None:
        return {"ProjectionType": "ALL"}
    if not index.projection:
        return {"ProjectionType": "KEYS_ONLY"}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projection)}


def key_schema(index: Index) -> list[dict]:
    return [{"AttributeName": index.hash_attr, "KeyType": "HASH"}] + (
        [{"AttributeName": index.range_attr, "KeyType": "RANGE"}] if index.range_attr else [])


def create(client, name: str) -> None:
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in KEY_ATTRS],
        KeySchema=key_schema(TABLE_ITSELF),
        GlobalSecondaryIndexes=[{"IndexName": i.name, "KeySchema": key_schema(i), "Projection": projection(i)}
                                for i in INDEXES if not i.local],
        LocalSecondaryIndexes=[{"IndexName": i.name, "KeySchema": key_schema(i), "Projection": projection(i)}
                               for i in INDEXES if i.local])


@pytest.fixture(scope="module")
def endpoint():
    """The DynamoDB endpoint alone (moto's state is the process's: any stack of the session shares it)."""
    aws = EmbeddedAws()
    url = aws.start()
    yield url
    aws.stop()


@pytest.fixture
def client(endpoint):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


@pytest.fixture
def table(client):
    name = f"index-{uuid.uuid4().hex[:8]}"
    create(client, name)
    yield name
    client.delete_table(TableName=name)


def typed(item: dict) -> dict:
    return {k: {"S": v} for k, v in item.items()}


def plain(item: dict) -> dict:
    return {k: v["S"] for k, v in item.items()}


@pytest.fixture
def answered_alone(monkeypatch):
    """Counts the Queries the fix handed to moto whole (it answers them alone, from the whole table)."""
    counted = {"queries": 0}
    for name in ("_index_page", "_partition"):
        original = getattr(moto_fixes, name)

        def counting(*args, original=original):
            try:
                return original(*args)
            except Exception:
                counted["queries"] += 1
                raise

        monkeypatch.setattr(moto_fixes, name, counting)
    return counted


# The writes: a random history, applied to the endpoint and to a model of the table.

CASES = [f"CASE#{n:03d}" for n in range(40)]
SORTS = ["CASE", "EVENT#1", "EVENT#2", "LOOKUP"]


class History:
    def __init__(self, client, table: str, seed: int):
        self.client, self.table, self.rng = client, table, random.Random(seed)
        self.model: dict[tuple[str, str], dict] = {}
        self.cancelled = 0

    def key(self) -> tuple[str, str]:
        return self.rng.choice(CASES), self.rng.choice(SORTS)

    def index_values(self, pk: str) -> dict:
        """Index attributes, each absent now and then: a sparse index, and items with a hash but no range key."""
        r = self.rng
        values = {"GSI1PK": r.choice(["OPEN", "OPEN", "PENDED"]),
                  "GSI1SK": f"2025-{r.randint(1, 12):02d}-{r.randint(1, 3):02d}#{pk}",
                  "GSI2PK": r.choice(["PARTNER#alpha", "PARTNER#beta"]),
                  "GSI2SK": r.choice(["STATUS#open", "STATUS#pended", "STATUS#closed"]) + f"#{r.randint(1, 9)}",
                  "GSI3PK": r.choice(["DECIDED#alpha#2025-01", "DECIDED#beta#2025-02"]),
                  "LSI1SK": f"ASSIGNEE#u{r.randint(1, 4)}"}
        return {k: v for k, v in values.items() if r.random() < 0.6}

    def new_item(self, key: tuple[str, str]) -> dict:
        r = self.rng
        return {"PK": key[0], "SK": key[1], **self.index_values(key[0]),
                "status": r.choice(["open", "pended", "closed"]), "due_at": f"2025-{r.randint(1, 12):02d}-01",
                "doc": "x" * r.randint(0, 40)}

    def update_request(self, key: tuple[str, str]) -> tuple[dict, dict]:
        """An update request and what it does: SET some attributes (index keys among them), REMOVE others."""
        current = self.model.get(key, {"PK": key[0], "SK": key[1]})
        sets = {**self.index_values(key[0]), "status": self.rng.choice(["open", "pended", "closed"])}
        removable = [a for a in current if a not in ("PK", "SK") and a not in sets]
        removes = self.rng.sample(removable, k=min(len(removable), self.rng.randint(0, 2)))
        names = {f"#a{i}": a for i, a in enumerate([*sets, *removes])}
        by_attr = {a: n for n, a in names.items()}
        expression = "SET " + ", ".join(f"{by_attr[a]} = :v{i}" for i, a in enumerate(sets))
        if removes:
            expression += " REMOVE " + ", ".join(by_attr[a] for a in removes)
        request = {"Key": typed({"PK": key[0], "SK": key[1]}), "UpdateExpression": expression,
                   "ExpressionAttributeNames": names,
                   "ExpressionAttributeValues": {f":v{i}": {"S": v} for i, v in enumerate(sets.values())}}
        after = {k: v for k, v in {**current, **sets}.items() if k not in removes}
        return request, after

    def step(self) -> None:
        kind = self.rng.choices(["put", "update", "delete", "batch", "transaction", "refused"], [5, 5, 2, 2, 3, 1])[0]
        getattr(self, kind)()

    def put(self) -> None:
        item = self.new_item(self.key())
        self.client.put_item(TableName=self.table, Item=typed(item))
        self.model[item["PK"], item["SK"]] = item

    def update(self) -> None:
        key = self.key()
        request, after = self.update_request(key)
        self.client.update_item(TableName=self.table, **request)
        self.model[key] = after

    def delete(self) -> None:
        key = self.key()
        self.client.delete_item(TableName=self.table, Key=typed({"PK": key[0], "SK": key[1]}))
        self.model.pop(key, None)

    def batch(self) -> None:
        keys = list(dict.fromkeys(self.key() for _ in range(self.rng.randint(2, 12))))
        requests, changes = [], {}
        for key in keys:
            if self.rng.random() < 0.7:
                item = self.new_item(key)
                requests.append({"PutRequest": {"Item": typed(item)}})
                changes[key] = item
            else:
                requests.append({"DeleteRequest": {"Key": typed({"PK": key[0], "SK": key[1]})}})
                changes[key] = None
        self.client.batch_write_item(RequestItems={self.table: requests})
        self.apply(changes)

    def transaction(self) -> None:
        """2 to 5 writes; now and then a condition that fails, before, between or after them."""
        keys = list(dict.fromkeys(self.key() for _ in range(self.rng.randint(2, 5))))
        ops, changes = [], {}
        for key in keys:
            kind = self.rng.choice(["Put", "Update", "Delete"])
            if kind == "Put":
                changes[key] = self.new_item(key)
                ops.append({"Put": {"TableName": self.table, "Item": typed(changes[key])}})
            elif kind == "Update":
                request, changes[key] = self.update_request(key)
                ops.append({"Update": {"TableName": self.table, **request}})
            else:
                changes[key] = None
                ops.append({"Delete": {"TableName": self.table, "Key": typed({"PK": key[0], "SK": key[1]})}})
        if self.rng.random() < 0.4:
            failing = self.key()
            while failing in changes:
                failing = self.key()
            condition = "attribute_not_exists(PK)" if failing in self.model else "attribute_exists(PK)"
            ops.insert(self.rng.randint(0, len(ops)), {"ConditionCheck": {
                "TableName": self.table, "Key": typed({"PK": failing[0], "SK": failing[1]}),
                "ConditionExpression": condition}})
            with pytest.raises(self.client.exceptions.TransactionCanceledException):
                self.client.transact_write_items(TransactItems=ops)
            self.cancelled += 1
            return
        self.client.transact_write_items(TransactItems=ops)
        self.apply(changes)

    def refused(self) -> None:
        """A conditional update refused by its condition: nothing changes."""
        request, _ = self.update_request(self.key())
        with pytest.raises(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(TableName=self.table, ConditionExpression="attribute_exists(nothing)", **request)

    def apply(self, changes: dict) -> None:
        for key, item in changes.items():
            if item is None:
                self.model.pop(key, None)
            else:
                self.model[key] = item



# The queries: the reference, as moto answers (its loop, over the model).

CONDITIONS = ["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]


def matches(value: str, op: str, bounds: list[str]) -> bool:
    return {"=": lambda: value == bounds[0], "<": lambda: value < bounds[0], "<=": lambda: value <= bounds[0],
            ">": lambda: value > bounds[0], ">=": lambda: value >= bounds[0],
            "BETWEEN": lambda: bounds[0] <= value <= bounds[1],
            "begins_with": lambda: value.startswith(bounds[0])}[op]()


def reference_page(model: dict, index: Index, hash_value: str, condition: tuple | None, limit: int | None,
                   start: dict | None, forward: bool, status: str | None) -> dict:
    """One page as moto computes it: the partition in index order, after the start key; items passing
    the range condition until `limit`; a LastEvaluatedKey if any item of the partition follows."""
    order = [item for item in model.values() if index.holds(item) and item[index.hash_attr] == hash_value]
    order.sort(key=lambda item: tuple(item[a] for a in index.order), reverse=not forward)
    if start is not None:
        at = tuple(start[a] for a in index.order)
        order = [i for i in order if (tuple(i[a] for a in index.order) > at) == forward
                 and tuple(i[a] for a in index.order) != at]
    page, last_key = [], None
    for item in order:
        if limit is not None and len(page) == limit:
            last_key = index.last_key(page[-1])
            break
        if condition is None or matches(item[index.range_attr], *condition):
            page.append(item)
    items = [index.project(item) for item in page]
    if status is not None:
        items = [item for item in items if item.get("status") == status]
    answer = {"Items": [typed(item) for item in items], "Count": len(items), "ScannedCount": len(page)}
    if last_key:
        answer["LastEvaluatedKey"] = typed(last_key)
    return answer


def request(table: str, index: Index, hash_value: str, condition: tuple | None, limit: int | None,
            forward: bool, status: str | None) -> dict:
    names, values = {"#h": index.hash_attr}, {":h": {"S": hash_value}}
    expression = "#h = :h"
    if condition:
        op, bounds = condition
        names["#r"] = index.range_attr
        values |= {f":r{n}": {"S": b} for n, b in enumerate(bounds)}
        expression += {"BETWEEN": " AND #r BETWEEN :r0 AND :r1",
                       "begins_with": " AND begins_with(#r, :r0)"}.get(op, f" AND #r {op} :r0")
    query = {"TableName": table, "KeyConditionExpression": expression, "ScanIndexForward": forward}
    if index.name:
        query["IndexName"] = index.name
    if limit is not None:
        query["Limit"] = limit
    if status is not None:
        names["#s"] = "status"
        values[":s"] = {"S": status}
        query["FilterExpression"] = "#s = :s"
    return query | {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


def random_condition(rng: random.Random, index: Index, model: dict) -> tuple | None:
    if index.range_attr is None or rng.random() < 0.3:
        return None
    seen = sorted({i[index.range_attr] for i in model.values() if index.range_attr in i}) or ["M"]
    op = rng.choice(CONDITIONS)
    pick = lambda: rng.choice(seen) if rng.random() < 0.7 else rng.choice(seen)[:rng.randint(1, 12)]  # noqa: E731
    if op == "BETWEEN":
        return op, sorted([pick(), pick()], reverse=rng.random() < 0.1)  # now and then an empty range
    if op == "begins_with":
        return op, [rng.choice(seen)[:rng.randint(1, 14)]]
    return op, [pick()]


def check_queries(client, table: str, history: History, rng: random.Random) -> int:
    """Every index (and the table itself), several partitions each, paged to the end; returns the pages."""
    pages = 0
    for index in [*INDEXES, TABLE_ITSELF]:
        values = sorted({i[index.hash_attr] for i in history.model.values() if index.holds(i)})
        for hash_value in rng.sample(values, k=min(4, len(values))) + ["NOBODY"]:
            for _ in range(2):
                condition = random_condition(rng, index, history.model)
                limit = rng.choice([None, 1, 2, 3, 7, 50])
                forward = rng.random() < 0.6
                status = rng.choice([None, None, "open"])
                query = request(table, index, hash_value, condition, limit, forward, status)
                start = None
                while True:
                    asked = query | ({"ExclusiveStartKey": typed(start)} if start else {})
                    answer = client.query(**asked)
                    answer.pop("ResponseMetadata")
                    with moto_alone():
                        alone = client.query(**asked)
                    alone.pop("ResponseMetadata")
                    assert answer == alone, (asked, answer, alone)
                    expected = reference_page(history.model, index, hash_value, condition, limit, start, forward,
                                              status)
                    assert answer == expected, (asked, answer, expected)
                    pages += 1
                    if "LastEvaluatedKey" not in answer:
                        break
                    start = plain(answer["LastEvaluatedKey"])
    return pages


def moto_table(name: str):
    from moto.dynamodb.models import dynamodb_backends

    return next(t for account in dynamodb_backends.values() for backend in account.values()
                for t in backend.tables.values() if t.name == name)


def assert_orders_match_a_rebuild(table: str) -> None:
    """What the writes kept is what building from the table gives, item for item."""
    moto = moto_table(table)
    kept = moto.__dict__[moto_fixes.ORDERS].indexes
    assert set(kept) == {i.name for i in INDEXES}  # each was queried, so each is kept
    for name, order in kept.items():
        rebuilt = moto_fixes.IndexOrder(order.shape, moto_fixes._every_item(moto))
        assert order.placed == rebuilt.placed
        assert {h: (keys, [id(i) for i in items]) for h, (keys, items) in order.partitions.items()} == \
               {h: (keys, [id(i) for i in items]) for h, (keys, items) in rebuilt.partitions.items()}


@pytest.mark.parametrize("seed", [1, 2])
def test_index_and_table_queries_answer_as_moto_does_through_a_random_history(client, table, seed,
                                                                               answered_alone, caplog):
    history, rng = History(client, table, seed), random.Random(seed * 1000)
    pages = 0
    for _ in range(5):
        for _ in range(60):
            history.step()
        pages += check_queries(client, table, history, rng)
        assert_orders_match_a_rebuild(table)
    assert history.cancelled >= 3 and pages > 100  # the history did what it is for
    assert answered_alone["queries"] == 0  # every page came from the orders (else the check proves little)
    assert "dropped" not in caplog.text  # and the writes kept them, never found out of step


def test_orders_follow_the_table_through_deletion_and_an_index_added_later(client, table):
    item = {"PK": "CASE#1", "SK": "CASE", "GSI1PK": "OPEN", "GSI1SK": "2025-01-01#1", "GSI9PK": "LATE"}
    client.put_item(TableName=table, Item=typed(item))
    worklist = request(table, INDEXES[0], "OPEN", None, None, True, None)
    assert [plain(i)["PK"] for i in client.query(**worklist)["Items"]] == ["CASE#1"]
    client.delete_table(TableName=table)
    create(client, table)  # the same name: a new table, none of the old one's items
    client.put_item(TableName=table, Item=typed(item | {"PK": "CASE#2"}))
    assert [plain(i)["PK"] for i in client.query(**worklist)["Items"]] == ["CASE#2"]

    client.update_table(TableName=table, AttributeDefinitions=[{"AttributeName": "GSI9PK", "AttributeType": "S"}],
                        GlobalSecondaryIndexUpdates=[{"Create": {
                            "IndexName": "Late", "KeySchema": [{"AttributeName": "GSI9PK", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    late = {"TableName": table, "IndexName": "Late", "KeyConditionExpression": "GSI9PK = :v",
            "ExpressionAttributeValues": {":v": {"S": "LATE"}}}
    assert [plain(i)["PK"] for i in client.query(**late)["Items"]] == ["CASE#2"]  # items from before the index
    client.put_item(TableName=table, Item=typed(item | {"PK": "CASE#3"}))
    assert [plain(i)["PK"] for i in client.query(**late)["Items"]] == ["CASE#2", "CASE#3"]


REPLAY = """
import json, sys, boto3
from infra.local.embedded import EmbeddedAws
from tests.integration.unfixed import moto_alone
aws = EmbeddedAws(sys.argv[1])
client = boto3.client("dynamodb", endpoint_url=aws.start(), region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
answers = [client.query(**query) for query in json.loads(sys.argv[2])]
print(json.dumps([{k: v for k, v in a.items() if k != "ResponseMetadata"} for a in answers]))
aws.stop()
"""


def test_a_restart_replays_the_journal_into_the_same_answers(tmp_path):
    """The journal's writes go through moto's request path again, and the orders are kept as they are."""
    aws = EmbeddedAws(tmp_path)
    client = boto3.client("dynamodb", endpoint_url=aws.start(), region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    table = f"replay-{uuid.uuid4().hex[:8]}"
    create(client, table)
    history, rng = History(client, table, seed=7), random.Random(7)
    queries = []
    for _ in range(3):
        for _ in range(40):
            history.step()
        for index in INDEXES:
            for value in sorted({i[index.hash_attr] for i in history.model.values() if index.holds(i)})[:3]:
                queries.append(request(table, index, value, random_condition(rng, index, history.model),
                                       rng.choice([None, 5]), rng.random() < 0.5, None))
    before = [{k: v for k, v in client.query(**q).items() if k != "ResponseMetadata"} for q in queries]
    aws.stop()
    replayed = subprocess.run([sys.executable, "-c", REPLAY, str(tmp_path), json.dumps(queries)], cwd=PROJECT,
                              capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(replayed.stdout) == before


def test_pages_that_stop_at_one_megabyte_stop_where_moto_stops(client, table, answered_alone):
    """Items of 20 to 390 KB, so that pages end on moto's 1 MB check (before, after and among the
    items a range condition passes), with and without limits, both ways, paged to the end."""
    rng = random.Random(7)
    model = {}
    for n in range(40):
        item = {"PK": f"CASE#{n:03d}", "SK": "CASE", "GSI1PK": "OPEN", "status": rng.choice(["open", "held"]),
                "GSI1SK": f"2025-{rng.randint(0, 60):02d}#{n:03d}", "due_at": "d" * rng.randint(20_000, 390_000)}
        client.put_item(TableName=table, Item=typed(item))
        model[(item["PK"], item["SK"])] = item
    pages = 0
    for _ in range(40):
        condition = random_condition(rng, INDEXES[0], model)
        query = request(table, INDEXES[0], "OPEN", condition, rng.choice([None, None, 1, 3, 8]),
                        rng.random() < 0.5, rng.choice([None, "open"]))
        start = None
        while True:
            asked = query | ({"ExclusiveStartKey": start} if start else {})
            answer = client.query(**asked)
            answer.pop("ResponseMetadata")
            with moto_alone():
                alone = client.query(**asked)
            alone.pop("ResponseMetadata")
            assert answer == alone, (asked, answer.get("LastEvaluatedKey"), alone.get("LastEvaluatedKey"))
            pages += 1
            start = answer.get("LastEvaluatedKey")
            if start is None:
                break
    assert pages > 80 and answered_alone["queries"] == 0


def median_seconds(call, times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


def test_a_page_of_an_index_costs_what_its_items_cost_not_the_table(client, table):
    """20,000 items outside the index, 5,000 in it. Without the fix a page costs a sort of the table
    (60x a GetItem here); with it a Limit=1 page costs about a GetItem, and 50 items some more."""
    moto = moto_table(table)  # filled in process, through the patched put_item: 25,000 HTTP puts take long
    for n in range(5_000):
        moto.put_item(typed({"PK": f"CASE#{n:05d}", "SK": "CASE", "GSI1PK": "OPEN", "status": "open",
                             "GSI1SK": f"2025-{n * 7919 % 10_000:05d}#{n:05d}", "due_at": "2025-01-01"}))
        for event in range(4):
            moto.put_item(typed({"PK": f"CASE#{n:05d}", "SK": f"EVENT#{event}", "doc": "x" * 100}))
    get = lambda: client.get_item(TableName=table, Key=typed({"PK": "CASE#00042", "SK": "CASE"}))  # noqa: E731

    def page(limit: int):
        return lambda: client.query(**request(table, INDEXES[0], "OPEN", None, limit, True, None))

    assert len(page(50)()["Items"]) == 50  # and the order is built
    get_item = median_seconds(get, 30)
    first, fifty = median_seconds(page(1), 30), median_seconds(page(50), 30)
    assert first < 5 * get_item, (first, get_item)
    assert fifty < 20 * get_item, (fifty, get_item)
