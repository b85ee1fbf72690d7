"""HL7 v2 batch files: a file a partner drops under inbound/<partner id>/ in the batch bucket is ingested
message by message, as that partner (functions/hl7v2/senders.py); one ACK file per batch (BHS/BTS
envelope) is written under outbound/<partner id>/.

A failure to read or write S3 raises, so Lambda retries the event and then parks it in the
dead-letter queue; a message the store refuses is answered AR in the ACK file, for the sender to resend.
"""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source

from functions.bootstrap import aws_client
from functions.hl7v2 import senders
from functions.hl7v2.intake import CONTENT_TYPE, handle_message
from functions.observability import entry_point, logger
from review.model import Door


@lru_cache(maxsize=1)
def s3():
    return aws_client("s3", "CLAIMBRIDGE_S3_ENDPOINT")  # once per cold start


@entry_point
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context) -> dict:
    written = []
    for record in event.records:
        bucket, key = record.s3.bucket.name, unquote_plus(record.s3.get_object.key)
        if not key.startswith(senders.INBOUND):
            continue
        raw = s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        partner = senders.batch_partner(key)  # the prefix only that partner's role can write
        # A file of bare messages gets an enveloped ACK file too.
        acks = senders.refused_batch(raw, partner) or handle_message(raw, token_partner=partner, envelope=True,
                                                                        door=Door.BATCH)[0]
        out_key = senders.ack_key(key)
        s3().put_object(Bucket=bucket, Key=out_key, Body=acks, ContentType=CONTENT_TYPE)
        logger.info("hl7 batch file acknowledged", extra={"bytes": len(acks)})
        written.append(out_key)
    return {"acknowledgments": written}
