"""HL7 v2 intake: a message (or batch) in, its acknowledgments out.

The one ingest path behind all three transports: the HTTP function, the MLLP listener (local stack
and the Fargate front service) and the batch-file function. A message is acknowledged AA/CA only
after its case is durably written; what cannot be written gets AE/CE and is not taken in.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from functions.observability import logger

from adapters.hl7v2 import ack, wire
from adapters.hl7v2.ack import Error, Header
from adapters.hl7v2.message import V2Message
from fhir_mappings.claim_to_case import submission_from_fhir
from fhir_mappings.validation import StructureError
from fhir_mappings.hl7v2_to_fhir import MESSAGES, VERSIONS, Event, request_bundle
from functions.bootstrap import services
from review import services as cases
from review.errors import Conflict, DomainError, KeyReused, NoItems, StaleVersion, UnknownRelated
from review.model import Intent


CONTENT_TYPE = wire.CONTENT_TYPE
KNOWN_TYPES = frozenset(t for t, _ in MESSAGES)


@dataclass(frozen=True)
class Refusal(Exception):
    """An outcome other than acceptance, with the ERR it carries."""

    code: str  # AR (rejected: not ours to process) or AE (processing failed)
    error: Error


def handle_message(raw: bytes, token_partner: str | None = None, envelope: bool = False) -> list[bytes]:
    """Raw bytes of one message or a batch -> the responses to send back, in order (none for an ACK).
    `token_partner` is the partner a bearer token proved (HTTP); other transports go by MSH-4.
    A batch is answered in one batch envelope; `envelope` asks for one whatever came (ACK files)."""
    batch = wire.split(raw)
    if not batch.messages:
        return [ack.generic_reject().encode()]
    whole = len(batch.messages) == 1 and not batch.enveloped  # archive what came, unchanged
    answers = [a for text in batch.messages
               for a in answer(text, raw if whole else text.encode(), token_partner)]
    if batch.enveloped or envelope:
        return [ack.batch_envelope(batch.header, answers).encode()]
    return [a.encode() for a in answers]


def answer(text: str, payload: bytes, token_partner: str | None) -> list[str]:
    try:
        header = Header.of(text)
        if text.startswith("MSH") and header.message_type == "ACK":
            return []  # an ACK is never acknowledged, not even one that cannot be read
        msg = V2Message(text)
    except Exception:  # Unparseable, or anything else hostile bytes provoke
        return [ack.generic_reject()]
    event, bundle = None, {}
    try:
        partner_id, event = admit(msg, header, token_partner)
        bundle = request_bundle(msg, event)
        # Checked as the FHIR door checks what it receives: what HL7 sends must make valid FHIR.
        sub = submission_from_fhir(bundle, source="hl7v2", appeal=event.appeal, sha256=content_hash(text),
                                   intent=Intent.RESUBMIT if event.resubmit else None)
        svc = services()
        case = cases.submit(svc.store, svc.archive, svc.clock, partner_id, svc.partners().policy(partner_id), sub,
                            payload, CONTENT_TYPE)
        logger.info("hl7 message accepted", extra={"case_id": case.id, "event": f"{header.message_type}^{header.trigger}"})
        return ack.acknowledgments(header, "AA")
    except Refusal as refusal:
        return ack.acknowledgments(header, refusal.code, refusal.error)
    except DomainError as err:
        refusal = refusal_for(err, event, bundle)
        return ack.acknowledgments(header, refusal.code, refusal.error)
    except Exception as err:  # the store or archive failed: nothing was taken in
        logger.error("hl7 message not stored", extra={"error_type": type(err).__name__})
        return ack.acknowledgments(header, "AE", Error(ack.APPLICATION_INTERNAL_ERROR))


def content_hash(text: str) -> str:
    """What tells a resend from a reuse of MSH-10: the message without MSH-7, which a resending
    engine may stamp anew."""
    msh, _, rest = text.partition("\r")
    fields = msh.split(msh[3])
    if len(fields) > 6:
        fields[6] = ""
    return hashlib.sha256((msh[3].join(fields) + "\r" + rest).encode()).hexdigest()


SEGMENT_OF = {"Patient": "PID", "Coverage": "IN1", "Organization": "IN1", "Practitioner": "PRD"}


def segment_of(bundle: dict, expression: str | None) -> str:
    """The segment an invalid FHIR element came from (as well as a FHIR path allows)."""
    try:
        index = int((expression or "").split("entry[", 1)[1].split("]", 1)[0])
        rtype = bundle["entry"][index]["resource"]["resourceType"]
    except (IndexError, ValueError, KeyError):
        return "MSH"
    return SEGMENT_OF.get(rtype, "PR1" if "item" in (expression or "") else "MSH")


def admit(msg: V2Message, header: Header, token_partner: str | None) -> tuple[str, Event]:
    """Is this message ours to process, and from which partner? Refuses with AR otherwise."""
    if header.message_type not in KNOWN_TYPES:
        raise Refusal("AR", Error(ack.UNSUPPORTED_MESSAGE_TYPE, "MSH", 9))
    event = MESSAGES.get((header.message_type, header.trigger))
    if event is None:
        raise Refusal("AR", Error(ack.UNSUPPORTED_EVENT_CODE, "MSH", 9))
    if header.version not in VERSIONS or VERSIONS.index(header.version) < VERSIONS.index(event.min_version):
        raise Refusal("AR", Error(ack.UNSUPPORTED_VERSION_ID, "MSH", 12))
    if header.processing_id[:1] not in ("P", "T", "D"):
        raise Refusal("AR", Error(ack.UNSUPPORTED_PROCESSING_ID, "MSH", 11))
    registry = services().partners()
    owner = registry.by_facility(header.facility)
    partner = registry.partners.get(token_partner) if token_partner else owner
    if partner is None or owner != partner:  # over HTTP, MSH-4 must be the token's partner's own
        raise Refusal("AR", Error(ack.UNKNOWN_KEY_IDENTIFIER, "MSH", 4))
    if not event.related and msg.first("PID") is None:
        raise Refusal("AE", Error(ack.SEGMENT_SEQUENCE_ERROR, "PID"))
    return partner.id, event


def refusal_for(err: DomainError, event: Event | None, bundle: dict) -> Refusal:
    """Domain errors as acknowledgment codes: the one place they are decided for HL7."""
    if isinstance(err, StructureError):  # the message made FHIR the FHIR door would refuse
        return Refusal("AE", Error(ack.DATA_TYPE_ERROR, segment_of(bundle, err.expression)))
    if isinstance(err, StaleVersion):
        return Refusal("AE", Error(ack.APPLICATION_RECORD_LOCKED))  # a concurrent change: a resend will do
    if isinstance(err, KeyReused):
        return Refusal("AR", Error(ack.DUPLICATE_KEY_IDENTIFIER, "MSH", 10))  # MSH-10 reused for other content
    if isinstance(err, Conflict):
        return Refusal("AR", Error(ack.APPLICATION_RECORD_LOCKED))  # the case is closed to this change
    if isinstance(err, UnknownRelated):
        segment, field = event.key if event else ("MSH", None)
        return Refusal("AE", Error(ack.UNKNOWN_KEY_IDENTIFIER, segment, field))
    if isinstance(err, NoItems):
        return Refusal("AE", Error(ack.SEGMENT_SEQUENCE_ERROR, "PR1"))  # no service line
    return Refusal("AE", Error(ack.REQUIRED_FIELD_MISSING))
