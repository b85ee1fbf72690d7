"""Cases: the worklist, a case with its links and history, its audit log, and the lifecycle commands."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, Field

from fhir_mappings.case_to_claimresponse import claim_response
from fhir_mappings.codes import X12_REVIEW_REASON
from functions import http
from functions.bootstrap import due_soon_hours, services
from functions.observability import count, logger
from review import commands as cmd
from review import services as review
from review.model import Case, Event, Kind, Member, Priority, Status
from review.outbox import OutboxRecord
from review.views import MAX_PAGE, AccessRecord, Page, WorklistQuery

router = Router()


@router.get("/cases", summary="The worklist: open cases, soonest due first")
def worklist(
    status: Annotated[Status | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    partner: Annotated[str | None, Query(max_length=128)] = None,
    due_before: Annotated[datetime | None, Query()] = None,
    overdue: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Page:
    svc = services()
    if due_before is not None and due_before.tzinfo is None:
        due_before = due_before.replace(tzinfo=timezone.utc)
    if overdue:
        due_before = min(filter(None, [due_before, svc.clock()]))
    query = WorklistQuery(status=status, kind=kind, priority=priority, assignee=assignee, partner=partner,
                          due_before=due_before, limit=limit, cursor=cursor)
    page = review.worklist(svc.review, http.caller(router), query)
    return page.model_copy(update={"due_soon_hours": due_soon_hours()})


class Links(BaseModel):
    original: str | None = Field(None, description="the case this one appeals or follows")
    appeals: list[str] = Field([], description="cases that appeal or follow this one")


class CaseDocument(BaseModel):
    case: dict[str, Any] = Field(description="the review case (member, providers, items with determinations...)")
    links: Links
    history: list[Event]
    deliveries: list[OutboxRecord] = Field(description="one per change and target: pending, retrying, delivered or dead")


MemberView = Annotated[Literal["masked"] | None, Query(
    description="masked: the member's name, birth date and ids erased (the console shows them on request)")]


@router.get("/cases/<case_id>", summary="A case, its links and its history (the read is logged)")
def read(case_id: str, member: MemberView = None) -> CaseDocument:
    view = review.read_case(services().review, http.caller(router), case_id)
    case = _case(view.case)
    if member == "masked":
        case = masked(case)
    return CaseDocument(case=case, links=Links(original=view.case.original_case_id, appeals=view.appeals),
                        history=view.history, deliveries=view.deliveries)


# Who the member is: erased from a masked read by Powertools Data Masking. A patient the request
# named by identifier rather than by reference is kept as sent (logical_refs): erased too.
MEMBER_PHI = ["member.family", "member.given", "member.birth_date", "member.subscriber_id",
              "member.identifiers[*].value", "member.coverage_ids[*].value",
              "logical_refs.patient.identifier.value", "logical_refs.patient.display"]


def masked(case: dict[str, Any]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.data_masking import DataMasking

    def present(path: str) -> bool:
        at: Any = case
        for step in path.replace("[*]", "").split(".")[:-1]:
            at = at.get(step) if isinstance(at, dict) else None
        last = path.rsplit(".", 1)[-1]
        return bool(at) and (any(isinstance(x, dict) and x.get(last) for x in at) if isinstance(at, list)
                             else isinstance(at, dict) and bool(at.get(last)))

    fields = [f for f in MEMBER_PHI if present(f)]
    return DataMasking().erase(case, fields=fields) if fields else case


class RevealedMember(BaseModel):
    member: Member


@router.get("/cases/<case_id>/member", summary="The case's member, unmasked (an audited read of its own)")
def member(case_id: str) -> RevealedMember:
    return RevealedMember(member=review.reveal_member(services().review, http.caller(router), case_id))


class DocumentLink(BaseModel):
    url: str = Field(description="a short-lived presigned URL (or the sender's own URL, for a document it pointed at)")
    expires_in: int | None = Field(description="seconds the URL reads the document for; None for a sender's URL")
    content_type: str
    title: str | None = None


@router.get("/cases/<case_id>/documents/<index>", summary="A link to read one of the case's documents (logged)")
def document(case_id: str, index: int) -> DocumentLink:
    found, url = review.document_link(services().review, http.caller(router), case_id, index)
    return DocumentLink(url=url, expires_in=None if found.url else review.DOCUMENT_LINK_SECONDS,
                        content_type=found.content_type, title=found.title)


@router.get("/cases/<case_id>/claimresponse", summary="The case's current ClaimResponse, as its requester reads it")
def current_claim_response(case_id: str):
    return http.fhir(200, claim_response(review.accessed(services().review, http.caller(router), case_id, "claimresponse")))


class ReasonCode(BaseModel):
    code: str
    display: str


class ReasonCodes(BaseModel):
    system: str = X12_REVIEW_REASON
    codes: list[ReasonCode]


REASON_CODES = Path(__file__).resolve().parents[2] / "review" / "reason_codes.yaml"


@cache
def _reason_codes() -> ReasonCodes:
    import yaml

    return ReasonCodes(codes=yaml.safe_load(REASON_CODES.read_text())["codes"])


@router.get("/reason-codes", summary="The X12 HCR03 reason codes (code list 886) reviewers choose from")
def reason_codes() -> ReasonCodes:
    http.caller(router)
    return _reason_codes()


class AuditLog(BaseModel):
    access: list[AccessRecord]
    changes: list[Event]


@router.get("/cases/<case_id>/audit", summary="Who read the case and what changed it (supervisors)")
def audit(case_id: str) -> AuditLog:
    access, changes = review.audit(services().review, http.caller(router), case_id)
    return AuditLog(access=access, changes=changes)


def _case(case: Case) -> dict[str, Any]:
    return case.model_dump(mode="json", exclude={"parties", "response_shape", "source"})


# The lifecycle commands: POST /cases/{case_id}/<path> with the command as its body.
COMMANDS: list[tuple[str, type[cmd.Command], str]] = [
    ("assignment", cmd.Assign, "Assign the case (supervisors: anyone; reviewers: themself)"),
    ("start", cmd.Start, "assigned -> in-review"),
    ("information-request", cmd.RequestInformation, "in-review -> information-requested"),
    ("information", cmd.ProvideInformation, "Documents received; back to in-review"),
    ("determination", cmd.Decide, "in-review -> decided"),
    ("extension", cmd.Extend, "Extend the decision timeframe where the clock row allows"),
    ("priority", cmd.ChangePriority, "Change the priority; due_at is recomputed from receipt"),
    ("reopen", cmd.Reopen, "decided, delivered or closed -> in-review (supervisors, with a reason)"),
    ("closure", cmd.Close, "delivered -> closed (supervisors)"),
    ("withdrawal", cmd.Withdraw, "The requester withdrew: -> withdrawn"),
]


def _run(case_id: str, command: cmd.Command) -> dict[str, Any]:
    case = review.execute(services().review, http.caller(router), case_id, command)
    logger.info("case changed", extra={"case_id": case.id, "command": type(command).__name__, "status": case.status.value})
    if isinstance(command, cmd.Extend):
        count("ClockExtensions", partner=case.partner_id)
    return _case(case)


def _command_route(path: str, command_type: type[cmd.Command], summary: str) -> None:
    def run(case_id: str, command: cmd.Command) -> dict[str, Any]:
        return _run(case_id, command)

    # Powertools reads the body's model from the annotations: each route names its own command.
    run.__name__ = path.replace("-", "_")
    run.__annotations__ = {"case_id": str, "command": Annotated[command_type, Body()], "return": dict[str, Any]}
    router.post(f"/cases/<case_id>/{path}", summary=summary)(run)


for _command in COMMANDS:
    _command_route(*_command)
