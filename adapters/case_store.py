"""DynamoDB case repository (the write side): runs the requests dynamo_keys builds."""
from __future__ import annotations

from typing import Any

from review.errors import StaleVersion
from review.model import Case, Event, InboundMessage, Submission
from review.outbox import Attempt, DeliveryState, OutboxRecord
from review.rules import best_match
from review.services import DuplicateSubmission, SubmissionRecord

from . import dynamo_keys as keys
from .dynamo_pages import items, pages

NEWEST_PER_KEY = 25  # lookup items read per key to find the case a follow-up names
BATCH_GET_KEYS = 100  # BatchGetItem's limit


class DynamoCaseRepository:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def create(self, case: Case, submission: Submission, event: Event, message: InboundMessage | None = None) -> None:
        self._transact(keys.create_case_transaction(self.table, case, submission, event, message), case.partner_id,
                       submission)

    def replace(self, case: Case, expected_version: int, events: list[Event],
                submission: Submission | None = None, outbox: list[OutboxRecord] = (),
                message: InboundMessage | None = None) -> None:
        self._transact(keys.replace_case_transaction(self.table, case, expected_version, events, submission, outbox,
                                                     message), case.partner_id, submission)

    def record_message(self, message: InboundMessage) -> None:
        self.client.put_item(TableName=self.table, Item=keys.message_item(message))

    def outbox(self, case_id: str) -> list[OutboxRecord]:
        return [keys.outbox_record(i) for i in items(self.client, keys.outbox_query(self.table, case_id))]

    def delivery_of(self, case_id: str, key: str) -> tuple[OutboxRecord | None, Case | None]:
        found = self._batch_get([keys.outbox_key(case_id, key), keys.case_key(case_id)])
        record = next((keys.outbox_record(i) for i in found if i["SK"]["S"] != "CASE"), None)
        case = next((Case.model_validate_json(i["doc"]["S"]) for i in found if i["SK"]["S"] == "CASE"), None)
        return record, case

    def record_attempt(self, record: OutboxRecord, state: DeliveryState, attempt: Attempt,
                       also: list[OutboxRecord] = ()) -> bool:
        put = keys.outbox_put(self.table, record, record.attempted(state, attempt))
        if not also:
            return self._put(put)
        try:
            self.client.transact_write_items(**keys.fan_out_transaction(self.table, put, also))
            return True
        except self.client.exceptions.TransactionCanceledException:
            return False

    def redrive(self, record: OutboxRecord) -> bool:
        return self._put(keys.outbox_put(self.table, record, record.owed_again()))

    def undelivered(self, state: DeliveryState) -> list[OutboxRecord]:
        return [keys.outbox_record(i) for i in items(self.client, keys.deliveries_query(self.table, state))]

    def _put(self, request: dict) -> bool:
        """False when the condition failed: another worker (or redrive) moved the record first."""
        try:
            self.client.put_item(**request["Put"])
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def get(self, case_id: str) -> Case | None:
        item = self.client.get_item(TableName=self.table, Key=keys.case_key(case_id), ConsistentRead=True).get("Item")
        return Case.model_validate_json(item["doc"]["S"]) if item else None

    def find_submission(self, partner_id: str, key: str) -> SubmissionRecord | None:
        item = self.client.get_item(TableName=self.table, Key=keys.submission_key(partner_id, key),
                                    ConsistentRead=True).get("Item")
        return SubmissionRecord(item["case_id"]["S"], item["sha256"]["S"]) if item else None

    def find_latest(self, partner_id: str, lookup_keys: list[str], kind: str) -> Case | None:
        best = best_match([self._found(partner_id, k) for k in dict.fromkeys(lookup_keys)], kind)
        return self.get(best) if best else None

    def find_all(self, partner_id: str, key: str) -> list[Case]:
        return self._cases([i["case_id"]["S"] for i in items(self.client, keys.lookup_query(self.table, partner_id, key))])

    def find_page(self, partner_id: str, key: str, limit: int, after: str | None = None) -> tuple[list[Case], bool]:
        # One item more than the page tells whether another page follows (a LastEvaluatedKey alone
        # may lead to an empty one).
        found: list[dict] = []
        for page in pages(self.client, keys.lookup_query(self.table, partner_id, key, limit + 1, after)):
            found += page["Items"]
            if len(found) > limit:
                break
        return self._cases([i["case_id"]["S"] for i in found[:limit]]), len(found) > limit

    def count(self, partner_id: str, key: str) -> int:
        return sum(page["Count"] for page in pages(self.client, keys.lookup_query(self.table, partner_id, key, count=True)))

    def _found(self, partner_id: str, key: str) -> list[tuple[str, str]]:
        # The newest cases a key names are enough to choose from (senders reuse identifiers for years).
        found = self.client.query(**keys.lookup_query(self.table, partner_id, key, limit=NEWEST_PER_KEY))["Items"]
        return [(i["case_id"]["S"], i["kind"]["S"]) for i in found]

    def _cases(self, case_ids: list[str]) -> list[Case]:
        """The stored cases of these ids, in the order given."""
        ids = list(dict.fromkeys(case_ids))
        found = [Case.model_validate_json(i["doc"]["S"])
                 for at in range(0, len(ids), BATCH_GET_KEYS)
                 for i in self._batch_get([keys.case_key(c) for c in ids[at:at + BATCH_GET_KEYS]])]
        by_id = {c.id: c for c in found}
        return [by_id[i] for i in ids if i in by_id]

    def _batch_get(self, keys_: list[dict]) -> list[dict]:
        request = {self.table: {"Keys": keys_, "ConsistentRead": True}}
        found: list[dict] = []
        while request:  # unprocessed keys (throttling) are asked for again
            answer = self.client.batch_get_item(RequestItems=request)
            found += answer["Responses"].get(self.table, [])
            request = answer.get("UnprocessedKeys") or {}
        return found

    def _transact(self, request: dict, partner_id: str, submission: Submission | None) -> None:
        try:
            self.client.transact_write_items(**request)
        except self.client.exceptions.TransactionCanceledException as err:
            reasons = err.response.get("CancellationReasons", [])
            failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
            raced = any(r.get("Code") == "TransactionConflict" for r in reasons)
            if keys.SUBMISSION_AT in failed and submission is not None:
                raise DuplicateSubmission(self._submission_record(reasons[keys.SUBMISSION_AT], partner_id,
                                                                  submission)) from None
            if raced and submission is not None:
                # Lost a race with another transaction on the same items: a copy of this very message?
                if (record := self.find_submission(partner_id, submission.key.key)) is not None:
                    raise DuplicateSubmission(record) from None
            if keys.CASE_AT in failed or raced:
                raise StaleVersion("the case changed meanwhile; re-read it and retry", "version") from None
            raise

    def _submission_record(self, reason: dict, partner_id: str, submission: Submission) -> SubmissionRecord:
        item = reason.get("Item")
        if item:
            return SubmissionRecord(case_id=item["case_id"]["S"], sha256=item["sha256"]["S"])
        record = self.find_submission(partner_id, submission.key.key)
        assert record is not None, "the condition failed on an existing record"
        return record
