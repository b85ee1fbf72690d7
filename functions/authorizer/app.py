"""API Gateway TOKEN authorizer: bearer token -> partner id, from the partner registry.

Unknown tokens raise "Unauthorized", which API Gateway turns into a 401 whose body (an
OperationOutcome) is the UNAUTHORIZED gateway response in template.yaml.
"""
from __future__ import annotations

from functions.bootstrap import services


def lambda_handler(event, context):
    token = event.get("authorizationToken") or ""
    scheme, _, value = token.partition(" ")
    partner = services().partners().authenticate(value.strip() if scheme.lower() == "bearer" else None)
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
