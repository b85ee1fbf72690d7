"""DeliveryFunction: the outbox's records and new PAS subscriptions' handshakes, fed to its queue by
the table's stream (an EventBridge Pipe; locally the stack reads the stream as the Pipe would), each
tried once per message.

Powertools Batch reports failed messages only (ReportBatchItemFailures): a retryable failure has
its message made visible again after the backoff and reported failed; a dead one is moved to the
dead-letter queue and, like a delivered one, deleted. review/delivery.py says which is which.
The messages of a batch are delivered concurrently (Powertools' async processor, each delivery on
a thread): a partner's endpoint answers in tens of milliseconds, and ten waits overlap."""
from __future__ import annotations

import asyncio

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from adapters.queue import handshake_of_message, message_ref
from functions.bootstrap import services
from functions.observability import count, entry_point, logger
from review import delivery
from review.outbox import DeliveryState

# A batch whose every message is retried later is routine (a partner down), not a crash: its
# failures are reported like any others, and no exception reaches Lambda (or the tracer's log).
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryLater(Exception):
    """Reported as a batch item failure: the message stays, visible again after its backoff."""


async def deliver_async(record: SQSRecord) -> None:
    await asyncio.to_thread(deliver, record)


def deliver(record: SQSRecord) -> None:
    svc = services()
    if (subscription_id := handshake_of_message(record.body)) is not None:
        return handshake(record, subscription_id)
    try:
        case_id, key = message_ref(record.body)
    except ValueError:
        logger.error("delivery message unreadable: dead-lettered", extra={"message_id": record.message_id})
        svc.queue.dead_letter(record.body)
        return
    outcome = delivery.deliver(svc.store, svc.send, lambda p: svc.partners().policy(p), case_id, key,
                               svc.clock(), svc.backoff, svc.subscriptions)
    if outcome is None:
        return
    _attempted(record, outcome, "delivery", case_id=case_id)
    if outcome.state is DeliveryState.DEAD:
        svc.queue.dead_letter(record.body)


def handshake(record: SQSRecord, subscription_id: str) -> None:
    """A new subscription's handshake: retried as a delivery is; one that will not be tried again
    leaves the subscription in error, and its message goes (nothing to redrive: the client subscribes again)."""
    from adapters.subscriptions import deliver_handshake  # httpx: paid for by the messages that send

    svc = services()
    outcome = deliver_handshake(svc.subscriptions, subscription_id, lambda p: svc.partners().policy(p).max_attempts,
                                svc.clock(), svc.backoff)
    if outcome is None:
        return
    _attempted(record, outcome, "handshake", subscription_id=subscription_id)


def _attempted(record: SQSRecord, outcome, what: str, **ids: str) -> None:
    """An attempt logged (ids and outcome, no content) and counted; one to retry goes back on the queue."""
    attempt = outcome.attempt
    logger.info(f"{what} attempt", extra={**ids, "target": attempt.target, "attempt": attempt.n, "code": attempt.code,
                                          "latency_ms": attempt.latency_ms, "state": outcome.state.value,
                                          "error": attempt.error})
    count(f"Delivery{outcome.state.value.capitalize()}", target=attempt.target)
    if outcome.state is DeliveryState.RETRYING:
        services().queue.retry_later(record.receipt_handle, outcome.delay)
        raise RetryLater(next(iter(ids.values())))


@entry_point
def lambda_handler(event, context) -> dict:
    return async_process_partial_response(event=event, record_handler=deliver_async, processor=processor,
                                          context=context)
