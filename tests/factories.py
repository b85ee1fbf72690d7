"""Small builders of FHIR request bodies, so each test states only what it is about."""
from __future__ import annotations

import base64
import copy
from datetime import date, datetime, timedelta, timezone
from typing import Any

from fhir_mappings.claim_to_case import submission_from_fhir
from review.model import (Actor, Caller, Case, Code, Conflicts, Determination, Document, InformationRequest, Period,
                          RequestedInfo, Reviewer, Role, Status)

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
X12 = "https://codesystem.x12.org/005010/"
BASE = "http://provider.example/fhir/"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


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


# Review cases, as the intake and the reviewers leave them


def case(body: dict | None = None, **changes: Any) -> Case:
    """A stored case as intake makes it from `body` (default: a one-item PAS Bundle), then `changes`."""
    draft = submission_from_fhir(body or pas_bundle()).draft
    known = {k: v for k, v in dict(draft).items() if v is not None}  # a case falls back on the partner's defaults
    made = Case(**known, id="case1", partner_id="p", received_at=T0, due_at=T0 + timedelta(days=7))
    return made.model_copy(update=changes)


def physician(npi: str | None = "1234567893", id: str = "u-physician") -> Actor:
    return Actor(id=id, role=Role.PHYSICIAN_REVIEWER, npi=npi)


def reviewer(id: str = "u-reviewer") -> Actor:
    return Actor(id=id, role=Role.REVIEWER)


def determination(decision: str = "approved", **fields: Any) -> Determination:
    return Determination(decision=decision, decided_at=fields.pop("decided_at", T0), **fields)


def decided(the_case: Case, determinations: dict[int, Determination], status: Status = Status.DECIDED,
            **changes: Any) -> Case:
    """`the_case` with these determinations by item sequence; anything granted gets a preauth ref and
    period, as review does."""
    items = [i.model_copy(update={"determination": determinations.get(i.sequence, i.determination)})
             for i in the_case.items]
    if any(d.decision in ("approved", "partial", "modified") for d in determinations.values()):
        changes = {"preauth_ref": "CBCASE1", "preauth_period": Period(start="2026-11-23", end="2027-02-21"),
                   **changes}
    return the_case.model_copy(update={"items": items, "status": status, "decided_at": T0, **changes})


def wanted(text: str, loinc: str | None = None) -> RequestedInfo:
    return RequestedInfo(code=Code(system=LOINC, code=loinc) if loinc else None, text=text)


def information_request(*items: RequestedInfo, id: str = "ir1", due_by: date = date(2026, 12, 7),
                        answered_at: datetime | None = None) -> InformationRequest:
    return InformationRequest(id=id, items=list(items) or [wanted("Progress notes", "11506-3")], due_by=due_by,
                              requested_at=T0, requested_by=reviewer(), answered_at=answered_at)


def asking(the_case: Case, *requests: InformationRequest) -> Case:
    """`the_case`, in information-requested with these requests (default: one unanswered)."""
    return the_case.model_copy(update={"status": Status.INFORMATION_REQUESTED,
                                       "information_requests": list(requests) or [information_request()]})


# Clinical documents a request carries (PAS supportingInfo)


def supporting_info(*documents: bytes, content_type: str = "application/pdf") -> list[dict]:
    """Claim.supportingInfo with each document inline as a base64 valueAttachment."""
    return [{"sequence": n, "category": _coding("http://hl7.org/us/davinci-pas/CodeSystem/PASSupportingInfoType",
                                                "additionalInformation"),
             "valueAttachment": {"contentType": content_type, "data": base64.b64encode(data).decode(),
                                 "title": f"document {n}"}}
            for n, data in enumerate(documents, start=1)]


def document(title: str = "progress notes", via: str = "reviewer-api", at: datetime = T0) -> Document:
    return Document(title=title, content_type="application/pdf", key=f"inbound/p/{title}", sha256="0" * 64, size=1,
                    received_at=at, via=via)


# Reviewers, as their tokens and the supervisors' profiles present them

REVIEWER_NPI = "1245319599"


def caller(id: str = "u-physician", *roles: Role | str, npi: str | None = None) -> Caller:
    """A signed-in user: by default a physician reviewer with an NPI."""
    if not roles:
        roles, npi = (Role.PHYSICIAN_REVIEWER,), npi or REVIEWER_NPI
    return Caller(id=id, roles=frozenset(roles), npi=npi)


def profile(id: str = "u-physician", *roles: Role | str, npi: str | None = None, partners: list[str] = (),
            provider_npis: list[str] = (), organizations: list[str] = ()) -> Reviewer:
    """A reviewer's profile, with the parties they have a conflict of interest with."""
    if not roles:
        roles, npi = (Role.PHYSICIAN_REVIEWER,), npi or REVIEWER_NPI
    return Reviewer(id=id, roles=list(roles), npi=npi, conflicts=Conflicts(
        partners=list(partners), provider_npis=list(provider_npis), organizations=list(organizations)))


# The CMS-0057-F report's CSV header, spelt out: the report's contract, checked as written.
METRICS_CSV_HEADER = (
    "partner,line_of_business,requests_decided,"
    "standard_decided,standard_approved,standard_denied,standard_partially_approved,"
    "standard_percent_approved,standard_percent_denied,standard_percent_partially_approved,"
    "expedited_decided,expedited_approved,expedited_denied,expedited_partially_approved,"
    "expedited_percent_approved,expedited_percent_denied,expedited_percent_partially_approved,"
    "extended_decided,extended_approved,percent_extended_and_approved,percent_of_extended_approved,"
    "appeals_decided,appeals_approved,appeals_partially_approved,"
    "percent_approved_after_appeal,percent_partially_approved_after_appeal,"
    "standard_average_hours,standard_median_hours,expedited_average_hours,expedited_median_hours\r\n"
)


# PAS subscriptions (R4 Subscriptions Backport), as a subscriber's client registers them

SUBSCRIPTIONS_BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
PAS_TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"


def subscription(org: str = "1234567893", endpoint: str = "https://ehr.example/pas-notifications",
                 headers: list[str] | None = None, **changes: Any) -> dict:
    """A PAS Subscription: rest-hook, full-resource, filtered by orgIdentifier=`org`; `changes` replace
    top-level elements."""
    channel = {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
               "_payload": {"extension": [{"url": SUBSCRIPTIONS_BACKPORT + "backport-payload-content",
                                           "valueCode": "full-resource"}]}}
    if headers is not None:
        channel["header"] = headers
    return {"resourceType": "Subscription", "status": "requested", "reason": "PAS results for our organization",
            "criteria": PAS_TOPIC,
            "_criteria": {"extension": [{"url": SUBSCRIPTIONS_BACKPORT + "backport-filter-criteria",
                                         "valueString": f"orgIdentifier={org}"}]},
            "channel": channel, **changes}
