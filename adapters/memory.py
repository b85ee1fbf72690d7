"""In-memory repository, reviewer directory and archive with the same contract as the AWS adapters:
for unit tests of the use cases and for the benchmark, where I/O must not count. (The read views
are queries over indexes; their tests run against the embedded DynamoDB endpoint.)"""
from __future__ import annotations

import hashlib

from review.errors import StaleVersion
from review.model import Case, Event, InboundMessage, RawPayload, Reviewer, Submission
from review.outbox import Attempt, DeliveryState, OutboxRecord
from review.rules import best_match
from review.services import DuplicateSubmission, SubmissionRecord
from review.views import AccessRecord


class MemoryCaseStore:
    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}
        self.events: dict[str, list[Event]] = {}
        self.submissions: dict[tuple[str, str], SubmissionRecord] = {}
        self.lookups: dict[tuple[str, str], list[str]] = {}
        self.outboxes: dict[str, dict[str, OutboxRecord]] = {}  # case id -> record key -> record
        self.messages: list[InboundMessage] = []  # the message log, oldest first
        self.writes = 0

    def create(self, case: Case, submission: Submission, event: Event, message: InboundMessage | None = None) -> None:
        self._claim(case, submission)
        self._commit(case, [event], case.lookup_keys, message)

    def replace(self, case: Case, expected_version: int, events: list[Event],
                submission: Submission | None = None, outbox: list[OutboxRecord] = (),
                message: InboundMessage | None = None) -> None:
        if self.cases[case.id].version != expected_version:
            raise StaleVersion("the case changed meanwhile; re-read it and retry", "version")
        if submission is not None:
            self._claim(case, submission)
        self._commit(case, events, submission.draft.claim_keys if submission else [], message)
        for record in outbox:
            self.outboxes.setdefault(case.id, {}).setdefault(record.key, record)

    def record_message(self, message: InboundMessage) -> None:
        self.messages.append(message)  # not counted in `writes`: those are the case writes

    def outbox(self, case_id: str) -> list[OutboxRecord]:
        return [record for _, record in sorted(self.outboxes.get(case_id, {}).items())]

    def outbox_record(self, case_id: str, key: str) -> OutboxRecord | None:
        return self.outboxes.get(case_id, {}).get(key)

    def delivery_of(self, case_id: str, key: str) -> tuple[OutboxRecord | None, Case | None]:
        return self.outbox_record(case_id, key), self.get(case_id)

    def record_attempt(self, record: OutboxRecord, state: DeliveryState, attempt: Attempt,
                       also: list[OutboxRecord] = ()) -> bool:
        moved = self._move(record, record.attempted(state, attempt))
        for owed in also if moved else ():
            self.outboxes[owed.case_id].setdefault(owed.key, owed)
        return moved

    def redrive(self, record: OutboxRecord) -> bool:
        return self._move(record, record.owed_again())

    def undelivered(self, state: DeliveryState) -> list[OutboxRecord]:
        return sorted((r for records in self.outboxes.values() for r in records.values() if r.state is state),
                      key=lambda r: (r.created_at, r.case_id, r.key))

    def _move(self, was: OutboxRecord, now: OutboxRecord) -> bool:
        """`now` written if the record is still as read (its state and tries), as the table's condition."""
        stored = self.outbox_record(was.case_id, was.key)
        if stored is None or (stored.state, stored.tries) != (was.state, was.tries):
            return False
        self.outboxes[was.case_id][was.key] = now
        return True

    def _claim(self, case: Case, submission: Submission) -> None:
        key = (case.partner_id, submission.key.key)
        if key in self.submissions:
            raise DuplicateSubmission(self.submissions[key])
        self.submissions[key] = SubmissionRecord(case.id, submission.sha256)

    def _commit(self, case: Case, events: list[Event], keys: list[str], message: InboundMessage | None) -> None:
        self.writes += 1
        self.cases[case.id] = case
        self.messages += [message] if message else []
        self.events.setdefault(case.id, []).extend(events)
        for k in keys:
            ids = self.lookups.setdefault((case.partner_id, k), [])
            if case.id not in ids:
                ids.append(case.id)

    def get(self, case_id: str) -> Case | None:
        return self.cases.get(case_id)

    def find_submission(self, partner_id: str, key: str) -> SubmissionRecord | None:
        return self.submissions.get((partner_id, key))

    def find_latest(self, partner_id: str, keys: list[str], kind: str) -> Case | None:
        found = [[(i, self.cases[i].kind.value) for i in self.lookups.get((partner_id, k), [])]
                 for k in dict.fromkeys(keys)]
        best = best_match(found, kind)
        return self.cases[best] if best else None

    def find_all(self, partner_id: str, key: str) -> list[Case]:
        return [self.cases[i] for i in sorted(self.lookups.get((partner_id, key), []), reverse=True)]

    def find_page(self, partner_id: str, key: str, limit: int, after: str | None = None) -> tuple[list[Case], bool]:
        # Newest first, resumed after a case id: as the table's lookup items sort and resume.
        ids = [i for i in sorted(self.lookups.get((partner_id, key), []), reverse=True) if after is None or i < after]
        return [self.cases[i] for i in ids[:limit]], len(ids) > limit

    def count(self, partner_id: str, key: str) -> int:
        return len(self.lookups.get((partner_id, key), []))

    def history(self, case_id: str) -> list[Event]:
        return list(self.events.get(case_id, []))


class MemoryReviewerDirectory:
    def __init__(self, reviewers: list[Reviewer] | None = None) -> None:
        self.reviewers = {r.id: r for r in reviewers or []}

    def get(self, reviewer_id: str) -> Reviewer | None:
        return self.reviewers.get(reviewer_id)

    def put(self, reviewer: Reviewer) -> None:
        self.reviewers[reviewer.id] = reviewer

    def all(self) -> list[Reviewer]:
        return sorted(self.reviewers.values(), key=lambda r: r.id)


class MemoryArchive:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def link(self, key: str, seconds: int) -> str:
        return f"memory://{key}?expires_in={seconds}"

    def put(self, partner_id: str, body: bytes, content_type: str) -> RawPayload:
        digest = hashlib.sha256(body).hexdigest()
        key = f"inbound/{partner_id}/{digest}"
        self.objects[key] = body
        return RawPayload(key=key, sha256=digest, content_type=content_type, size=len(body))


class MemoryCaseViews:
    """History and access log over a MemoryCaseStore (the worklist and reports are index queries:
    see adapters/case_views.py)."""

    def __init__(self, store: MemoryCaseStore) -> None:
        self.store = store
        self.accesses: list[AccessRecord] = []

    def history(self, case_id: str) -> list[Event]:
        return self.store.history(case_id)

    def record_access(self, record: AccessRecord) -> None:
        self.accesses.append(record)

    def access_log(self, case_id: str) -> list[AccessRecord]:
        return [a for a in self.accesses if a.case_id == case_id]
