"""What a case change owes the requester's systems: one outbox record per target, written in the
same transaction as the change, so that a change is never stored without its deliveries (nor a
delivery sent for a change that was not stored). A delivery worker sends them later.

Which changes owe a delivery (by the event that records them), and to which targets:

| event                 | notice               | the requester sees                         |
|-----------------------|----------------------|--------------------------------------------|
| `determination`       | determination        | the decided ClaimResponse (A1/A2/A3...)    |
| `request-information` | information-request  | the pended response with its requests      |
| `cancel`              | cancellation         | the cancelled response                     |
| `reopen`              | reopen               | the pended response again                  |

Targets: `fhir` (the partner's FHIR endpoint) whenever the partner configures one; `hl7v2` (an
application response) for cases that came in over HL7 v2, when the partner configures an HL7
endpoint; `subscriptions` for cases that name their requester (an NPI, or the PAS requestor),
where any partner may subscribe (one is registered for organizations): the delivery worker fans it
out to one `subscription:<id>:<event number>` record per active PAS subscription for that
organization, each then delivered (and retried) on its own. A record's key is its case, the case
version the change made and its target: a replay of the same change writes nothing new.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .model import Case, Event


class Notice(StrEnum):
    DETERMINATION = "determination"
    INFORMATION_REQUEST = "information-request"
    CANCELLATION = "cancellation"
    REOPEN = "reopen"


OWED = {  # event type -> what it tells the requester
    "determination": Notice.DETERMINATION,
    "request-information": Notice.INFORMATION_REQUEST,
    "cancel": Notice.CANCELLATION,
    "reopen": Notice.REOPEN,
}
FHIR, HL7V2, SUBSCRIPTIONS = "fhir", "hl7v2", "subscriptions"
SUBSCRIPTION = "subscription:"  # + <subscription id>:<event number>: one notification


class DeliveryState(StrEnum):
    PENDING = "pending"  # owed, not yet tried
    RETRYING = "retrying"  # tried, failed in a way worth retrying; tried again later
    DELIVERED = "delivered"  # the target acknowledged
    DEAD = "dead"  # refused, or out of attempts: in the dead-letter queue until redriven


class Attempt(BaseModel):
    """One try at a delivery, as recorded on its outbox record: never a body."""
    model_config = ConfigDict(frozen=True)

    n: int  # 1, 2, ... counted again from 1 after a redrive
    at: datetime
    target: str
    code: str | None = None  # HTTP status or ACK code (AA, AE...); None when nothing answered
    latency_ms: int
    error: str | None = None  # a short, safe reason: an exception's class, an ERR's code
    next_at: datetime | None = None  # when it is tried again; None when it is not


class OutboxRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    case_version: int  # the version the change made: what the delivery sends is the case at it
    target: str
    notice: Notice
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    tries: int = 0  # attempts since it was owed or last redriven
    attempts: list[Attempt] = []

    @property
    def key(self) -> str:
        return f"{self.case_version:08d}#{self.target}"

    def attempted(self, state: DeliveryState, attempt: Attempt) -> OutboxRecord:
        """As an attempt leaves it: in `state`, the attempt counted and recorded."""
        return self.model_copy(update={"state": state, "tries": attempt.n, "attempts": [*self.attempts, attempt]})

    def owed_again(self) -> OutboxRecord:
        """As a redrive leaves it: pending, its tries counted afresh (the attempts made stay recorded)."""
        return self.model_copy(update={"state": DeliveryState.PENDING, "tries": 0})


def targets(case: Case, configured: frozenset[str]) -> list[str]:
    """The targets a change of this case goes to, of those its partner configures."""
    found = [FHIR] if FHIR in configured else []
    if HL7V2 in configured and case.source == HL7V2:
        found.append(HL7V2)
    if SUBSCRIPTIONS in configured and (any(p.role == "requesting" and p.npi for p in case.providers)
                                        or case.parties):
        found.append(SUBSCRIPTIONS)
    return found


def notification_target(subscription_id: str, event_number: int) -> str:
    return f"{SUBSCRIPTION}{subscription_id}:{event_number}"


def notification_of(target: str) -> tuple[str, int]:
    """(subscription id, event number) of a notification's target."""
    subscription_id, _, number = target.removeprefix(SUBSCRIPTION).rpartition(":")
    return subscription_id, int(number)


def owed(case: Case, events: list[Event], configured: frozenset[str], now: datetime) -> list[OutboxRecord]:
    """The records a change (the case as changed, the events recording it) writes with itself."""
    notices = list(dict.fromkeys(OWED[e.type] for e in events if e.type in OWED))
    if not notices:
        return []
    notice = notices[-1]  # one change, one notice: a delivery sends the case as it now is
    return [OutboxRecord(case_id=case.id, case_version=case.version, target=t, notice=notice, created_at=now)
            for t in targets(case, configured)]
