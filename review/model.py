"""The review case: what an independent review organization keeps for each inbound request.

Plain pydantic values, no I/O. Wire formats map *to* these (fhir_mappings) and the store
persists them (adapters); nothing here knows about either.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    PRIOR_AUTH = "prior-auth"
    CLAIM = "claim"
    APPEAL = "appeal"


class Priority(StrEnum):
    EXPEDITED = "expedited"
    STANDARD = "standard"


class Status(StrEnum):
    PENDING_REVIEW = "pending-review"
    DECIDED = "decided"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({Status.PENDING_REVIEW})
MAX_LOOKUP_IDENTIFIERS = 5  # a case is findable by its first few identifiers; keeps one write transaction small


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    PARTIAL = "partial"
    MODIFIED = "modified"
    PENDED = "pended"


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identifier(Value):
    system: str | None = None
    value: str

    @property
    def key(self) -> str:
        return f"{self.system or ''}|{self.value}"

    @property
    def lookup_key(self) -> str:
        """How a reference to this identifier is looked up: system|value, or the value alone."""
        return self.key if self.system else self.value


class Code(Value):
    system: str | None = None
    code: str
    display: str | None = None


class Period(Value):
    start: str | None = None
    end: str | None = None


class Member(Value):
    identifiers: list[Identifier] = []
    family: str | None = None
    given: list[str] = []
    birth_date: str | None = None
    gender: str | None = None
    subscriber_id: str | None = None
    coverage_ids: list[Identifier] = []
    payor: str | None = None

    @property
    def known(self) -> bool:
        """Whether a message said who the member is."""
        return bool(self.identifiers or self.family or self.subscriber_id)

    @property
    def lookup_keys(self) -> list[str]:
        keys = [f"member:{i.key}" for i in self.identifiers[:MAX_LOOKUP_IDENTIFIERS]]
        return keys + ([f"subscriber:{self.subscriber_id}"] if self.subscriber_id else [])


class Provider(Value):
    role: str  # "requesting" or "servicing"
    name: str | None = None
    npi: str | None = None
    reference: str | None = None


class Determination(Value):
    decision: Decision
    reason_code: str | None = None
    reason_text: str | None = None
    decided_at: datetime


class Item(Value):
    sequence: int
    service: Code | None = None
    modifiers: list[str] = []
    quantity: float | None = None
    serviced: Period | None = None
    category: Code | None = None
    certification_type: str | None = None
    request_type: str | None = None
    trace_numbers: list[Identifier] = []
    info_changed: str | None = None  # PAS update: "changed" or "added"; None means restated unchanged
    cancelled: bool = False
    determination: Determination | None = None


class Event(Value):
    at: datetime
    type: str
    detail: dict[str, Any] = {}


class RawPayload(Value):
    """Pointer to the inbound bytes, archived unchanged."""

    key: str
    sha256: str
    content_type: str
    size: int


class CaseDraft(BaseModel):
    """What a wire mapping knows about a case before it is stored."""

    model_config = ConfigDict(extra="forbid")

    source: str  # "fhir" or "hl7v2"
    kind: Kind
    priority: Priority
    claim_ids: list[Identifier] = []
    submission_id: Identifier | None = None  # Bundle.identifier for PAS
    claim_ref: str | None = None  # "Claim/<id>" as the sender named it
    use: str = "preauthorization"
    claim_type: Code | None = None
    response_shape: str = "claimresponse"  # or "pas-bundle"
    member: Member
    patient_ref: str | None = None
    insurer_ref: str | None = None
    providers: list[Provider] = []
    diagnoses: list[Code] = []
    items: list[Item] = []  # none only on a cancel, which makes no case
    # Resources the PAS response Bundle must carry (Patient, insurer, requestor), kept as sent.
    parties: list[dict[str, Any]] = []

    @property
    def lookup_keys(self) -> list[str]:
        """Keys a later message may use to find this case: its claim, or its member."""
        return self.claim_keys + self.member.lookup_keys

    @property
    def claim_keys(self) -> list[str]:
        # value alone too: token search without a system
        keys = [k for i in self.claim_ids[:MAX_LOOKUP_IDENTIFIERS] for k in (i.key, i.value)]
        return keys + ([self.claim_ref] if self.claim_ref else [])


class Case(CaseDraft):
    items: list[Item] = Field(min_length=1)
    id: str
    partner_id: str
    status: Status = Status.PENDING_REVIEW
    received_at: datetime
    due_at: datetime
    version: int = 1
    original_case_id: str | None = None
    preauth_ref: str | None = None
    preauth_period: Period | None = None
    decided_at: datetime | None = None
    raw: RawPayload | None = None

    @property
    def active_items(self) -> list[Item]:
        return [i for i in self.items if not i.cancelled]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES



class Intent(StrEnum):
    NEW = "new"
    UPDATE = "update"  # changes an open case; on a decided one it is an appeal
    RESUBMIT = "resubmit"  # HL7 RQA^I10: changes an open case, re-opens a closed one as a new case
    CANCEL = "cancel"


class Submission(BaseModel):
    """One inbound message, mapped: the case it describes plus how it relates to earlier ones."""

    key: Identifier  # the sender's idempotency key: Bundle.identifier, Claim.identifier, MSH-10
    key_expression: str  # where the key sits on the wire, for error messages
    sha256: str  # of the content, to tell a replay from a reuse of the key
    intent: Intent = Intent.NEW
    related: list[str] = []  # lookup keys of the earlier claim this one refers to
    related_expression: str | None = None
    appeal: bool = False  # explicitly flagged as an appeal (PAS certificationType 1/2)
    draft: CaseDraft
