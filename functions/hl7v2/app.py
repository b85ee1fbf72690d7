"""HL7 v2 over HTTP: POST /hl7v2 with one message or a batch; the body answered is the ACK(s)."""
from __future__ import annotations

import base64

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from functions import http
from functions.observability import entry_point
from functions.hl7v2.intake import CONTENT_TYPE, handle_message

HL7_TYPES = frozenset({CONTENT_TYPE, "application/hl7-v2", "application/edi-hl7v2", "text/plain"})
# A body refused unread is no HL7 message: nothing to acknowledge, so the answer is plain text, not an ACK.
UNREAD = {
    413: f"413 Payload Too Large: an HL7 v2 body is at most {http.MAX_BODY_BYTES} bytes\n",
    415: f"415 Unsupported Media Type: send HL7 v2 as {', '.join(sorted(HL7_TYPES))}\n",
}
app = APIGatewayRestResolver()  # no JSON validation: the body is ER7


@app.post("/hl7v2")
def receive():
    event = app.current_event
    if status := http.body_refusal(event.raw_event, HL7_TYPES):
        return Response(status, "text/plain; charset=utf-8", UNREAD[status])
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    answers = handle_message(raw, token_partner=http.partner_id(app))
    if not answers:
        return Response(204, CONTENT_TYPE, "")  # an ACK was sent to us: nothing to answer
    return Response(200, CONTENT_TYPE, b"".join(answers).decode("utf-8", "replace"))


@entry_point
def lambda_handler(event, context):
    return app.resolve(event, context)
