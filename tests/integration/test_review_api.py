"""The review API through real HTTP: reviewers' tokens from the stack's local user pool, partners'
requests through the FHIR API, the answers read back as the partner sees them."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
import requests

from fhir_mappings import codes
from infra.local.topology import Topology
from tests import factories as f
from tests.integration.test_profile_validation import (PROFILES, action, ext, pas_extension_problems, profile_problems,
                                                       sub, validate)

# The member every request here names: a review API answer other than the case itself never shows it.
FAMILY, GIVEN = "QUILLFEATHER", "ODALYS"
DR_NPI = "1234567893"  # dr-demo's, infra/local/reviewers.yaml
OTHER_NPI = "1497758544"  # a provider nobody else's requests name
PDF = b"%PDF-1.4\n% progress notes for the review\n%%EOF\n"


def request(tag: str, *, member: str | None = None, provider_npi: str = DR_NPI, **claim: object) -> dict:
    bundle = f.pas_bundle(f.claim(f"RVW-{tag}", **claim), identifier=f"RVW-B-{tag}", member_id=member or f"RVW-M-{tag}",
                          provider_npi=provider_npi)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"] = [{"family": FAMILY, "given": [GIVEN]}]
    return bundle


def submitted(client, body: dict) -> str:
    resp = client.submit(body)
    assert resp.status_code == 200, resp.text
    return resp.json()["entry"][0]["resource"]["id"]


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


def run(who, case_id: str, command: str, version: int, **body) -> dict:
    """One lifecycle command at a known version; the changed case."""
    return ok(who.post(f"/cases/{case_id}/{command}", {"version": version, **body}))


def in_review(who, user: str, case_id: str) -> dict:
    """received -> assigned (to `user`, by themself) -> in-review."""
    assert run(who, case_id, "assignment", 1, reviewer=user)["status"] == "assigned"
    return run(who, case_id, "start", 2)


def refused(resp: requests.Response, status: int, code: str, expression: str | None = None) -> dict:
    """An OperationOutcome that says neither who the member is nor any identifier it was sent."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code, body
    if expression:
        assert body["issue"][0]["expression"] == [expression], body
    assert_no_member(resp)
    return body


def assert_no_member(resp: requests.Response) -> None:
    assert FAMILY not in resp.text and GIVEN not in resp.text


def in_days(days: int) -> str:
    """A due date `days` from today, as the server counts days (UTC)."""
    return (datetime.now(timezone.utc).date() + timedelta(days=days)).isoformat()


def review_action(item: dict) -> str:
    return action(item)["code"]


# 1. The reviewer flow


def test_information_request_answered_through_the_review_api_then_partial_and_modified(api, reviewer, archived,
                                                                                         tmp_path):
    partner, dr, lead = api("alpha"), reviewer("dr-demo"), reviewer("lead-demo")
    body = request("FLOW-1", items=2)
    case_id = submitted(partner, body)
    reads = []

    def read(who, user: str) -> dict:
        reads.append(user)
        return ok(who.get(f"/cases/{case_id}"))

    doc = read(dr, "dr-demo")
    assert set(doc) == {"case", "links", "history", "deliveries"} and doc["deliveries"] == []  # alpha configures no target
    assert doc["case"]["id"] == case_id and doc["case"]["status"] == "received" and doc["case"]["version"] == 1
    assert doc["case"]["member"]["family"] == FAMILY  # the reviewer sees whom the case is about
    assert doc["links"] == {"original": None, "appeals": []}
    [received] = doc["history"]
    assert (received["type"], received["actor"]["role"], received["to_status"]) == ("received", "partner", "received")

    assigned = run(dr, case_id, "assignment", 1, reviewer="dr-demo")
    assert (assigned["status"], assigned["assignee"], assigned["version"]) == ("assigned", "dr-demo", 2)
    assert run(dr, case_id, "start", 2)["status"] == "in-review"
    due_by = in_days(14)
    asked = run(dr, case_id, "information-request", 3, due_by=due_by, items=[
        {"code": {"system": f.LOINC, "code": "34117-2", "display": "History and physical note"},
         "text": "History and physical"},
        {"text": "Why conservative therapy was not tried"}])
    assert asked["status"] == "information-requested" and asked["version"] == 4
    [ir] = asked["information_requests"]
    assert ir["due_by"] == due_by and ir["answered_at"] is None and ir["requested_by"]["id"] == "dr-demo"

    # The partner's view: every item pended, a CommunicationRequest per thing wanted.
    pended = ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))
    assert [review_action(i) for i in pended["item"]] == ["A4", "A4"] and "preAuthRef" not in pended
    asks = pended["contained"]
    assert [r["reference"] for r in pended["communicationRequest"]] == ["#" + a["id"] for a in asks]
    assert [a["resourceType"] for a in asks] == ["CommunicationRequest"] * 2
    assert [a.get("payload") for a in asks] == [[{"contentString": "34117-2"}], None]
    assert [a["note"][0]["text"] for a in asks] == ["History and physical", "Why conservative therapy was not tried"]
    assert {a["occurrenceDateTime"] for a in asks} == {due_by} and {a["status"] for a in asks} == {"active"}
    # ...and as the PAS inquiry answers: Bundle entries, referenced by fullUrl, with the PAS Task.
    [inquiry] = [p["resource"] for p in ok(partner.submit(body, operation="$inquire"))["parameter"]]
    [answer] = [e["resource"] for e in inquiry["entry"] if e["resource"]["resourceType"] == "ClaimResponse"]
    entries = [e for e in inquiry["entry"] if e["resource"]["resourceType"] == "CommunicationRequest"]
    assert answer["id"] == case_id and len(entries) == 2
    assert [r["reference"] for r in answer["communicationRequest"]] == [e["fullUrl"] for e in entries]
    assert "contained" not in answer
    [task] = [e["resource"] for e in inquiry["entry"] if e["resource"]["resourceType"] == "Task"]
    assert task["status"] == "requested" and task["restriction"]["period"]["end"] == due_by
    assert [i["valueCodeableConcept"]["coding"][0]["code"] for i in task["input"][1:]] == ["34117-2", "34117-2"]

    sent = run(dr, case_id, "information", 4, documents=[
        {"content_type": "application/pdf", "data": base64.b64encode(PDF).decode(), "title": "History and physical"}])
    assert sent["status"] == "in-review" and sent["version"] == 5
    [document] = sent["documents"]
    assert document["via"] == "reviewer-api" and document["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert document["size"] == len(PDF) and archived(document["key"]) == PDF
    assert sent["information_requests"][0]["answered_at"]
    answered = ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))
    assert "communicationRequest" not in answered and "contained" not in answered
    assert [review_action(i) for i in answered["item"]] == ["A4", "A4"]

    decided = run(dr, case_id, "determination", 5, decisions=[
        {"item_sequence": 1, "decision": "partial", "reason_code": "0U", "reason_text": "Two visits, not four",
         "authorized_quantity": 2, "authorized_period": {"start": "2026-12-01", "end": "2026-12-31"}},
        {"item_sequence": 2, "decision": "modified", "reason_code": "0U",
         "authorized_code": {"system": f.CPT, "code": "99211"}}])
    assert decided["status"] == "decided" and decided["version"] == 6
    assert [i["determination"]["decision"] for i in decided["items"]] == ["partial", "modified"]
    assert {i["determination"]["reviewer"]["npi"] for i in decided["items"]} == {DR_NPI}

    final = ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))
    assert final["outcome"] == "complete" and final["preAuthRef"] == f"CB{case_id.upper()}"
    assert final["preAuthPeriod"] == {"start": "2026-12-01", "end": "2026-12-31"}
    first, second = final["item"]
    assert action(first) == {"code": "A2", "number": f"CB{case_id.upper()}-1", "reasonCode": "0U"}
    assert sub(first, codes.EXT_ITEM_AUTHORIZED_DETAIL) == {"quantity": {"valueQuantity": {
        "value": 2, "unit": "Units", "system": codes.X12_QUANTITY_QUALIFIER, "code": "FL"}}}  # PAS prof-2, prof-3
    assert ext(first, codes.EXT_ITEM_PREAUTH_PERIOD) == {"valuePeriod": {"start": "2026-12-01", "end": "2026-12-31"}}
    assert action(second) == {"code": "A6", "number": f"CB{case_id.upper()}-2", "reasonCode": "0U"}
    assert sub(second, codes.EXT_ITEM_AUTHORIZED_DETAIL) == {
        "productOrServiceCode": {"valueCodeableConcept": {"coding": [{"system": f.CPT, "code": "99211"}]}}}
    assert sub(final, codes.EXT_CLAIMRESPONSE_REVIEWER) == {
        "wasHumanReviewedFlag": {"valueBoolean": True},
        "reviewerNPI": {"valueIdentifier": {"system": codes.NPI, "value": DR_NPI}}}
    assert final["processNote"] == [{"number": 1, "type": "display", "text": "Two visits, not four"}]
    assert "communicationRequest" not in final

    doc = read(dr, "dr-demo")
    assert [e["type"] for e in doc["history"]] == [
        "received", "assign", "start", "request-information", "information-received", "determination"]
    assert doc["history"][-1]["detail"] == {"items": {"1": "partial", "2": "modified"}}
    read(reviewer("nurse-demo"), "nurse-demo")

    # Every read is in the audit log: who and when, in order; reading the log is not a read of the case.
    audit = ok(lead.get(f"/cases/{case_id}/audit"))
    assert [a["actor"]["id"] for a in audit["access"]] == reads == ["dr-demo", "dr-demo", "nurse-demo"]
    times = [datetime.fromisoformat(a["at"]) for a in audit["access"]]
    assert times == sorted(times) and all(t.tzinfo for t in times)
    assert [e["type"] for e in audit["changes"]] == [e["type"] for e in doc["history"]]

    for emitted in (pended, inquiry, final):
        assert pas_extension_problems(emitted) == []
    if PROFILES.is_dir():
        profile = json.loads((PROFILES / "StructureDefinition-profile-communicationrequest.json").read_bytes())
        urls = {e["fullUrl"]: e["resource"]["resourceType"] for e in inquiry["entry"]}
        for ask in asks + [e["resource"] for e in entries]:
            assert profile_problems(ask, profile, urls) == [], ask["id"]
    validate(tmp_path, {"information-requested-claimresponse": pended, "information-requested-bundle": inquiry,
                        "communicationrequest-loinc": entries[0]["resource"],
                        "communicationrequest-text": entries[1]["resource"], "partial-and-modified": final})


def test_a_claim_update_carrying_the_document_answers_the_information_request(api, reviewer, archived):
    partner, dr = api("alpha"), reviewer("dr-demo")
    case_id = submitted(partner, request("UPD-1", member="RVW-M-UPD"))
    in_review(dr, "dr-demo", case_id)
    run(dr, case_id, "information-request", 3, due_by=in_days(7),
        items=[{"code": {"code": "11506-3"}, "text": "Progress notes"}])
    assert "communicationRequest" in ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))

    update = request("UPD-2", member="RVW-M-UPD", related="RVW-UPD-1", supportingInfo=[{
        "sequence": 1,
        "category": {"coding": [{"system": "http://hl7.org/us/davinci-pas/CodeSystem/PASSupportingInfoType",
                                 "code": "additionalInformation"}]},
        "valueAttachment": {"contentType": "application/pdf", "data": base64.b64encode(PDF).decode(),
                            "title": "Progress notes"}}])
    assert submitted(partner, update) == case_id  # the same case, updated

    doc = ok(dr.get(f"/cases/{case_id}"))
    case = doc["case"]
    assert case["status"] == "in-review" and case["information_requests"][0]["answered_at"]
    [document] = case["documents"]
    assert document["via"] == "claim-update" and document["title"] == "Progress notes"
    assert document["content_type"] == "application/pdf" and document["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert archived(document["key"]) == PDF
    assert [(e["type"], e["actor"]["role"]) for e in doc["history"][-2:]] == [
        ("updated", "partner"), ("information-received", "partner")]
    answer = ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))
    assert "communicationRequest" not in answer and [review_action(i) for i in answer["item"]] == ["A4"]


# 2. Refusals


def test_commands_are_refused_for_stale_or_malformed_versions_and_unknown_decisions(api, reviewer):
    dr = reviewer("dr-demo")
    case_id = submitted(api("alpha"), request("ERR-1"))
    run(dr, case_id, "assignment", 1, reviewer="dr-demo")
    body = refused(dr.post(f"/cases/{case_id}/start", {"version": 1}), 409, "conflict", "version")
    assert "version 2" in body["issue"][0]["diagnostics"]
    refused(dr.post(f"/cases/{case_id}/start", {"version": "2"}), 422, "invalid", "version")
    run(dr, case_id, "start", 2)
    body = refused(dr.post(f"/cases/{case_id}/determination", {"version": 3, "decisions": [
        {"item_sequence": 1, "decision": "maybe"}]}), 422, "invalid", "decisions[0].decision")
    assert all(f"'{d}'" in body["issue"][0]["diagnostics"] for d in ("approved", "denied", "partial", "modified"))
    refused(dr.post(f"/cases/{case_id}/determination", {"version": 3, "decisions": [
        {"item_sequence": 1, "decision": "denied"}]}), 422, "required", "decisions[0].reason_code")
    assert ok(dr.get(f"/cases/{case_id}"))["case"]["version"] == 3  # nothing was changed


def test_only_a_physician_reviewer_denies(api, reviewer):
    nurse = reviewer("nurse-demo")
    case_id = submitted(api("alpha"), request("ERR-2"))
    in_review(nurse, "nurse-demo", case_id)
    refused(nurse.post(f"/cases/{case_id}/determination", {"version": 3, "decisions": [
        {"item_sequence": 1, "decision": "denied", "reason_code": "0U"}]}), 403, "forbidden", "decisions[0].decision")
    assert run(nurse, case_id, "determination", 3, decisions=[
        {"item_sequence": 1, "decision": "approved"}])["status"] == "decided"


def test_a_command_the_state_does_not_allow_is_a_conflict_naming_the_state(api, reviewer):
    dr, lead = reviewer("dr-demo"), reviewer("lead-demo")
    case_id = submitted(api("alpha"), request("ERR-3"))
    body = refused(dr.post(f"/cases/{case_id}/start", {"version": 1}), 409, "conflict", "status")
    assert "received" in body["issue"][0]["diagnostics"]
    run(dr, case_id, "assignment", 1, reviewer="dr-demo")
    body = refused(dr.post(f"/cases/{case_id}/determination", {"version": 2, "decisions": [
        {"item_sequence": 1, "decision": "approved"}]}), 409, "conflict", "status")
    assert "assigned" in body["issue"][0]["diagnostics"]
    refused(lead.post(f"/cases/{case_id}/reopen", {"version": 2, "reason": "second look"}), 409, "conflict", "status")


def test_a_reviewer_with_a_conflict_of_interest_is_not_assigned(api, reviewer):
    lead, nurse = reviewer("lead-demo"), reviewer("nurse-demo")
    profile = ok(lead.get("/reviewers/nurse-demo"))
    conflicted = {**profile["conflicts"], "provider_npis": [OTHER_NPI]}
    kept = {k: v for k, v in profile.items() if k != "id"}
    try:
        assert ok(lead.put("/reviewers/nurse-demo", {**kept, "conflicts": conflicted}))["conflicts"] == conflicted
        case_id = submitted(api("alpha"), request("COI-1", provider_npi=OTHER_NPI))
        for who in (lead, nurse):  # assigned by a supervisor, or by themself
            resp = who.post(f"/cases/{case_id}/assignment", {"version": 1, "reviewer": "nurse-demo"})
            body = refused(resp, 409, "conflict", "reviewer")
            assert body["issue"][0]["diagnostics"].endswith("conflict of interest with this case (provider)")
            assert OTHER_NPI not in resp.text and "nurse-demo" not in resp.text
        assert run(lead, case_id, "assignment", 1, reviewer="dr-demo")["assignee"] == "dr-demo"
    finally:
        assert ok(lead.put("/reviewers/nurse-demo", kept)) == profile


def test_only_a_supervisor_reopens_and_the_audit_log_is_theirs(api, reviewer):
    partner, dr, lead = api("alpha"), reviewer("dr-demo"), reviewer("lead-demo")
    case_id = submitted(partner, request("REOPEN-1"))
    in_review(dr, "dr-demo", case_id)
    run(dr, case_id, "determination", 3, decisions=[{"item_sequence": 1, "decision": "approved"}])
    assert ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))["preAuthRef"]
    refused(dr.post(f"/cases/{case_id}/reopen", {"version": 4, "reason": "second look"}), 403, "forbidden")
    refused(lead.post(f"/cases/{case_id}/reopen", {"version": 4}), 422, "required", "reason")
    reopened = run(lead, case_id, "reopen", 4, reason="The requester sent new imaging")
    assert reopened["status"] == "in-review" and reopened["reopened"] == 1 and reopened["preauth_ref"] is None
    assert [i["determination"] for i in reopened["items"]] == [None]
    answer = ok(partner.get(f"/fhir/ClaimResponse/{case_id}"))
    assert "preAuthRef" not in answer and [review_action(i) for i in answer["item"]] == ["A4"]

    last = ok(dr.get(f"/cases/{case_id}"))["history"][-1]
    assert (last["type"], last["reason"], last["from_status"], last["to_status"]) == (
        "reopen", "The requester sent new imaging", "decided", "in-review")
    assert last["actor"] == {"id": "lead-demo", "role": "supervisor", "npi": None}
    assert last["detail"] == {"previous_items": {"1": "approved"}}

    resp = lead.get(f"/cases/{case_id}/audit")
    audit = ok(resp)
    assert_no_member(resp)
    assert [a["actor"]["id"] for a in audit["access"]] == ["dr-demo"] and audit["access"][0]["action"] == "read"
    assert datetime.fromisoformat(audit["access"][0]["at"]) > datetime.fromisoformat(audit["changes"][-1]["at"])
    assert [(e["type"], e["actor"]["id"]) for e in audit["changes"]] == [
        ("received", "alpha"), ("assign", "dr-demo"), ("start", "dr-demo"), ("determination", "dr-demo"),
        ("reopen", "lead-demo")]
    refused(dr.get(f"/cases/{case_id}/audit"), 403, "forbidden")
    refused(lead.get("/cases/no-such-case/audit"), 404, "not-found")


# 3. Identity, checked at the handler


def review_routes() -> list[tuple[str, str, dict | None]]:
    """Every authorized route of the review function, with its parameters filled in and a body
    that passes validation: whatever is refused is refused for who asks, not for what."""
    fills = {"case_id": "no-such-case", "command": "assignment", "reviewer_id": "nurse-demo",
             "report": "prior-authorization-metrics", "index": "0"}
    bodies = {"POST": {"version": 1, "reviewer": "dr-demo"}, "PUT": {"roles": ["reviewer"]}}
    routes = [r for r in Topology.load().routes if r.function == "CasesFunction" and r.authorized]
    assert {r.path.split("/")[1] for r in routes} == {"cases", "reviewers", "reports", "deliveries", "messages",
                                                      "reason-codes"}
    return [(r.method, r.path.format(**fills), bodies.get(r.method)) for r in routes]


@pytest.mark.parametrize("method, path, body", review_routes())
def test_only_reviewer_tokens_open_the_review_api(base_url, enrolled, method, path, body):
    def call(authorization: str | None) -> requests.Response:
        return requests.request(method, base_url + path, json=body, timeout=30,
                                headers={"Authorization": authorization} if authorization else {})

    assert "reviewer tokens" in refused(call("Bearer token-alpha"), 403, "forbidden")["issue"][0]["diagnostics"]
    refused(call(None), 401, "login")
    refused(call("Bearer not-a-jwt"), 401, "login")
    groupless = refused(call(f"Bearer {enrolled('rvw-no-group')}"), 403, "forbidden")
    assert "groups" in groupless["issue"][0]["diagnostics"]
    refused(call(f"Bearer {enrolled('rvw-other-group', groups=('billing',))}"), 403, "forbidden")


def test_the_handler_itself_refuses_a_partner_or_no_identity(stack):
    from functions.cases.app import lambda_handler
    from tests.gateway import call, event

    for partner, status, code in (("alpha", 403, "forbidden"), (None, 401, "login")):
        for method, path, body in (("GET", "/cases", None), ("GET", "/reviewers/me", None),
                                   ("POST", "/cases/x/start", {"version": 1})):
            got, outcome = call(lambda_handler, event(method, path, body, partner, content_type="application/json"))
            assert (got, outcome["issue"][0]["code"]) == (status, code), (partner, method, path)


# 4. The worklist


KINDS = [("prior-auth", "preauthorization"), ("claim", "claim"), ("predetermination", "predetermination")]


def seed_worklist(partner, dr, nurse, lead) -> dict[str, dict]:
    """~130 open cases of one partner in every open state, both priorities, four kinds; what each is."""
    cases: dict[str, dict] = {}
    for n in range(126):
        kind, use = KINDS[n % 3]
        expedited = n % 4 == 0
        case_id = submitted(partner, request(f"WL-{n}", use=use, priority="stat" if expedited else "normal"))
        case = {"kind": kind, "priority": "expedited" if expedited else "standard", "status": "received",
                "assignee": None}
        step = n % 10
        if step >= 5:
            user, who = ("dr-demo", dr) if step in (5, 6, 9) else ("nurse-demo", nurse)
            run(lead if step == 5 else who, case_id, "assignment", 1, reviewer=user)
            case |= {"status": "assigned", "assignee": user}
            if step in (6, 8, 9):
                run(who, case_id, "start", 2)
                case["status"] = "in-review"
            if step == 9:
                run(who, case_id, "information-request", 3, due_by=in_days(10),
                    items=[{"text": "Operative report"}])
                case["status"] = "information-requested"
        cases[case_id] = case
    for n in range(4):  # appeals of denials
        original = submitted(partner, request(f"WL-APL-{n}"))
        in_review(dr, "dr-demo", original)
        run(dr, original, "determination", 3,
            decisions=[{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}])
        appeal = submitted(partner, request(f"WL-APL-{n}-2", member=f"RVW-M-WL-APL-{n}", related=f"RVW-WL-APL-{n}"))
        assert appeal != original
        cases[appeal] = {"kind": "appeal", "priority": "standard", "status": "received", "assignee": None}
    return cases


def walk(who, limit: int, **filters) -> list[list[dict]]:
    """Every page of a worklist query, following `next` to the end."""
    pages, cursor = [], None
    while True:
        resp = who.get("/cases", limit=limit, **filters, **({"cursor": cursor} if cursor else {}))
        assert_no_member(resp)
        page = ok(resp)
        assert set(page) == {"cases", "next", "due_soon_hours"}
        pages.append(page["cases"])
        cursor = page["next"]
        if cursor is None:
            return pages
        assert len(page["cases"]) == limit and len(pages) < 100  # only the last page is short


def instant(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def clock_at(at: datetime):
    """The stack's handlers, their adapters as they are, on a clock standing at `at`."""
    from functions import bootstrap

    moved = dataclasses.replace(bootstrap.services(), clock=lambda: at)
    bootstrap.override(lambda: moved)
    try:
        yield
    finally:
        bootstrap.override(None)


def test_worklist_pages_through_each_filter_soonest_due_first(api, reviewer, fresh_partner):
    dr, nurse, lead = reviewer("dr-demo"), reviewer("nurse-demo"), reviewer("lead-demo")
    cases = seed_worklist(api(fresh_partner), dr, nurse, lead)
    assert len(cases) == 130
    # Another partner's cases in the same reviewers' hands: a partner filter must leave them out.
    others = {user: submitted(api("alpha"), request(f"WL-OTHER-{user}")) for user in ("dr-demo", "nurse-demo")}
    for user, case_id in others.items():
        run(lead, case_id, "assignment", 1, reviewer=user)
    now = datetime.now(timezone.utc)
    # Medicare Advantage clocks: expedited pre-service 72 hours, standard pre-service 7 days,
    # appeals 30, claims 30 (review/clocks.yaml).
    soon = now + timedelta(days=5)
    later = now + timedelta(days=10)

    def due_within(case: dict, horizon: str) -> bool:
        if case["kind"] in ("claim", "appeal"):
            return False
        return horizon == "later" or case["priority"] == "expedited"

    matchers = {
        "status": lambda c, v: c["status"] == v, "kind": lambda c, v: c["kind"] == v,
        "priority": lambda c, v: c["priority"] == v, "assignee": lambda c, v: c["assignee"] == v,
        "partner": lambda c, v: v == fresh_partner,
        "due_before": lambda c, v: due_within(c, "soon"), "overdue": lambda c, v: due_within(c, "later"),
    }
    row_matchers = {
        "status": lambda r, v: r["status"] == v, "kind": lambda r, v: r["kind"] == v,
        "priority": lambda r, v: r["priority"] == v, "assignee": lambda r, v: r["assignee"] == v,
        "partner": lambda r, v: r["partner"] == v,
        "due_before": lambda r, v: r["due_at"] < v, "overdue": lambda r, v: r["due_at"] < instant(later),
    }
    mine = {"partner": fresh_partner}
    queries = [
        mine,
        *({**mine, "status": s} for s in ("received", "assigned", "in-review", "information-requested")),
        *({**mine, "kind": k} for k in ("prior-auth", "claim", "predetermination", "appeal")),
        *({**mine, "priority": p} for p in ("expedited", "standard")),
        *({**mine, "assignee": a} for a in ("dr-demo", "nurse-demo")),
        {**mine, "due_before": instant(soon)},
        {**mine, "overdue": "true"},
        {**mine, "assignee": "dr-demo", "status": "in-review", "priority": "standard"},
        {**mine, "kind": "prior-auth", "priority": "expedited", "due_before": instant(soon)},
        {**mine, "status": "assigned", "kind": "claim", "overdue": "true"},
        # Without the partner: each index shared with every other test's cases; this partner's rows must still
        # all be there, once each, among rows that match.
        {"status": "assigned"}, {"status": "information-requested"}, {"assignee": "nurse-demo"},
        {"assignee": "dr-demo", "priority": "expedited"},
    ]
    summaries: dict[str, dict] = {}
    for query in queries:
        expected = {i for i, c in cases.items() if all(matchers[k](c, v) for k, v in query.items())}
        assert expected or query.get("status") == "assigned" and "overdue" in query, query
        limit = max(1, min(50, (len(expected) - 1) // 2))  # three pages at least, where there are three rows
        if "overdue" in query:  # ten days on: the pre-service requests are late, the claims and appeals not yet
            with clock_at(later):
                pages = walk(dr, limit, **query)
        else:
            pages = walk(dr, limit, **query)
        rows = [r for page in pages for r in page]
        if len(expected) >= 3:
            assert len(pages) >= 3, (query, len(expected), limit)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), query  # nothing twice, across pages
        assert [(r["due_at"], r["id"]) for r in rows] == sorted((r["due_at"], r["id"]) for r in rows), query
        for r in rows:
            assert all(row_matchers[k](r, v) for k, v in query.items()), (query, r)
        assert {r["id"] for r in rows if r["partner"] == fresh_partner} == expected, query
        if set(query) == {"assignee"}:
            assert others[query["assignee"]] in ids, query
        summaries |= {r["id"]: r for r in rows if r["partner"] == fresh_partner}

    assert set(summaries) == set(cases)
    assert [len(page) for page in walk(dr, 26, partner=fresh_partner)] == [26] * 5  # a full last page ends too
    for case_id, case in cases.items():  # each row says what the case is, and nothing about the member
        row = summaries[case_id]
        assert {k: row[k] for k in case} == case, case_id
        assert set(row) == {"id", "partner", "kind", "priority", "status", "assignee", "due_at", "received_at",
                            "version", "line_of_business"}
        assert row["line_of_business"] == "medicare-advantage"  # the clocks above are its rows


def test_worklist_refuses_cursors_it_did_not_make_and_closed_statuses(api, reviewer):
    dr = reviewer("dr-demo")
    for n in range(3):
        submitted(api("alpha"), request(f"WLERR-{n}"))
    first = ok(dr.get("/cases", partner="alpha", limit=1))
    assert first["next"] and len(first["cases"]) == 1
    assert ok(dr.get("/cases", partner="alpha", limit=1, cursor=first["next"]))["cases"] != first["cases"]
    refused(dr.get("/cases", partner="alpha", kind="claim", limit=1, cursor=first["next"]), 422, "invalid", "cursor")
    refused(dr.get("/cases", partner="beta", limit=1, cursor=first["next"]), 422, "invalid", "cursor")
    refused(dr.get("/cases", cursor="bm90IGEgY3Vyc29y"), 422, "invalid", "cursor")
    refused(dr.get("/cases", cursor="%%%"), 422, "invalid", "cursor")
    tampered = json.loads(base64.urlsafe_b64decode(first["next"]))
    tampered["k"] = {"PK": {"N": "1"}}
    refused(dr.get("/cases", partner="alpha", limit=1,
                   cursor=base64.urlsafe_b64encode(json.dumps(tampered).encode()).decode()), 422, "invalid", "cursor")
    refused(dr.get("/cases", limit=201), 422, "invalid", "limit")
    refused(dr.get("/cases", limit=0), 422, "invalid", "limit")
    assert len(ok(dr.get("/cases", limit=200))["cases"]) <= 200
    refused(dr.get("/cases", status="decided"), 422, "not-supported", "status")
    refused(dr.get("/cases", status="closed"), 422, "not-supported", "status")  # a state, but never on the worklist


# 5. Reviewer profiles


def test_reviewer_profiles(reviewer):
    nurse, dr, lead = reviewer("nurse-demo"), reviewer("dr-demo"), reviewer("lead-demo")
    resp = nurse.get("/reviewers")
    everyone = {r["id"]: r for r in ok(resp)}
    assert {"dr-demo", "nurse-demo", "lead-demo"} <= set(everyone)
    assert {u: everyone[u]["roles"] for u in ("dr-demo", "nurse-demo", "lead-demo")} == {
        "dr-demo": ["physician-reviewer"], "nurse-demo": ["reviewer"], "lead-demo": ["supervisor"]}
    assert everyone["dr-demo"]["npi"] == DR_NPI
    assert everyone["nurse-demo"]["conflicts"]["partners"] == ["conflicted-payer"]
    for profile in everyone.values():  # roles, NPI, specialty, conflicts: never a name
        assert set(profile) == {"id", "roles", "npi", "specialty", "conflicts"}
    assert ok(dr.get("/reviewers/me")) == everyone["dr-demo"]
    assert ok(lead.get("/reviewers/me"))["roles"] == ["supervisor"]
    assert ok(nurse.get("/reviewers/lead-demo")) == everyone["lead-demo"]
    refused(nurse.get("/reviewers/nobody-here"), 404, "not-found")

    refused(dr.put("/reviewers/nurse-demo", {"roles": ["supervisor"]}), 403, "forbidden")
    refused(nurse.put("/reviewers/nurse-demo", {"roles": ["supervisor"]}), 403, "forbidden")
    refused(lead.put("/reviewers/rvw-new-physician", {"roles": ["physician-reviewer"]}), 422, "required", "npi")
    refused(lead.put("/reviewers/rvw-new-physician", {"roles": ["physician-reviewer"], "npi": "123"}), 422, "invalid",
            "npi")
    refused(lead.put("/reviewers/rvw-new-physician", {"roles": []}), 422, "invalid", "roles")
    unknown = lead.put("/reviewers/rvw-new-physician", {"roles": ["reviewer"], "name": "A Person"})
    assert "expression" not in refused(unknown, 422, "invalid")["issue"][0]  # an unknown element's name is the sender's
    assert "A Person" not in unknown.text
    refused(lead.get("/reviewers/rvw-new-physician"), 404, "not-found")  # nothing refused was kept
    assert ok(nurse.get("/reviewers/nurse-demo")) == everyone["nurse-demo"]


@pytest.mark.parametrize("body", [b"not json", b"{\"version\": 1", b""], ids=["text", "cut short", "empty"])
def test_a_body_that_is_not_json_is_400_structure_as_on_the_fhir_api(api, reviewer, body):
    dr = reviewer("dr-demo")
    case_id = submitted(api("alpha"), request(f"NOTJSON-{len(body)}"))
    resp = requests.post(f"{dr.base}/cases/{case_id}/assignment", data=body, timeout=30,
                         headers={**dr.headers, "Content-Type": "application/json"})
    body = refused(resp, 400, "structure")
    assert "expression" not in body["issue"][0]  # there is no element to name
