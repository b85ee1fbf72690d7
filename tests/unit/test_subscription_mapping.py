"""PAS Subscriptions, pure: what a registration may say (each refusal naming its element), which
organizations a partner may subscribe for, which cases a subscription is about, and the Bundles a
subscriber receives, element by element against the PAS notification example and through
../shared/tools/fhir-validate."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import pytest

from fhir_mappings import codes
from fhir_mappings.case_to_claimresponse import response_bundle
from fhir_mappings.subscription import (
    BACKPORT_SUBSCRIPTION, CONTENT_EXPRESSION, FILTER_EXPRESSION, PAS_SUBSCRIPTION, STATUS_PROFILE, TOPIC, Content,
    OrgFilter, PasSubscription, Status, check_organization, handshake_bundle, header_fields, matches,
    notification_bundle, organization_values, parse_subscription, requester_identifiers, speaks_for, status_bundle,
    to_resource,
)
from fhir_mappings.validation import StructureError
from review.errors import Forbidden, Invalid
from review.model import Provider
from tests import factories as f
from tests import pas_kit
from tests.conftest import PAS_DIR
from tests.integration.test_profile_validation import validate as fhir_validate

BASE = "https://iro.example/fhir"
CREATED = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
NPI_1 = f"{codes.NPI}|1234567893"
DROP = object()


def parse(body: dict, private: bool = False, pas_version: str = "2.2.1") -> PasSubscription:
    return parse_subscription(body, id="sub-1", partner_id="p", created=CREATED, private_endpoints=private,
                              pas_version=pas_version)


def with_(body: dict, path: str, value) -> dict:
    """`body` with the element at a dotted path set (DROP: removed)."""
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    if value is DROP:
        del node[last]
    else:
        node[last] = value
    return changed


def active(org: str = "1234567893", system: str | None = None, partner: str = "p", **changes) -> PasSubscription:
    return PasSubscription(id="sub-1", partner_id=partner, org=OrgFilter(system=system, value=org),
                           endpoint="https://ehr.example/n", status=Status.ACTIVE, created=CREATED, **changes)


# What a registration may say


def test_a_pas_subscription_is_kept_as_sent():
    sub = parse(f.subscription(headers=["Authorization: Bearer secret-1", "X-Trace:  abc "]))
    assert sub.org == OrgFilter(system=None, value="1234567893")
    assert (sub.endpoint, sub.status, sub.events, sub.error) == ("https://ehr.example/pas-notifications", Status.REQUESTED, 0, None)
    assert sub.headers == ["Authorization: Bearer secret-1", "X-Trace:  abc "]
    assert header_fields(sub) == {"Content-Type": "application/fhir+json", "Authorization": "Bearer secret-1",
                                  "X-Trace": "abc"}


def test_a_system_qualified_filter_keeps_its_system():
    assert parse(f.subscription(org=NPI_1)).org == OrgFilter(system=codes.NPI, value="1234567893")


def test_the_pas_example_is_accepted(corpus_json):
    body = corpus_json(PAS_DIR / "Subscription-PASSubscriptionExample.json")
    sub = parse(body)
    assert (sub.org, sub.endpoint) == (OrgFilter(value="1234567893"), body["channel"]["endpoint"])


REFUSALS = [
    ("status", "active", "Subscription.status", "invalid"),
    ("criteria", "http://example.org/SubscriptionTopic/admission", "Subscription.criteria", "not-supported"),
    ("_criteria", DROP, FILTER_EXPRESSION, "required"),
    ("_criteria.extension.0.valueString", "practitioner=1234567893", FILTER_EXPRESSION, "invalid"),
    ("_criteria.extension.0.valueString", "orgIdentifier=", FILTER_EXPRESSION, "invalid"),
    ("_criteria.extension.0.valueString", "orgIdentifier=|1234567893", FILTER_EXPRESSION, "invalid"),
    ("_criteria.extension.0.valueString", "orgIdentifier=" + "9" * 600, FILTER_EXPRESSION, "too-costly"),
    ("channel.type", "websocket", "Subscription.channel.type", "not-supported"),
    ("channel.endpoint", DROP, "Subscription.channel.endpoint", "required"),
    ("channel.endpoint", "ftp://ehr.example/n", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "ehr.example/n", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "https://ehr.example:port/n", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "http://127.0.0.1:9001/2018-06-01/runtime/init/error", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "http://localhost/n", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "http://[::1]/n", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "http://169.254.169.254/latest", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "https://10.1.2.3/n", "Subscription.channel.endpoint", "invalid"),
    ("channel.endpoint", "https://ehr.example/" + "n" * 2100, "Subscription.channel.endpoint", "too-costly"),
    ("channel.payload", DROP, "Subscription.channel.payload", "required"),
    ("channel.payload", "application/fhir+xml", "Subscription.channel.payload", "not-supported"),
    ("channel.payload", "text/plain; x=application/json", "Subscription.channel.payload", "not-supported"),
    ("channel._payload.extension.0.valueCode", "empty", CONTENT_EXPRESSION, "not-supported"),
    ("_criteria.extension.0.valueString", "org_identifier=1234567893", FILTER_EXPRESSION, "invalid"),
    ("channel.header", ["Authorization Bearer x"], "Subscription.channel.header[0]", "invalid"),
    ("channel.header", ["X-Ok: 1", "Bad Name: 1"], "Subscription.channel.header[1]", "invalid"),
    ("channel.header", ["X-Empty:  "], "Subscription.channel.header[0]", "invalid"),
    ("channel.header", ["X-A: 1\r\nX-Injected: 2"], "Subscription.channel.header[0]", "invalid"),
    ("channel.header", ["Content-Type: text/plain"], "Subscription.channel.header[0]", "not-supported"),
    ("channel.header", [f"X-{n}: v" for n in range(11)], "Subscription.channel.header", "too-costly"),
    ("reason", "r" * 1100, "Subscription.reason", "too-costly"),
]


@pytest.mark.parametrize("path, value, where, code", REFUSALS, ids=[f"{r[0]}={str(r[1])[:30]}" for r in REFUSALS])
def test_each_refusal_is_422_naming_the_element(path, value, where, code):
    body = f.subscription()
    if path.startswith("_criteria.extension") or path.startswith("channel._payload.extension"):
        holder = body["_criteria"] if path.startswith("_criteria") else body["channel"]["_payload"]
        holder["extension"][0][path.rsplit(".", 1)[1]] = value
    else:
        body = with_(body, path, value)
    with pytest.raises(Invalid) as refused:
        parse(body)
    assert not isinstance(refused.value, StructureError)  # a 422, not the 400 of bad R4
    assert (refused.value.expression, refused.value.code) == (where, code)
    if isinstance(value, str) and len(value) > 16:
        assert value not in refused.value.message  # never echoed


def test_two_filters_are_not_supported():
    body = f.subscription()
    body["_criteria"]["extension"].append({**body["_criteria"]["extension"][0], "valueString": "orgIdentifier=2"})
    with pytest.raises(Invalid) as refused:
        parse(body)
    assert (refused.value.expression, refused.value.code) == (FILTER_EXPRESSION, "not-supported")


@pytest.mark.parametrize("body, where, code", [
    (with_(f.subscription(), "reason", DROP), "Subscription.reason", "structure"),  # R4: reason 1..1
    (with_(f.subscription(), "channel.header", "Authorization: Bearer x"), "Subscription.channel.header", "structure"),
    ({"resourceType": "Patient"}, "resourceType", "not-supported"),
])
def test_what_is_not_an_r4_subscription_is_a_structure_error(body, where, code):
    with pytest.raises(StructureError) as refused:
        parse(body)
    assert (refused.value.expression, refused.value.code) == (where, code)


def test_private_endpoints_pass_only_when_allowed():
    body = f.subscription(endpoint="http://127.0.0.1:8123/hook")
    assert parse(body, private=True).endpoint == "http://127.0.0.1:8123/hook"


@pytest.mark.parametrize("written", ["orgIdentifier", "org-identifier", "identifier"])
def test_the_filter_names_pas_clients_write_are_kept_as_written(written):
    """orgIdentifier (the PAS topic), org-identifier (what the PAS 2.2.1 test kit requires of its
    Subscription), identifier (PAS 2.0.1: "the Subscription parameters SHALL be identifier = ...")."""
    sub = parse(with_(f.subscription(), "_criteria", {"extension": [
        {"url": pas_kit.kit_subscription("x", "t")["_criteria"]["extension"][0]["url"],
         "valueString": f"{written}={NPI_1}"}]}))
    assert (sub.org.system, sub.org.value, sub.org.parameter) == (codes.NPI, "1234567893", written)
    assert to_resource(sub)["_criteria"]["extension"][0]["valueString"] == f"{written}={NPI_1}"


def test_the_kit_s_subscription_is_taken_and_shown_back_as_the_kit_checks_it():
    """The PAS test kit's 2.2.1 preset Subscription: its `end` (long past) is not kept, its backport
    timeout and max-count are not used; the 201 body is requested, with the headers as sent."""
    body = pas_kit.kit_subscription("https://inferno.example/notification_listener", "demo_execution")
    sub = parse(body)
    assert (sub.content, sub.payload, sub.org.parameter) == (Content.FULL_RESOURCE, "application/fhir+json", "org-identifier")
    created = to_resource(sub, show_headers=True)
    pas_kit.check_creation(201, created, body)
    assert "end" not in created and created["channel"]["header"] == ["Authorization: Bearer demo_execution"]
    assert created["meta"]["profile"] == [PAS_SUBSCRIPTION]
    assert pas_kit.payload_content(created) == "full-resource"


@pytest.mark.parametrize("given, kept", [
    ("application/fhir+json", "application/fhir+json"),
    ("application/json", "application/json"),  # the kit's own example Subscription says so
    ("Application/FHIR+JSON; fhirVersion=4.0", "application/fhir+json"),
])
def test_the_payload_type_is_the_content_type_of_every_post(given, kept):
    sub = parse(with_(f.subscription(headers=["Authorization: Bearer s"]), "channel.payload", given))
    assert sub.payload == kept and to_resource(sub)["channel"]["payload"] == kept
    assert header_fields(sub) == {"Content-Type": kept, "Authorization": "Bearer s"}


@pytest.mark.parametrize("pas_version, stated, content", [
    ("2.2.1", None, Content.FULL_RESOURCE),  # PAS 2.2.1's profile-subscription fixes full-resource
    ("2.0.1", None, Content.ID_ONLY),  # PAS 2.0.1: intermediaries SHALL support id-only, its clients use it
    ("2.2.1", "id-only", Content.ID_ONLY),
    ("2.0.1", "full-resource", Content.FULL_RESOURCE),  # PAS 2.0.1: MAY, by agreement
])
def test_the_payload_content_is_as_stated_else_the_partner_s_pas_version_s(pas_version, stated, content):
    body = f.subscription()
    if stated:
        body["channel"]["_payload"]["extension"][0]["valueCode"] = stated
    else:
        del body["channel"]["_payload"]
    sub = parse(body, pas_version=pas_version)
    assert sub.content is content
    shown = to_resource(sub)
    assert pas_kit.payload_content(shown) == content.value  # the 201 says what the client got
    assert shown["meta"]["profile"] == [PAS_SUBSCRIPTION if content is Content.FULL_RESOURCE else BACKPORT_SUBSCRIPTION]


def test_two_payload_contents_are_refused():
    body = f.subscription()
    extension = body["channel"]["_payload"]["extension"]
    extension.append({**extension[0], "valueCode": "id-only"})
    with pytest.raises(Invalid) as refused:
        parse(body)
    assert (refused.value.expression, refused.value.code) == (CONTENT_EXPRESSION, "invalid")


# Which organizations a partner may subscribe for


@pytest.mark.parametrize("org, registered", [
    ("1234567893", [NPI_1]),  # a bare value: any system
    (NPI_1, [NPI_1]),
    ("1234567893", ["urn:oid:2.16.840.1.113883.4.6|1234567893"]),
    (NPI_1, ["urn:example:tax-id|99", NPI_1]),
])
def test_a_partner_subscribes_for_its_organizations(org, registered):
    check_organization(parse(f.subscription(org=org)), registered)


@pytest.mark.parametrize("org, registered", [
    ("1234567893", []),
    ("1234567893", [f"{codes.NPI}|1111111112"]),
    (NPI_1, ["urn:oid:2.16.840.1.113883.4.6|1234567893"]),  # a system|value filter matches exactly
    ("123456789", [NPI_1]),  # no prefix matching
])
def test_another_organization_is_forbidden_naming_the_criteria(org, registered):
    with pytest.raises(Forbidden) as refused:
        check_organization(parse(f.subscription(org=org)), registered)
    assert (refused.value.code, refused.value.expression) == ("forbidden", "Subscription.criteria")
    assert "1234567893" not in refused.value.message


# Which cases a subscription is about


def role_bundle(org_npi: str = "5555555555", practitioner_npi: str = "1234567893") -> dict:
    """A PAS request whose requestor is a PractitionerRole naming a Practitioner and an Organization."""
    bundle = f.pas_bundle(f.claim(provider={"reference": "PractitionerRole/role-1"}))
    for resource in (
        {"resourceType": "PractitionerRole", "id": "role-1", "practitioner": {"reference": "Practitioner/dr-1"},
         "organization": {"reference": "Organization/clinic-1"}},
        {"resourceType": "Practitioner", "id": "dr-1", "identifier": [{"system": codes.NPI, "value": practitioner_npi}]},
        {"resourceType": "Organization", "id": "clinic-1", "identifier": [{"system": codes.NPI, "value": org_npi}]},
    ):
        bundle["entry"].append({"fullUrl": f"{f.BASE}{resource['resourceType']}/{resource['id']}", "resource": resource})
    return bundle


def test_the_requesting_organization_matches_and_the_insurer_does_not():
    case = f.case().model_copy(update={"partner_id": "p"})  # requestor Organization NPI 1234567893, insurer 1111111112
    assert requester_identifiers(case) == [(codes.NPI, "1234567893")]
    assert matches(active("1234567893"), case) and matches(active("1234567893", codes.NPI), case)
    assert not matches(active("1111111112"), case)
    assert not matches(active("1234567893", "urn:example:other"), case)


def test_only_active_subscriptions_match_whichever_partner_sent_the_case():
    case = f.case().model_copy(update={"partner_id": "p"})
    # An EHR (its own partner) hears of its organization's requests that a payer sent.
    assert matches(active(partner="clinic-ehr"), case)
    for status in (Status.REQUESTED, Status.ERROR, Status.OFF):
        assert not matches(active().model_copy(update={"status": status}), case)


def test_a_practitioner_role_requester_matches_by_its_practitioner_and_its_organization():
    case = f.case(role_bundle(org_npi="5555555555", practitioner_npi="1234567893")).model_copy(update={"partner_id": "p"})
    assert set(requester_identifiers(case)) == {(codes.NPI, "1234567893"), (codes.NPI, "5555555555")}
    assert organization_values(case) == ["1234567893", "5555555555"]
    assert matches(active("5555555555"), case) and matches(active("1234567893"), case)
    assert not matches(active("1111111112"), case)  # the insurer


def test_a_partner_speaks_for_the_cases_its_organizations_requested_whoever_sent_them():
    case = f.case().model_copy(update={"partner_id": "payer"})  # requestor NPI 1234567893, insurer 1111111112
    assert speaks_for([NPI_1], case) and speaks_for(["urn:example:tax-id|9", NPI_1], case)
    assert not speaks_for([], case) and not speaks_for([f"{codes.NPI}|1111111112"], case)  # the insurer's
    assert not speaks_for(["urn:oid:2.16.840.1.113883.4.6|1234567893"], case)  # registered under another system


def test_a_case_without_parties_matches_by_the_requesting_npi():
    """An HL7 v2 request keeps no resources: its providers' NPIs are what there is."""
    case = f.case().model_copy(update={"partner_id": "p", "parties": [], "providers": [
        Provider(role="requesting", npi="2222222222"), Provider(role="servicing", npi="3333333333")]})
    assert organization_values(case) == ["2222222222"]
    assert matches(active("2222222222"), case) and not matches(active("3333333333"), case)


def test_the_pas_example_requester_is_its_organization_not_its_insurer(corpus_json):
    body = corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json")
    case = f.case(body).model_copy(update={"partner_id": "p"})
    assert requester_identifiers(case) == [(codes.NPI, "8189991234")]
    assert not matches(active("1234567893"), case)  # the insurer's NPI in that example


# What the subscriber receives


def parameters(resource: dict) -> dict[str, dict]:
    return {p["name"]: p for p in resource["parameter"]}


def test_the_subscription_as_shown_hides_header_values():
    sub = parse(f.subscription(headers=["Authorization: Bearer secret-1"]))
    shown = to_resource(sub.model_copy(update={"status": Status.ERROR, "error": "handshake: the endpoint answered 500"}))
    assert shown["channel"]["header"] == ["Authorization: ***"] and "secret-1" not in json.dumps(shown)
    assert to_resource(sub, show_headers=True)["channel"]["header"] == ["Authorization: Bearer secret-1"]  # the 201
    assert (shown["status"], shown["error"], shown["criteria"]) == ("error", "handshake: the endpoint answered 500", TOPIC)
    assert shown["_criteria"]["extension"][0]["valueString"] == "orgIdentifier=1234567893"
    assert shown["channel"]["_payload"]["extension"][0]["valueCode"] == "full-resource"


def test_handshake_is_a_history_bundle_with_a_handshake_status():
    bundle = handshake_bundle(parse(f.subscription()), BASE)
    assert (bundle["resourceType"], bundle["type"], bundle["timestamp"]) == ("Bundle", "history", "2026-11-23T12:00:00Z")
    [entry] = bundle["entry"]
    status = entry["resource"]
    assert status["resourceType"] == "Parameters" and status["meta"]["profile"] == [STATUS_PROFILE]
    assert entry["fullUrl"] == f"{BASE}/Parameters/{status['id']}"
    assert entry["request"] == {"method": "GET", "url": f"{BASE}/Subscription/sub-1/$status"}
    assert entry["response"] == {"status": "200"}
    assert parameters(status) == {
        "subscription": {"name": "subscription", "valueReference": {"reference": "Subscription/sub-1"}},
        "topic": {"name": "topic", "valueCanonical": TOPIC},
        "status": {"name": "status", "valueCode": "requested"},
        "type": {"name": "type", "valueCode": "handshake"},
        "events-since-subscription-start": {"name": "events-since-subscription-start", "valueString": "0"},
    }


def test_status_is_a_searchset_with_the_event_counter_and_the_error():
    sub = active(events=7, error="notification: the endpoint answered 503")
    bundle = status_bundle(sub, BASE)
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    [entry] = bundle["entry"]
    assert entry["search"] == {"mode": "match"} and entry["fullUrl"] == f"{BASE}/Parameters/{entry['resource']['id']}"
    found = parameters(entry["resource"])
    assert found["type"]["valueCode"] == "query-status" and found["status"]["valueCode"] == "active"
    assert found["events-since-subscription-start"]["valueString"] == "7"
    assert found["error"] == {"name": "error", "valueCodeableConcept": {"text": "notification: the endpoint answered 503"}}


def decided_case():
    return f.decided(f.case(), {1: f.determination("approved", authorization_number="AUTH-1")})


def test_notification_has_the_shape_of_the_pas_example(corpus_json):
    example = corpus_json(PAS_DIR / "Bundle-PASSubscriptionNotification.json")
    case = decided_case()
    ours = notification_bundle(active(), 3, response_bundle(case, BASE), BASE)

    assert ours["type"] == example["type"] == "history"
    assert ours["timestamp"] == "2026-11-23T12:00:00Z"  # the determination's
    assert len(ours["entry"]) == len(example["entry"]) == 2
    for mine, theirs, base in zip(ours["entry"], example["entry"], (BASE, "http://example.org")):
        assert set(mine) == set(theirs) == {"fullUrl", "resource", "request", "response"}
        for entry, at in ((mine, BASE), (theirs, "http://example.org")):  # fullUrl = base/type/id in both
            assert entry["fullUrl"] == f"{at}/{entry['resource']['resourceType']}/{entry['resource']['id']}"
        assert mine["resource"]["resourceType"] == theirs["resource"]["resourceType"]
        assert mine["request"]["method"] == theirs["request"]["method"] == "GET"
        assert mine["response"] == theirs["response"] == {"status": "200"}
    assert ours["entry"][0]["request"]["url"] == f"{BASE}/Subscription/sub-1/$status"
    assert example["entry"][0]["request"]["url"].endswith("/$status")
    assert ours["entry"][1]["request"]["url"] == ours["entry"][1]["fullUrl"]

    mine, theirs = parameters(ours["entry"][0]["resource"]), parameters(example["entry"][0]["resource"])
    assert set(theirs) <= set(mine)  # the backport's status and counter besides
    for name, parameter in theirs.items():
        assert set(mine[name]) == set(parameter), name  # the same value[x] (or part)
    assert mine["subscription"]["valueReference"] == {"reference": "Subscription/sub-1"}
    assert mine["topic"] == theirs["topic"]
    assert mine["type"] == theirs["type"] == {"name": "type", "valueCode": "event-notification"}
    assert mine["status"]["valueCode"] == "active" and mine["events-since-subscription-start"]["valueString"] == "3"
    my_event = {p["name"]: p for p in mine["notification-event"]["part"]}
    their_event = {p["name"]: p for p in theirs["notification-event"]["part"]}
    assert {n: set(p) for n, p in my_event.items()} == {n: set(p) for n, p in their_event.items()}
    assert my_event["event-number"]["valueString"] == "3"
    assert my_event["timestamp"]["valueInstant"] == ours["timestamp"]
    # The focus is the carried PAS response Bundle, as in the example (the topic's notification shape).
    assert my_event["focus"]["valueReference"] == {"reference": ours["entry"][1]["fullUrl"]}
    assert their_event["focus"]["valueReference"] == {"reference": example["entry"][1]["fullUrl"]}

    carried, theirs_carried = ours["entry"][1]["resource"], example["entry"][1]["resource"]
    assert carried["meta"] == theirs_carried["meta"] == {"profile": [codes.PAS_RESPONSE_BUNDLE]}
    assert carried["type"] == theirs_carried["type"] == "collection"
    assert carried["id"] == case.id
    assert {k: v for k, v in carried.items() if k != "id"} == response_bundle(case, BASE)  # whole, unchanged
    assert carried["entry"][0]["resource"]["resourceType"] == "ClaimResponse"


def test_an_id_only_notification_names_the_claimresponse_and_carries_no_resource():
    case = decided_case()
    bundle = notification_bundle(active(content=Content.ID_ONLY), 4, response_bundle(case, BASE), BASE)
    pas_kit.check_notification(bundle, "event-notification", "sub-1", "active")
    assert pas_kit.check_id_only(bundle) == f"{BASE}/ClaimResponse/{case.id}"
    [status_entry, entry] = bundle["entry"]
    assert entry == {"fullUrl": f"{BASE}/ClaimResponse/{case.id}",
                     "request": {"method": "GET", "url": f"{BASE}/ClaimResponse/{case.id}"}, "response": {"status": "200"}}
    event = {p["name"]: p for p in parameters(status_entry["resource"])["notification-event"]["part"]}
    assert event["event-number"]["valueString"] == "4" and event["timestamp"]["valueInstant"] == bundle["timestamp"]
    assert parameters(status_entry["resource"])["topic"]["valueCanonical"] == TOPIC


def test_a_full_resource_notification_passes_the_kit_s_checks():
    bundle = notification_bundle(active(), 2, response_bundle(decided_case(), BASE), BASE)
    pas_kit.check_notification(bundle, "event-notification", "sub-1", "active")
    pas_kit.check_full_resource(bundle)
    assert pas_kit.check_pas_notification(bundle)["entry"][0]["resource"]["id"] == decided_case().id


def test_notification_timestamp_may_be_given():
    at = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=timezone.utc)
    bundle = notification_bundle(active(), 1, response_bundle(decided_case(), BASE), BASE, at=at)
    event = {p["name"]: p for p in parameters(bundle["entry"][0]["resource"])["notification-event"]["part"]}
    assert bundle["timestamp"] == event["timestamp"]["valueInstant"] == "2026-12-01T08:30:15Z"


def test_the_bundles_and_the_subscription_validate(tmp_path):
    sub = parse(f.subscription(headers=["Authorization: Bearer x"]))
    fhir_validate(tmp_path, {
        "subscription": to_resource(sub.model_copy(update={"status": Status.ERROR, "error": "handshake: no answer"})),
        "handshake": handshake_bundle(sub, BASE),
        "status": status_bundle(active(events=2, error="notification failed"), BASE),
        "notification": notification_bundle(active(), 2, response_bundle(decided_case(), BASE), BASE),
        "id-only-subscription": to_resource(parse(f.subscription(), pas_version="2.0.1").model_copy(
            update={"content": Content.ID_ONLY}), show_headers=True),
        "id-only": notification_bundle(active(content=Content.ID_ONLY), 3, response_bundle(decided_case(), BASE), BASE),
    })
