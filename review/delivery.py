"""Delivering what the outbox owes: one attempt at one record, judged, recorded, and what follows.

| the target answered                          | the record becomes | the message                        |
|----------------------------------------------|--------------------|------------------------------------|
| 200/201 (FHIR), 2xx (notification), AA/CA    | delivered          | deleted                            |
| no answer, 408, 429, 5xx, an ACK we can't read | retrying         | visible again after the backoff    |
| the same, on the partner's `max_attempts`-th | dead               | moved to the dead-letter queue     |
| any other 4xx, AE/AR/CE/CR                   | dead               | moved to the dead-letter queue     |

The backoff is exponential with jitter: attempt n waits between half and all of
min(base * 2^(n-1), cap); a `Retry-After` the target sent is waited instead (up to 12 hours).
An attempt is recorded on the record (target, time, answer, latency, next try); never a body.
A case whose determination the partner's own targets (FHIR, HL7) acknowledged becomes `delivered`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Callable, Protocol

from . import lifecycle
from .errors import StaleVersion
from .model import Actor, Case, Role, Status
from .outbox import FHIR, HL7V2, SUBSCRIPTIONS, Attempt, DeliveryState, Notice, OutboxRecord, notification_target
from .rules import ReviewPolicy

if TYPE_CHECKING:
    from .services import CaseRepository

DELIVERY_WORKER = Actor(id="delivery", role=Role.SYSTEM)
RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx
MAX_DELAY = 43_200  # seconds: SQS's longest visibility timeout
JITTER = random.Random()  # its own generator: the global one's state is the caller's (and the fuzzers')
PARTNER_TARGETS = frozenset({FHIR, HL7V2})  # the requester's own systems: what makes a case delivered


class Verdict(StrEnum):
    OK = "ok"
    RETRY = "retry"
    REFUSED = "refused"


@dataclass(frozen=True)
class Answer:
    """What a target answered one attempt: `code` is the HTTP status or the ACK code (None: no answer)."""
    verdict: Verdict
    code: str | None = None
    latency_ms: float = 0.0
    retry_after: float | None = None  # seconds the target asked us to wait
    error: str | None = None  # a short, safe reason (an exception's class, an ERR's code): never a body


def retryable(status: int | None) -> bool:
    """An HTTP outcome worth trying again: no answer, 408, 429, or any 5xx."""
    return status is None or status in RETRYABLE_STATUSES or status >= 500


OK_2XX = frozenset(range(200, 300))  # a subscriber's endpoint: any success


def http_answer(status: int | None, latency_ms: float, retry_after: float | None = None, error: str | None = None,
                ok: frozenset[int] = frozenset({200, 201})) -> Answer:
    """An HTTP exchange judged: `ok` statuses delivered; no answer, 408, 429 and 5xx retried; the rest refused."""
    if retryable(status):
        verdict = Verdict.RETRY
    else:
        verdict = Verdict.OK if status in ok else Verdict.REFUSED
    return Answer(verdict, None if status is None else str(status), latency_ms, retry_after, error)


@dataclass(frozen=True)
class Backoff:
    base: float = 30.0
    cap: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float] = JITTER.random) -> int:
        """Seconds before attempt `attempt + 1` (whole seconds: what SQS visibility takes)."""
        if retry_after is not None:  # the target's own word, up to what SQS can wait (12 hours)
            return int(min(max(retry_after, 1.0), MAX_DELAY) + 0.999)
        ceiling = min(self.base * 2 ** (attempt - 1), self.cap)
        return max(1, round(ceiling / 2 + rand() * ceiling / 2))


@dataclass(frozen=True)
class Outcome:
    state: DeliveryState
    attempt: Attempt
    delay: int | None = None  # seconds until the next try, when retrying


def judge(record: OutboxRecord, answer: Answer, max_attempts: int, now: datetime, backoff: Backoff,
          rand: Callable[[], float] = JITTER.random) -> Outcome:
    """What the record's next attempt, answered so, leads to."""
    attempt = record.tries + 1

    def recorded(next_at: datetime | None = None) -> Attempt:
        return Attempt(n=attempt, at=now, target=record.target, code=answer.code,
                       latency_ms=round(answer.latency_ms), error=answer.error, next_at=next_at)

    if answer.verdict is Verdict.OK:
        return Outcome(DeliveryState.DELIVERED, recorded())
    if answer.verdict is Verdict.REFUSED or attempt >= max_attempts:
        return Outcome(DeliveryState.DEAD, recorded())
    delay = backoff.delay(attempt, answer.retry_after, rand)
    return Outcome(DeliveryState.RETRYING, recorded(now + timedelta(seconds=delay)), delay)


def case_delivered(case: Case, records: list[OutboxRecord]) -> bool:
    """A decided case's determination has reached the requester's own systems: its latest change's
    records for the partner's targets (FHIR, HL7) are determinations, all delivered. Subscription
    notifications are tracked record by record but hold no case back: a subscriber that went away
    must not keep a payer's case from being delivered."""
    if case.status is not Status.DECIDED or not records:
        return False
    latest = max(r.case_version for r in records)
    owed = [r for r in records if r.case_version == latest and r.target in PARTNER_TARGETS]
    return bool(owed) and all(r.notice is Notice.DETERMINATION and r.state is DeliveryState.DELIVERED for r in owed)


class Subscribers(Protocol):
    """PAS subscriptions (adapters/subscriptions.py)."""

    def for_case(self, case: Case) -> list: ...

    def next_event(self, subscription_id: str) -> int: ...


class Sender(Protocol):
    def __call__(self, case: Case, record: OutboxRecord) -> Answer:
        """Send the case as it now is to the record's target (never raises: a failure is an Answer)."""


def deliver(cases: CaseRepository, send: Sender, policy_of: Callable[[str], ReviewPolicy], case_id: str, key: str,
            now: datetime, backoff: Backoff = Backoff(), subscribers: Subscribers | None = None) -> Outcome | None:
    """One attempt at one outbox record. None when there is nothing to do: the record is gone or
    already delivered (a copy of a message). A message for a dead record was moved back from the
    dead-letter queue (an SQS redrive): the record is owed again, its tries counted afresh."""
    record, case = cases.delivery_of(case_id, key)
    if record is not None and record.state is DeliveryState.DEAD and cases.redrive(record):
        record = record.owed_again()
    if record is None or case is None or record.state in (DeliveryState.DELIVERED, DeliveryState.DEAD):
        return None
    if record.target == SUBSCRIPTIONS:
        return _fan_out(cases, subscribers, case, record, now)
    outcome = judge(record, send(case, record), policy_of(case.partner_id).max_attempts, now, backoff)
    if not cases.record_attempt(record, outcome.state, outcome.attempt):
        return None  # another worker recorded this attempt first
    if outcome.state is DeliveryState.DELIVERED:
        _settle(cases, case, now)
    return outcome


def _fan_out(cases: CaseRepository, subscribers: Subscribers | None, case: Case, record: OutboxRecord,
             now: datetime) -> Outcome | None:
    """One notification record per active subscription for the case's requester, written with the
    fan-out record's own delivery (each numbered by its subscription's event counter)."""
    found = subscribers.for_case(case) if subscribers else []
    notices = [record.model_copy(update={"target": notification_target(s.id, subscribers.next_event(s.id)),
                                         "created_at": now}) for s in found]
    outcome = Outcome(DeliveryState.DELIVERED, Attempt(n=record.tries + 1, at=now, target=record.target,
                                                       code=str(len(notices)), latency_ms=0))
    if not cases.record_attempt(record, outcome.state, outcome.attempt, also=notices):
        return None
    if not notices:
        _settle(cases, case, now)
    return outcome


def _settle(cases: CaseRepository, case: Case | None, now: datetime, tries: int = 3) -> None:
    """decided -> delivered once the determination reached the partner's targets (case_delivered).
    The case as the delivery read it is tried first; a change meanwhile (a reviewer's, or another target's settling) fails
    the version check, and the case is read again."""
    for _ in range(tries):
        if case is None or case.status is not Status.DECIDED or not case_delivered(case, cases.outbox(case.id)):
            return
        changed, event = lifecycle.transition(case, "deliver", DELIVERY_WORKER, now, event_type="delivered")
        try:
            cases.replace(changed, case.version, [event])
            return
        except StaleVersion:
            case = cases.get(case.id)


def redrive(cases: CaseRepository, case_id: str | None) -> list[OutboxRecord]:
    """Dead records (of one case, or all) owed again; returns those this call moved."""
    dead = [r for r in (cases.outbox(case_id) if case_id else cases.undelivered(DeliveryState.DEAD))
            if r.state is DeliveryState.DEAD]
    return [r.owed_again() for r in dead if cases.redrive(r)]
