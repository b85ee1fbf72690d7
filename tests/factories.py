"""Small builders of FHIR request bodies, so each test states only what it is about."""
from __future__ import annotations

import copy
from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
X12 = "https://codesystem.x12.org/005010/"
BASE = "http://provider.example/fhir/"


def _coding(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def pas_item(sequence: int = 1, code: str = "99213", cert: str = "I", **extra: Any) -> dict:
    item = {
        "extension": [
            {"url": PAS + "extension-serviceItemRequestType", "valueCodeableConcept": _coding(X12 + "1525", "HS")},
            {"url": PAS + "extension-certificationType", "valueCodeableConcept": _coding(X12 + "1322", cert)},
        ],
        "sequence": sequence,
        "category": _coding(X12 + "1365", "3"),
        "productOrService": _coding("http://www.ama-assn.org/go/cpt", code),
        "locationCodeableConcept": _coding("https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", "11"),
        "quantity": {"value": 1},
        "servicedDate": "2026-12-01",
    }
    item.update(extra)
    return item


def claim(identifier: str = "CLM-1", *, items: int = 1, priority: str = "normal", use: str = "preauthorization",
          cert: str = "I", related: str | None = None, claim_cert: str | None = None, id: str = "req-claim",
          **extra: Any) -> dict:
    body = {
        "resourceType": "Claim",
        "id": id,
        "identifier": [{"system": "urn:example:claims", "value": identifier}],
        "status": "active",
        "type": _coding("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "use": use,
        "patient": {"reference": "Patient/member-1"},
        "created": "2026-11-23T10:00:00+00:00",
        "insurer": {"reference": "Organization/insurer-1"},
        "provider": {"reference": "Organization/provider-1"},
        "priority": _coding("http://terminology.hl7.org/CodeSystem/processpriority", priority),
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": _coding("http://hl7.org/fhir/sid/icd-10-cm", "G89.4")}],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/coverage-1"}}],
        "item": [pas_item(n, code=f"9921{n}", cert=cert) for n in range(1, items + 1)],
    }
    if related:
        body["related"] = [{"claim": {"identifier": {"system": "urn:example:claims", "value": related}},
                            "relationship": _coding("http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "prior")}]
    if claim_cert:
        body["extension"] = [{"url": PAS + "extension-certificationType",
                              "valueCodeableConcept": _coding(X12 + "1322", claim_cert)}]
    body.update(extra)
    return body


def parties(member_id: str = "M-1", provider_npi: str = "1234567893") -> list[dict]:
    return [
        {"resourceType": "Patient", "id": "member-1", "identifier": [{"system": "urn:example:member", "value": member_id}],
         "name": [{"family": "DOE", "given": ["JANE"]}], "birthDate": "1970-01-01", "gender": "female"},
        {"resourceType": "Organization", "id": "insurer-1", "name": "EXAMPLE HEALTH PLAN",
         "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1111111112"}]},
        {"resourceType": "Organization", "id": "provider-1", "name": "EXAMPLE CLINIC",
         "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": provider_npi}]},
        {"resourceType": "Coverage", "id": "coverage-1", "status": "active", "subscriberId": member_id,
         "beneficiary": {"reference": "Patient/member-1"}, "payor": [{"reference": "Organization/insurer-1"}]},
    ]


def pas_bundle(the_claim: dict | None = None, identifier: str = "BND-1", **party_args: Any) -> dict:
    resources = [the_claim or claim()] + parties(**party_args)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [PAS + "profile-pas-request-bundle"]},
        "identifier": {"system": "urn:example:submissions", "value": identifier},
        "type": "collection",
        "timestamp": "2026-11-23T10:00:00+00:00",
        "entry": [{"fullUrl": BASE + f"{r['resourceType']}/{r['id']}", "resource": copy.deepcopy(r)} for r in resources],
    }


def parameters(the_claim: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": the_claim}]}
