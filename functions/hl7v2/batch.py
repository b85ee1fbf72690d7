"""HL7 v2 batch files: a file dropped under hl7/inbound/ in the archive bucket is ingested message by
message; one ACK file per batch (BHS/BTS envelope) is written under hl7/outbound/.

A failure to read or write S3 raises, so Lambda retries the event and then parks it in the
dead-letter queue; a message the store refuses is answered AE in the ACK file, for the sender to resend.
"""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source

from functions.bootstrap import aws_client
from functions.hl7v2.intake import CONTENT_TYPE, handle_message
from functions.observability import entry_point, logger
INBOUND, OUTBOUND = "hl7/inbound/", "hl7/outbound/"


@lru_cache(maxsize=1)
def s3():
    return aws_client("s3", "CLAIMBRIDGE_S3_ENDPOINT")  # once per cold start


@entry_point
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context) -> dict:
    written = []
    for record in event.records:
        bucket, key = record.s3.bucket.name, unquote_plus(record.s3.get_object.key)
        if not key.startswith(INBOUND):
            continue
        raw = s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        [acks] = handle_message(raw, envelope=True)  # a file of bare messages gets an enveloped ACK file too
        out_key = OUTBOUND + key[len(INBOUND):] + ".ack"
        s3().put_object(Bucket=bucket, Key=out_key, Body=acks, ContentType=CONTENT_TYPE)
        logger.info("hl7 batch file acknowledged", extra={"bytes": len(acks)})
        written.append(out_key)
    return {"acknowledgments": written}
