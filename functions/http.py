"""The HTTP edge shared by the API functions: content negotiation, body limits, the caller (a
partner's token, or a reviewer's Cognito claims), and the one place where errors become status
codes with an OperationOutcome."""
from __future__ import annotations

import json
import os
import tomllib
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from fhir_mappings.operation_outcome import operation_outcome
from fhir_mappings.validation import StructureError, expression, located
from functions.observability import logger
from review.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from review.model import STAFF, Caller, Role

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = frozenset({FHIR_JSON, "application/json"})
MAX_BODY_BYTES = 5 * 1024 * 1024
# pyproject.toml travels with the code (the functions' CodeUri is the project): its version is the API's.
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
VERSION = tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def built_on() -> str:
    """The day this build of the code was laid down (the build writes the files it packages)."""
    return datetime.fromtimestamp(Path(__file__).stat().st_mtime, timezone.utc).date().isoformat()

STATUS = [(StructureError, 400), (Invalid, 422), (NotFound, 404), (Conflict, 409), (Forbidden, 403)]  # first match wins


def status_of(err: Exception) -> int:
    """The HTTP status an error is answered with (500: one that is no refusal)."""
    return getattr(err, "status", None) or next((s for cls, s in STATUS if isinstance(err, cls)), 500)


class HttpError(Exception):
    """A refusal that belongs to HTTP itself (authentication), not to the domain."""

    def __init__(self, status: int, code: str, message: str, expression: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.expression = status, code, message, expression


def fhir(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=FHIR_JSON, body=json.dumps(body, separators=(",", ":")),
                    headers=headers)


def outcome(status: int, code: str, message: str, where: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    return fhir(status, operation_outcome(code, message, where), headers)


def create_app(identity: Callable[[APIGatewayRestResolver], Any] | None = None) -> APIGatewayRestResolver:
    """`identity`: who the caller must be, checked before a body is judged (Powertools validates the
    body before any route code runs; a caller without access hears 401/403, not what was wrong)."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler([DomainError, HttpError])
    def refused(err: DomainError | HttpError) -> Response:
        status = status_of(err)
        logger.info("request refused", extra={"status": status, "code": err.code})
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return outcome(status, err.code, err.message, err.expression, headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(err: RequestValidationError) -> Response:
        if identity is not None:
            try:
                identity(app)
            except HttpError as denied:
                return refused(denied)
        first = err.errors()[0]  # carries the input: only its location, type and allowed values are used
        if first["type"] == "json_invalid" or (first["type"] == "missing" and tuple(first["loc"]) == ("body",)):
            return outcome(400, "structure", "the body is not valid JSON")  # as the FHIR API answers it
        where = expression("", tuple(p for p in located(first) if p not in ("body", "query"))).lstrip(".")
        allowed = (first.get("ctx") or {}).get("expected") if first["type"] == "enum" else None
        message = f"invalid request element ({first['type']})" + (f"; allowed: {allowed}" if allowed else "")
        return outcome(422, "required" if first["type"] == "missing" else "invalid", message, where or None)

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


def resolve(app: APIGatewayRestResolver, event: dict, context: Any,
            produces: frozenset[str] = frozenset()) -> dict:
    """Lambda entry for an API function: refuse what the resolver must never see, then resolve.
    A HEAD is answered as its GET, without the body. `produces`: media types it writes besides JSON."""
    if not acceptable(event, produces):
        return {"statusCode": 406, "headers": {"Content-Type": FHIR_JSON}, "isBase64Encoded": False,
                "body": json.dumps(operation_outcome("not-supported", f"this server writes JSON only ({FHIR_JSON})"))}
    if event.get("body") is not None and event.get("httpMethod") in ("POST", "PUT", "PATCH"):
        if status := body_refusal(event, ACCEPTED_TYPES):
            code, message = REFUSALS[status]
            return {"statusCode": status, "headers": {"Content-Type": FHIR_JSON},
                    "body": json.dumps(operation_outcome(code, message)), "isBase64Encoded": False}
        # Powertools' validating resolver only knows application/json; FHIR's type is the same JSON.
        event = {**event, "headers": _with_json_type(event.get("headers")),
                 "multiValueHeaders": _with_json_type(event.get("multiValueHeaders"), ["application/json"])}
    answer = app.resolve(event, context)
    return {**answer, "body": ""} if event.get("httpMethod") == "HEAD" else answer


JSON_FORMATS = frozenset({"json", "application/json", FHIR_JSON})
ANY_FORMAT = frozenset({"*/*", "application/*"})


def acceptable(event: dict, produces: frozenset[str] = frozenset()) -> bool:
    """Whether the client takes JSON: FHIR's `_format` (which overrides Accept), else the Accept header.
    FHIR XML is not written: a client that asks only for it hears 406 rather than JSON it cannot read."""
    asked = (event.get("queryStringParameters") or {}).get("_format")
    if asked is not None:
        return asked.split(";")[0].strip().lower() in JSON_FORMATS
    accept = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "accept"), None)
    if not accept:
        return True
    taken = [media for media, q in map(_media_range, accept.split(",")) if q > 0]
    return any(m in JSON_FORMATS or m in ANY_FORMAT or m in produces for m in taken)


def _media_range(part: str) -> tuple[str, float]:
    media, *params = [p.strip() for p in part.split(";")]
    q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
    try:
        return media.lower(), float(q)
    except ValueError:
        return media.lower(), 1.0


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


def caller(app: APIGatewayRestResolver) -> Caller:
    """The reviewer a Cognito ID token proved, from the claims API Gateway's Cognito authorizer (or
    the local stack acting as it) hands over: every value a string, groups comma-separated (the REST
    API's form; "[a b]" is the HTTP API's, accepted too)."""
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims")
    if not claims:
        if authorizer.get("partner_id"):
            raise HttpError(403, "forbidden", "partner tokens are for the FHIR and HL7 APIs; this API takes reviewer tokens")
        raise HttpError(401, "login", "a reviewer token is required")
    groups = claims.get("cognito:groups") or ""
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    roles = frozenset(Role(g) for g in groups if g in REVIEW_ROLES)
    if not roles or not claims.get("sub"):
        raise HttpError(403, "forbidden", "this API is for members of the reviewer, physician-reviewer or supervisor groups")
    return Caller(id=claims["sub"], roles=roles, npi=claims.get("custom:npi") or None)


REVIEW_ROLES = frozenset(role.value for role in STAFF)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(status, "application/json", json.dumps(body, separators=(",", ":"), default=str))


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
