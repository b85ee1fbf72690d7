"""Lifecycle rules of a review case: regulatory clocks, determinations, updates, cancels."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from .errors import Conflict, Invalid
from .model import Case, Decision, Determination, Event, Item, Kind, Period, Priority, Status

# Regulatory decision timeframes, counted from receipt, keyed (kind, priority, pre-service).
#   prior-auth: CMS-0057-F, expedited 72 h, standard 7 calendar days
#   appeal:     MA reconsideration, expedited 72 h, standard 30 days pre-service / 60 days payment
#   claim:      no review clock in CMS-0057-F; 30 days, the common prompt-pay window
TIMEFRAMES: dict[tuple[Kind, Priority, bool], timedelta] = {
    (Kind.PRIOR_AUTH, Priority.EXPEDITED, True): timedelta(hours=72),
    (Kind.PRIOR_AUTH, Priority.STANDARD, True): timedelta(days=7),
    (Kind.APPEAL, Priority.EXPEDITED, True): timedelta(hours=72),
    (Kind.APPEAL, Priority.EXPEDITED, False): timedelta(hours=72),
    (Kind.APPEAL, Priority.STANDARD, True): timedelta(days=30),
    (Kind.APPEAL, Priority.STANDARD, False): timedelta(days=60),
    (Kind.CLAIM, Priority.EXPEDITED, False): timedelta(days=30),
    (Kind.CLAIM, Priority.STANDARD, False): timedelta(days=30),
}

NEEDS_REASON = frozenset({Decision.DENIED, Decision.PARTIAL, Decision.MODIFIED})
GRANTS = frozenset({Decision.APPROVED, Decision.PARTIAL, Decision.MODIFIED})
DEFAULT_AUTH_VALIDITY = timedelta(days=90)


def due_at(kind: Kind, priority: Priority, received_at: datetime, pre_service: bool = True) -> datetime:
    """pre_service matters only for appeals: of a prior-auth (True) or of a payment claim (False)."""
    if kind is not Kind.APPEAL:
        pre_service = kind is Kind.PRIOR_AUTH
    return received_at + TIMEFRAMES[(kind, priority, pre_service)]


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


def event(now: datetime, type_: str, **detail) -> Event:
    return Event(at=now, type=type_, detail=detail)


def decide(case: Case, decisions: list[dict], now: datetime, period: Period | None = None) -> Case:
    """Apply per-item decisions. Each decision: item_sequence, decision, reason_code, reason_text."""
    if case.status is Status.CANCELLED:
        raise Conflict("the case is cancelled and cannot be decided", "status")
    by_seq = {i.sequence: i for i in case.items}
    updated = dict(by_seq)
    for n, d in enumerate(decisions):
        where = f"decisions[{n}]"
        item = by_seq.get(d["item_sequence"])
        if item is None or item.cancelled:
            raise Invalid("no active item with this sequence", f"{where}.itemSequence", "not-found")
        decision = Decision(d["decision"])
        if decision in NEEDS_REASON and not (d.get("reason_code") or d.get("reason_text")):
            raise Invalid(f"a {decision.value} decision needs a reason code or text", f"{where}.reasonCode", "required")
        updated[item.sequence] = item.model_copy(
            update={
                "determination": Determination(
                    decision=decision,
                    reason_code=d.get("reason_code"),
                    reason_text=d.get("reason_text"),
                    decided_at=now,
                )
            }
        )
    items = [updated[i.sequence] for i in case.items]
    active = [i for i in items if not i.cancelled]
    settled = all(i.determination and i.determination.decision is not Decision.PENDED for i in active)
    granted = any(i.determination and i.determination.decision in GRANTS for i in active)
    changes: dict = {"items": items, "status": Status.DECIDED if settled else Status.PENDING_REVIEW}
    if settled:
        changes["decided_at"] = now
    if granted:
        changes["preauth_ref"] = case.preauth_ref or f"CB{case.id.upper()}"
        changes["preauth_period"] = period or case.preauth_period or Period(
            start=now.date().isoformat(), end=(now + DEFAULT_AUTH_VALIDITY).date().isoformat()
        )
    else:  # nothing (any longer) authorized
        changes["preauth_ref"] = changes["preauth_period"] = None
    return case.model_copy(update=changes)


def cancel(case: Case) -> Case:
    if case.status is Status.CANCELLED:
        return case
    items = [i.model_copy(update={"cancelled": True}) for i in case.items]
    return case.model_copy(update={"status": Status.CANCELLED, "items": items})


def apply_update(case: Case, items: list[Item]) -> Case:
    """A PAS Claim Update: items marked added or changed (infoChanged), or new, replace or join the
    case's items; items flagged infoCancelled are cancelled; items restated unchanged keep what the
    case has, determination included. When no active item remains the case is cancelled."""
    if not case.is_open:
        raise Conflict(f"the case is {case.status.value} and can no longer be updated", "Claim.related")
    merged = {i.sequence: i for i in case.items}
    for item in items:
        known = merged.get(item.sequence)
        if item.cancelled:
            merged[item.sequence] = (known or item).model_copy(update={"cancelled": True})
        elif known is None or item.info_changed:
            merged[item.sequence] = item
    updated = case.model_copy(update={"items": sorted(merged.values(), key=lambda i: i.sequence)})
    return updated if updated.active_items else cancel(updated)
