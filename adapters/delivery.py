"""Sends a case, as it now is, to one of its partner's targets, and says what the target answered.

| target  | what is sent                                              | delivered when               |
|---------|-----------------------------------------------------------|------------------------------|
| `fhir`  | PUT {base_url}/ClaimResponse/{case id}, the PAS ClaimResponse | 200 or 201               |
| `hl7v2` | the application response (RPA, RRI, EHC^E24/E10) to the    | the engine's ACK is AA (CA) |
|         | message the case last came in with, over MLLP or HTTP      |                              |
| `subscription:<id>:<n>` | POST to the subscription's endpoint: a history Bundle, event n, | 2xx          |
|         | then the PAS response Bundle, or (id-only) the ClaimResponse's URL (fhir_mappings/subscription.py) | |

Every failure is an Answer (review/delivery.py judges it), never an exception: a target that is
down must not stop the worker. Nothing here logs or returns a body.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable

from adapters.hl7v2 import wire
from adapters.partners import FhirTarget, Hl7Target, PartnerRegistry
from review.delivery import OK_2XX, Answer, Verdict, http_answer
from review.model import Case
from review.outbox import FHIR, HL7V2, SUBSCRIPTION, OutboxRecord, notification_of
from review.services import Archive

HL7_CONTENT_TYPE = "x-application/hl7-v2+er7"
DELIVERED_ACKS, REFUSED_ACKS = frozenset({"AA", "CA"}), frozenset({"AE", "AR", "CE", "CR"})


def response_control_id(record: OutboxRecord) -> str:
    """The same record always goes out under the same MSH-10, so an engine can spot a repeat."""
    return "CB" + hashlib.sha256(f"{record.case_id}#{record.key}".encode()).hexdigest()[:16].upper()


class Senders:
    def __init__(self, partners: Callable[[], PartnerRegistry], archive: Archive, subscriptions: Any = None,
                 timeout: float = 10.0):
        self.partners = partners
        self.archive = archive
        self.subscriptions = subscriptions
        self.timeout = timeout

    def __call__(self, case: Case, record: OutboxRecord) -> Answer:
        if record.target.startswith(SUBSCRIPTION):
            return self.notification(case, record)
        partner = self.partners().partners.get(case.partner_id)
        target = getattr(partner.delivery, record.target, None) if partner else None
        if target is None:
            return Answer(Verdict.REFUSED, error="target no longer configured")
        if record.target == FHIR:
            return self.fhir(case, target)
        if record.target == HL7V2:
            return self.hl7v2(case, record, target)
        return Answer(Verdict.REFUSED, error="unknown target")

    def notification(self, case: Case, record: OutboxRecord) -> Answer:
        from adapters.subscriptions import fhir_base_url, post_bundle
        from fhir_mappings.case_to_claimresponse import response_bundle
        from fhir_mappings.subscription import Status, notification_bundle

        subscription_id, event = notification_of(record.target)
        subscription = self.subscriptions.get(subscription_id) if self.subscriptions else None
        if subscription is None or subscription.status is not Status.ACTIVE:
            return Answer(Verdict.REFUSED, error="subscription no longer active")
        base = fhir_base_url()
        sent = post_bundle(subscription, notification_bundle(subscription, event, response_bundle(case, base), base))
        return http_answer(sent.status, sent.latency_ms, sent.retry_after, sent.error, ok=OK_2XX)

    def fhir(self, case: Case, target: FhirTarget) -> Answer:
        from adapters.outbound import endpoint_for
        from fhir_mappings.case_to_claimresponse import claim_response

        body = json.dumps(claim_response(case), separators=(",", ":")).encode()
        sent = endpoint_for(target).put(f"ClaimResponse/{case.id}", body)
        return http_answer(sent.status, sent.latency_ms, sent.retry_after, sent.error)

    def hl7v2(self, case: Case, record: OutboxRecord, target: Hl7Target) -> Answer:
        from datetime import datetime, timezone

        from adapters.hl7v2.responses import application_response, read_acknowledgment

        if case.raw is None:
            return Answer(Verdict.REFUSED, error="no inbound message to answer")
        original = wire.split(self.archive.get(case.raw.key)).messages[0]
        text = application_response(original, case, datetime.now(timezone.utc), response_control_id(record))
        message = text.encode(wire.codec_of(original) or "utf-8", errors="replace")
        started = time.perf_counter()
        if target.mllp:
            answered, status, error = self._mllp(target, message)
        else:
            answered, status, error = self._http(target, message)
        latency = (time.perf_counter() - started) * 1000
        if answered is None:
            return http_answer(status, latency, error=error)  # no ACK: the transport's own verdict
        ack = read_acknowledgment(wire.decode(answered))
        if ack.code in DELIVERED_ACKS:
            return Answer(Verdict.OK, ack.code, latency)
        if ack.code in REFUSED_ACKS:
            return Answer(Verdict.REFUSED, ack.code, latency, error=ack.error)
        return Answer(Verdict.RETRY, None, latency, error="no ACK in the answer")

    def _mllp(self, target: Hl7Target, message: bytes) -> tuple[bytes | None, int | None, str | None]:
        from adapters.hl7v2.mllp import exchange

        host, _, port = target.mllp.rpartition(":")
        try:
            return exchange(host, int(port), message, tls=target.tls, timeout=self.timeout), None, "no answer"
        except OSError as err:
            return None, None, type(err).__name__

    def _http(self, target: Hl7Target, message: bytes) -> tuple[bytes | None, int | None, str | None]:
        from adapters.outbound import post

        sent = post(target.http, message, {"Content-Type": HL7_CONTENT_TYPE}, timeout=self.timeout)
        if sent.status == 200:
            return sent.body, 200, None
        return None, sent.status, sent.error
