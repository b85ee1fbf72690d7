"""PAS Subscriptions through the local stack: registration with its handshake to a real endpoint (a
loopback receiver), what a failed handshake leaves, who may subscribe and read, delete, $status; the
DynamoDB store's contract; and a notification built and sent the way the delivery worker will."""
from __future__ import annotations

import json
import os
import socket

import pytest
import requests

from adapters.case_store import DynamoCaseRepository
from adapters.subscriptions import DynamoSubscriptions, post_bundle
from fhir_mappings.case_to_claimresponse import response_bundle
from fhir_mappings.subscription import FILTER_EXPRESSION, CONTENT_EXPRESSION, TOPIC, notification_bundle
from functions.fhir.subscription import PRIVATE_ENDPOINTS
from tests import factories as f
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


def test_a_registration_is_handshaken_and_active(api, receiver, base_url):
    resp = subscribe(api, receiver.url + HOOK, headers=["Authorization: Bearer ehr-secret", "X-Client: ehr-1"])
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    assert resp.headers["Location"] == f"{base_url}/fhir/Subscription/{sub['id']}"
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    assert (sub["resourceType"], sub["status"], sub["criteria"]) == ("Subscription", "active", TOPIC)
    assert sub["channel"]["header"] == ["Authorization: ***", "X-Client: ***"] and "error" not in sub

    [handshake] = receiver.to(HOOK)
    assert handshake.method == "POST" and handshake.headers["content-type"] == "application/fhir+json"
    assert handshake.headers["authorization"] == "Bearer ehr-secret" and handshake.headers["x-client"] == "ehr-1"
    bundle = handshake.json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "history")
    [entry] = bundle["entry"]
    assert entry["resource"]["resourceType"] == "Parameters"
    assert entry["request"] == {"method": "GET", "url": f"{base_url}/fhir/Subscription/{sub['id']}/$status"}
    found = parameters(bundle)
    assert found["type"]["valueCode"] == "handshake" and found["status"]["valueCode"] == "requested"
    assert found["subscription"]["valueReference"] == {"reference": f"Subscription/{sub['id']}"}
    assert found["topic"]["valueCanonical"] == TOPIC
    assert found["events-since-subscription-start"]["valueString"] == "0"

    read = api("delta").get(f"/fhir/Subscription/{sub['id']}")
    assert read.status_code == 200 and read.json() == sub


@pytest.mark.parametrize("setup, expected", [
    (lambda r: r.serve(HOOK, Reply(500)), "handshake: the endpoint answered 500"),
    (lambda r: r.serve(HOOK, Reply(301, {"Location": "https://elsewhere.example/"})), "handshake: the endpoint answered 301"),
], ids=["500", "redirect"])
def test_a_refused_handshake_leaves_the_subscription_in_error(api, receiver, setup, expected):
    setup(receiver)
    resp = subscribe(api, receiver.url + HOOK)
    assert resp.status_code == 201, resp.text
    assert (resp.json()["status"], resp.json()["error"]) == ("error", expected)
    assert len(receiver.to(HOOK)) == 1
    read = api("delta").get(f"/fhir/Subscription/{resp.json()['id']}").json()
    assert (read["status"], read["error"]) == ("error", expected)


def test_an_endpoint_that_does_not_answer_leaves_the_subscription_in_error(api):
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    resp = subscribe(api, f"http://127.0.0.1:{port}{HOOK}")
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "error" and resp.json()["error"].startswith("handshake: no answer from the endpoint")


def test_a_silent_endpoint_times_out_into_error(api, receiver):
    receiver.serve(HOOK, Reply(200, delay=8))
    resp = subscribe(api, receiver.url + HOOK)
    assert resp.status_code == 201, resp.text
    assert (resp.json()["status"], resp.json()["error"]) == ("error", "handshake: no answer from the endpoint (ReadTimeout)")


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
    assert resp.status_code == 201 and resp.json()["status"] == "active", resp.text
    assert resp.json()["_criteria"]["extension"][0]["valueString"] == f"orgIdentifier=http://hl7.org/fhir/sid/us-npi|{ORG}"


def test_what_cannot_be_a_pas_subscription_is_422_naming_the_element(api, receiver):
    id_only = f.subscription(endpoint=receiver.url + HOOK)
    id_only["channel"]["_payload"]["extension"][0]["valueCode"] = "id-only"
    no_filter = {k: v for k, v in f.subscription(endpoint=receiver.url + HOOK).items() if k != "_criteria"}
    for body, where in ((id_only, CONTENT_EXPRESSION), (no_filter, FILTER_EXPRESSION),
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
    sub_id = subscribe(api, receiver.url + HOOK).json()["id"]
    for partner in ("alpha", "gamma"):
        assert api(partner).get(f"/fhir/Subscription/{sub_id}").status_code == 404
        assert api(partner).get(f"/fhir/Subscription/{sub_id}/$status").status_code == 404
        assert delete(api, partner, sub_id).status_code == 404
    for unknown in ("no-such-subscription", "x" * 65, "a$b"):
        resp = api("delta").get(f"/fhir/Subscription/{unknown}")
        assert resp.status_code == 404 and resp.json()["issue"][0]["code"] == "not-found"
    assert api("delta").get(f"/fhir/Subscription/{sub_id}").json()["status"] == "active"


def test_delete_turns_it_off_and_stops_notifications(api, receiver, store):
    sub_id = subscribe(api, receiver.url + HOOK).json()["id"]
    assert sub_id in [s.id for s in store.for_organizations([ORG])]
    resp = delete(api, "delta", sub_id)
    assert resp.status_code == 200 and resp.json()["status"] == "off", resp.text
    assert api("delta").get(f"/fhir/Subscription/{sub_id}").json()["status"] == "off"
    assert sub_id not in [s.id for s in store.for_organizations([ORG])]
    assert delete(api, "delta", sub_id).status_code == 200  # again: still off


def test_status_shows_the_event_counter(api, receiver, store, base_url):
    sub_id = subscribe(api, receiver.url + HOOK).json()["id"]
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
    """End to end: an EHR (delta, registered for ORG) subscribes; a payer (alpha) sends a request of
    ORG's provider; a reviewer decides; the delivery worker fans the change out to the subscription
    and POSTs the notification: event 1, then the full PAS response Bundle of the decided case."""
    sub_id = subscribe(api, receiver.url + HOOK, headers=["Authorization: Bearer ehr-secret"]).json()["id"]
    bundle = f.pas_bundle(f.claim("SUB-CLM-1"), identifier="SUB-BND-1", provider_npi=ORG)
    case_id = api("alpha").submit(bundle).json()["entry"][0]["resource"]["id"]
    other = f.pas_bundle(f.claim("SUB-CLM-2"), identifier="SUB-BND-2", provider_npi="1999999999")
    other_id = api("alpha").submit(other).json()["entry"][0]["resource"]["id"]
    for decided in (other_id, case_id):
        assert reviewer().decide(decided, {"item_sequence": 1, "decision": "approved"}).status_code == 200
    eventually(lambda: len(receiver.to(HOOK)) == 2)
    handshake, delivered = receiver.to(HOOK)
    assert delivered.headers["authorization"] == "Bearer ehr-secret"
    assert delivered.headers["content-type"] == "application/fhir+json"
    got = delivered.json()
    status = parameters(got)
    assert got["type"] == "history" and status["type"]["valueCode"] == "event-notification"
    assert status["events-since-subscription-start"]["valueString"] == "1"
    assert status["subscription"]["valueReference"]["reference"].endswith(f"Subscription/{sub_id}")
    carried = got["entry"][1]["resource"]
    assert carried["resourceType"] == "Bundle" and carried["entry"][0]["resource"]["id"] == case_id
    assert '"code":"A1"' in json.dumps(carried["entry"][0]["resource"]["item"], separators=(",", ":"))  # approved
    mine = f"subscription:{sub_id}:1"  # (this module's earlier subscriptions for ORG are notified too)
    eventually(lambda: [d for d in reviewer().get(f"/cases/{case_id}").json()["deliveries"]
                        if d["target"] == mine and d["state"] == "delivered"])
    validate(tmp_path, {"notification": got})
