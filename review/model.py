"""The review case: what an independent review organization keeps for each inbound request.

Plain pydantic values, no I/O. Wire formats map *to* these (fhir_mappings) and the store
persists them (adapters); nothing here knows about either.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Kind(StrEnum):
    PRIOR_AUTH = "prior-auth"
    PREDETERMINATION = "predetermination"
    CLAIM = "claim"
    APPEAL = "appeal"


class Priority(StrEnum):
    EXPEDITED = "expedited"
    STANDARD = "standard"


class Status(StrEnum):
    """review/lifecycle.py says which command moves a case from which state to which."""
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_REVIEW = "in-review"
    INFORMATION_REQUESTED = "information-requested"
    DECIDED = "decided"
    DELIVERED = "delivered"  # every target the determination owes has acknowledged it
    CLOSED = "closed"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = frozenset({Status.RECEIVED, Status.ASSIGNED, Status.IN_REVIEW, Status.INFORMATION_REQUESTED})
DETERMINED_STATUSES = frozenset({Status.DECIDED, Status.DELIVERED, Status.CLOSED})  # a determination stands


class Role(StrEnum):
    REVIEWER = "reviewer"
    PHYSICIAN_REVIEWER = "physician-reviewer"
    SUPERVISOR = "supervisor"
    PARTNER = "partner"  # the requester, through its own messages
    SYSTEM = "system"  # the SLA monitor


# The review organization's own roles, in the order a history event names one a caller holds.
STAFF = (Role.PHYSICIAN_REVIEWER, Role.REVIEWER, Role.SUPERVISOR)
MAX_LOOKUP_IDENTIFIERS = 5  # a case is findable by its first few identifiers; keeps one write transaction small


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    PARTIAL = "partial"
    MODIFIED = "modified"
    PENDED = "pended"


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def instant(at: datetime) -> str:
    """The one written form of an instant, on every wire and in every answer: UTC, to the second, with Z."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


class Actor(Value):
    """Who did something: a user id (Cognito `sub`) or partner id, and the role it acted in. Never a name."""

    id: str
    role: Role
    npi: str | None = None  # physician reviewers, on determinations


class Caller(Value):
    """A reviewer as their token proves them: Cognito `sub`, groups, and the NPI a physician reviewer
    must have. Names never travel further than the token."""

    id: str
    roles: frozenset[Role]
    npi: str | None = None

    def acting_as(self, *preferred: Role) -> Actor:
        """The Actor a history event records: the first of `preferred` roles the caller holds."""
        role = next((r for r in preferred if r in self.roles), None) or min(self.roles)
        return Actor(id=self.id, role=role, npi=self.npi if role is Role.PHYSICIAN_REVIEWER else None)

    def profile(self) -> Reviewer:
        """The profile of a reviewer with none kept yet: their token's roles and NPI."""
        return Reviewer(id=self.id, roles=sorted(self.roles), npi=self.npi)


class Conflicts(Value):
    """Whom a reviewer must not review for: partners, providers (NPI) and organizations (system|value)."""

    partners: list[str] = []
    provider_npis: list[str] = []
    organizations: list[str] = []


class Reviewer(Value):
    """A reviewer's profile, as supervisors keep it."""

    id: str
    roles: list[Role] = []
    npi: str | None = None
    specialty: str | None = None
    conflicts: Conflicts = Conflicts()


class AddedService(Value):
    """A service line the reviewer authorizes beside (or instead of) the one asked for: PAS addItem."""

    service: Code
    modifiers: list[str] = []
    quantity: float | None = None
    period: Period | None = None


class Determination(Value):
    decision: Decision
    reason_code: str | None = None  # X12 HCR03 (code list 886)
    reason_text: str | None = None
    decided_at: datetime
    reviewer: Actor | None = None
    authorization_number: str | None = None  # per item, when anything is granted
    # What a partial or modified decision authorized instead of what was asked.
    authorized_quantity: float | None = None
    authorized_period: Period | None = None
    authorized_service: Code | None = None
    added_services: list[AddedService] = []


class ItemError(Value):
    """Why an item of a request cannot be processed (PAS ClaimResponse.error; X12 AAA)."""

    code: str  # X12 901 reject reason
    followup: str  # X12 889 follow-up action
    element: str  # the X12 element in error (loop-segment+element)
    path: str  # FHIRPath of the element in the request as received


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
    previous_authorization: str | None = None  # PAS item authorizationNumber: an earlier authorization it continues
    error: ItemError | None = None  # an item that cannot be processed: never reviewed, answered with ClaimResponse.error
    determination: Determination | None = None


class Event(Value):
    """One immutable history entry: a transition (from_status -> to_status, possibly the same) or a
    change within a state (an extension, a priority change)."""

    at: datetime
    type: str
    actor: Actor | None = None
    from_status: Status | None = None
    to_status: Status | None = None
    reason: str | None = None
    detail: dict[str, Any] = {}


class RequestedInfo(Value):
    code: Code | None = None  # LOINC where given
    text: str
    item_sequence: int | None = None  # the item it is wanted for; None: every item under review


class InformationRequest(Value):
    id: str
    items: list[RequestedInfo]
    due_by: date
    requested_at: datetime
    requested_by: Actor
    answered_at: datetime | None = None


class Document(Value):
    """Clinical information received for a case: archived bytes (key + SHA-256), or a URL the sender gave."""

    title: str | None = None
    content_type: str
    key: str | None = None
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    received_at: datetime
    via: str  # "submission", "claim-update" or "reviewer-api"


class ClockExtension(Value):
    days: int
    reason: str
    at: datetime
    by: Actor
    previous_due_at: datetime


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
    claim_url: str | None = None  # the Claim entry's fullUrl, where the sender gave an http(s) one
    # Request facts a PAS response echoes: TransmissionIdentifiers (its sub-extensions by url), the
    # Claim identifiers' subDepartment/jurisdiction extensions (by identifier value), admission/discharge dates
    transmission: dict[str, str] = {}
    identifier_extensions: dict[str, list[dict[str, Any]]] = {}
    admission: Period | None = None
    discharge: str | None = None
    use: str = "preauthorization"
    claim_type: Code | None = None
    response_shape: str = "claimresponse"  # or "pas-bundle"
    member: Member
    patient_ref: str | None = None
    insurer_ref: str | None = None
    providers: list[Provider] = []
    diagnoses: list[Code] = []
    items: list[Item] = []  # none only on a cancel, which makes no case
    line_of_business: str | None = None  # where the message names one unambiguously; else the partner's
    # Resources the PAS response Bundle must carry (Patient, insurer, requestor), kept as sent.
    parties: list[dict[str, Any]] = []
    # patient or insurer named by identifier rather than by reference: the Reference as sent
    logical_refs: dict[str, dict[str, Any]] = {}

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
    status: Status = Status.RECEIVED
    received_at: datetime
    due_at: datetime
    version: int = 1
    original_case_id: str | None = None
    # The earlier case whose transaction identifier (Bundle.identifier) this case's request reused for other content
    transaction_id_reused_from: str | None = None
    preauth_ref: str | None = None
    preauth_period: Period | None = None
    decided_at: datetime | None = None
    raw: RawPayload | None = None
    # Review
    line_of_business: str = "medicare-advantage"
    pre_service: bool = True  # decides the clock row: before the service, or about payment for it
    appealed_kind: Kind | None = None  # an appeal's first case's kind (prior-auth, claim...), for the CMS report
    assignee: str | None = None
    information_requests: list[InformationRequest] = []
    documents: list[Document] = []
    extensions: list[ClockExtension] = []
    reopened: int = 0

    @field_validator("line_of_business", mode="before")
    @classmethod
    def _default_line(cls, value: str | None) -> str:
        return value or "medicare-advantage"  # a draft that named none: the partner's, set by submit

    @property
    def lookup_keys(self) -> list[str]:
        """As the draft's, plus the key under which a follow-up (appeal, renewal) is found from its original."""
        return super().lookup_keys + ([f"original:{self.original_case_id}"] if self.original_case_id else [])

    @property
    def active_items(self) -> list[Item]:
        """The items under review: neither cancelled nor in error."""
        return [i for i in self.items if not i.cancelled and i.error is None]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def open_information_request(self) -> InformationRequest | None:
        return next((r for r in self.information_requests if r.answered_at is None), None)


class Door(StrEnum):
    """Where a message came in."""
    FHIR = "fhir"
    HL7_HTTP = "hl7-http"
    MLLP = "mllp"
    BATCH = "batch"


class InboundMessage(Value):
    """One entry of the inbound message log (the operations page): who sent what through which door,
    and what it was answered. Ids and codes only, never content: no PHI."""

    at: datetime
    partner: str | None = None  # None when the sender could not be told (an unreadable message)
    door: Door
    type: str  # "Claim/$submit", "RQA^I08"...
    control_id: str | None = None  # Bundle.identifier value, MSH-10
    outcome: str  # HTTP status ("200", "422") or acknowledgment code (AA, AE, AR, CA, CE, CR)
    case_id: str | None = None

    @field_validator("control_id")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        return value[:64] if value else value


class Intent(StrEnum):
    NEW = "new"
    UPDATE = "update"  # changes an open case; of a decided denial it is an appeal, of an approval a new request
    RESUBMIT = "resubmit"  # HL7 RQA^I10, PAS revision (X12 1322 "S"): changes an open case; a closed one gets a new case
    FOLLOW_UP = "follow-up"  # X12 1322 "4" extension, "R" renewal: a new request continuing an earlier one
    CANCEL = "cancel"


class Attachment(Value):
    """Clinical information carried in a message (PAS supportingInfo), before it is archived."""

    content_type: str
    data: bytes | None = None
    url: str | None = None
    title: str | None = None


class Submission(BaseModel):
    """One inbound message, mapped: the case it describes plus how it relates to earlier ones."""

    key: Identifier  # the sender's idempotency key: Bundle.identifier, Claim.identifier, MSH-10
    key_expression: str  # where the key sits on the wire, for error messages
    sha256: str  # of the content, to tell a replay from a reuse of the key
    unique_key: bool = False  # the wire requires keys unique (HL7 MSH-10): a reuse is refused, whatever the policy
    reuses: str | None = None  # the case that first used this key, when this content reuses it (services.submit)
    intent: Intent = Intent.NEW
    related: list[str] = []  # lookup keys of the earlier claim this one refers to
    related_expression: str | None = None
    appeal: bool = False  # explicitly flagged as an appeal (PAS certificationType 1/2)
    attachments: list[Attachment] = []
    draft: CaseDraft

    def reusing(self, case_id: str) -> Submission:
        """This message as a new transaction under a key reused from case `case_id`: its own key is
        the sender's plus the content hash, so that a replay of this content is still recognised."""
        key = self.key.model_copy(update={"value": f"{self.key.value}#sha256:{self.sha256}"})
        return self.model_copy(update={"key": key, "reuses": case_id})
