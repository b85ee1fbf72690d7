"""Who is sending, for the HL7 v2 transports that carry no bearer token. The intake takes the partner
a transport proves (`token_partner`) and refuses, AR with ERR 204 at MSH-4, a message whose sending
facility is not that partner's:

- MLLP: a connection speaks for the partner its client certificate (TLS) or source address names
  (the partner's `mllp` block, adapters/partners.py), decided once when it connects;
- batch files: a file speaks for the partner of its key's prefix, `inbound/<partner id>/...`, which
  only that partner's role can write (template.yaml, Hl7BatchBucket). A file whose batch header
  (FHS-4, BHS-4) names another sender, or whose prefix names no partner, is refused whole.
"""
from __future__ import annotations

from functools import partial

from adapters.hl7v2 import ack, wire
from adapters.hl7v2.ack import Error, Header
from adapters.hl7v2.mllp import Handle, NotAdmitted, Peer
from adapters.partners import SenderRefused
from review.model import Door
from functions.bootstrap import services
from functions.hl7v2.intake import Refusal, handle_message, refused
from functions import message_log
from functions.observability import logger

INBOUND, OUTBOUND = "inbound/", "outbound/"


def mllp_handle(peer: Peer) -> Handle:
    """The intake, as the partner this MLLP connection proves; NotAdmitted when it proves none."""
    try:
        partner = services().partners().mllp_sender(peer.address, peer.fingerprint)
    except SenderRefused as err:
        raise NotAdmitted(str(err)) from None
    if partner is None:  # no partner binds its MLLP traffic yet: MSH-4 alone names the sender
        return partial(handle_message, door=Door.MLLP)
    return partial(handle_message, token_partner=partner.id, door=Door.MLLP)


def batch_partner(key: str) -> str | None:
    """The partner id of an inbound batch file's key, `inbound/<partner id>/<name>`."""
    parts = key.split("/")
    return parts[1] if len(parts) > 2 and key.startswith(INBOUND) and parts[1] and parts[-1] else None


def ack_key(key: str) -> str:
    """Where a batch file's acknowledgments go: `outbound/<partner id>/<name>.ack`."""
    return OUTBOUND + key[len(INBOUND):] + ".ack"


def refused_batch(raw: bytes, partner_id: str | None) -> bytes | None:
    """The ACK file for a batch file refused whole, none of it processed: every message AR with ERR
    204 at the field that names a sender other than the key's partner. None when the file may go to
    the intake, which then checks each message's MSH-4 against the partner."""
    partner = services().partners().partners.get(partner_id) if partner_id else None
    batch = wire.split(raw)
    if partner is None:
        reason, error = "the key's prefix names no partner", Error(ack.UNKNOWN_KEY_IDENTIFIER, "MSH", 4)
    else:
        own = {f.upper() for f in partner.hl7_facilities}
        foreign = next((seg[:3] for seg in batch.header if _facility(seg) not in own | {""}), None)
        if foreign is None:
            return None
        reason = f"{foreign}-4 names another sender than the key's partner"
        error = Error(ack.UNKNOWN_KEY_IDENTIFIER, foreign, 4)
    logger.warning("hl7 batch file refused", extra={"partner": partner_id, "reason": reason,
                                                    "messages": len(batch.messages)})
    refusal = Refusal("AR", error, text="Batch refused: " + reason)
    answers = []
    for text in (t for t in batch.messages if not _is_ack(t)):
        header = Header.of(text) if text.startswith("MSH") else Header()
        message_log.refused(Door.BATCH, header.event, partner_id, header.control_id, "AR")
        answers += refused(header, refusal) if text.startswith("MSH") else [ack.generic_reject()]
    return ack.batch_envelope(batch.header, answers).encode()


def _facility(segment: str) -> str:
    """FHS-4 / BHS-4's namespace id, upper-cased: the sending facility of a file or batch."""
    fields = segment.split(segment[3]) if len(segment) > 3 else []
    component = fields[1][:1] if len(fields) > 1 and fields[1] else "^"
    return fields[3].split(component)[0].strip().upper() if len(fields) > 3 else ""


def _is_ack(text: str) -> bool:
    return text.startswith("MSH") and Header.of(text).message_type == "ACK"  # never acknowledged
