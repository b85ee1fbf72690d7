"""API Gateway REST proxy events, as the handler tests feed them to each lambda_handler."""
from __future__ import annotations

import json
from functools import lru_cache

from infra.local.stack import proxy_body
from infra.local.topology import Topology


@lru_cache(maxsize=1)
def binary_media_types() -> tuple[str, ...]:
    return Topology.load().binary_media_types


def reviewer_claims(sub: str = "dr-demo", groups: str = "physician-reviewer", npi: str | None = "1234567893") -> dict:
    """What API Gateway's Cognito authorizer hands a REST proxy integration: every value a string."""
    return {"sub": sub, "cognito:username": sub, "cognito:groups": groups, "token_use": "id",
            **({"custom:npi": npi} if npi else {})}


def event(method: str, path: str, body=None, partner: str | None = "p1", content_type="application/fhir+json",
          query=None, resource=None, claims: dict | None = None) -> dict:
    """A bytes body is handed over as API Gateway would: base64 for template.yaml's binary media types."""
    encoded = False
    if isinstance(body, bytes):
        text, encoded = proxy_body(body, content_type, binary_media_types())
    else:
        text = body if isinstance(body, str) or body is None else json.dumps(body)
    headers = {"Host": "api.example", "Content-Type": content_type}
    return {
        "resource": resource or path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query, "multiValueQueryStringParameters":
            {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None, "body": text, "isBase64Encoded": encoded,
        "requestContext": {"stage": "v1", "requestId": "r1", "httpMethod": method, "path": f"/v1{path}",
                           "domainName": "api.example",
                           "authorizer": {"claims": claims} if claims else ({"partner_id": partner} if partner else None)},
    }


def call(handler, ev) -> tuple[int, dict | None]:
    out = handler(ev, None)
    return out["statusCode"], json.loads(out["body"]) if out["body"] else None
