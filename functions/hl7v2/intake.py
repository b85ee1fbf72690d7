"""HL7 v2 intake: a message (or batch) in, its acknowledgments out.

The one ingest path behind all three transports: the HTTP function, the MLLP listener (local stack
and the Fargate front service) and the batch-file function. A message is acknowledged AA/CA only
after its case is durably written; what cannot be written gets AR/CE and is not taken in.

A message whose MSH-11 is T (training) or D (debugging) goes the same way, through every check a
production (P) message meets, but against a store and archive that read as the real ones and keep
nothing: it is acknowledged as P would be, with "validated only" in its AA, and never becomes a case.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from functions import message_log
from functions.observability import logger

from adapters.hl7v2 import ack, wire
from adapters.hl7v2.ack import Error, Header
from adapters.hl7v2.message import V2Message
from adapters.hl7v2.responses import Delimiters
from fhir_mappings.claim_to_case import submission_from_fhir
from fhir_mappings.validation import StructureError
from fhir_mappings.hl7v2_to_fhir import MESSAGES, VERSIONS, Event, request_bundle
from functions.bootstrap import services
from review import services as cases
from review.errors import Conflict, DomainError, KeyReused, NoItems, StaleVersion, UnknownRelated
from review.model import Case, Door, Intent, RawPayload, Submission
from review.services import CaseRepository, DuplicateSubmission, SubmissionRecord


CONTENT_TYPE = wire.CONTENT_TYPE
KNOWN_TYPES = frozenset(t for t, _ in MESSAGES)


@dataclass(frozen=True)
class Refusal(Exception):
    """An outcome other than acceptance, with the ERR it carries."""

    code: str  # AE: the message's content is in error; AR: it cannot be processed (not ours, or a system error)
    error: Error
    commit: str | None = None  # the commit ACK (enhanced mode) when not the code's twin: a system error's AR is CE
    text: str = ""  # safe to show (no PHI, no input values): why, in words


def handle_message(raw: bytes, token_partner: str | None = None, envelope: bool = False,
                   door: Door = Door.HL7_HTTP) -> list[bytes]:
    """Raw bytes of one message or a batch -> the responses to send back, in order (none for an ACK).
    `token_partner` is the partner the transport proved: a bearer token (HTTP), a client certificate or
    source network (MLLP), the file's prefix (batch files; functions/hl7v2/senders.py). Without one, MSH-4 decides.
    A batch is answered in one batch envelope; `envelope` asks for one whatever came (ACK files).
    `door`: the transport, for the message log."""
    batch = wire.split(raw)
    if not batch.messages:
        message_log.refused(door, "?", token_partner, None, "AR")
        return [ack.generic_reject().encode()]
    whole = len(batch.messages) == 1 and not batch.enveloped  # archive what came, unchanged
    answers = [a for text in batch.messages
               for a in answer(text, raw if whole else text.encode(), token_partner, door)]
    if batch.enveloped or envelope:
        return [ack.batch_envelope(batch.header, answers).encode()]
    return [a.encode() for a in answers]


def answer(text: str, payload: bytes, token_partner: str | None, door: Door = Door.HL7_HTTP) -> list[str]:
    try:
        header = Header.of(text)
        if text.startswith("MSH") and header.message_type == "ACK":
            return []  # an ACK is never acknowledged, not even one that cannot be read
        msg = V2Message(text)
    except Exception:  # Unparseable, or anything else hostile bytes provoke
        message_log.refused(door, "?", token_partner, None, "AR")
        return [ack.generic_reject()]
    event, bundle, partner_id = None, {}, token_partner
    kind = header.event
    production = header.processing_id[:1] == "P"
    try:
        partner_id, event = admit(msg, header, token_partner)
        bundle = request_bundle(msg, event)
        # Checked as the FHIR door checks what it receives: what HL7 sends must make valid FHIR.
        sub = submission_from_fhir(bundle, source="hl7v2", appeal=event.appeal, sha256=content_hash(text),
                                   intent=Intent.RESUBMIT if event.resubmit else None)
        svc = services()
        store, archive = (svc.store, svc.archive) if production else (Unkept(svc.store), UNARCHIVED)
        logged = message_log.entry(door, kind, partner_id, header.control_id, ack.outcome(header, "AA"))
        case = cases.submit(store, archive, svc.clock, partner_id, svc.partners().policy(partner_id), sub,
                            payload, CONTENT_TYPE, logged if production else None)
        if not production:
            logger.info("hl7 message validated only", extra={"processing_id": header.processing_id[:1], "event": kind})
            return ack.acknowledgments(header, "AA", text=_text(header, VALIDATED_ONLY[header.processing_id[:1]]))
        logger.info("hl7 message accepted", extra={"case_id": case.id, "event": kind})
        return ack.acknowledgments(header, "AA")
    except Exception as err:
        if isinstance(err, Refusal):
            refusal = err
        elif isinstance(err, DomainError):
            refusal = refusal_for(err, event, bundle)
        else:  # the store or archive failed: nothing was taken in; a resend will do
            logger.error("hl7 message not stored", extra={"error_type": type(err).__name__})
            refusal = Refusal("AR", Error(ack.APPLICATION_INTERNAL_ERROR), commit="CE")
        if production:  # a T or D message keeps nothing, not even a log entry
            message_log.refused(door, kind, partner_id, header.control_id, ack.outcome(header, refusal.code, refusal.commit))
        return refused(header, refusal)


VALIDATED_ONLY = {
    "T": "Validated only: processing ID T (training), no case created",
    "D": "Validated only: processing ID D (debugging), no case created",
}


def refused(header: Header, refusal: Refusal) -> list[str]:
    return ack.acknowledgments(header, refusal.code, refusal.error, commit=refusal.commit,
                               text=_text(header, refusal.text))


def _text(header: Header, text: str) -> str:
    """Our words as an HL7 value in the message's own delimiters."""
    return Delimiters.of(header).text(text) if text else ""


@dataclass(frozen=True)
class Unkept:
    """The store as a T or D message sees it: read as it is, written nowhere. A new request meets
    the same duplicate check the store's conditional write makes; nothing else is kept."""

    store: CaseRepository

    def get(self, case_id: str) -> Case | None:
        return self.store.get(case_id)

    def find_submission(self, partner_id: str, key: str) -> SubmissionRecord | None:
        return self.store.find_submission(partner_id, key)

    def find_latest(self, partner_id: str, keys: list[str], kind: str) -> Case | None:
        return self.store.find_latest(partner_id, keys, kind)

    def find_all(self, partner_id: str, key: str) -> list[Case]:
        return self.store.find_all(partner_id, key)

    def record_message(self, message: object) -> None:
        pass  # a replay of a T or D message: nothing kept

    def create(self, case: Case, submission: Submission, event: object, message: object = None) -> None:
        if (record := self.store.find_submission(case.partner_id, submission.key.key)) is not None:
            raise DuplicateSubmission(record)

    def replace(self, case: Case, expected_version: int, events: list, submission: Submission | None = None,
                outbox: Sequence = (), message: object = None) -> None:
        pass  # nothing kept: no case, no events, no outbox


class _Unarchived:
    """The archive as a T or D message sees it: the pointer a payload would get, nothing stored."""

    def put(self, partner_id: str, body: bytes, content_type: str) -> RawPayload:
        digest = hashlib.sha256(body).hexdigest()
        return RawPayload(key=f"unarchived/{digest}", sha256=digest, content_type=content_type, size=len(body))


UNARCHIVED = _Unarchived()


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
        raise Refusal("AR", Error(ack.UNKNOWN_KEY_IDENTIFIER, "MSH", 4), text=(
            "MSH-4 is no partner's sending facility" if token_partner is None else
            "MSH-4 is not a facility of the partner this sender was identified as"))  # MSA-3: 80 characters
    if not event.related and msg.first("PID") is None:
        raise Refusal("AE", Error(ack.SEGMENT_SEQUENCE_ERROR, "PID"))
    return partner.id, event


def refusal_for(err: DomainError, event: Event | None, bundle: dict) -> Refusal:
    """Domain errors as acknowledgment codes: the one place they are decided for HL7. AE where the
    message's content is in error (resending it unchanged cannot help); AR where it could not be
    processed for a reason outside its content (HL7 v2: system down, a lock; a resend will do)."""
    if isinstance(err, StructureError):  # the message made FHIR the FHIR door would refuse
        return Refusal("AE", Error(ack.DATA_TYPE_ERROR, segment_of(bundle, err.expression)))
    if isinstance(err, StaleVersion):  # a concurrent change to the same case won the race
        return Refusal("AR", Error(ack.APPLICATION_RECORD_LOCKED), commit="CE")
    if isinstance(err, KeyReused):
        # MSH-10 reused for other content: the message is refused as sent; HL7 requires control ids unique
        return Refusal("AR", Error(ack.DUPLICATE_KEY_IDENTIFIER, "MSH", 10), commit="CE")
    if isinstance(err, Conflict):  # the case is closed to this change: the message asks what cannot be
        return Refusal("AE", Error(ack.APPLICATION_INTERNAL_ERROR), text=err.message)
    if isinstance(err, UnknownRelated):
        segment, field = event.key if event else ("MSH", None)
        return Refusal("AE", Error(ack.UNKNOWN_KEY_IDENTIFIER, segment, field))
    if isinstance(err, NoItems):
        return Refusal("AE", Error(ack.SEGMENT_SEQUENCE_ERROR, "PR1"))  # no service line
    return Refusal("AE", Error(ack.REQUIRED_FIELD_MISSING))
