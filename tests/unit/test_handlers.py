"""Functional tests: API Gateway REST proxy events into each lambda_handler, in-memory adapters."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from adapters.partners import PartnerRegistry
from adapters.memory import MemoryArchive, MemoryCaseStore
from functions import bootstrap
from functions.authorizer import app as authorizer
from functions.cases import app as cases_app
from functions.fhir import app as fhir_app
from review.model import Case
from tests import factories as f
from tests.gateway import call, event, reviewer_claims


@pytest.fixture(autouse=True)
def memory(monkeypatch):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    store = MemoryCaseStore()
    services = bootstrap.Services(store, MemoryArchive(), lambda: datetime(2026, 11, 23, tzinfo=timezone.utc),
                                  partners=lambda: PartnerRegistry([], {}))
    bootstrap.override(lambda: services)
    yield store
    bootstrap.override(None)


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
    status, body = call(cases_app.lambda_handler, event(
        "POST", "/cases/x/determination", {"version": 1, "decisions": [{"item_sequence": 1, "decision": "approved"}]},
        claims=reviewer_claims()))
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
                                                        {"version": "SECRET", "decisions": []}, content_type="application/json",
                                                        claims=reviewer_claims()))
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
    bootstrap.override(None)  # the real composition root: the registry from PARTNERS_FILE, nothing else built
    arn = "arn:aws:execute-api:us-east-1:1:api/v1/POST/fhir/Claim/$submit"
    policy = authorizer.lambda_handler({"authorizationToken": "Bearer s3cret", "methodArn": arn}, None)
    assert policy["context"] == {"partner_id": "acme"} and policy["principalId"] == "acme"
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:1:api/v1/*"
    for token in ("Bearer wrong", "s3cret", "", "Basic s3cret"):
        with pytest.raises(Exception, match="^Unauthorized$"):
            authorizer.lambda_handler({"authorizationToken": token, "methodArn": arn}, None)


# --- refusals: every bad input gets a 4xx OperationOutcome naming the element, and nothing is stored

def pas(change) -> dict:
    """A PAS request Bundle (entries: Claim, Patient, insurer, provider, Coverage) after `change`."""
    bundle = f.pas_bundle()
    change(bundle)
    return bundle


def with_entry(bundle: dict, resource: dict) -> dict:
    bundle["entry"].append({"fullUrl": f"{f.BASE}{resource['resourceType']}/{resource['id']}", "resource": resource})
    return bundle


# identifier is 0..1 on a QuestionnaireResponse: one object, not a list
QUESTIONNAIRE_RESPONSE = {"resourceType": "QuestionnaireResponse", "id": "qr-1", "status": "completed",
                          "identifier": {"system": "urn:example:qr", "value": "ZQXQR"}}
HUGE = 10 ** 320  # a valid R4 decimal, beyond a double


def claim_with(**changes) -> dict:
    return {**f.claim(), **changes}


def item_quantity(value) -> dict:
    return f.claim(item=[f.pas_item(quantity={"value": value})])


def nested_extension(depth: int) -> dict:
    extension = {"url": "urn:example:x", "valueString": "ZQX"}
    for _ in range(depth):
        extension = {"url": "urn:example:x", "extension": [extension]}
    return extension


REFUSED = [
    pytest.param("$submit", {"resourceType": {}}, 400, "structure", "resourceType", id="resourceType-object"),
    pytest.param("$inquire", {"resourceType": {}}, 400, "structure", "resourceType", id="inquire-resourceType-object"),
    pytest.param("$submit", pas(lambda b: b.update(entry=None)), 400, "structure", "Bundle.entry", id="null-entry"),
    pytest.param("$submit", pas(lambda b: b["entry"][1]["resource"].update(birthDate=None)), 400, "structure",
                 "Bundle.entry[1].resource.birthDate", id="null-birthDate"),
    pytest.param("$submit", pas(lambda b: b["entry"][1]["resource"]["name"][0].update(given=["ZQX", None])), 400,
                 "structure", "Bundle.entry[1].resource.name[0].given[1]", id="null-in-array-without-extensions"),
    pytest.param("$submit", f.pas_bundle(item_quantity(HUGE)), 422, "invalid",
                 "Bundle.entry[0].resource.item[0].quantity.value", id="huge-quantity"),
    pytest.param("$submit", item_quantity(HUGE), 422, "invalid", "Claim.item[0].quantity.value",
                 id="huge-quantity-bare-claim"),
    pytest.param("$submit", with_entry(f.pas_bundle(claim_with(provider={"reference": "QuestionnaireResponse/qr-1"})),
                                       QUESTIONNAIRE_RESPONSE),
                 422, "invalid", "Bundle.entry[0].resource.provider", id="provider-not-a-provider"),
    pytest.param("$submit", with_entry(f.pas_bundle(claim_with(careTeam=[
        {"sequence": 1, "provider": {"reference": "QuestionnaireResponse/qr-1"}}])), QUESTIONNAIRE_RESPONSE),
                 422, "invalid", "Bundle.entry[0].resource.careTeam[0].provider", id="careTeam-not-a-provider"),
    pytest.param("$submit", with_entry(f.pas_bundle(claim_with(related=[
        {"claim": {"reference": "QuestionnaireResponse/qr-1"}, "relationship": {"coding": [{"code": "prior"}]}}])),
        QUESTIONNAIRE_RESPONSE), 422, "invalid", "Bundle.entry[0].resource.related[0].claim", id="related-not-a-claim"),
    pytest.param("$inquire", with_entry(f.pas_bundle(claim_with(provider={"reference": "QuestionnaireResponse/qr-1"})),
                                        QUESTIONNAIRE_RESPONSE),
                 422, "invalid", "Bundle.entry[0].resource.provider", id="inquire-provider-not-a-provider"),
    pytest.param("$submit", f.pas_bundle(claim_with(status="cancelled", related=[
        {"claim": {"display": "ZQXCLAIM"}, "relationship": {"coding": [{"code": "prior"}]}}])),
                 422, "required", "Bundle.entry[0].resource.related[0].claim",
                 id="cancel-naming-no-claim"),  # was taken in as a new case
    # found by tests/unit/test_fuzz_fhir.py
    pytest.param("$inquire", pas(lambda b: b["entry"][1]["resource"].update(birthDate=0)), 400, "structure",
                 "Bundle.entry[1].resource.birthDate", id="number-as-date"),  # fhir.resources: 1970-01-01
    pytest.param("$submit", pas(lambda b: b["entry"][0]["resource"]["insurance"][0].update(focal="false")), 400,
                 "structure", "Bundle.entry[0].resource.insurance[0].focal", id="string-as-boolean"),  # read as true
    pytest.param("$submit", pas(lambda b: b["meta"].update(resourceType="ZQXMETA")), 400, "structure",
                 "Bundle.meta.resource_type", id="library-message-quoting-the-value"),
    pytest.param("$submit", pas(lambda b: b["entry"][1]["resource"].update(extension=[nested_extension(100)])), 400,
                 "too-costly", "Bundle.entry[1].resource" + ".extension[0]" * 63, id="nested-too-deep-to-read-back"),
    pytest.param("$submit", pas(lambda b: b["entry"][1]["resource"].update(gender="ZQFAMXQ")), 400, "code-invalid",
                 "Bundle.entry[1].resource.gender", id="Patient.gender"),
    pytest.param("$submit", f.pas_bundle(claim_with(status="ZQXST")), 400, "code-invalid",
                 "Bundle.entry[0].resource.status", id="Claim.status"),
    pytest.param("$submit", claim_with(use="ZQXUSE"), 400, "code-invalid", "Claim.use", id="Claim.use"),
    pytest.param("$submit", pas(lambda b: b.update(type="ZQXTYPE")), 400, "code-invalid", "Bundle.type",
                 id="Bundle.type"),
    pytest.param("$submit", pas(lambda b: b["entry"][4]["resource"].update(status="ZQXST")), 400, "code-invalid",
                 "Bundle.entry[4].resource.status", id="Coverage.status"),
    pytest.param("$submit", pas(lambda b: b["entry"][1]["resource"]["identifier"][0].update(use="ZQXUSE")), 400,
                 "code-invalid", "Bundle.entry[1].resource.identifier[0].use", id="Identifier.use"),
    pytest.param("$inquire", pas(lambda b: b["entry"][1]["resource"]["name"][0].update(use="ZQXUSE")), 400,
                 "code-invalid", "Bundle.entry[1].resource.name[0].use", id="HumanName.use"),
]


@pytest.mark.parametrize("operation, body, status, code, where", REFUSED)
def test_bad_input_is_a_4xx_naming_the_element_and_stores_nothing(memory, operation, body, status, code, where):
    got, outcome = call(fhir_app.lambda_handler, event("POST", f"/fhir/Claim/{operation}", body))
    assert (got, outcome["resourceType"]) == (status, "OperationOutcome")
    [issue] = outcome["issue"]
    assert (issue["code"], issue["expression"]) == (code, [where])
    assert "ZQ" not in json.dumps(outcome) and not memory.cases


def test_null_beside_its_extension_is_fhir_json(memory):
    """An array of primitives may hold null where its `_x` twin carries the extension instead."""
    bundle = pas(lambda b: b["entry"][1]["resource"]["name"][0].update(
        given=[None, "JANE"], _given=[{"extension": [{"url": "urn:example:x", "valueString": "x"}]}, None]))
    status, _ = call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$submit", bundle))
    assert status == 200 and next(iter(memory.cases.values())).member.given == ["JANE"]


def test_the_deepest_request_taken_in_makes_a_case_that_reads_back(memory):
    """A case keeps the parties as sent; pydantic's JSON parser, reading a stored case, stops at 200 levels."""
    bundle = pas(lambda b: b["entry"][1]["resource"].update(extension=[nested_extension(61)]))
    status, _ = call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$submit", bundle))
    [case] = memory.cases.values()
    assert status == 200 and Case.model_validate_json(case.model_dump_json()) == case


def test_a_reference_to_an_entry_without_a_resource_resolves_to_nothing(memory):
    """The requestor's entry, looked up by fullUrl, had no resource to copy into the response (500)."""
    def provider_entry_emptied(bundle):
        del bundle["entry"][3]["resource"]
        bundle["entry"][0]["resource"]["provider"]["reference"] = bundle["entry"][3]["fullUrl"]
    status, _ = call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$submit", pas(provider_entry_emptied)))
    [case] = memory.cases.values()
    assert status == 200 and [(p.npi, p.reference) for p in case.providers] == [
        (None, f.BASE + "Organization/provider-1")]


def test_review_api_judges_the_caller_before_the_body():
    """Powertools validates bodies before route code: a partner or a groupless user must still hear 403, not 422."""
    bad = {"version": "1"}
    status, body = call(cases_app.lambda_handler, event("POST", "/cases/x/start", bad))
    assert status == 403 and body["issue"][0]["code"] == "forbidden"
    status, _ = call(cases_app.lambda_handler, event("POST", "/cases/x/start", bad, claims=reviewer_claims(groups="")))
    assert status == 403
    status, body = call(cases_app.lambda_handler, event("POST", "/cases/x/start", bad, claims=reviewer_claims()))
    assert status == 422 and body["issue"][0]["expression"] == ["version"]
