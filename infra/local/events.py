"""What AWS runs between a table and a function, run here over the embedded endpoint: an
EventBridge Pipe (a table's stream, filtered, into a queue) and Lambda's SQS event source mapping
(a queue polled, batches handed to a function, the messages it did not report failed deleted).

Both read their settings from template.yaml (topology.Pipe, topology.QueueConsumer) and run on
threads of their own, outside the API handlers' turns: neither uses an API resolver.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable

from .topology import Pipe, QueueConsumer

logger = logging.getLogger("claimbridge.local")
PLACEHOLDER = re.compile(r"<\$\.([\w.]+)>")
# Seconds an idle Pipe or queue consumer waits before it looks again. Every look is a request to the
# one embedded endpoint the handlers also wait on: at 0.05 s the two idle loops cost the served
# stack 40% of its sustained $submit rate (bench figure 6: 119 -> 67 req/s).
IDLE = 0.2


def render(template: str | None, record: dict) -> str:
    """A Pipe's InputTemplate filled from the record (placeholders inside quotes take the string's
    JSON-escaped content, as EventBridge fills them); no template sends the record as it is."""
    if template is None:
        return json.dumps(record, default=str)

    def value(match: re.Match) -> str:
        found: Any = record
        for part in match.group(1).split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return json.dumps(found)[1:-1] if isinstance(found, str) else json.dumps(found)

    return PLACEHOLDER.sub(value, template)


class PipeRunner:
    """Reads a table's stream from where it stands at start (what was owed before is re-owed by
    the stack's recovery), and sends the records matching a filter pattern to the target queue."""

    def __init__(self, pipe: Pipe, dynamodb: Any, streams: Any, sqs: Any, table: str, queue_url: str,
                 idle: float = IDLE):
        from moto.events.models import EventPattern

        self.pipe, self.sqs, self.streams, self.queue_url, self.idle = pipe, sqs, streams, queue_url, idle
        self.patterns = [EventPattern.load(p) for p in pipe.patterns]
        arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                                   ShardIteratorType="LATEST")["ShardIterator"]

    def matches(self, record: dict) -> bool:
        return not self.patterns or any(p.matches_event(record) for p in self.patterns)

    def step(self) -> int:
        """One read of the stream; returns how many records went to the queue."""
        answer = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
        self.iterator = answer["NextShardIterator"]
        records = json.loads(json.dumps(answer["Records"], default=str))  # as the Pipe sees them: JSON
        bodies = [render(self.pipe.input_template, r) for r in records if self.matches(r)]
        for first in range(0, len(bodies), 10):
            self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[first:first + 10])])
        return len(bodies)

    def run(self, stopping: threading.Event) -> None:
        _loop(f"pipe {self.pipe.name}", self.step, stopping, self.idle)


class QueuePoller:
    """Lambda's SQS event source mapping: a batch of messages, one invocation, and the messages
    not reported failed (all of them, if the function raised: none) deleted."""

    def __init__(self, consumer: QueueConsumer, handler: Callable, sqs: Any, queue_url: str, queue_arn: str,
                 context: Callable[[str], Any], idle: float = IDLE):
        self.consumer, self.handler, self.sqs = consumer, handler, sqs
        self.queue_url, self.queue_arn, self.context, self.idle = queue_url, queue_arn, context, idle

    def step(self) -> int:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.consumer.batch_size,
                                            WaitTimeSeconds=0, AttributeNames=["All"],
                                            MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        result = self.handler(event, self.context(self.consumer.function))
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])} \
            if self.consumer.reports_failures else set()
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        return len(messages)

    def _record(self, message: dict) -> dict:
        return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"], "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}), "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": self.queue_arn, "awsRegion": "us-east-1"}

    def run(self, stopping: threading.Event) -> None:
        _loop(f"queue consumer {self.consumer.function}", self.step, stopping, self.idle)


def _loop(name: str, step: Callable[[], int], stopping: threading.Event, idle: float) -> None:
    """Steps while there is work, waits `idle` seconds when there is none; an error is logged by
    type and the step tried again (the stream position and the messages are kept)."""
    while not stopping.is_set():
        try:
            busy = step()
        except Exception as err:
            logger.error("%s failed: %s", name, type(err).__name__)
            busy = 0
            stopping.wait(1.0)
        if not busy:
            stopping.wait(idle)
