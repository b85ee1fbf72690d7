"""Deliveries, for supervisors: what the outbox still owes (or, for one case, everything it owed),
and the redrive of dead-lettered deliveries once their receiver is fixed."""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from adapters.queue import message_ref
from functions import http
from functions.bootstrap import services
from functions.observability import logger
from review import services as review
from review.outbox import DeliveryState, OutboxRecord

router = Router()


class Deliveries(BaseModel):
    deliveries: list[OutboxRecord]


class RedriveRequest(BaseModel):
    case_id: str | None = Field(None, max_length=64, description="one case's dead deliveries; all of them if absent")


@router.get("/deliveries", summary="Deliveries not yet delivered (or one case's, every state); supervisors")
def deliveries(
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[list[DeliveryState] | None, Query()] = None,
) -> Deliveries:
    found = review.deliveries(services().review, http.caller(router), case_id, tuple(state) if state else None)
    return Deliveries(deliveries=found)


@router.post("/deliveries/redrive", summary="Dead deliveries owed again (of one case, or all); supervisors")
def redrive(request: RedriveRequest) -> Deliveries:
    svc = services()
    moved = review.redrive_deliveries(svc.review, http.caller(router), request.case_id)
    logger.info("deliveries redriven", extra={"case_id": request.case_id, "count": len(moved)})
    if moved:
        _forget_dead_letters(moved)
    return Deliveries(deliveries=moved)


def _forget_dead_letters(moved: list[OutboxRecord]) -> None:
    """The redriven records' messages leave the dead-letter queue (best effort: the table is what
    is owed; a copy moved back later finds its record settled or owed, and is tried once more)."""
    refs = {(r.case_id, r.key) for r in moved}

    def redriven(body: str) -> bool:
        try:
            return message_ref(body) in refs
        except ValueError:
            return False

    try:
        services().queue.forget_dead(redriven)
    except Exception as err:
        logger.warning("dead letters not swept", extra={"error_type": type(err).__name__})
