"""Read models of the review side: what the worklist, the audit log and the reports read. Kept
apart from the write repository (services.CaseRepository), as they are queried, not loaded."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .model import Actor, Kind, Priority, Status, Value

MAX_PAGE = 200


class WorklistQuery(Value):
    """Every filter the worklist offers; each combination is a Query on a key or index."""

    status: Status | None = None
    kind: Kind | None = None
    priority: Priority | None = None
    assignee: str | None = None
    partner: str | None = None
    due_before: datetime | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = None


class CaseSummary(BaseModel):
    """One worklist row: what the index holds, no PHI."""

    model_config = ConfigDict(frozen=True)

    id: str
    partner: str
    kind: Kind
    priority: Priority
    status: Status
    assignee: str | None = None
    due_at: datetime
    received_at: datetime
    version: int
    line_of_business: str | None = None


class Page(BaseModel):
    cases: list[CaseSummary]
    next: str | None = None
    due_soon_hours: float = Field(24, description="a case due within this many hours is due soon")


class AccessRecord(BaseModel):
    """One read of a case by a reviewer: the HIPAA access log. Who and when, never what was seen."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    at: datetime
    actor: Actor
    action: str = "read"
