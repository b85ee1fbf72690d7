"""Reviewer API function: read a case, record a determination, list the open worklist."""
from __future__ import annotations

import json
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions import http
from functions.bootstrap import services
from review import services as cases
from review.model import Case, Decision, Period

app = http.create_app()


class ItemDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    itemSequence: int
    decision: Decision
    reasonCode: str | None = Field(default=None, max_length=30)
    reasonText: str | None = Field(default=None, max_length=2000)


class AuthPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: date
    end: date

    @model_validator(mode="after")
    def ordered(self) -> "AuthPeriod":
        if self.end < self.start:
            raise ValueError("end before start")
        return self


class DeterminationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    decisions: list[ItemDecision] = Field(min_length=1)
    preAuthPeriod: AuthPeriod | None = None


def case_json(case: Case, **extra) -> Response:
    body = {**case.model_dump(mode="json", exclude={"parties"}), **extra}
    return Response(200, "application/json", json.dumps(body, separators=(",", ":")))


@app.get("/cases/<case_id>")
def get_case(case_id: str):
    case, history = cases.case_with_history(services().store, http.partner_id(app), case_id)
    return case_json(case, history=[e.model_dump(mode="json") for e in history])


@app.post("/cases/<case_id>/determination")
def determine(case_id: str, request: Annotated[DeterminationRequest, Body()]):
    svc = services()
    decisions = [{"item_sequence": d.itemSequence, "decision": d.decision, "reason_code": d.reasonCode,
                  "reason_text": d.reasonText} for d in request.decisions]
    period = request.preAuthPeriod
    case = cases.decide(svc.store, svc.clock, http.partner_id(app), case_id, request.version, decisions,
                        Period(start=period.start.isoformat(), end=period.end.isoformat()) if period else None)
    http.logger.info("determination recorded", extra={"case_id": case.id, "status": case.status.value})
    return case_json(case)


@app.get("/cases")
def worklist():
    """Open cases, soonest due first (the sparse Worklist index holds only open cases)."""
    found = cases.worklist(services().store, http.partner_id(app))
    body = {"cases": [{"id": c.id, "kind": c.kind, "priority": c.priority, "status": c.status,
                       "due_at": c.due_at.isoformat(), "version": c.version} for c in found]}
    return Response(200, "application/json", json.dumps(body))


def lambda_handler(event, context):
    return http.resolve(app, event, context)
