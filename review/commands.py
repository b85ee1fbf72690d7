"""What reviewers ask of a case, as typed values. The review API takes these as request bodies (so
the OpenAPI document describes them) and review/services.py carries them out; the caller and the
case id come from the token and the path, never from the body.

Every command names the case `version` it was read at: a stale one is refused (optimistic locking).
"""
from __future__ import annotations

import base64
import binascii
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt, field_validator, model_validator

from .model import Priority, Value

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Version = Annotated[StrictInt, Field(ge=1, description="the case version this command was read at")]


class Body(Value):
    """A request body: frozen, and an unknown field is refused."""


class Command(Body):
    version: Version


class Assign(Command):
    """Supervisors assign anyone; a reviewer may assign only themself."""

    reviewer: Annotated[str, Field(min_length=1, max_length=128, description="the reviewer's user id (sub)")]


class Start(Command):
    """assigned -> in-review, by the assignee."""


class CodeIn(Body):
    system: Annotated[str, Field(min_length=1, max_length=256)] = "http://loinc.org"
    code: Annotated[str, Field(min_length=1, max_length=64)]
    display: Annotated[str, Field(max_length=256)] | None = None


class RequestedItem(Body):
    code: CodeIn | None = Field(default=None, description="what is wanted, as a LOINC attachment code where there is one")
    text: Text
    item_sequence: StrictInt | None = Field(default=None, description="the item it is wanted for; none: every item")


class RequestInformation(Command):
    """in-review -> information-requested; the ClaimResponse pends the undecided items (A4) and
    carries a PAS CommunicationRequest naming what is wanted."""

    items: list[RequestedItem] = Field(min_length=1, max_length=20)
    due_by: date


class DocumentIn(Body):
    content_type: Annotated[str, Field(min_length=3, max_length=128, pattern=r"^[\w.+-]+/[\w.+-]+$")]
    data: str | None = Field(default=None, description="the document, base64")
    url: Annotated[str, Field(max_length=2048, pattern=r"^https://")] | None = None
    title: Annotated[str, Field(max_length=256)] | None = None

    @model_validator(mode="after")
    def one_source(self) -> DocumentIn:
        if (self.data is None) == (self.url is None):
            raise ValueError("give either data or url")
        return self

    @field_validator("data")
    @classmethod
    def base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("data must be base64") from None
        return value

    @property
    def content(self) -> bytes | None:
        return base64.b64decode(self.data) if self.data is not None else None


class ProvideInformation(Command):
    """Documents that arrived by other means (fax, portal); an open information request is answered."""

    documents: list[DocumentIn] = Field(min_length=1, max_length=20)


class AuthorizedPeriod(Body):
    start: date
    end: date

    @model_validator(mode="after")
    def ordered(self) -> AuthorizedPeriod:
        if self.end < self.start:
            raise ValueError("end before start")
        return self


class ReviewDecision(StrEnum):
    """What a reviewer decides for an item (a pend is an information request, not a decision)."""

    APPROVED = "approved"
    DENIED = "denied"
    PARTIAL = "partial"
    MODIFIED = "modified"


class AddedServiceIn(Body):
    code: CodeIn
    modifiers: list[Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[A-Za-z0-9]+$")]] = Field(
        default=[], max_length=4)
    quantity: Annotated[float, Field(gt=0, le=1e9)] | None = None
    period: AuthorizedPeriod | None = None


class ItemDecision(Body):
    item_sequence: StrictInt
    decision: ReviewDecision
    reason_code: Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9]+$",
                                      description="X12 HCR03 (code list 886); needed for denied, partial, modified")] | None = None
    reason_text: Text | None = None
    authorized_quantity: Annotated[float, Field(gt=0, le=1e9)] | None = None
    authorized_period: AuthorizedPeriod | None = None
    authorized_code: CodeIn | None = Field(default=None, description="modified: the service authorized instead")
    added_services: list[AddedServiceIn] = Field(default=[], max_length=10, description=(
        "granted decisions: service lines authorized beside the one asked for (PAS addItem)"))


class Decide(Command):
    """in-review -> decided. Every active item needs a decision; adverse ones need a physician reviewer."""

    decisions: list[ItemDecision] = Field(min_length=1, max_length=999)


class Extend(Command):
    """Extends the decision timeframe where the clock row allows it."""

    days: Annotated[StrictInt, Field(ge=1, le=60)]
    reason: Reason


class ChangePriority(Command):
    """Recomputes due_at from receipt; lowering the priority needs a reason."""

    priority: Priority
    reason: Reason | None = None


class Reopen(Command):
    """decided, delivered or closed -> in-review; supervisors only."""

    reason: Reason


class Close(Command):
    """delivered -> closed: nothing more is owed or expected; supervisors only."""

    reason: Reason | None = None


class Withdraw(Command):
    """The requester withdrew the request: any open state -> withdrawn."""

    reason: Reason
