"""S3 archive of raw inbound payloads, stored unchanged and addressed by content hash."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from review.model import RawPayload


class S3Archive:
    def __init__(self, client: Any, bucket: str, prefix: str = "inbound/"):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def put(self, partner_id: str, body: bytes, content_type: str) -> RawPayload:
        digest = hashlib.sha256(body).hexdigest()
        key = f"{self.prefix}{partner_id}/{datetime.now(timezone.utc):%Y/%m/%d}/{digest}"
        # A replay writes the same bytes to the same key: harmless, and the bucket is versioned.
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return RawPayload(key=key, sha256=digest, content_type=content_type, size=len(body))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def link(self, key: str, seconds: int) -> str:
        """A presigned GET: the reader's browser fetches the object from S3 itself, for `seconds`."""
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=seconds)
