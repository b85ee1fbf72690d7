"""The inbound message log, for supervisors: every message the FHIR, HL7 HTTP, MLLP and batch doors
took or refused, newest first (ids and codes only; DynamoDB's TTL keeps 30 days)."""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from functions import http
from functions.bootstrap import services
from review import services as review
from review.model import InboundMessage

router = Router()


class MessageLog(BaseModel):
    messages: list[InboundMessage]
    next: str | None = None


@router.get("/messages", summary="The inbound message log, newest first (supervisors)")
def messages(limit: Annotated[int, Query(ge=1, le=200)] = 50,
             cursor: Annotated[str | None, Query(max_length=256)] = None) -> MessageLog:
    found, following = review.message_log(services().review, http.caller(router), limit, cursor)
    return MessageLog(messages=found, next=following)
