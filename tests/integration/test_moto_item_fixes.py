"""Fixes 3 to 5 of infra/local/moto_fixes.py as the wire sees them: index pages answered from the
orders, projections that convert each attribute once, AttributeValues written directly. Together
they must answer byte for byte as moto does alone: random items of every AttributeValue type (nested maps and lists, sets, blobs, numbers,
empty and non-ASCII strings, values moto refuses) are written over HTTP, read back through GetItem,
BatchGetItem, Scan and Queries of an INCLUDE, a KEYS_ONLY and an ALL index, with and without
ProjectionExpressions (top-level names and nested paths), with and without the fixes.
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from infra.local.embedded import EmbeddedAws
from tests.integration.unfixed import fixed, moto_alone

pytestmark = pytest.mark.integration

HEADERS = {"Content-Type": "application/x-amz-json-1.0",
           "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
                            "SignedHeaders=host, Signature=0"}
INDEXES = {"Included": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "b", "m"]},
           "KeysOnly": {"ProjectionType": "KEYS_ONLY"},
           "Everything": {"ProjectionType": "ALL"}}


@pytest.fixture(scope="module")
def call():
    aws = EmbeddedAws()
    url = aws.start()

    def call(operation: str, body: dict) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={**HEADERS, "X-Amz-Target": f"DynamoDB_20120810.{operation}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()

    yield call
    aws.stop()


@pytest.fixture(scope="module")
def table(call):
    name = f"items-{uuid.uuid4().hex[:8]}"
    keys = ("PK", "SK", "G")
    status, body = call("CreateTable", {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{"IndexName": index, "Projection": projection,
                                    "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"},
                                                  {"AttributeName": "SK", "KeyType": "RANGE"}]}
                                   for index, projection in INDEXES.items()]})
    assert status == 200, body
    return name


def blobs():
    return st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())


numbers = st.one_of(st.integers(-10**30, 10**30).map(str), st.sampled_from(["0.5", "-1.25", "1E+3", "007", "1.0"]))
texts = st.text(max_size=8)  # empty and non-ASCII strings included
scalars = st.one_of(
    st.builds(lambda v: {"S": v}, texts), st.builds(lambda v: {"N": v}, numbers),
    st.builds(lambda v: {"B": v}, blobs()), st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda v: {"SS": v}, st.lists(texts, min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"NS": v}, st.lists(numbers, min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"BS": v}, st.lists(blobs(), min_size=1, max_size=3, unique=True)))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
    st.builds(lambda v: {"M": v}, st.dictionaries(texts, inner, max_size=3))), max_leaves=8)
items = st.dictionaries(st.sampled_from(["a", "b", "m", "x", "y"]), values, max_size=5)


PROJECTIONS = [{"ProjectionExpression": "b, a, SK, x, a"},  # top-level names, one twice
               {"ProjectionExpression": "m.k, #l[0], y", "ExpressionAttributeNames": {"#l": "x"}}]  # nested: moto's own


def reads(table: str, partition: str) -> list[tuple[str, dict]]:
    key = {"PK": {"S": partition}, "SK": {"S": "1"}}
    queries = [("Query", {"TableName": table, "IndexName": index, "KeyConditionExpression": "G = :g",
                          "ExpressionAttributeValues": {":g": {"S": partition}}, **projected})
               for index in INDEXES for projected in ({}, *PROJECTIONS)]
    return [("GetItem", {"TableName": table, "Key": key}),
            ("BatchGetItem", {"RequestItems": {table: {"Keys": [key, {"PK": {"S": partition}, "SK": {"S": "2"}}]}}}),
            ("Query", {"TableName": table, "KeyConditionExpression": "PK = :p",
                       "ExpressionAttributeValues": {":p": {"S": partition}}}),
            ("Scan", {"TableName": table, "FilterExpression": "PK = :p",
                      "ExpressionAttributeValues": {":p": {"S": partition}}}),
            *queries]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=items, second=items)
@example(first={"a": {"N": "007"}, "b": {"NS": ["3", "1", "10"]}, "m": {"M": {"n": {"N": "1e3"}, "s": {"SS": ["b", "a"]}}},
                "x": {"L": [{"N": "1.50"}, {"B": "AAE="}]}},  # numbers boto3 rewrites, sets it may reorder
         second={"a": {"BS": ["AAE=", "AQI="]}, "b": {"BOOL": False}, "m": {"NULL": True}, "y": {"S": ""}})
def test_reads_answer_byte_for_byte_as_moto_alone(call, table, first, second):
    partition = uuid.uuid4().hex
    written = []
    for sort, attrs in (("1", first), ("2", second)):
        item = {**attrs, "PK": {"S": partition}, "SK": {"S": sort}, "G": {"S": partition}}
        written.append(call("PutItem", {"TableName": table, "Item": item})[0])
    for operation, body in reads(table, partition):
        fixed = call(operation, body)
        with moto_alone():
            alone = call(operation, body)
        assert fixed == alone, (operation, body)
    if written == [200, 200]:  # the items moto took come back whole, projected as each index says
        status, got = call(*reads(table, partition)[0])
        assert status == 200 and set(json.loads(got)["Item"]) == {"PK", "SK", "G", *first}
        status, got = call(*next(r for r in reads(table, partition) if r[1].get("IndexName") == "Included"))
        projected = [set(item) for item in json.loads(got)["Items"]]
        assert projected == [{"PK", "SK", "G", *(set(attrs) & {"a", "b", "m"})} for attrs in (first, second)]


def test_the_fixes_are_in_place(call):
    """The comparison above proves something only while the fixes are what the endpoint runs."""
    assert fixed()
