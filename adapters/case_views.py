"""DynamoDB read views of the review side: worklist, history, access log, decisions, SLA marks.
Every read is a Query on a key or index (adapters/dynamo_keys.py); nothing scans."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any, Iterator

from review.errors import Invalid
from review.metrics import DecisionRecord
from review.model import Event, InboundMessage, Kind, Priority
from review.views import AccessRecord, CaseSummary, Page, WorklistQuery

from . import dynamo_keys as keys
from .dynamo_pages import items, pages

Item = dict[str, Any]


class DynamoCaseViews:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def history(self, case_id: str) -> list[Event]:
        return [Event.model_validate_json(i["doc"]["S"]) for i in self._items(keys.history_query(self.table, case_id))]

    def record_access(self, record: AccessRecord) -> None:
        self.client.put_item(TableName=self.table, Item=keys.access_item(record))

    def access_log(self, case_id: str) -> list[AccessRecord]:
        return [AccessRecord.model_validate_json(i["doc"]["S"]) for i in self._items(keys.access_query(self.table, case_id))]

    def worklist(self, query: WorklistQuery) -> Page:
        """One page, soonest due first. With filters outside the key, DynamoDB reads past cases that
        do not match: pages of up to limit+1 evaluated items are read until the page is full."""
        request = keys.worklist_query(self.table, query, query.limit + 1)
        fingerprint = _fingerprint(query)
        start = _decode_cursor(query.cursor, fingerprint) if query.cursor else None
        found: list[Item] = []
        for page in self._pages(request, start):
            found += page["Items"]
            if len(found) > query.limit:
                break
        rows = found[:query.limit]
        more = len(found) > query.limit
        cursor = _encode_cursor(keys.index_key(request["IndexName"], rows[-1]), fingerprint) if more else None
        return Page(cases=[summary(i) for i in rows], next=cursor)

    def open_counts(self) -> Counter[tuple[str, str]]:
        """Open cases per (partner, priority): one pass over the Worklist index, two attributes each."""
        return Counter((item["partner"]["S"], item["priority"]["S"]) for item in self._items(keys.open_counts_query(self.table)))

    def due_by(self, at: datetime) -> Iterator[tuple[CaseSummary, str | None]]:
        """The open cases due at or before `at`, soonest first, each with the SLA threshold it is
        marked at for its current deadline."""
        for item in self._items(keys.due_by_query(self.table, at)):
            case = summary(item)
            yield case, keys.sla_marked(item.get("sla", {}).get("S"), case.due_at)

    def unmark_sla(self, case_id: str, due_at: datetime, mark: str) -> None:
        self.client.update_item(**keys.sla_unmark(self.table, case_id, due_at, mark))

    def mark_sla(self, case_id: str, due_at: datetime, mark: str, event: Event) -> bool:
        """True if this call made the mark (once per case, threshold and deadline)."""
        try:
            self.client.transact_write_items(**keys.sla_mark_transaction(self.table, case_id, due_at, mark, event))
            return True
        except self.client.exceptions.TransactionCanceledException:
            return False

    def decisions(self, partner_id: str, start: datetime, end: datetime) -> list[DecisionRecord]:
        records = []
        for month in _months(start, end):
            for item in self._items(keys.decisions_query(self.table, partner_id, month, start, end)):
                records.append(DecisionRecord(
                    case_id=item["PK"]["S"].partition("#")[2], partner=item["partner"]["S"],
                    line_of_business=item["lob"]["S"], kind=Kind(item["kind"]["S"]),
                    appealed_kind=Kind(item["appealed_kind"]["S"]) if "appealed_kind" in item else None,
                    priority=Priority(item["priority"]["S"]), outcome=item["outcome"]["S"],
                    received_at=_parse(item["received"]["S"]), decided_at=_parse(item["decided"]["S"]),
                    extended=item["extended"]["BOOL"]))
        return records

    def messages(self, today: date, limit: int, cursor: str | None) -> tuple[list[InboundMessage], str | None]:
        """Newest first, a day's partition after another, back MESSAGE_LOG_DAYS days (what TTL keeps).
        The cursor is the last entry's sort key: the next page starts just before it."""
        before = _decode_message_cursor(cursor, today) if cursor else None
        day = date.fromisoformat(before[:10]) if before else today
        found: list[Item] = []
        while len(found) <= limit and (today - day).days <= keys.MESSAGE_LOG_DAYS:
            for page in self._pages(keys.message_query(self.table, day, limit + 1 - len(found), before)):
                found += page["Items"]
                if len(found) > limit:
                    break
            day, before = day - timedelta(days=1), None
        rows = found[:limit]
        following = _encode_message_cursor(rows[-1]["SK"]["S"]) if len(found) > limit else None
        return [InboundMessage.model_validate_json(i["doc"]["S"]) for i in rows], following

    def _pages(self, request: Item, start: Item | None = None) -> Iterator[Item]:
        return pages(self.client, request, start)

    def _items(self, request: Item) -> Iterator[Item]:
        return items(self.client, request)


def summary(item: Item) -> CaseSummary:
    return CaseSummary(
        id=item["PK"]["S"].partition("#")[2], partner=item["partner"]["S"], kind=item["kind"]["S"],
        priority=item["priority"]["S"], status=item["status"]["S"], assignee=item.get("assignee", {}).get("S"),
        due_at=_parse(item["due"]["S"]), received_at=_parse(item["received"]["S"]),
        version=int(item["version"]["N"]), line_of_business=item.get("lob", {}).get("S"))


def _parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def _months(start: datetime, end: datetime) -> list[str]:
    months, at = [], start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while at <= end:
        months.append(f"{at:%Y-%m}")
        at = (at + timedelta(days=32)).replace(day=1)
    return months


def _fingerprint(query: WorklistQuery) -> str:
    """Ties a cursor to the filters it was made for."""
    filters = query.model_dump(mode="json", exclude={"cursor", "limit"})
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]


def _encode_cursor(key: Item, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key, "f": fingerprint}, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, fingerprint: str) -> Item:
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        key = doc["k"]
        valid = doc["f"] == fingerprint and isinstance(key, dict) and all(
            isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise Invalid("the cursor is not one this worklist query returned", "cursor", "invalid")
    return key


MESSAGE_SK = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f]{8}")


def _encode_message_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode()


def _decode_message_cursor(cursor: str, today: date) -> str:
    """The sort key a page ended at: of a day the log still keeps (no later than today)."""
    try:
        sk = base64.urlsafe_b64decode(cursor.encode()).decode()
        day = date.fromisoformat(sk[:10]) if MESSAGE_SK.fullmatch(sk) else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        day = None
    if day is None or not 0 <= (today - day).days <= keys.MESSAGE_LOG_DAYS:
        raise Invalid("the cursor is not one the message log returned", "cursor", "invalid")
    return sk
