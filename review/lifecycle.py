"""The review lifecycle: which command moves a case from which state to which, who may give it, and
the history event each one leaves.

    received -> assigned -> in-review -> information-requested <-> in-review -> decided
    decided -> delivered (every target acknowledged the determination) -> closed (a supervisor)
    any open state -> cancelled (the requester's cancel) or withdrawn; decided, delivered or closed
    -> in-review (reopen)

Every function here is pure: it takes the case, the caller, the command and the time, and returns
the changed case with the event that records the change. services.py stores both in one write.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from . import commands as cmd
from .errors import Conflict, Forbidden, IllegalTransition, Invalid
from .model import instant
from .model import (
    DETERMINED_STATUSES, OPEN_STATUSES, Actor, AddedService, Caller, Case, ClockExtension, Code, Decision,
    Determination, Document, Event, InformationRequest, Period, Priority, RequestedInfo, Reviewer, Role, Status,
)
from .rules import ADVERSE, ReviewPolicy

S = Status
OPEN = sorted(OPEN_STATUSES)
DETERMINED = sorted(DETERMINED_STATUSES)

# command -> {from state: to state}. A state absent from a command's row refuses the command (409).
TRANSITIONS: dict[str, dict[Status, Status]] = {
    "assign": {S.RECEIVED: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED, S.IN_REVIEW: S.ASSIGNED,
               S.INFORMATION_REQUESTED: S.INFORMATION_REQUESTED},
    "start": {S.ASSIGNED: S.IN_REVIEW},
    "request-information": {S.IN_REVIEW: S.INFORMATION_REQUESTED},
    "information-received": {S.INFORMATION_REQUESTED: S.IN_REVIEW} | {s: s for s in OPEN if s is not S.INFORMATION_REQUESTED},
    "decide": {S.IN_REVIEW: S.DECIDED},
    "deliver": {S.DECIDED: S.DELIVERED},
    "close": {S.DELIVERED: S.CLOSED},
    "reopen": {s: S.IN_REVIEW for s in DETERMINED},
    "withdraw": {s: S.WITHDRAWN for s in OPEN},
    "cancel": {s: S.CANCELLED for s in [*OPEN, *DETERMINED]},
    "update": {s: s for s in OPEN},
    "extend": {s: s for s in OPEN},
    "change-priority": {s: s for s in OPEN},
}

REVIEWERS = frozenset({Role.REVIEWER, Role.PHYSICIAN_REVIEWER})
GRANTS = frozenset({Decision.APPROVED, Decision.PARTIAL, Decision.MODIFIED})
DEFAULT_AUTH_VALIDITY = timedelta(days=90)


def next_status(case: Case, command: str) -> Status:
    to = TRANSITIONS[command].get(case.status)
    if to is None:
        raise IllegalTransition(f"cannot {command.replace('-', ' ')}: the case is {case.status.value}", "status")
    return to


def transition(case: Case, command: str, actor: Actor, now: datetime, reason: str | None = None,
               event_type: str | None = None, **changes) -> tuple[Case, Event]:
    """The case moved by `command` (with `changes`), and the event that records it."""
    to = next_status(case, command)
    changed = case.model_copy(update={**changes, "status": to, "version": case.version + 1})
    return changed, Event(at=now, type=event_type or command, actor=actor, from_status=case.status, to_status=to,
                          reason=reason, detail={k: v for k, v in _detail(changes).items() if v is not None})


def _detail(changes: dict) -> dict:
    """What an event keeps of a change: small facts, never documents or free text about the member."""
    keep = {}
    for key in ("assignee", "priority", "due_at"):
        if key in changes:
            value = changes[key]
            keep[key] = instant(value) if isinstance(value, datetime) else value
    return keep


def _require(caller: Caller, roles: frozenset[Role] | set[Role], what: str) -> None:
    if not caller.roles & roles:
        raise Forbidden(f"{what} needs the role {' or '.join(sorted(r.value for r in roles))}")


def _assignee_or_supervisor(case: Case, caller: Caller, what: str) -> Actor:
    if Role.SUPERVISOR in caller.roles:
        return caller.acting_as(Role.SUPERVISOR)
    _require(caller, REVIEWERS, what)
    if case.assignee != caller.id:
        raise Forbidden(f"{what} is for the case's assigned reviewer or a supervisor")
    return caller.acting_as(Role.PHYSICIAN_REVIEWER, Role.REVIEWER)


def conflict_of(reviewer: Reviewer, case: Case) -> str | None:
    """The kind of conflict of interest a reviewer has with a case, if any (never which party)."""
    c = reviewer.conflicts
    if case.partner_id in c.partners:
        return "partner"
    npis = {p.npi for p in case.providers if p.npi}
    if npis & set(c.provider_npis):
        return "provider"
    if npis & {o.rpartition("|")[2] for o in c.organizations}:
        return "organization"
    return None


def assign(case: Case, caller: Caller, command: cmd.Assign, reviewer: Reviewer | None, now: datetime) -> tuple[Case, Event]:
    if Role.SUPERVISOR in caller.roles:
        actor = caller.acting_as(Role.SUPERVISOR)
    else:
        _require(caller, REVIEWERS, "assigning a case")
        if command.reviewer != caller.id:
            raise Forbidden("a reviewer may assign a case only to themself; supervisors assign others")
        actor = caller.acting_as(Role.PHYSICIAN_REVIEWER, Role.REVIEWER)
        reviewer = reviewer or caller.profile()
    if reviewer is None:
        raise Invalid("no reviewer with this id", "reviewer", "not-found")
    if not REVIEWERS & set(reviewer.roles):
        raise Invalid("cases are assigned to reviewers or physician reviewers", "reviewer", "business-rule")
    if kind := conflict_of(reviewer, case):
        raise Conflict(f"the reviewer has a conflict of interest with this case ({kind})", "reviewer")
    return transition(case, "assign", actor, now, assignee=reviewer.id)


def start(case: Case, caller: Caller, now: datetime) -> tuple[Case, Event]:
    _require(caller, REVIEWERS, "starting a review")
    next_status(case, "start")  # an unassigned case has no assignee: its state is the reason
    if case.assignee != caller.id:
        raise Forbidden("only the assigned reviewer starts the review")
    return transition(case, "start", caller.acting_as(Role.PHYSICIAN_REVIEWER, Role.REVIEWER), now)


def request_information(case: Case, caller: Caller, command: cmd.RequestInformation, now: datetime) -> tuple[Case, Event]:
    actor = _assignee_or_supervisor(case, caller, "requesting information")
    next_status(case, "request-information")
    if command.due_by < now.date():
        raise Invalid("due_by is in the past", "due_by", "business-rule")
    active = {i.sequence for i in case.active_items}
    for n, wanted in enumerate(command.items):
        if wanted.item_sequence is not None and wanted.item_sequence not in active:
            raise Invalid("no active item with this sequence", f"items[{n}].item_sequence", "not-found")
    request = InformationRequest(
        id=f"IR{len(case.information_requests) + 1}",
        items=[RequestedInfo(code=Code(**i.code.model_dump()) if i.code else None, text=i.text,
                             item_sequence=i.item_sequence) for i in command.items],
        due_by=command.due_by, requested_at=now, requested_by=actor)
    return transition(case, "request-information", actor, now,
                      information_requests=[*case.information_requests, request])


def receive_information(case: Case, documents: list[Document], actor: Actor, now: datetime) -> tuple[Case, Event]:
    """Documents arrived (reviewer API or a Claim update): an open information request is answered
    and the case goes back to in-review."""
    requests = [r.model_copy(update={"answered_at": now}) if r.answered_at is None else r
                for r in case.information_requests]
    return transition(case, "information-received", actor, now, documents=[*case.documents, *documents],
                      information_requests=requests)


def decide(case: Case, caller: Caller, command: cmd.Decide, now: datetime) -> tuple[Case, Event]:
    _require(caller, REVIEWERS, "recording a determination")
    next_status(case, "decide")
    if case.assignee != caller.id:
        raise Forbidden("only the assigned reviewer records the determination")
    active = {i.sequence: i for i in case.active_items}
    seen: set[int] = set()
    items = {i.sequence: i for i in case.items}
    preauth_ref = f"CB{case.id.upper()}"
    actor = caller.acting_as(Role.PHYSICIAN_REVIEWER, Role.REVIEWER)
    for n, d in enumerate(command.decisions):
        where = f"decisions[{n}]"
        if d.item_sequence not in active or d.item_sequence in seen:
            raise Invalid("no active item with this sequence, or decided twice", f"{where}.item_sequence", "not-found")
        seen.add(d.item_sequence)
        decision = Decision(d.decision.value)
        _check_decision(caller, d, decision, where)
        items[d.item_sequence] = active[d.item_sequence].model_copy(update={"determination": Determination(
            decision=decision, reason_code=d.reason_code, reason_text=d.reason_text, decided_at=now,
            reviewer=actor,
            authorization_number=f"{preauth_ref}-{d.item_sequence}" if decision in GRANTS else None,
            authorized_quantity=d.authorized_quantity,
            authorized_period=_period(d.authorized_period),
            authorized_service=Code(**d.authorized_code.model_dump()) if d.authorized_code else None,
            added_services=[_added(a) for a in d.added_services],
        )})
    if missing := sorted(set(active) - seen):
        raise Invalid(f"every active item needs a decision; missing item_sequence {missing}", "decisions", "required")
    decided = [items[s] for s in sorted(items)]
    granted = [i.determination for i in decided if i.determination and i.determination.decision in GRANTS]
    periods = [d.authorized_period for d in granted if d.authorized_period]
    changes: dict = {"items": decided, "decided_at": now}
    if granted:
        changes["preauth_ref"] = preauth_ref
        changes["preauth_period"] = Period(start=min(p.start for p in periods), end=max(p.end for p in periods)) \
            if periods else Period(start=now.date().isoformat(), end=(now + DEFAULT_AUTH_VALIDITY).date().isoformat())
    else:
        changes["preauth_ref"] = changes["preauth_period"] = None
    changed, event = transition(case, "decide", actor, now, event_type="determination", **changes)
    return changed, event.model_copy(update={"detail": {"items": {
        str(i.sequence): i.determination.decision.value for i in decided if i.determination}}})


def _added(added: cmd.AddedServiceIn) -> AddedService:
    return AddedService(service=Code(**added.code.model_dump()), modifiers=added.modifiers, quantity=added.quantity,
                        period=_period(added.period))


def _period(period: cmd.AuthorizedPeriod | None) -> Period | None:
    return Period(start=period.start.isoformat(), end=period.end.isoformat()) if period else None


def _check_decision(caller: Caller, d: cmd.ItemDecision, decision: Decision, where: str) -> None:
    if d.added_services and decision not in GRANTS:
        raise Invalid("only a granted item may authorize added services", f"{where}.added_services", "business-rule")
    if decision in ADVERSE:
        if Role.PHYSICIAN_REVIEWER not in caller.roles:
            raise Forbidden(f"a {decision.value} decision needs a physician reviewer", f"{where}.decision")
        if not caller.npi:
            raise Forbidden("a physician reviewer needs an NPI on record to make an adverse determination", "npi")
        if not d.reason_code:
            raise Invalid(f"a {decision.value} decision needs an X12 HCR03 reason code", f"{where}.reason_code", "required")
    if decision is Decision.PARTIAL and d.authorized_quantity is None and d.authorized_period is None:
        raise Invalid("a partial decision states the authorized quantity or dates", f"{where}.authorized_quantity", "required")
    if decision is Decision.MODIFIED and not (d.authorized_quantity or d.authorized_period or d.authorized_code):
        raise Invalid("a modified decision states what was authorized: quantity, dates or code", f"{where}.authorized_code",
                      "required")
    if decision in (Decision.APPROVED, Decision.DENIED) and (d.authorized_quantity or d.authorized_code):
        raise Invalid("only partial or modified decisions authorize another quantity or code",
                      f"{where}.authorized_quantity" if d.authorized_quantity else f"{where}.authorized_code")
    if decision is Decision.DENIED and d.authorized_period:
        raise Invalid("a denial authorizes no dates", f"{where}.authorized_period")


def reopen(case: Case, caller: Caller, command: cmd.Reopen, now: datetime) -> tuple[Case, Event]:
    _require(caller, {Role.SUPERVISOR}, "reopening a decided case")
    before = {str(i.sequence): i.determination.decision.value for i in case.items if i.determination}
    changed, event = transition(
        case, "reopen", caller.acting_as(Role.SUPERVISOR), now, command.reason, reopened=case.reopened + 1,
        decided_at=None, preauth_ref=None, preauth_period=None,
        items=[i.model_copy(update={"determination": None}) for i in case.items])
    return changed, event.model_copy(update={"detail": {"previous_items": before}})


def close(case: Case, caller: Caller, command: cmd.Close, now: datetime) -> tuple[Case, Event]:
    _require(caller, {Role.SUPERVISOR}, "closing a delivered case")
    return transition(case, "close", caller.acting_as(Role.SUPERVISOR), now, command.reason)


def withdraw(case: Case, caller: Caller, command: cmd.Withdraw, now: datetime) -> tuple[Case, Event]:
    actor = _assignee_or_supervisor(case, caller, "recording a withdrawal")
    return transition(case, "withdraw", actor, now, command.reason)


def extend(case: Case, caller: Caller, command: cmd.Extend, policy: ReviewPolicy, now: datetime) -> tuple[Case, Event]:
    actor = _assignee_or_supervisor(case, caller, "extending the timeframe")
    next_status(case, "extend")
    already = sum(e.days for e in case.extensions)
    policy.check_extension(case, already, command.days)
    extension = ClockExtension(days=command.days, reason=command.reason, at=now, by=actor, previous_due_at=case.due_at)
    due = policy.due_at(case, case.priority, extension_days=already + command.days)
    return transition(case, "extend", actor, now, command.reason, event_type="extension",
                      extensions=[*case.extensions, extension], due_at=due)


def change_priority(case: Case, priority: Priority, reason: str | None, actor: Actor, policy: ReviewPolicy,
                    now: datetime) -> tuple[Case, Event]:
    """A priority change recomputes due_at from receipt; lowering it needs a reason."""
    next_status(case, "change-priority")
    if priority is case.priority:
        raise Invalid(f"the case is already {priority.value}", "priority", "business-rule")
    if priority is Priority.STANDARD and not reason:
        raise Invalid("lowering the priority needs a reason", "reason", "required")
    # Extensions granted carry over only as far as the new clock's rule permits (none on an urgent ERISA claim).
    row = policy.row(case.line_of_business, case.kind, priority, case.pre_service)
    due = policy.due_at(case, priority, extension_days=min(sum(e.days for e in case.extensions), row.extension_days))
    return transition(case, "change-priority", actor, now, reason, event_type="priority-changed",
                      priority=priority, due_at=due)


def reprioritise(case: Case, caller: Caller, command: cmd.ChangePriority, policy: ReviewPolicy,
                 now: datetime) -> tuple[Case, Event]:
    actor = _assignee_or_supervisor(case, caller, "changing the priority")
    return change_priority(case, command.priority, command.reason, actor, policy, now)
