"""PAS Subscriptions through the local stack: registration (201, requested) and its handshake, sent
by the delivery worker to a real endpoint (a loopback receiver) and retried as any delivery; what a
refused handshake leaves; who may subscribe and read, delete, $status; the DynamoDB store's
contract; and event notifications after a reviewer's decision, full-resource (PAS 2.2.1) and
id-only (PAS 2.0.1), each held to the Inferno PAS test kit's checks (tests/pas_kit.py) and
validated by ../shared/tools/fhir-validate."""
from __future__ import annotations

import json
import os
import random
import socket

import pytest
import requests

from adapters.subscriptions import DynamoSubscriptions
from fhir_mappings import codes
from fhir_mappings.subscription import FILTER_EXPRESSION, CONTENT_EXPRESSION, TOPIC
from functions.fhir.subscription import PRIVATE_ENDPOINTS
from tests import factories as f
from tests import pas_kit
from tests.receivers import Receiver, Reply
from tests.fhir_validate import validate
from tests.integration.test_delivery import eventually
from tests.unit.test_subscription_store import check_contract

ORG = "1234567893"  # delta's organization (conftest.ORGANIZATIONS)
HOOK = "/pas/notifications"


@pytest.fixture(autouse=True)
def loopback_endpoints(monkeypatch):
    """The receivers listen on 127.0.0.1, which the API refuses unless told (the handlers run in this process)."""
    monkeypatch.setenv(PRIVATE_ENDPOINTS, "allow")


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def store(stack):
    import boto3

    return DynamoSubscriptions(boto3.client("dynamodb", endpoint_url=stack.aws_endpoint), os.environ["CASES_TABLE"])


def subscribe(api, endpoint: str, partner: str = "delta", **body) -> requests.Response:
    return api(partner).post("/fhir/Subscription", f.subscription(endpoint=endpoint, **body))


def delete(api, partner: str, sub_id: str) -> requests.Response:
    client = api(partner)
    return requests.delete(f"{client.base}/fhir/Subscription/{sub_id}", headers=client.headers, timeout=30)


def parameters(bundle: dict) -> dict[str, dict]:
    return {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}


def settled(api, sub_id: str, partner: str = "delta", timeout: float = 60.0) -> dict:
    """The subscription once its handshake is settled (active or error), as GET shows it."""
    return eventually(lambda: (s := api(partner).get(f"/fhir/Subscription/{sub_id}").json())["status"] != "requested"
                      and s, timeout)


def active(api, endpoint: str, partner: str = "delta", **body) -> str:
    """A subscription made active (its handshake answered): its id."""
    resp = subscribe(api, endpoint, partner, **body)
    assert resp.status_code == 201, resp.text
    assert settled(api, resp.json()["id"], partner)["status"] == "active"
    return resp.json()["id"]


def organization() -> str:
    """An organization no other test subscribes for (a 10-digit NPI-like value)."""
    return str(random.randrange(10**9, 10**10))


def test_a_registration_answers_201_requested_then_is_handshaken_and_active(api, receiver, base_url, tmp_path):
    """The kit's 1.02-1.04: exactly 201 echoing the Subscription, status requested, headers as given;
    then (after the 201: the kit listens only once it has it) a handshake, status requested, from
    the delivery worker; then active."""
    sent = f.subscription(endpoint=receiver.url + HOOK, headers=["Authorization: Bearer ehr-secret", "X-Client: ehr-1"])
    resp = api("delta").post("/fhir/Subscription", sent)
    sub = resp.json()
    pas_kit.check_creation(resp.status_code, sub, sent)
    assert resp.headers["Location"] == f"{base_url}/fhir/Subscription/{sub['id']}"
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    assert (sub["resourceType"], sub["status"], sub["criteria"]) == ("Subscription", "requested", TOPIC)
    assert sub["channel"]["header"] == ["Authorization: Bearer ehr-secret", "X-Client: ehr-1"] and "error" not in sub
    assert pas_kit.payload_content(sub) == "full-resource"

    [handshake] = eventually(lambda: receiver.to(HOOK))
    assert handshake.method == "POST"
    pas_kit.check_headers(handshake.headers, sub)
    assert handshake.headers["content-type"] == "application/fhir+json"
    bundle = handshake.json()
    pas_kit.check_notification(bundle, "handshake", sub["id"], "requested")
    [entry] = bundle["entry"]
    assert entry["request"] == {"method": "GET", "url": f"{base_url}/fhir/Subscription/{sub['id']}/$status"}
    found = parameters(bundle)
    assert found["subscription"]["valueReference"] == {"reference": f"Subscription/{sub['id']}"}
    assert found["topic"]["valueCanonical"] == TOPIC
    assert found["events-since-subscription-start"]["valueString"] == "0"

    read = settled(api, sub["id"])
    assert read["status"] == "active" and "error" not in read
    assert read["channel"]["header"] == ["Authorization: ***", "X-Client: ***"]  # later reads hide the values
    assert {k: v for k, v in read.items() if k not in ("status", "channel")} == \
        {k: v for k, v in sub.items() if k not in ("status", "channel")}
    assert len(receiver.to(HOOK)) == 1  # one handshake
    validate(tmp_path, {"created": sub, "handshake": bundle, "read": read})


def test_a_handshake_the_endpoint_is_not_ready_for_is_tried_again(api, receiver):
    """The kit's listener answers 500 until its test is waiting, which is after our 201."""
    receiver.answer(HOOK, Reply(500))
    resp = subscribe(api, receiver.url + HOOK, headers=["Authorization: Bearer t"])
    assert (resp.status_code, resp.json()["status"]) == (201, "requested")
    assert settled(api, resp.json()["id"])["status"] == "active"
    first, second = receiver.to(HOOK)
    assert first.body == second.body  # the same handshake, again


@pytest.mark.parametrize("reply, expected", [
    (Reply(301, {"Location": "https://elsewhere.example/"}), "handshake: the endpoint answered 301"),  # refused at once
    (Reply(500), "handshake: the endpoint answered 500"),  # on each of the partner's max_attempts
], ids=["redirect", "500"])
def test_a_refused_handshake_leaves_the_subscription_in_error(api, receiver, delivering_partner, reply, expected):
    org = organization()
    partner = delivering_partner({"max_attempts": 2}, org_identifiers=[f"{codes.NPI}|{org}"])
    receiver.serve(HOOK, reply)
    resp = subscribe(api, receiver.url + HOOK, partner=partner, org=org)
    assert (resp.status_code, resp.json()["status"]) == (201, "requested")
    read = settled(api, resp.json()["id"], partner)
    assert (read["status"], read["error"]) == ("error", expected)
    assert len(receiver.to(HOOK)) == (1 if reply.status == 301 else 2)


def test_an_endpoint_that_does_not_answer_leaves_the_subscription_in_error(api, delivering_partner):
    org = organization()
    partner = delivering_partner({"max_attempts": 2}, org_identifiers=[f"{codes.NPI}|{org}"])
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    resp = subscribe(api, f"http://127.0.0.1:{port}{HOOK}", partner=partner, org=org)
    assert resp.status_code == 201, resp.text
    read = settled(api, resp.json()["id"], partner)
    assert read["status"] == "error" and read["error"].startswith("handshake: no answer from the endpoint")


def test_a_silent_endpoint_times_out_into_error(api, receiver, delivering_partner):
    org = organization()
    partner = delivering_partner({"max_attempts": 1}, org_identifiers=[f"{codes.NPI}|{org}"])
    receiver.serve(HOOK, Reply(200, delay=8))
    resp = subscribe(api, receiver.url + HOOK, partner=partner, org=org)
    assert resp.status_code == 201, resp.text
    read = settled(api, resp.json()["id"], partner)
    assert (read["status"], read["error"]) == ("error", "handshake: no answer from the endpoint (ReadTimeout)")


@pytest.mark.parametrize("partner, org", [("delta", "9999999999"), ("delta", "urn:example:other|1234567893"),
                                          ("alpha", ORG)])
def test_another_organization_is_forbidden(api, receiver, partner, org):
    resp = subscribe(api, receiver.url + HOOK, partner=partner, org=org)
    assert resp.status_code == 403, resp.text
    [issue] = resp.json()["issue"]
    assert (issue["code"], issue["expression"]) == ("forbidden", ["Subscription.criteria"])
    assert receiver.received == []  # no handshake for a refused registration


def test_a_system_qualified_filter_of_its_organization_is_accepted(api, receiver):
    resp = subscribe(api, receiver.url + HOOK, org=f"http://hl7.org/fhir/sid/us-npi|{ORG}")
    assert resp.status_code == 201 and resp.json()["status"] == "requested", resp.text
    assert resp.json()["_criteria"]["extension"][0]["valueString"] == f"orgIdentifier=http://hl7.org/fhir/sid/us-npi|{ORG}"
    assert settled(api, resp.json()["id"])["status"] == "active"


def test_what_cannot_be_a_pas_subscription_is_422_naming_the_element(api, receiver):
    empty = f.subscription(endpoint=receiver.url + HOOK)
    empty["channel"]["_payload"]["extension"][0]["valueCode"] = "empty"
    no_filter = {k: v for k, v in f.subscription(endpoint=receiver.url + HOOK).items() if k != "_criteria"}
    for body, where in ((empty, CONTENT_EXPRESSION), (no_filter, FILTER_EXPRESSION),
                        (f.subscription(endpoint="mailto:ehr@example.org"), "Subscription.channel.endpoint"),
                        (f.subscription(criteria="http://example.org/Topic/x"), "Subscription.criteria")):
        resp = api("delta").post("/fhir/Subscription", body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["issue"][0]["expression"] == [where]
    assert receiver.received == []


def test_loopback_endpoints_are_refused_unless_allowed(api, receiver, monkeypatch):
    monkeypatch.delenv(PRIVATE_ENDPOINTS)
    resp = subscribe(api, receiver.url + HOOK)
    assert resp.status_code == 422 and resp.json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
    assert receiver.received == []


def test_only_the_owner_reads_or_deletes_a_subscription(api, receiver):
    sub_id = active(api, receiver.url + HOOK)
    for partner in ("alpha", "gamma"):
        assert api(partner).get(f"/fhir/Subscription/{sub_id}").status_code == 404
        assert api(partner).get(f"/fhir/Subscription/{sub_id}/$status").status_code == 404
        assert delete(api, partner, sub_id).status_code == 404
    for unknown in ("no-such-subscription", "x" * 65, "a$b"):
        resp = api("delta").get(f"/fhir/Subscription/{unknown}")
        assert resp.status_code == 404 and resp.json()["issue"][0]["code"] == "not-found"
    assert api("delta").get(f"/fhir/Subscription/{sub_id}").json()["status"] == "active"


def test_delete_turns_it_off_and_stops_notifications(api, receiver, store):
    sub_id = active(api, receiver.url + HOOK)
    assert sub_id in [s.id for s in store.for_organizations([ORG])]
    resp = delete(api, "delta", sub_id)
    assert resp.status_code == 200 and resp.json()["status"] == "off", resp.text
    assert api("delta").get(f"/fhir/Subscription/{sub_id}").json()["status"] == "off"
    assert sub_id not in [s.id for s in store.for_organizations([ORG])]
    assert delete(api, "delta", sub_id).status_code == 200  # again: still off


def test_status_shows_the_event_counter(api, receiver, store, base_url):
    sub_id = active(api, receiver.url + HOOK)
    resp = api("delta").get(f"/fhir/Subscription/{sub_id}/$status")
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    found = parameters(bundle)
    assert (found["type"]["valueCode"], found["status"]["valueCode"]) == ("query-status", "active")
    assert found["events-since-subscription-start"]["valueString"] == "0"
    assert bundle["entry"][0]["fullUrl"].startswith(f"{base_url}/fhir/Parameters/")

    assert [store.next_event(sub_id) for _ in range(2)] == [1, 2]  # as the worker numbers its notifications
    after = parameters(api("delta").get(f"/fhir/Subscription/{sub_id}/$status").json())
    assert after["events-since-subscription-start"]["valueString"] == "2"
    assert api("delta").get(f"/fhir/Subscription/{sub_id}/$events").status_code == 404


def test_the_capability_statement_offers_subscriptions(base_url):
    capability = requests.get(f"{base_url}/fhir/metadata", timeout=30).json()
    [subscription] = [r for r in capability["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert {i["code"] for i in subscription["interaction"]} == {"create", "read", "delete"}
    assert [o["name"] for o in subscription["operation"]] == ["status"]
    assert subscription["extension"][0]["valueCanonical"] == TOPIC


def test_the_dynamodb_store_keeps_the_contract(store):
    check_contract(store)


def test_a_decided_case_reaches_its_organization_s_subscriber(api, receiver, reviewer, base_url, tmp_path):
    """End to end, as the kit runs 1.02-1.04 and 2.3.2: an EHR (delta, registered for ORG) POSTs the
    kit's own Subscription (org-identifier filter, an `end` long past, backport timeout and max-count,
    payload application/json as in the kit's example); a payer (alpha) sends a request of ORG's
    provider; a reviewer decides; the delivery worker fans the change out to the subscription and
    POSTs the notification: event 1, then the full PAS response Bundle of the decided case."""
    sent = pas_kit.kit_subscription(receiver.url + HOOK, "ehr-secret", org_filter=f"org-identifier={ORG}",
                                    payload="application/json")
    resp = api("delta").post("/fhir/Subscription", sent)
    created = resp.json()
    pas_kit.check_creation(resp.status_code, created, sent)
    assert "end" not in created and created["_criteria"]["extension"][0]["valueString"] == f"org-identifier={ORG}"
    sub_id = created["id"]
    assert settled(api, sub_id)["status"] == "active"
    bundle = f.pas_bundle(f.claim("SUB-CLM-1"), identifier="SUB-BND-1", provider_npi=ORG)
    case_id = api("alpha").submit(bundle).json()["entry"][0]["resource"]["id"]
    other = f.pas_bundle(f.claim("SUB-CLM-2"), identifier="SUB-BND-2", provider_npi="1999999999")
    other_id = api("alpha").submit(other).json()["entry"][0]["resource"]["id"]
    for decided in (other_id, case_id):
        assert reviewer().decide(decided, {"item_sequence": 1, "decision": "approved"}).status_code == 200
    eventually(lambda: len(receiver.to(HOOK)) == 2)
    handshake, delivered = receiver.to(HOOK)
    pas_kit.check_notification(handshake.json(), "handshake", sub_id, "requested")
    for received in (handshake, delivered):
        pas_kit.check_headers(received.headers, created)  # Content-Type application/json, the token as given
    assert delivered.headers["authorization"] == "Bearer ehr-secret"
    assert delivered.headers["content-type"] == "application/json"
    got = delivered.json()
    pas_kit.check_notification(got, "event-notification", sub_id, "active")  # 2.3.2.02
    pas_kit.check_full_resource(got)  # 2.3.2.03
    carried = pas_kit.check_pas_notification(got)  # 2.3.2.04 (the last notification for this id)
    status = parameters(got)
    assert status["events-since-subscription-start"]["valueString"] == "1"
    assert status["subscription"]["valueReference"]["reference"].endswith(f"Subscription/{sub_id}")
    assert carried == got["entry"][1]["resource"] and carried["entry"][0]["resource"]["id"] == case_id
    assert '"code":"A1"' in json.dumps(carried["entry"][0]["resource"]["item"], separators=(",", ":"))  # approved
    mine = f"subscription:{sub_id}:1"  # (this module's earlier subscriptions for ORG are notified too)
    eventually(lambda: [d for d in reviewer().get(f"/cases/{case_id}").json()["deliveries"]
                        if d["target"] == mine and d["state"] == "delivered"])
    validate(tmp_path, {"created": created, "handshake": handshake.json(), "notification": got})


@pytest.mark.parametrize("content", [None, "id-only"], ids=["unstated", "stated"])
def test_a_pas_2_0_1_subscriber_gets_id_only_notifications_whose_focus_it_reads(
        api, receiver, reviewer, delivering_partner, base_url, tmp_path, content):
    """A PAS 2.0.1 EHR (the kit's §7): its Subscription says id-only, or nothing (a 2.0.1 partner's
    default). Its notification names the decided case's ClaimResponse by the URL it reads back with
    its own token; the entries carry no resource."""
    org = organization()
    partner = delivering_partner({}, pas_version="2.0.1", org_identifiers=[f"{codes.NPI}|{org}"])
    sent = pas_kit.kit_subscription(receiver.url + HOOK, f"token-{partner}-hook", content, org_filter=f"identifier={org}")
    resp = api(partner).post("/fhir/Subscription", sent)
    created = resp.json()
    pas_kit.check_creation(resp.status_code, created, sent)
    assert pas_kit.payload_content(created) == "id-only"  # what it got, stated or not
    sub_id = created["id"]
    assert settled(api, sub_id, partner)["status"] == "active"

    submitted = f.pas_bundle(f.claim("IDO-CLM-1"), identifier=f"IDO-{org}", provider_npi=org)
    case_id = api(partner).submit(submitted).json()["entry"][0]["resource"]["id"]
    assert reviewer().decide(case_id, {"item_sequence": 1, "decision": "denied", "reason_code": "0U"}).status_code == 200
    handshake, delivered = eventually(lambda: r if len(r := receiver.to(HOOK)) == 2 else None)
    pas_kit.check_notification(handshake.json(), "handshake", sub_id, "requested")
    got = delivered.json()
    pas_kit.check_headers(delivered.headers, created)
    pas_kit.check_notification(got, "event-notification", sub_id, "active")
    focus = pas_kit.check_id_only(got)
    assert focus == f"{base_url}/fhir/ClaimResponse/{case_id}" == got["entry"][1]["fullUrl"]
    assert parameters(got)["events-since-subscription-start"]["valueString"] == "1"

    read = requests.get(focus, headers=api(partner).headers, timeout=30)  # the client's follow-up read
    assert read.status_code == 200, read.text
    claim_response = read.json()
    assert (claim_response["resourceType"], claim_response["id"]) == ("ClaimResponse", case_id)
    assert '"code":"A3"' in json.dumps(claim_response["item"], separators=(",", ":"))  # denied
    validate(tmp_path, {"created": created, "handshake": handshake.json(), "notification": got})


def test_an_ehr_reads_the_claimresponse_an_id_only_notification_names(api):
    """The focus of an id-only notification is GET /fhir/ClaimResponse/{id}: the EHR whose organization
    is the case's requester reads it with its own token, though a payer sent the case; nobody else does."""
    sent = api("alpha").submit(f.pas_bundle(f.claim("EHR-READ-1"), identifier="EHR-READ-B1")).json()
    case_id = sent["entry"][0]["resource"]["id"]
    read = api("delta").get(f"/fhir/ClaimResponse/{case_id}")  # delta speaks for NPI 1234567893, the requester
    assert read.status_code == 200 and read.json()["id"] == case_id
    assert api("beta").get(f"/fhir/ClaimResponse/{case_id}").status_code == 404
