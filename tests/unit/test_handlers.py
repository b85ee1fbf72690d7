"""Functional tests: API Gateway REST proxy events into each lambda_handler, in-memory adapters."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from adapters.memory import MemoryArchive, MemoryCaseStore
from functions import bootstrap
from functions.authorizer import app as authorizer
from functions.cases import app as cases_app
from functions.fhir import app as fhir_app
from tests import factories as f


def event(method: str, path: str, body=None, partner: str | None = "p1", content_type="application/fhir+json",
          query=None, resource=None) -> dict:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    headers = {"Host": "api.example", "Content-Type": content_type}
    return {
        "resource": resource or path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query, "multiValueQueryStringParameters":
            {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None, "body": text, "isBase64Encoded": False,
        "requestContext": {"stage": "v1", "requestId": "r1", "httpMethod": method, "path": f"/v1{path}",
                           "domainName": "api.example",
                           "authorizer": {"partner_id": partner} if partner else None},
    }


@pytest.fixture(autouse=True)
def memory(monkeypatch):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    store = MemoryCaseStore()
    services = bootstrap.Services(store, MemoryArchive(), lambda: datetime(2026, 11, 23, tzinfo=timezone.utc))
    bootstrap.override(lambda: services)
    yield store
    bootstrap.override(None)


def call(handler, ev) -> tuple[int, dict | None]:
    out = handler(ev, None)
    return out["statusCode"], json.loads(out["body"]) if out["body"] else None


def test_submit_then_read_back(memory):
    status, bundle = call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$submit", f.pas_bundle()))
    assert status == 200 and bundle["resourceType"] == "Bundle"
    assert bundle["entry"][0]["fullUrl"].startswith("https://api.example/v1/fhir/ClaimResponse/")
    cr_id = bundle["entry"][0]["resource"]["id"]
    status, resp = call(fhir_app.lambda_handler, event("GET", f"/fhir/ClaimResponse/{cr_id}"))
    assert status == 200 and resp["id"] == cr_id


@pytest.mark.parametrize("configured", [None, "https://fhir.iro.example/api/"])
def test_absolute_urls_never_come_from_client_headers(monkeypatch, configured):
    """Host and X-Forwarded-* are the client's to set: a Bundle or CapabilityStatement that
    echoed them would send every later reader to a URL of the client's choosing."""
    if configured:
        monkeypatch.setenv("PUBLIC_BASE_URL", configured)
    expected = "https://fhir.iro.example/api/fhir" if configured else "https://api.example/v1/fhir"
    hostile = {"Host": "evil.example.com", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example.com"}
    submit = event("POST", "/fhir/Claim/$submit", f.pas_bundle())
    metadata = event("GET", "/fhir/metadata", partner=None)
    for ev in (submit, metadata):
        ev["headers"] |= hostile
        ev["multiValueHeaders"] |= {k: [v] for k, v in hostile.items()}
    _, bundle = call(fhir_app.lambda_handler, submit)
    _, capability = call(fhir_app.lambda_handler, metadata)
    assert bundle["entry"][0]["fullUrl"].startswith(f"{expected}/ClaimResponse/")
    assert capability["implementation"]["url"] == expected
    assert "evil" not in json.dumps([bundle, capability]) and "javascript" not in json.dumps([bundle, capability])


def test_healthz_answers_without_a_token_or_storage():
    bootstrap.override(lambda: (_ for _ in ()).throw(AssertionError("storage touched")))
    out = fhir_app.lambda_handler(event("GET", "/healthz", partner=None), None)
    assert out["statusCode"] == 200 and json.loads(out["body"]) == {"status": "pass"}


def test_fhir_json_content_type_passes_the_validating_resolver():
    status, body = call(cases_app.lambda_handler, event("POST", "/cases/x/determination",
                                                     {"version": 1, "decisions": [{"itemSequence": 1, "decision": "approved"}]}))
    assert status == 404 and body["issue"][0]["diagnostics"] == "no such case"  # reached the handler


def test_unknown_operation_and_route_are_404_outcomes():
    status, body = call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$validate", f.claim()))
    assert status == 404 and body["resourceType"] == "OperationOutcome"
    status, body = call(fhir_app.lambda_handler, event("GET", "/fhir/Patient"))
    assert status == 404 and body["issue"][0]["code"] == "not-found"


def test_missing_authorizer_context_is_401():
    status, body = call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$submit", f.claim(), partner=None))
    assert status == 401 and body["resourceType"] == "OperationOutcome"


def test_store_failure_is_a_500_that_reveals_nothing(memory, monkeypatch):
    def boom(*_, **__):
        raise RuntimeError("table /secret/path unreachable for member DOE")
    monkeypatch.setattr(memory, "create", boom)
    out = fhir_app.lambda_handler(event("POST", "/fhir/Claim/$submit", f.pas_bundle()), None)
    assert out["statusCode"] == 500 and out["body"] == ""


def test_determination_body_is_validated_without_echoing_input():
    status, body = call(cases_app.lambda_handler, event("POST", "/cases/x/determination",
                                                        {"version": "SECRET", "decisions": []}, content_type="application/json"))
    assert status == 422 and body["resourceType"] == "OperationOutcome"
    assert "SECRET" not in json.dumps(body) and body["issue"][0]["expression"]


def test_metadata_lists_what_is_supported():
    status, cap = call(fhir_app.lambda_handler, event("GET", "/fhir/metadata", partner=None))
    assert status == 200 and cap["fhirVersion"] == "4.0.1"
    claim = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Claim")
    assert {o["name"] for o in claim["operation"]} == {"submit", "inquire"}


def test_authorizer_maps_token_to_partner(tmp_path, monkeypatch):
    partners = tmp_path / "partners.yaml"
    from adapters.partners import token_hash
    partners.write_text(f"partners:\n  - id: acme\n    token_sha256: [{token_hash('s3cret')}]\n")
    monkeypatch.setenv("PARTNERS_FILE", str(partners))
    arn = "arn:aws:execute-api:us-east-1:1:api/v1/POST/fhir/Claim/$submit"
    policy = authorizer.lambda_handler({"authorizationToken": "Bearer s3cret", "methodArn": arn}, None)
    assert policy["context"] == {"partner_id": "acme"} and policy["principalId"] == "acme"
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:1:api/v1/*"
    for token in ("Bearer wrong", "s3cret", "", "Basic s3cret"):
        with pytest.raises(Exception, match="^Unauthorized$"):
            authorizer.lambda_handler({"authorizationToken": token, "methodArn": arn}, None)
