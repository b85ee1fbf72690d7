"""Reviewer profiles (roles, NPI, specialty, conflicts of interest) in the cases table. Supervisors
keep them through the review API; the local stack seeds them from infra/local/reviewers.yaml."""
from __future__ import annotations

from typing import Any

from review.model import Reviewer

from . import dynamo_keys as keys
from .dynamo_pages import items


class DynamoReviewerDirectory:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def get(self, reviewer_id: str) -> Reviewer | None:
        item = self.client.get_item(TableName=self.table, Key=keys.reviewer_key(reviewer_id)).get("Item")
        return Reviewer.model_validate_json(item["doc"]["S"]) if item else None

    def put(self, reviewer: Reviewer) -> None:
        self.client.put_item(TableName=self.table, Item=keys.reviewer_item(reviewer))

    def all(self) -> list[Reviewer]:
        return [Reviewer.model_validate_json(i["doc"]["S"]) for i in items(self.client, keys.reviewers_query(self.table))]
