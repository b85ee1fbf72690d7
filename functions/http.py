"""The HTTP edge shared by the API functions: content negotiation, body limits, the caller's
partner, and the one place where errors become status codes with an OperationOutcome."""
from __future__ import annotations

import json
import os
import traceback
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from fhir_mappings.operation_outcome import operation_outcome
from fhir_mappings.validation import StructureError, expression, located
from review.errors import Conflict, DomainError, Invalid, NotFound

logger = Logger(service="claimbridge")

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = frozenset({FHIR_JSON, "application/json"})
MAX_BODY_BYTES = 5 * 1024 * 1024

STATUS = [(StructureError, 400), (Invalid, 422), (NotFound, 404), (Conflict, 409)]  # first match wins


class HttpError(DomainError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def fhir(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=FHIR_JSON, body=json.dumps(body, separators=(",", ":")),
                    headers=headers)


def outcome(status: int, code: str, message: str, where: str | None = None) -> Response:
    return fhir(status, operation_outcome(code, message, where))


def create_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def domain_error(err: DomainError) -> Response:
        status = getattr(err, "status", None) or next(s for cls, s in STATUS if isinstance(err, cls))
        logger.info("request refused", extra={"status": status, "code": err.code})
        return outcome(status, err.code, err.message, err.expression)

    @app.exception_handler(RequestValidationError)
    def invalid_request(err: RequestValidationError) -> Response:
        first = err.errors()[0]  # carries the input: only its location and type are used
        where = expression("", tuple(p for p in located(first) if p != "body")).lstrip(".")
        return outcome(422, "required" if first["type"] == "missing" else "invalid",
                       f"invalid request element ({first['type']})", where or None)

    @app.not_found
    def not_found(_: NotFoundError) -> Response:
        return outcome(404, "not-found", "no such endpoint")

    @app.exception_handler(Exception)
    def unexpected(err: Exception) -> Response:
        # Type and code locations only: messages of library exceptions may quote request content.
        where = [f"{'/'.join(f.filename.rsplit('/', 2)[-2:])}:{f.lineno}" for f in traceback.extract_tb(err.__traceback__)]
        logger.error("unhandled error", extra={"error_type": type(err).__name__, "at": where[-6:]})
        return Response(status_code=500, content_type=FHIR_JSON, body="")

    return app


def resolve(app: APIGatewayRestResolver, event: dict, context: Any) -> dict:
    """Lambda entry for an API function: refuse what the resolver must never see, then resolve."""
    if event.get("body") is not None and event.get("httpMethod") in ("POST", "PUT", "PATCH"):
        if status := body_refusal(event, ACCEPTED_TYPES):
            code, message = REFUSALS[status]
            return {"statusCode": status, "headers": {"Content-Type": FHIR_JSON},
                    "body": json.dumps(operation_outcome(code, message)), "isBase64Encoded": False}
        # Powertools' validating resolver only knows application/json; FHIR's type is the same JSON.
        event = {**event, "headers": _with_json_type(event.get("headers")),
                 "multiValueHeaders": _with_json_type(event.get("multiValueHeaders"), ["application/json"])}
    return app.resolve(event, context)


def _with_json_type(headers: dict | None, value: Any = "application/json") -> dict:
    return {**{k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}, "Content-Type": value}


REFUSALS = {413: ("too-long", f"the body exceeds {MAX_BODY_BYTES} bytes"), 415: ("not-supported", f"send {FHIR_JSON}")}


def body_refusal(event: dict, accepted: frozenset[str]) -> int | None:
    """413 or 415 for a body a function must not read (too large, or not a type it takes), else None."""
    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode() if isinstance(body, str) else body)
    if size > MAX_BODY_BYTES:
        return 413
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if headers.get("content-type", "").split(";")[0].strip().lower() not in accepted:
        return 415
    return None


def json_body(app: APIGatewayRestResolver) -> Any:
    try:
        return json.loads(app.current_event.decoded_body or "")
    except (ValueError, RecursionError):
        raise StructureError("the body is not valid JSON") from None


def partner_id(app: APIGatewayRestResolver) -> str:
    """Set by the API's token authorizer (or the local stack acting as API Gateway)."""
    partner = ((app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}).get("partner_id")
    if not partner:
        raise HttpError(401, "security", "authentication required")
    return partner


def base_url(app: APIGatewayRestResolver) -> str:
    """Where the FHIR API is reachable, for absolute URLs (fullUrl, CapabilityStatement): the
    configured PUBLIC_BASE_URL, else the API's own domain and base path as API Gateway reports them
    in the request context. Never the client's Host or X-Forwarded-* headers: a client must not
    choose the URLs that other readers of a response will follow."""
    if configured := os.environ.get("PUBLIC_BASE_URL"):
        return configured.rstrip("/") + "/fhir"
    event = app.current_event
    context = event.raw_event.get("requestContext") or {}
    domain = context.get("domainName") or "localhost"
    # requestContext.path is the path the client used (stage or base-path mapping included);
    # event.path is the resource path: what precedes it is the API's base path.
    full, path = context.get("path") or "", event.path or ""
    prefix = full[:-len(path)] if path and full.endswith(path) else ""
    return f"https://{domain}{prefix}/fhir"
