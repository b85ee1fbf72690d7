"""The delivery queue (SQS): a failed delivery's message made visible again after its backoff, a
dead one moved to the dead-letter queue. Messages carry only an outbox record's keys."""
from __future__ import annotations

import json
from typing import Any

from review.delivery import MAX_DELAY

from .dynamo_keys import handshake_ref, outbox_ref


def handshake_of_message(body: str) -> str | None:
    """The subscription whose handshake a delivery message names (its record's PK and SK), or None
    when it names something else (an outbox record, or nothing)."""
    try:
        message = json.loads(body)
        return handshake_ref(message["PK"], message["SK"])
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def message_ref(body: str) -> tuple[str, str]:
    """(case id, record key) a delivery message names (the Pipe's input template: the record's
    PK and SK). ValueError when it names none."""
    try:
        message = json.loads(body)
        return outbox_ref(message["PK"], message["SK"])
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError("not a delivery message") from err


class DeliveryQueue:
    def __init__(self, client: Any, queue_url: str, dead_letter_url: str):
        self.client = client
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """The message comes back after `seconds` (the queue's visibility timeout is only the cap)."""
        self.client.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle,
                                              VisibilityTimeout=min(seconds, MAX_DELAY))

    def dead_letter(self, body: str) -> None:
        self.client.send_message(QueueUrl=self.dead_letter_url, MessageBody=body)

    def forget_dead(self, is_settled: Any, max_messages: int = 100) -> int:
        """Deletes dead-letter messages whose record `is_settled(body)` says is owed again
        (redriven through the table): they would only deliver it twice. Best effort; returns how many."""
        removed = 0
        for _ in range(max_messages // 10):
            got = self.client.receive_message(QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10,
                                              VisibilityTimeout=5, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            for message in got:
                if is_settled(message["Body"]):
                    self.client.delete_message(QueueUrl=self.dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
                    removed += 1
                else:
                    self.client.change_message_visibility(QueueUrl=self.dead_letter_url,
                                                          ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return removed
