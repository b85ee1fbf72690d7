"""The FHIR API through real HTTP against the embedded DynamoDB endpoint."""
from __future__ import annotations

import json

import pytest

from fhir_mappings import codes
from tests import factories as f
from tests.conftest import PAS_DIR, PAS_REQUEST_BUNDLES, R4_CLAIMS


def review_actions(resp: dict) -> list[str]:
    return [e["valueCodeableConcept"]["coding"][0]["code"] for item in resp["item"] for adj in item["adjudication"]
            for outer in adj.get("extension", []) for e in outer["extension"] if e["url"] == codes.EXT_REVIEW_ACTION_CODE]


def outcome(resp, status: int, code: str, expression: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    if expression:
        assert body["issue"][0]["expression"] == [expression]
    return body


def test_metadata_is_an_r4_capability_statement_without_a_token(base_url):
    import requests
    resp = requests.get(f"{base_url}/fhir/metadata", timeout=10)
    assert resp.status_code == 200 and resp.json()["resourceType"] == "CapabilityStatement"


@pytest.mark.parametrize("path", PAS_REQUEST_BUNDLES, ids=lambda p: getattr(p, "name", "none"))
def test_every_pas_request_bundle_is_accepted(path, corpus_json, api, fresh_partner, case_count):
    client = api(fresh_partner)
    body = corpus_json(path)
    claim = body["entry"][0]["resource"]
    if claim.get("related"):  # an update needs the claim it updates: send that first, as a submitter would
        assert client.submit(corpus_json(PAS_DIR / "Bundle-HomecareAuthorizationBundleExample.json")).status_code == 200
    resp = client.submit(body)
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    first = bundle["entry"][0]["resource"]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert first["resourceType"] == "ClaimResponse" and first["outcome"] == "complete"
    assert [i["itemSequence"] for i in first["item"]] == [i["sequence"] for i in claim["item"]]
    assert set(review_actions(first)) <= {"A4", "C"} and "A4" in review_actions(first)
    assert first["request"] == {"reference": body["entry"][0]["fullUrl"]}  # absolute: it resolves
    assert {e["resource"]["resourceType"] for e in bundle["entry"][1:]} >= {"Patient", "Organization"}
    assert case_count(fresh_partner) == 1
    read = client.get(f"/fhir/ClaimResponse/{first['id']}")
    assert read.status_code == 200 and read.json()["id"] == first["id"]


@pytest.mark.parametrize("path", R4_CLAIMS, ids=lambda p: getattr(p, "name", "none"))
def test_bare_r4_claims_are_queued(path, corpus_json, api, fresh_partner, case_count):
    resp = api(fresh_partner).submit(corpus_json(path))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["resourceType"] == "ClaimResponse" and body["outcome"] == "queued"
    assert case_count(fresh_partner) == 1


def test_parameters_wrapping_a_claim_is_accepted(api):
    resp = api().submit(f.parameters(f.claim("PARAM-1", use="claim")))
    assert resp.status_code == 200 and resp.json()["outcome"] == "queued"


def test_resubmission_is_idempotent_and_reuse_is_a_new_transaction(api, case_count, reviewer):
    client = api("beta")
    body = f.pas_bundle(f.claim("IDEM-1"), identifier="IDEM-BUNDLE")
    first = client.submit(body).json()["entry"][0]["resource"]["id"]
    resent = dict(body, timestamp="2026-11-24T09:00:00Z")  # a retransmission, stamped anew
    again = client.submit(resent)
    assert again.status_code == 200 and again.json()["entry"][0]["resource"]["id"] == first
    changed = f.pas_bundle(f.claim("IDEM-2", items=2), identifier="IDEM-BUNDLE")
    answer = client.submit(changed)
    assert answer.status_code == 200 and answer.json()["identifier"]["value"] == "IDEM-BUNDLE"
    second = answer.json()["entry"][0]["resource"]["id"]
    assert second != first and client.submit(changed).json()["entry"][0]["resource"]["id"] == second
    seen = reviewer().get(f"/cases/{second}").json()
    assert seen["case"]["transaction_id_reused_from"] == first
    assert seen["history"][0]["detail"]["transaction_id_reused_from"] == first
    bare = f.claim("IDEM-BARE", use="claim")
    bare_id = client.submit(bare).json()["id"]
    assert client.submit(bare).json()["id"] == bare_id
    other = client.submit({**bare, "created": "2026-11-24T00:00:00Z"}).json()["id"]
    assert other != bare_id and case_count("beta") == 4


def test_a_strict_partner_gets_409_for_a_reused_transaction_id(api, delivering_partner, case_count):
    partner = delivering_partner({}, strict_transaction_ids=True)
    client = api(partner)
    assert client.submit(f.pas_bundle(f.claim("STRICT-1"), identifier="STRICT")).status_code == 200
    outcome(client.submit(f.pas_bundle(f.claim("STRICT-1", items=2), identifier="STRICT")), 409, "conflict",
            "Bundle.identifier")
    assert case_count(partner) == 1


@pytest.mark.parametrize("body, content_type, status, code, expression", [
    ("{not json", "application/fhir+json", 400, "structure", None),
    (json.dumps({"resourceType": "Patient", "id": "x"}), "application/fhir+json", 400, "not-supported", "resourceType"),
    (json.dumps({"resourceType": "Bundle", "type": "collection", "identifier": {"value": "E1"},
                 "entry": [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}}]}),
     "application/fhir+json", 422, "required", "Bundle.entry[0].resource"),
    (json.dumps({k: v for k, v in f.claim().items() if k != "patient"}), "application/fhir+json", 400, "required",
     "Claim.patient"),
    (json.dumps({**f.claim(), "item": []}), "application/json", 422, "required", "Claim.item"),
    (json.dumps(f.claim()), "text/plain", 415, "not-supported", None),
    (json.dumps(f.claim()), "application/xml", 415, "not-supported", None),
])
def test_bad_input_is_refused_with_an_outcome_and_stores_nothing(api, fresh_partner, case_count, body, content_type,
                                                                  status, code, expression):
    outcome(api(fresh_partner).submit(body, content_type), status, code, expression)
    assert case_count(fresh_partner) == 0


def test_body_over_5_mb_is_413(api, fresh_partner, case_count):
    big = f.claim()
    big["text"] = {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + "x" * (5 * 1024 * 1024) + "</div>"}
    outcome(api(fresh_partner).submit(big), 413, "too-long")
    assert case_count(fresh_partner) == 0


def test_missing_or_unknown_token_is_401(base_url, fresh_partner, case_count):
    import requests
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "token-alpha"}):
        resp = requests.post(f"{base_url}/fhir/Claim/$submit", data=json.dumps(f.claim()), timeout=10,
                             headers={**headers, "Content-Type": "application/fhir+json"})
        outcome(resp, 401, "login")
        assert requests.get(f"{base_url}/cases/x", headers=headers, timeout=10).status_code == 401


def test_partners_see_only_their_own_cases(api):
    alpha, gamma = api("alpha"), api("gamma")
    cr = alpha.submit(f.pas_bundle(f.claim("ISO-1"), identifier="ISO-B")).json()["entry"][0]["resource"]
    outcome(gamma.get(f"/fhir/ClaimResponse/{cr['id']}"), 404, "not-found")
    outcome(gamma.get(f"/cases/{cr['id']}"), 403, "forbidden")  # partner tokens never reach the review API
    assert gamma.get("/fhir/ClaimResponse", identifier="urn:example:claims|ISO-1").json()["total"] == 0
    outcome(gamma.get("/fhir/ClaimResponse/does-not-exist"), 404, "not-found")  # same answer as another's id


def test_determination_flows_into_the_claimresponse(api, reviewer):
    client, dr = api("alpha"), reviewer("dr-demo")
    cr = client.submit(f.pas_bundle(f.claim("DET-1", items=2), identifier="DET-B")).json()["entry"][0]["resource"]
    doc = dr.get(f"/cases/{cr['id']}").json()
    assert (doc["case"]["status"], doc["case"]["version"], doc["case"]["kind"]) == ("received", 1, "prior-auth")
    assert [e["type"] for e in doc["history"]] == ["received"]
    outcome(dr.decide(cr["id"], {"item_sequence": 1, "decision": "approved"},
                      {"item_sequence": 2, "decision": "denied"}), 422, "required", "decisions[1].reason_code")
    resp = dr.decide(cr["id"], {"item_sequence": 1, "decision": "approved"},
                     {"item_sequence": 2, "decision": "denied", "reason_code": "0U", "reason_text": "not covered"})
    assert resp.status_code == 200 and resp.json()["status"] == "decided" and resp.json()["version"] == 4
    outcome(dr.post(f"/cases/{cr['id']}/determination", {"version": 3, "decisions": [
        {"item_sequence": 1, "decision": "approved"}]}), 409, "conflict", "version")
    final = client.get(f"/fhir/ClaimResponse/{cr['id']}").json()
    assert review_actions(final) == ["A1", "A3"] and final["outcome"] == "complete"
    assert final["preAuthRef"] and final["preAuthPeriod"]["start"]
    assert final["processNote"][0]["text"] == "not covered"
    history = dr.get(f"/cases/{cr['id']}").json()["history"]
    assert [e["type"] for e in history] == ["received", "assign", "start", "determination"]


def test_claimresponse_search_by_request_and_identifier(api):
    client = api("alpha")
    cr = client.submit(f.pas_bundle(f.claim("SRCH-1", id="search-claim"), identifier="SRCH-B")).json()["entry"][0]["resource"]
    for params in ({"request": "Claim/search-claim"}, {"identifier": "urn:example:claims|SRCH-1"},
                   {"identifier": "SRCH-1"}):
        found = client.get("/fhir/ClaimResponse", **params).json()
        assert found["type"] == "searchset" and cr["id"] in [e["resource"]["id"] for e in found["entry"]], params
    outcome(client.get("/fhir/ClaimResponse", patient="x"), 422, "not-supported")


def test_update_and_cancel_of_the_corpus_homecare_request(api, reviewer, corpus_json, fresh_partner, case_count):
    client = api(fresh_partner)
    original = client.submit(corpus_json(PAS_DIR / "Bundle-HomecareAuthorizationBundleExample.json")).json()
    update = client.submit(corpus_json(PAS_DIR / "Bundle-HomecareAuthorizationUpdateBundleExample.json")).json()
    case_id = original["entry"][0]["resource"]["id"]
    assert update["entry"][0]["resource"]["id"] == case_id and case_count(fresh_partner) == 1
    doc = reviewer().get(f"/cases/{case_id}").json()
    case = doc["case"]
    assert [(i["sequence"], i.get("cancelled", False)) for i in case["items"]] == [(1, False), (2, True), (3, False)]
    assert case["version"] == 2 and [e["type"] for e in doc["history"]] == ["received", "updated"]
    cancel = f.pas_bundle(f.claim("CANCEL-1", related="111099", claim_cert="3"), identifier="CANCEL-B")
    cancel["entry"][0]["resource"]["related"][0]["claim"]["identifier"]["system"] = "http://example.org/PATIENT_EVENT_TRACE_NUMBER"
    resp = client.submit(cancel)
    assert resp.status_code == 200 and reviewer().get(f"/cases/{case_id}").json()["case"]["status"] == "cancelled"


def test_appeal_of_a_decided_denial_is_a_linked_case(api, reviewer):
    client, dr = api("alpha"), reviewer()
    cr = client.submit(f.pas_bundle(f.claim("APL-1"), identifier="APL-B1")).json()["entry"][0]["resource"]
    assert dr.decide(cr["id"], {"item_sequence": 1, "decision": "denied", "reason_code": "0U"}).status_code == 200
    appeal = client.submit(f.pas_bundle(f.claim("APL-2", related="APL-1"), identifier="APL-B2")).json()
    appeal_id = appeal["entry"][0]["resource"]["id"]
    doc = dr.get(f"/cases/{appeal_id}").json()
    assert appeal_id != cr["id"] and doc["case"]["kind"] == "appeal" and doc["links"]["original"] == cr["id"]
    assert dr.get(f"/cases/{cr['id']}").json()["links"]["appeals"] == [appeal_id]
    outcome(client.submit(f.pas_bundle(f.claim("APL-3", related="NOT-SEEN"), identifier="APL-B3")), 422,
            "not-found", "Bundle.entry[0].resource.related[0].claim")


def test_inquiry_matches_member_and_provider(api, corpus_json, fresh_partner, delivering_partner):
    """PAS 2.2.1: Parameters with a `return` Bundle per match, none when nothing matches; a PAS 2.0.1
    partner gets the Bundle itself, and 404 when nothing matches."""
    client = api(fresh_partner)
    inquiry = corpus_json(PAS_DIR / "Bundle-PASClaimInquiryBundleExample.json")
    resp = client.submit(inquiry, operation="$inquire")
    assert resp.status_code == 200 and resp.json() == {"resourceType": "Parameters"}
    submitted = client.submit(corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json")).json()
    resp = client.submit(inquiry, operation="$inquire")
    assert resp.status_code == 200
    [answer] = resp.json()["parameter"]
    assert answer["name"] == "return" and answer["resource"]["identifier"] == inquiry["identifier"]
    first = answer["resource"]["entry"][0]["resource"]
    assert first["resourceType"] == "ClaimResponse" and first["id"] == submitted["entry"][0]["resource"]["id"]
    older = api(delivering_partner({}, pas_version="2.0.1"))
    outcome(older.submit(inquiry, operation="$inquire"), 404, "not-found")
    older.submit(corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json"))
    bundle = older.submit(inquiry, operation="$inquire").json()
    assert bundle["resourceType"] == "Bundle" and bundle["identifier"] == inquiry["identifier"]
    assert bundle["entry"][0]["resource"]["resourceType"] == "ClaimResponse"


def test_one_partner_sending_the_corpus_in_order(api, reviewer, corpus_json, fresh_partner, case_count):
    """The corpus reuses Claim identifier 111099 and Bundle identifier A12345 across requests."""
    client = api(fresh_partner)
    send = lambda name: client.submit(corpus_json(PAS_DIR / name))  # noqa: E731
    homecare = send("Bundle-HomecareAuthorizationBundleExample.json").json()["entry"][0]["resource"]["id"]
    medical = send("Bundle-MedicalServicesAuthorizationBundleExample.json").json()["entry"][0]["resource"]["id"]
    assert send("Bundle-ReferralAuthorizationBundleExample.json").status_code == 200
    # A12345 again, with other content: a new transaction, and it goes to the Homecare case, not the
    # newer one sharing Claim identifier 111099.
    update = send("Bundle-HomecareAuthorizationUpdateBundleExample.json")
    assert update.status_code == 200 and update.json()["entry"][0]["resource"]["id"] == homecare
    assert case_count(fresh_partner) == 3
    assert reviewer().get(f"/cases/{medical}").json()["case"]["version"] == 1


def resource_parameter(bundle: dict) -> dict:
    """PAS's OperationDefinitions type $submit's and $inquire's `resource` parameter as a Bundle."""
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle}]}


def test_submit_takes_a_pas_bundle_in_parameters(api, corpus_json, fresh_partner):
    client = api(fresh_partner)
    bundle = corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json")
    resp = client.submit(resource_parameter(bundle))
    assert resp.status_code == 200, resp.text
    answered = resp.json()
    assert answered["resourceType"] == "Bundle" and answered["identifier"] == bundle["identifier"]
    assert answered["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    assert client.submit(bundle).json()["entry"][0]["resource"]["id"] == answered["entry"][0]["resource"]["id"]
    bundle["type"] = "transaction"
    outcome(client.submit(resource_parameter({**bundle, "identifier": {"value": "X-2"}})), 422, "invalid",
            "Parameters.parameter[0].resource.type")


def test_an_inquiry_answer_echoes_the_inquiry_and_claims_the_inquiry_response_profile(api, corpus_json, fresh_partner):
    client = api(fresh_partner)
    client.submit(corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json"))
    inquiry = corpus_json(PAS_DIR / "Bundle-PASClaimInquiryBundleExample.json")
    for body in (inquiry, resource_parameter(inquiry)):
        resp = client.submit(body, operation="$inquire")
        assert resp.status_code == 200, resp.text
        [answer] = [p["resource"] for p in resp.json()["parameter"]]
        assert answer["identifier"] == inquiry["identifier"]  # PAS's own example echoes 5269367
        assert answer["meta"]["profile"] == [codes.PAS_INQUIRY_RESPONSE_BUNDLE]
        responses = [e["resource"] for e in answer["entry"] if e["resource"]["resourceType"] == "ClaimResponse"]
        assert responses and all(r["meta"]["profile"] == [codes.PAS_CLAIM_INQUIRY_RESPONSE] for r in responses)


# Formats and methods (issue 9, item 6)


@pytest.mark.parametrize("ask", [{"headers": {"Accept": "application/fhir+xml"}}, {"params": {"_format": "xml"}},
                                 {"params": {"_format": "application/fhir+xml"}, "headers": {"Accept": "*/*"}}],
                         ids=["Accept", "_format", "_format over Accept"])
def test_a_client_asking_only_for_xml_hears_406(base_url, ask):
    import requests
    resp = requests.get(f"{base_url}/fhir/metadata", timeout=10, **ask)
    outcome(resp, 406, "not-supported")


@pytest.mark.parametrize("accept", ["application/fhir+xml;q=1, application/fhir+json;q=0.5", "application/json",
                                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"])
def test_a_client_that_takes_json_among_others_gets_json(base_url, accept):
    import requests
    resp = requests.get(f"{base_url}/fhir/metadata", headers={"Accept": accept}, timeout=10)
    assert resp.status_code == 200 and resp.json()["resourceType"] == "CapabilityStatement"


def test_xml_sent_is_refused_with_415(api, fresh_partner):
    outcome(api(fresh_partner).submit(b"<Bundle xmlns='http://hl7.org/fhir'/>", content_type="application/fhir+xml"),
            415, "not-supported")


def test_head_metadata_is_answered_as_get_without_a_body(base_url):
    import http.client
    from urllib.parse import urlsplit
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("HEAD", "/fhir/metadata")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("application/fhir+json")
    assert resp.read() == b""
    conn.request("GET", "/fhir/metadata")  # the same connection: nothing of a body was left on it
    assert json.loads(conn.getresponse().read())["resourceType"] == "CapabilityStatement"
    conn.close()


@pytest.mark.parametrize("operation", ["$submit", "$inquire"])
def test_get_on_an_operation_is_405_with_allow(api, fresh_partner, operation):
    resp = api(fresh_partner).get(f"/fhir/Claim/{operation}")
    outcome(resp, 405, "not-supported")
    assert resp.headers["Allow"] == "POST"
