"""Case -> ClaimResponse: the structure PAS and base R4 require, checked with the R4B models."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse

from fhir_mappings import codes
from fhir_mappings.case_to_claimresponse import claim_response, response_bundle, submit_response
from fhir_mappings.claim_to_case import submission_from_fhir
from review import rules
from review.model import Case
from tests import factories as f

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def case_from(body: dict) -> Case:
    draft = submission_from_fhir(body).draft
    return Case(**dict(draft), id="case1", partner_id="p", received_at=T0, due_at=T0)


def review_actions(resp: dict) -> list[str]:
    return [ext["valueCodeableConcept"]["coding"][0]["code"]
            for item in resp["item"] for adj in item["adjudication"] for outer in adj["extension"]
            if outer["url"] == codes.EXT_REVIEW_ACTION for ext in outer["extension"]
            if ext["url"] == codes.EXT_REVIEW_ACTION_CODE]


def test_pas_response_bundle_is_pended_complete_and_carries_the_parties():
    case = case_from(f.pas_bundle(f.claim(items=3)))
    bundle = response_bundle(case, "https://iro.example/fhir")
    Bundle.model_validate(bundle)
    resp = bundle["entry"][0]["resource"]
    assert resp["resourceType"] == "ClaimResponse" and resp["outcome"] == "complete"
    assert [i["itemSequence"] for i in resp["item"]] == [1, 2, 3]
    assert review_actions(resp) == ["A4", "A4", "A4"]
    assert resp["request"] == {"reference": "Claim/req-claim"}
    assert resp["meta"]["profile"] == [codes.PAS_CLAIMRESPONSE]
    assert bundle["identifier"]["value"] == "BND-1" and bundle["type"] == "collection" and bundle["timestamp"]
    urls = {e["fullUrl"] for e in bundle["entry"][1:]}
    for element in ("patient", "insurer", "requestor"):
        assert resp[element]["reference"] in urls  # resolvable inside the Bundle
    assert all(e["fullUrl"] for e in bundle["entry"])


def test_bare_claim_answer_is_a_queued_claimresponse():
    case = case_from(f.claim(use="claim"))
    resp = submit_response(case, "https://iro.example/fhir")
    ClaimResponse.model_validate(resp)
    assert resp["resourceType"] == "ClaimResponse" and resp["outcome"] == "queued" and resp["id"] == "case1"


@pytest.mark.parametrize("decision, action", [
    ("approved", "A1"), ("partial", "A2"), ("denied", "A3"), ("pended", "A4"), ("modified", "A6")])
def test_decisions_become_review_actions(decision, action):
    case = rules.decide(case_from(f.pas_bundle()), [{"item_sequence": 1, "decision": decision, "reason_code": "0U",
                                                     "reason_text": "see notes"}], T0)
    resp = claim_response(case)
    ClaimResponse.model_validate(resp)
    assert review_actions(resp) == [action]
    assert resp["item"][0]["noteNumber"] == [1] and resp["processNote"][0]["text"] == "see notes"
    granted = decision in ("approved", "partial", "modified")
    assert ("preAuthRef" in resp) is granted and ("preAuthPeriod" in resp) is granted


def test_reason_code_is_carried_in_review_action():
    case = rules.decide(case_from(f.pas_bundle()), [{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}], T0)
    ext = claim_response(case)["item"][0]["adjudication"][0]["extension"][0]["extension"]
    assert {"url": "reasonCode", "valueCodeableConcept": {"coding": [
        {"system": codes.X12_REVIEW_REASON, "code": "0U"}]}} in ext


def test_cancelled_case_reports_cancelled_items():
    resp = claim_response(rules.cancel(case_from(f.pas_bundle())))
    assert review_actions(resp) == ["C"] and resp["disposition"]
