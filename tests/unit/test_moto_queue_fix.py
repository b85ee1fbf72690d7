"""moto fix 7 (infra/local/moto_fixes.py): ReceiveMessage checks retention without building every
queue attribute (three of which walk every message of the queue) once per message received."""
from __future__ import annotations

import time

import pytest

from infra.local import moto_fixes

moto_sqs = pytest.importorskip("moto.sqs.models")


@pytest.fixture
def backend():
    moto_fixes.apply()
    sqs = moto_sqs.SQSBackend("us-east-1", "123456789012")
    sqs.create_queue("deliveries")
    return sqs


def test_a_receive_builds_no_queue_attributes(backend, monkeypatch):
    for n in range(50):
        backend.send_message("deliveries", f"message {n}")
    built = []
    attributes = moto_sqs.Queue.attributes
    monkeypatch.setattr(moto_sqs.Queue, "attributes", property(lambda q: built.append(1) or attributes.fget(q)))

    received = backend.receive_message("deliveries", 10, 0, 30)

    assert len(received) == 10
    assert built == []  # moto alone built them 30 times for these 10 messages, each walking all 50 messages thrice


def test_retention_is_still_kept(backend):
    queue = backend.get_queue("deliveries")
    queue.message_retention_period = 60
    backend.send_message("deliveries", "kept")
    message = queue._messages[0]
    assert backend.is_message_valid_based_on_retention_period("deliveries", message)
    message.sent_timestamp = int((time.time() - 61) * 1000)
    assert not backend.is_message_valid_based_on_retention_period("deliveries", message)
