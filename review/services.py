"""Use cases. Each takes its ports (store, archive, clock) and plain values, and returns a Case."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol

from . import rules
from .errors import KeyReused, NotFound, StaleVersion, UnknownRelated
from .model import Case, Event, Intent, Kind, Member, Period, RawPayload, Status, Submission


@dataclass(frozen=True)
class SubmissionRecord:
    case_id: str
    sha256: str


class DuplicateSubmission(Exception):
    def __init__(self, record: SubmissionRecord):
        super().__init__(record.case_id)
        self.record = record


class CaseStore(Protocol):
    def create(self, case: Case, submission: Submission, event: Event) -> None:
        """Store a new case atomically with its submission record and first event.
        Raises DuplicateSubmission when the partner already sent this key."""

    def replace(
        self, case: Case, expected_version: int, event: Event, submission: Submission | None = None
    ) -> None:
        """Store a changed case if its stored version is still expected_version (else StaleVersion)."""

    def get(self, case_id: str) -> Case | None: ...

    def find_submission(self, partner_id: str, key: str) -> SubmissionRecord | None:
        """The record a partner's earlier message with this idempotency key left, if any."""

    def find_latest(self, partner_id: str, keys: list[str], kind: str) -> Case | None:
        """The case these lookup keys (Case.lookup_keys) name best: see rules.best_match."""

    def find_all(self, partner_id: str, key: str) -> list[Case]:
        """Every case found under this lookup key."""

    def history(self, case_id: str) -> list[Event]: ...

    def worklist(self, partner_id: str, status: str, limit: int = 50) -> list[Case]:
        """Open cases in this status, soonest due first."""


class Archive(Protocol):
    def put(self, partner_id: str, body: bytes, content_type: str) -> RawPayload: ...


Clock = Callable[[], datetime]


def submit(store: CaseStore, archive: Archive, clock: Clock, partner_id: str, sub: Submission, body: bytes,
           content_type: str) -> Case:
    """Take in one message. Replays of the same key and content return the case they made."""
    raw = archive.put(partner_id, body, content_type)  # before the write: accepted means archived
    now = clock()
    try:
        if sub.related:
            return _amend(store, now, partner_id, sub, raw)
        return _create(store, now, partner_id, sub, raw)
    except DuplicateSubmission as dup:
        if dup.record.sha256 != sub.sha256:
            raise KeyReused("this identifier was already used for different content", sub.key_expression)
        case = store.get(dup.record.case_id)
        assert case is not None, "a submission record always points at a stored case"
        return case


# What an appeal or re-opened case takes from the case it follows when its own message is thin
# (an HL7 EHC^E04 names the invoice and little else).
INHERITED = ("member", "patient_ref", "insurer_ref", "providers", "diagnoses", "items", "parties")


def _create(store: CaseStore, now: datetime, partner_id: str, sub: Submission, raw: RawPayload,
            original: Case | None = None, kind: Kind | None = None) -> Case:
    draft = dict(sub.draft)
    kind = kind or (Kind.APPEAL if sub.appeal else sub.draft.kind)
    if original is not None:
        draft |= {f: getattr(original, f) for f in INHERITED
                  if not (draft[f].known if isinstance(draft[f], Member) else draft[f])}
    pre_service = (original or sub.draft).kind is not Kind.CLAIM
    case = Case(
        **{**draft, "kind": kind},
        id=rules.new_case_id(now),
        partner_id=partner_id,
        received_at=now,
        due_at=rules.due_at(kind, sub.draft.priority, now, pre_service),
        original_case_id=original.id if original else None,
        raw=raw,
    )
    store.create(case, sub, rules.event(now, "received", kind=kind.value, priority=case.priority.value,
                                        original_case_id=case.original_case_id, raw=raw.key))
    return case


def _amend(store: CaseStore, now: datetime, partner_id: str, sub: Submission, raw: RawPayload) -> Case:
    """An update, cancel, resubmission or appeal naming an earlier claim."""
    if (record := store.find_submission(partner_id, sub.key.key)) is not None:
        raise DuplicateSubmission(record)  # a replay answers as before, whatever happened since
    original = store.find_latest(partner_id, sub.related, sub.draft.kind.value)
    if original is None or (sub.intent is Intent.CANCEL and original.kind is not sub.draft.kind):
        raise UnknownRelated("the related claim is not known", sub.related_expression)
    if sub.intent is Intent.CANCEL:
        changed, what = rules.cancel(original), "cancelled"
    elif sub.appeal or (original.status is Status.DECIDED and sub.intent is Intent.UPDATE):
        return _create(store, now, partner_id, sub, raw, original=original, kind=Kind.APPEAL)
    elif sub.intent is Intent.RESUBMIT and not original.is_open:
        return _create(store, now, partner_id, sub, raw, original=original)  # re-opened as a new case
    else:
        changed, what = rules.apply_update(original, sub.draft.items), "updated"
    changed = changed.model_copy(update={
        "version": original.version + 1,
        # The answer names the request just received.
        "claim_ref": sub.draft.claim_ref or original.claim_ref,
        "submission_id": sub.draft.submission_id or original.submission_id,
        "claim_ids": list(dict.fromkeys([*original.claim_ids, *sub.draft.claim_ids])),
    })
    store.replace(changed, original.version, rules.event(now, what, status=changed.status.value, raw=raw.key), sub)
    return changed


def decide(store: CaseStore, clock: Clock, partner_id: str, case_id: str, expected_version: int,
           decisions: list[dict], period: Period | None = None) -> Case:
    case = get_case(store, partner_id, case_id)
    if case.version != expected_version:
        raise StaleVersion("the case has changed since this version; re-read it and retry", "version")
    now = clock()
    decided = rules.decide(case, decisions, now, period)
    decided = decided.model_copy(update={"version": case.version + 1})
    store.replace(decided, expected_version, rules.event(
        now, "determination", status=decided.status.value,
        items={str(i.sequence): i.determination.decision.value for i in decided.items if i.determination},
    ))
    return decided


def get_case(store: CaseStore, partner_id: str, case_id: str) -> Case:
    """A partner sees only its own cases; another partner's id is indistinguishable from none."""
    case = store.get(case_id)
    if case is None or case.partner_id != partner_id:
        raise NotFound("no such case")
    return case


def case_with_history(store: CaseStore, partner_id: str, case_id: str) -> tuple[Case, list[Event]]:
    case = get_case(store, partner_id, case_id)
    return case, store.history(case.id)


def worklist(store: CaseStore, partner_id: str) -> list[Case]:
    return store.worklist(partner_id, Status.PENDING_REVIEW.value)


def find_cases(store: CaseStore, partner_id: str, key: str) -> list[Case]:
    return [c for c in store.find_all(partner_id, key) if c.partner_id == partner_id]


def inquire(store: CaseStore, partner_id: str, member_keys: list[str], provider_ids: set[str]) -> list[Case]:
    """PAS inquiry: the partner's cases for this member requested by this provider, newest first."""
    found = {c.id: c for k in member_keys for c in find_cases(store, partner_id, k)}
    matches = [c for c in found.values() if any(p.npi in provider_ids for p in c.providers if p.npi)]
    if not matches:
        raise NotFound("no request is known for this member and provider")
    return sorted(matches, key=lambda c: c.id, reverse=True)
