"""API Gateway TOKEN authorizer: bearer token -> partner id, from the partner registry.

The registry is a Secrets Manager secret on AWS (PARTNERS_SECRET) or a file locally
(PARTNERS_FILE). Unknown tokens raise "Unauthorized", which API Gateway turns into a 401
whose body (an OperationOutcome) is the UNAUTHORIZED gateway response in template.yaml.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from adapters.partners import PartnerRegistry


def registry() -> PartnerRegistry:
    if path := os.environ.get("PARTNERS_FILE"):
        return _from_file(path)
    from aws_lambda_powertools.utilities.parameters import get_secret

    # Cached for 5 minutes, so a changed registry takes effect without a deploy.
    return _from_text(get_secret(os.environ["PARTNERS_SECRET"], max_age=300))


@lru_cache(maxsize=4)
def _from_file(path: str) -> PartnerRegistry:
    return PartnerRegistry.from_document(Path(path).read_text())


@lru_cache(maxsize=4)
def _from_text(text: str) -> PartnerRegistry:
    return PartnerRegistry.from_document(text)


def lambda_handler(event, context):
    token = event.get("authorizationToken") or ""
    scheme, _, value = token.partition(" ")
    partner = registry().authenticate(value.strip() if scheme.lower() == "bearer" else None)
    if partner is None:
        raise Exception("Unauthorized")  # the exact message API Gateway maps to 401
    arn = event["methodArn"].split("/")
    return {
        "principalId": partner.id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [{
            "Action": "execute-api:Invoke", "Effect": "Allow",
            # The policy is cached per token, so it must cover every method of the API stage.
            "Resource": "/".join(arn[:2]) + "/*",
        }]},
        "context": {"partner_id": partner.id},
    }
