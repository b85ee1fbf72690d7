"""Use cases. Each takes its ports (repository, views, archive, clock) and plain values, and returns
a Case or a read model. Intake (submit) is for partners; the rest is for reviewers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Counter, Iterator, Protocol

from . import commands as cmd
from . import lifecycle, outbox, rules
from .clocks import Service, service_of
from .errors import Forbidden, Invalid, KeyReused, NotFound, StaleVersion, UnknownRelated
from .metrics import DecisionRecord, prior_authorization_metrics
from .model import (
    DETERMINED_STATUSES, STAFF, Actor, Attachment, Caller, Case, Document, Event, InboundMessage, Intent, Kind, Member,
    RawPayload, Reviewer, Role, Status, Submission,
)
from .outbox import Attempt, DeliveryState, OutboxRecord
from .rules import ReviewPolicy
from .views import AccessRecord, CaseSummary, Page, WorklistQuery


@dataclass(frozen=True)
class SubmissionRecord:
    case_id: str
    sha256: str


class DuplicateSubmission(Exception):
    def __init__(self, record: SubmissionRecord):
        super().__init__(record.case_id)
        self.record = record


class CaseRepository(Protocol):
    """The write side: load a case, store a new or changed one in one transaction."""

    def create(self, case: Case, submission: Submission, event: Event, message: InboundMessage | None = None) -> None:
        """Store a new case atomically with its submission record, first event and the message's
        log entry. Raises DuplicateSubmission when the partner already sent this key."""

    def replace(self, case: Case, expected_version: int, events: list[Event],
                submission: Submission | None = None, outbox: list[OutboxRecord] = (),
                message: InboundMessage | None = None) -> None:
        """Store a changed case if its stored version is still expected_version (else StaleVersion),
        with the outbox records the change owes and the log entry of the message that made it, in the same write."""

    def record_message(self, message: InboundMessage) -> None:
        """A message log entry on its own: for a message that changed no case (refused, replayed)."""

    def outbox(self, case_id: str) -> list[OutboxRecord]:
        """The case's outbox records, in the order owed."""

    def delivery_of(self, case_id: str, key: str) -> tuple[OutboxRecord | None, Case | None]:
        """An outbox record and its case, read together (one request)."""

    def record_attempt(self, record: OutboxRecord, state: DeliveryState, attempt: Attempt,
                       also: list[OutboxRecord] = ()) -> bool:
        """Record an attempt and move the record to `state`, if it is still as read (else False);
        with it, in the same write, the records a fan-out owes (`also`)."""

    def redrive(self, record: OutboxRecord) -> bool:
        """A dead record owed again (tries counted afresh), if it is still as read (else False)."""

    def undelivered(self, state: DeliveryState) -> list[OutboxRecord]:
        """Every record in a state other than delivered, oldest first."""

    def get(self, case_id: str) -> Case | None: ...

    def find_submission(self, partner_id: str, key: str) -> SubmissionRecord | None:
        """The record a partner's earlier message with this idempotency key left, if any."""

    def find_latest(self, partner_id: str, keys: list[str], kind: str) -> Case | None:
        """The case these lookup keys (Case.lookup_keys) name best: see rules.best_match."""

    def find_all(self, partner_id: str, key: str) -> list[Case]:
        """Every case found under this lookup key, newest first."""

    def find_page(self, partner_id: str, key: str, limit: int, after: str | None = None) -> tuple[list[Case], bool]:
        """Up to `limit` of them, from just after case `after`; and whether more follow."""

    def count(self, partner_id: str, key: str) -> int:
        """How many cases are found under this lookup key."""


class CaseViews(Protocol):
    """The read side: queries over indexes, never loading whole tables."""

    def history(self, case_id: str) -> list[Event]: ...

    def worklist(self, query: WorklistQuery) -> Page: ...

    def record_access(self, record: AccessRecord) -> None: ...

    def access_log(self, case_id: str) -> list[AccessRecord]: ...

    def decisions(self, partner_id: str, start: datetime, end: datetime) -> list[DecisionRecord]: ...

    def open_counts(self) -> Counter[tuple[str, str]]:
        """Open cases per (partner, priority)."""

    def due_by(self, at: datetime) -> Iterator[tuple[CaseSummary, str | None]]:
        """The open cases due at or before `at`, each with the SLA threshold it is marked at."""

    def messages(self, today: date, limit: int, cursor: str | None) -> tuple[list[InboundMessage], str | None]:
        """The message log, newest first: a page, and the cursor of the next while one follows."""


class ReviewerDirectory(Protocol):
    def get(self, reviewer_id: str) -> Reviewer | None: ...

    def put(self, reviewer: Reviewer) -> None: ...

    def all(self) -> list[Reviewer]: ...


class Archive(Protocol):
    def put(self, partner_id: str, body: bytes, content_type: str) -> RawPayload: ...

    def get(self, key: str) -> bytes: ...

    def link(self, key: str, seconds: int) -> str:
        """A URL that reads the object for `seconds` (S3: a presigned GET)."""


Clock = Callable[[], datetime]
UNDELIVERED = (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.DEAD)
PolicyOf = Callable[[str], ReviewPolicy]  # partner id -> its review policy


# ---- intake ---------------------------------------------------------------------------------

def submit(store: CaseRepository, archive: Archive, clock: Clock, partner_id: str, policy: ReviewPolicy,
           sub: Submission, body: bytes, content_type: str, message: InboundMessage | None = None,
           on_reuse: Callable[[str], None] | None = None) -> Case:
    """Take in one message. Replays of the same key and content return the case they made.
    A key reused for other content is a new transaction, linked to the case that first used the key
    (`on_reuse` hears that case's id), unless the partner's policy or the wire (HL7 MSH-10) wants
    keys unique: then KeyReused. `message`: its log entry as accepted, written with the case."""
    raw = archive.put(partner_id, body, content_type)  # before the write: accepted means archived
    now = clock()
    documents = [_archived(archive, partner_id, a, now, "claim-update" if sub.related else "submission")
                 for a in sub.attachments]
    logged = message.model_copy(update={"at": now}) if message else None

    def take(sub: Submission) -> Case:
        if sub.related:
            return _amend(store, now, partner_id, policy, sub, raw, documents, logged)
        return _create(store, now, partner_id, policy, sub, raw, documents, logged)

    try:
        return take(sub)
    except DuplicateSubmission as dup:
        if dup.record.sha256 == sub.sha256:
            return _replayed(store, dup.record, logged)
        if policy.strict_transaction_ids or sub.unique_key:
            raise KeyReused("this identifier was already used for different content", sub.key_expression)
        earlier = dup.record.case_id
    try:
        case = take(sub.reusing(earlier))
    except DuplicateSubmission as dup:  # this content under the reused key was taken before
        return _replayed(store, dup.record, logged)
    if on_reuse:
        on_reuse(earlier)
    return case


def _replayed(store: CaseRepository, record: SubmissionRecord, message: InboundMessage | None) -> Case:
    case = store.get(record.case_id)
    assert case is not None, "a submission record always points at a stored case"
    if message:
        store.record_message(_logged(message, case))
    return case


def _logged(message: InboundMessage | None, case: Case) -> InboundMessage | None:
    """The message log entry of a message, naming the case it made, changed or replayed."""
    return message.model_copy(update={"case_id": case.id}) if message else None


def _archived(archive: Archive, partner_id: str, a: Attachment, now: datetime, via: str) -> Document:
    if a.data is None:
        return Document(title=a.title, content_type=a.content_type, url=a.url, received_at=now, via=via)
    raw = archive.put(partner_id, a.data, a.content_type)
    return Document(title=a.title, content_type=a.content_type, key=raw.key, sha256=raw.sha256, size=raw.size,
                    received_at=now, via=via)


# What an appeal or follow-up takes from the case it follows when its own message is thin
# (an HL7 EHC^E04 names the invoice and little else).
INHERITED = ("member", "patient_ref", "insurer_ref", "providers", "diagnoses", "items", "parties")


def _create(store: CaseRepository, now: datetime, partner_id: str, policy: ReviewPolicy, sub: Submission,
            raw: RawPayload, documents: list[Document], message: InboundMessage | None,
            original: Case | None = None, kind: Kind | None = None) -> Case:
    draft = dict(sub.draft)
    kind = kind or (Kind.APPEAL if sub.appeal else sub.draft.kind)
    if original is not None:
        draft |= {f: getattr(original, f) for f in INHERITED
                  if not (draft[f].known if isinstance(draft[f], Member) else draft[f])}
    # An appeal runs on the clock of what it appeals: pre-service, or payment (at any level).
    service = service_of(kind)
    pre_service = original.pre_service if service is None and original else service is not Service.POST_SERVICE
    lob = sub.draft.line_of_business or (original.line_of_business if original else policy.line_of_business)
    row = policy.row(lob, kind, sub.draft.priority, pre_service)
    case = Case(
        **{**draft, "kind": kind, "line_of_business": lob},
        id=rules.new_case_id(now),
        partner_id=partner_id,
        received_at=now,
        due_at=row.due_at(now, policy.time_zone),
        pre_service=pre_service,
        original_case_id=original.id if original else None,
        transaction_id_reused_from=sub.reuses,
        appealed_kind=(original.appealed_kind or original.kind) if original and kind is Kind.APPEAL else None,
        documents=[d.model_copy(update={"via": "submission"}) for d in documents],  # its own, even if it names another
        raw=raw,
    )
    store.create(case, sub, Event(
        at=now, type="received", actor=Actor(id=partner_id, role=Role.PARTNER), to_status=case.status,
        detail={"kind": kind.value, "priority": case.priority.value, "original_case_id": case.original_case_id,
                "raw": raw.key, "clock": row.source, **_reuse(sub)}),
        _logged(message, case))
    return case


def _named_by_id(store: CaseRepository, partner_id: str, sub: Submission) -> Case | None:
    """The partner's case a related Claim/<id> names by our id (the id of the ClaimResponse it was
    answered with), where no claim of the partner's own goes by that id."""
    ids = [k.removeprefix("Claim/") for k in sub.related if k.startswith("Claim/")]
    return next((c for i in ids if (c := store.get(i)) is not None and c.partner_id == partner_id), None)


def _reuse(sub: Submission) -> dict[str, str]:
    """What an event records of a message that reused another case's transaction identifier."""
    return {"transaction_id_reused_from": sub.reuses} if sub.reuses else {}


def _amend(store: CaseRepository, now: datetime, partner_id: str, policy: ReviewPolicy, sub: Submission,
           raw: RawPayload, documents: list[Document], message: InboundMessage | None) -> Case:
    """An update, cancel, resubmission, follow-up or appeal naming an earlier claim."""
    if (record := store.find_submission(partner_id, sub.key.key)) is not None:
        raise DuplicateSubmission(record)  # a replay answers as before, whatever happened since
    original = store.find_latest(partner_id, sub.related, sub.draft.kind.value) or _named_by_id(store, partner_id, sub)
    if original is None or (sub.intent is Intent.CANCEL and original.kind is not sub.draft.kind):
        raise UnknownRelated("the related claim is not known", sub.related_expression)
    partner = Actor(id=partner_id, role=Role.PARTNER)

    def new_case(kind: Kind | None = None) -> Case:
        return _create(store, now, partner_id, policy, sub, raw, documents, message, original=original, kind=kind)

    if sub.appeal:
        return new_case(Kind.APPEAL)
    if sub.intent is Intent.FOLLOW_UP:  # X12 1322 "4" extension, "R" renewal: a new request
        return new_case()
    if sub.intent is not Intent.CANCEL and not original.is_open:
        if sub.intent is Intent.UPDATE and original.status in DETERMINED_STATUSES and rules.is_adverse(original):
            return new_case(Kind.APPEAL)  # an update of a denial contests it
        if sub.intent is not Intent.UPDATE or original.status in DETERMINED_STATUSES:
            return new_case()  # a revision or resubmission of a closed request is a new request
    changed, events = _apply_message(original, sub, documents, partner, policy, now, raw)
    changed = changed.model_copy(update={
        # The answer names the request just received.
        "claim_ref": sub.draft.claim_ref or original.claim_ref,
        "claim_url": sub.draft.claim_url or (None if sub.draft.claim_ref else original.claim_url),
        "submission_id": sub.draft.submission_id or original.submission_id,
        "claim_ids": list(dict.fromkeys([*original.claim_ids, *sub.draft.claim_ids])),
        "version": original.version + 1,
    })
    store.replace(changed, original.version, events, sub, outbox.owed(changed, events, policy.delivers_to, now),
                  _logged(message, changed))
    return changed


def _apply_message(case: Case, sub: Submission, documents: list[Document], partner: Actor, policy: ReviewPolicy,
                   now: datetime, raw: RawPayload) -> tuple[Case, list[Event]]:
    """A cancel, or an update of an open case: items, priority, documents; one event for each change."""
    detail = {"raw": raw.key, **_reuse(sub)}
    if sub.intent is Intent.CANCEL:
        if case.status is Status.CANCELLED:
            return case, [Event(at=now, type="cancel-repeated", actor=partner, detail=detail)]
        changed, event = lifecycle.transition(case, "cancel", partner, now, items=rules.cancelled_items(case))
        return changed, [event.model_copy(update={"detail": detail})]
    items = rules.apply_update(case, sub.draft.items)
    if not any(not i.cancelled and i.error is None for i in items):  # nothing left to review
        changed, event = lifecycle.transition(case, "cancel", partner, now, "every item was cancelled",
                                              items=rules.cancelled_items(case))
        return changed, [event]
    changed, event = lifecycle.transition(case, "update", partner, now, event_type="updated", items=items)
    events = [event.model_copy(update={"detail": detail})]
    if sub.draft.priority is not case.priority:
        changed, event = lifecycle.change_priority(changed, sub.draft.priority, "changed by the requester's update",
                                                   partner, policy, now)
        events.append(event)
    if documents:
        changed, event = lifecycle.receive_information(changed, documents, partner, now)
        events.append(event)
    return changed.model_copy(update={"version": case.version + 1}), events


# ---- review ---------------------------------------------------------------------------------

@dataclass
class Review:
    """The ports the reviewer use cases need."""

    cases: CaseRepository
    views: CaseViews
    reviewers: ReviewerDirectory
    archive: Archive
    clock: Clock
    policy_of: PolicyOf


def _reviewer_role(caller: Caller) -> None:
    if caller.roles.isdisjoint(STAFF):
        raise Forbidden("the review API is for reviewers, physician reviewers and supervisors")


def _load(review: Review, case_id: str) -> Case:
    case = review.cases.get(case_id)
    if case is None:
        raise NotFound("no such case")
    return case


def execute(review: Review, caller: Caller, case_id: str, command: cmd.Command) -> Case:
    """Carry out one reviewer command on the case at the version the caller read."""
    _reviewer_role(caller)
    case = _load(review, case_id)
    if case.version != command.version:
        raise StaleVersion(f"the case is at version {case.version}; re-read it and retry", "version")
    now = review.clock()
    policy = review.policy_of(case.partner_id)
    match command:
        case cmd.Assign():
            changed, event = lifecycle.assign(case, caller, command, review.reviewers.get(command.reviewer), now)
        case cmd.Start():
            changed, event = lifecycle.start(case, caller, now)
        case cmd.RequestInformation():
            changed, event = lifecycle.request_information(case, caller, command, now)
        case cmd.ProvideInformation():
            lifecycle.next_status(case, "information-received")
            documents = [_archived(review.archive, case.partner_id, Attachment(
                content_type=d.content_type, data=d.content, url=d.url, title=d.title), now, "reviewer-api")
                for d in command.documents]
            changed, event = lifecycle.receive_information(
                case, documents, caller.acting_as(*STAFF), now)
        case cmd.Decide():
            changed, event = lifecycle.decide(case, caller, command, now)
        case cmd.Extend():
            changed, event = lifecycle.extend(case, caller, command, policy, now)
        case cmd.ChangePriority():
            changed, event = lifecycle.reprioritise(case, caller, command, policy, now)
        case cmd.Reopen():
            changed, event = lifecycle.reopen(case, caller, command, now)
        case cmd.Close():
            changed, event = lifecycle.close(case, caller, command, now)
        case cmd.Withdraw():
            changed, event = lifecycle.withdraw(case, caller, command, now)
        case _:
            raise TypeError(type(command).__name__)
    owed = outbox.owed(changed, [event], policy.delivers_to, now)
    review.cases.replace(changed, case.version, [event], outbox=owed)
    return changed


@dataclass(frozen=True)
class CaseView:
    case: Case
    history: list[Event]
    appeals: list[str]  # ids of the cases that follow this one (appeals, follow-ups)
    deliveries: list[OutboxRecord]  # what its changes owe the requester's systems, and how far each got


def read_case(review: Review, caller: Caller, case_id: str) -> CaseView:
    """A reviewer's read of a case: every one is logged (who, when) before anything is shown."""
    case = accessed(review, caller, case_id, "read")
    followers = review.cases.find_all(case.partner_id, f"original:{case.id}")
    return CaseView(case, review.views.history(case.id), [c.id for c in followers], review.cases.outbox(case.id))


def reveal_member(review: Review, caller: Caller, case_id: str) -> Member:
    """The member as the case holds them, for a reviewer who asked to see them: an audited read of its own."""
    return accessed(review, caller, case_id, "member-reveal").member


DOCUMENT_LINK_SECONDS = 60


def document_link(review: Review, caller: Caller, case_id: str, index: int) -> tuple[Document, str]:
    """A case's document and a short-lived URL to read it (the sender's own URL for one it only
    pointed at); the access is logged."""
    case = accessed(review, caller, case_id, f"document:{index}")
    document = case.documents[index] if 0 <= index < len(case.documents) else None
    if document is None or not (document.url or document.key):
        raise NotFound("no such document")
    return document, document.url or review.archive.link(document.key, DOCUMENT_LINK_SECONDS)


def accessed(review: Review, caller: Caller, case_id: str, action: str) -> Case:
    """A case read by a reviewer for `action` (read, member-reveal, document:<n>, claimresponse): logged first."""
    _reviewer_role(caller)
    case = _load(review, case_id)
    review.views.record_access(AccessRecord(case_id=case.id, at=review.clock(), actor=caller.acting_as(*STAFF),
                                            action=action))
    return case


def message_log(review: Review, caller: Caller, limit: int, cursor: str | None) -> tuple[list[InboundMessage], str | None]:
    _supervisor(caller, "the message log is for supervisors")
    return review.views.messages(review.clock().date(), limit, cursor)


def open_case_counts(review: Review, caller: Caller, window: timedelta) -> list[dict]:
    """Open, due-soon and overdue cases per partner, as the SLA monitor counts them (review/sla.py)."""
    from .sla import DUE_SOON, OVERDUE, assess

    _supervisor(caller, "reports are for supervisors")
    now = review.clock()
    counts = assess(review.views.open_counts(), review.views.due_by(now + window), now, window).counts
    partners = sorted({partner for partner, _, _ in counts})
    return [{"partner": p, **{name: sum(v for (q, _, m), v in counts.items() if q == p and m == measure)
                              for name, measure in (("open", "open"), ("due_soon", DUE_SOON), ("overdue", OVERDUE))}}
            for p in partners]


def audit(review: Review, caller: Caller, case_id: str) -> tuple[list[AccessRecord], list[Event]]:
    _supervisor(caller, "the audit log is for supervisors")
    case = _load(review, case_id)
    return review.views.access_log(case.id), review.views.history(case.id)


def deliveries(review: Review, caller: Caller, case_id: str | None = None,
               states: tuple[DeliveryState, ...] | None = None) -> list[OutboxRecord]:
    """A case's deliveries, or across cases those not delivered (oldest first); `states` narrows either."""
    _supervisor(caller, "delivery state is for supervisors")
    if case_id:
        records = review.cases.outbox(_load(review, case_id).id)
        return [r for r in records if states is None or r.state in states]
    return [r for state in states or UNDELIVERED for r in review.cases.undelivered(state)]


def redrive_deliveries(review: Review, caller: Caller, case_id: str | None = None) -> list[OutboxRecord]:
    """Dead deliveries (of one case, or all) owed again: the stream feeds them to the queue anew."""
    from .delivery import redrive

    _supervisor(caller, "redriving deliveries is for supervisors")
    if case_id:
        _load(review, case_id)
    return redrive(review.cases, case_id)


def _supervisor(caller: Caller, refusal: str) -> None:
    if Role.SUPERVISOR not in caller.roles:
        raise Forbidden(refusal)


def worklist(review: Review, caller: Caller, query: WorklistQuery) -> Page:
    _reviewer_role(caller)
    return review.views.worklist(query)


# ---- partners' own reads (FHIR) ---------------------------------------------------------------

def get_case(store: CaseRepository, partner_id: str, case_id: str,
             also: Callable[[Case], bool] = lambda case: False) -> Case:
    """A partner sees only its own cases (and those `also` admits: an EHR its subscriptions notify of
    the case); another partner's id is indistinguishable from none."""
    case = store.get(case_id)
    if case is None or (case.partner_id != partner_id and not also(case)):
        raise NotFound("no such case")
    return case


def find_cases(store: CaseRepository, partner_id: str, key: str) -> list[Case]:
    return [c for c in store.find_all(partner_id, key) if c.partner_id == partner_id]


@dataclass(frozen=True)
class SearchPage:
    cases: list[Case]  # newest first
    next_after: str | None  # the case the next page starts after, while more follow
    total: int | None  # every case the search finds, when asked for


def search_cases(store: CaseRepository, partner_id: str, key: str, count: int, after: str | None = None,
                 total: bool = True) -> SearchPage:
    """A page of the partner's cases under a lookup key (`Claim/<id>`, a claim identifier): `count`
    of them from just after case `after`; count 0 for the total alone."""
    if count == 0:
        return SearchPage([], None, store.count(partner_id, key))
    page, more = store.find_page(partner_id, key, count, after)
    found = [c for c in page if c.partner_id == partner_id]
    next_after = page[-1].id if more and page else None
    if not total:
        return SearchPage(found, next_after, None)
    # A first page that holds every match is its own count; otherwise the lookup items are counted.
    return SearchPage(found, next_after, len(found) if after is None and not more else store.count(partner_id, key))


def inquire(store: CaseRepository, partner_id: str, member_keys: list[str], provider_ids: set[str]) -> list[Case]:
    """PAS inquiry: the partner's cases for this member requested by this provider, newest first."""
    found = {c.id: c for k in member_keys for c in find_cases(store, partner_id, k)}
    matches = [c for c in found.values() if any(p.npi in provider_ids for p in c.providers if p.npi)]
    return sorted(matches, key=lambda c: c.id, reverse=True)


# ---- reviewers and reports --------------------------------------------------------------------

def reviewers(review: Review, caller: Caller) -> list[Reviewer]:
    _reviewer_role(caller)
    return review.reviewers.all()


def reviewer(review: Review, caller: Caller, reviewer_id: str) -> Reviewer:
    """A profile; `me` is the caller's own (made from the token when no profile is kept yet)."""
    _reviewer_role(caller)
    if reviewer_id == "me":
        return review.reviewers.get(caller.id) or caller.profile()
    found = review.reviewers.get(reviewer_id)
    if found is None:
        raise NotFound("no such reviewer")
    return found


def put_reviewer(review: Review, caller: Caller, profile: Reviewer) -> Reviewer:
    _supervisor(caller, "reviewer profiles are kept by supervisors")
    if Role.PHYSICIAN_REVIEWER in profile.roles and not profile.npi:
        raise Invalid("a physician reviewer must have an NPI", "npi", "required")
    review.reviewers.put(profile)
    return profile


def prior_authorization_report(review: Review, caller: Caller, partners: list[str], start: date | None,
                               end: date | None) -> dict:
    """CMS-0057-F figures per partner and line of business, for decisions in [from, to] (whole days,
    UTC; default: this calendar year to date)."""
    _supervisor(caller, "reports are for supervisors")
    today = review.clock().date()
    start, end = start or today.replace(month=1, day=1), end or today
    if end < start:
        raise Invalid("to is before from", "to")
    since = datetime.combine(start, time.min, timezone.utc)
    until = datetime.combine(end + timedelta(days=1), time.min, timezone.utc)
    records = [r for p in partners for r in review.views.decisions(p, since, until)]
    return {"report": "prior-authorization-metrics", "from": start.isoformat(), "to": end.isoformat(),
            "rows": prior_authorization_metrics(records, decided_from=since, decided_to=until)}
