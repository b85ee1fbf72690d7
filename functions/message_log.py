"""The inbound message log, written at the doors. An accepted message's entry rides in its case's
own write (review.services.submit), so a submission stays one write; a refused message changes no
case, and its entry is written on its own, best effort: a log that cannot be written never changes
the answer the sender gets."""
from __future__ import annotations

from functions.bootstrap import services
from functions.observability import logger
from review.model import Door, InboundMessage


def entry(door: Door, type_: str, partner: str | None, control_id: str | None, outcome: str) -> InboundMessage:
    return InboundMessage(at=services().clock(), partner=partner, door=door, type=type_,
                          control_id=control_id or None, outcome=outcome)


def refused(door: Door, type_: str, partner: str | None, control_id: str | None, outcome: str) -> None:
    try:
        services().store.record_message(entry(door, type_, partner, control_id, outcome))
    except Exception as err:
        logger.warning("message log entry not written", extra={"error_type": type(err).__name__, "outcome": outcome})
