"""Query results page by page: each page resumed where the one before stopped (DynamoDB answers at
most 1 MB a page). boto3's paginator takes only its own opaque tokens to start from; the worklist
starts from the LastEvaluatedKey its cursor carries."""
from __future__ import annotations

from typing import Any, Iterator

Item = dict[str, Any]


def pages(client: Any, request: Item, start: Item | None = None) -> Iterator[Item]:
    """A Query's pages, from `start` if given (else from the request's own ExclusiveStartKey, if any)."""
    while True:
        page = client.query(**(request | ({"ExclusiveStartKey": start} if start else {})))
        yield page
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def items(client: Any, request: Item) -> Iterator[Item]:
    """Every item a Query finds, over all its pages."""
    for page in pages(client, request):
        yield from page["Items"]
