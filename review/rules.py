"""Intake rules of a review case: ids, the clock a case runs on, how a later message relates to an
earlier case (update, cancel, appeal, follow-up). The reviewer's side is review/lifecycle.py."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from .clocks import DEFAULT_TIME_ZONE, ClockRow, ClockTable, Service, check_extension
from .errors import Conflict
from .model import Case, Decision, Item, Kind, Priority

ADVERSE = frozenset({Decision.DENIED, Decision.PARTIAL, Decision.MODIFIED})


@dataclass(frozen=True)
class ReviewPolicy:
    """What a partner's agreement decides about its cases: the line of business its requests fall
    under, the time zone calendar days are counted in, its clock table (defaults with overrides),
    and which of its systems hear of a case's changes."""

    line_of_business: str = "medicare-advantage"
    time_zone: str = DEFAULT_TIME_ZONE
    clocks: ClockTable = field(default_factory=ClockTable.default)
    delivers_to: frozenset[str] = frozenset()  # the kinds of target it configures (review/outbox.py)
    max_attempts: int = 8  # tries of one delivery before it is dead-lettered (review/delivery.py)
    strict_transaction_ids: bool = False  # a transaction id reused for other content: refused (409), not a new one

    def row(self, line_of_business: str, kind: Kind, priority: Priority, pre_service: bool) -> ClockRow:
        service = Service.PRE_SERVICE if pre_service else Service.POST_SERVICE
        return self.clocks.row(line_of_business, kind, priority, service)

    def due_at(self, case: Case, priority: Priority, extension_days: int = 0) -> datetime:
        """From receipt, on the row of the case's line, kind and service at this priority."""
        row = self.row(case.line_of_business, case.kind, priority, case.pre_service)
        return row.due_at(case.received_at, self.time_zone, extension_days)

    def check_extension(self, case: Case, already_days: int, days: int) -> None:
        check_extension(self.row(case.line_of_business, case.kind, case.priority, case.pre_service), already_days, days)


def new_case_id(now: datetime) -> str:
    """Time-ordered, so ids sort by receipt; a valid FHIR id."""
    return f"{int(now.timestamp() * 1000):012x}{secrets.token_hex(6)}"


def best_match(cases_per_key: list[list[tuple[str, str]]], kind: str) -> str | None:
    """The case a message's keys (its claim identifiers and Claim/<id>) name, each found case given
    as (id, kind): one of the message's own kind first (an invoice cancel means the invoice, not its
    appeal), then the one named by the most keys (senders reuse identifiers, so one shared key is
    weak evidence), then the latest."""
    votes: dict[tuple[str, str], int] = {}
    for found in cases_per_key:
        for case in set(found):
            votes[case] = votes.get(case, 0) + 1
    best = max(votes, key=lambda c: (c[1] == kind, votes[c], c[0]), default=None)
    return best[0] if best else None


def is_adverse(case: Case) -> bool:
    """Whether any item of a decided case was denied or granted only in part: what can be appealed."""
    return any(i.determination and i.determination.decision in ADVERSE for i in case.active_items)


def cancelled_items(case: Case) -> list[Item]:
    return [i.model_copy(update={"cancelled": True}) for i in case.items]


def apply_update(case: Case, items: list[Item]) -> list[Item]:
    """A PAS Claim Update: items marked added or changed (infoChanged), or new, replace or join the
    case's items; items flagged infoCancelled are cancelled; items restated unchanged keep what the
    case has, determination included."""
    if not case.is_open:
        raise Conflict(f"the case is {case.status.value} and can no longer be updated", "Claim.related")
    merged = {i.sequence: i for i in case.items}
    for item in items:
        known = merged.get(item.sequence)
        if item.cancelled:
            merged[item.sequence] = (known or item).model_copy(update={"cancelled": True})
        elif known is None or item.info_changed:
            merged[item.sequence] = item
    return sorted(merged.values(), key=lambda i: i.sequence)

