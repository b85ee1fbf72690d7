"""The Inferno Da Vinci PAS test kit's server checks on Subscriptions, in Python, so that tests assert
what the kit asserts (subscriptions_test_kit 0.12: notification_conformance_verification.rb,
subscription_creation.rb; davinci_pas_test_kit: pas_notification_verification.rb). Each function
fails with the kit's own reason. /work/notes/kit-digest.md §1, §2.3.2 and §7 list them.
"""
from __future__ import annotations

from typing import Any, Iterable

Json = dict[str, Any]
STATUS_PROFILE = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"


def payload_content(subscription: Json) -> str | None:
    """The backport-payload-content code of a Subscription (what the kit tags its creation with)."""
    for extension in (subscription.get("channel", {}).get("_payload") or {}).get("extension", []):
        if extension.get("url", "").endswith("/backport-payload-content"):
            return extension.get("valueCode")
    return None


def check_creation(status_code: int, created: Json, sent: Json) -> None:
    """1.02 (exactly 201) and 1.03 (a rest-hook Subscription, status requested); 2.3.2.02 then reads the
    headers and payload to check from this body, so they must be the ones sent."""
    assert status_code == 201, "1.02: the creation must answer exactly 201"
    assert created["resourceType"] == "Subscription" and created.get("id"), "1.03: a Subscription with an id"
    assert created["channel"]["type"] == "rest-hook" and created["status"] == "requested", "1.03"
    assert created["channel"].get("header") == sent["channel"].get("header"), "2.3.2.02 reads channel.header here"
    assert created["channel"]["payload"] == sent["channel"]["payload"], "2.3.2.02 reads channel.payload here"


def parameters(bundle: Json) -> dict[str, list[Json]]:
    found: dict[str, list[Json]] = {}
    for parameter in bundle["entry"][0]["resource"]["parameter"]:
        found.setdefault(parameter["name"], []).append(parameter)
    return found


def check_notification(bundle: Json, kind: str, subscription_id: str, status: str) -> None:
    """notification_verification: a history Bundle, entry 0 the SubscriptionStatus (a Parameters whose
    request is the subscription's $status), every entry with request and response, type and status as
    expected; and the id the listener files it under (the subscription reference's last segment)."""
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history", "a history Bundle"
    assert bundle.get("entry"), "Notification Bundle is empty"
    for n, entry in enumerate(bundle["entry"]):
        assert entry.get("request") and entry.get("response"), f"entry {n + 1}: request and response (history)"
    status_entry = bundle["entry"][0]
    assert status_entry["request"]["url"].endswith(f"Subscription/{subscription_id}/$status"), "the $status request"
    resource = status_entry["resource"]
    assert resource["resourceType"] == "Parameters" and STATUS_PROFILE in resource.get("meta", {}).get("profile", [])
    found = parameters(bundle)
    assert [p["valueCode"] for p in found["type"]] == [kind], "type"
    assert [p["valueCode"] for p in found["status"]] == [status], "status"
    [subscription] = found["subscription"]
    assert subscription["valueReference"]["reference"].split("/")[-1] == subscription_id, "tagged by this id"


def check_headers(headers: dict[str, str], created: Json) -> None:
    """notification_header_verification: Content-Type starts with channel.payload; every channel.header
    string ("Name: value", split at ': ') sent with exactly that value. `headers` are lower-cased names."""
    assert headers.get("content-type", "").startswith(created["channel"]["payload"]), "Content-Type"
    for header in created["channel"]["header"]:
        name, _, value = header.partition(": ")
        assert headers.get(name.lower()) == value, f"header {name} sent as requested"


def _events(bundle: Json) -> list[dict[str, Json]]:
    return [{p["name"]: p for p in event["part"]} for event in parameters(bundle).get("notification-event", [])]


def _resolves(reference: str, entries: Iterable[Json]) -> bool:
    """bundle_entry_reference_valid? (full-resource): a urn by fullUrl, else Type/id inside the reference."""
    if reference.startswith("urn:"):
        return any(e.get("fullUrl") == reference for e in entries)
    return any(f"{e['resource']['resourceType']}/{e['resource']['id']}" in reference for e in entries if "resource" in e)


def check_full_resource(bundle: Json) -> None:
    """2.3.2.03: at least one notification-event, each with a focus resolving to an entry after the status."""
    events, entries = _events(bundle), bundle["entry"][1:]
    assert events, "notification-event parameters in full-resource notifications"
    for event in events:
        assert "focus" in event and _resolves(event["focus"]["valueReference"]["reference"], entries), "focus resolves"


def check_pas_notification(bundle: Json) -> Json:
    """2.3.2.04 (verify_pas_notification): the focus, found among entries 1.. by fullUrl (or Type/id),
    is a collection Bundle holding a ClaimResponse. Returns it."""
    assert bundle["entry"][0]["resource"]["resourceType"] == "Parameters"
    events = _events(bundle)
    assert events and all("focus" in e for e in events), "a notification-event with a focus"
    reference = events[0]["focus"]["valueReference"]["reference"]
    [entry] = [e for e in bundle["entry"][1:] if e.get("fullUrl") == reference
               or ("resource" in e and f"{e['resource']['resourceType']}/{e['resource']['id']}" in reference)]
    focus = entry["resource"]
    assert focus["resourceType"] == "Bundle" and focus["type"] == "collection", "the PAS response Bundle"
    assert any(e["resource"]["resourceType"] == "ClaimResponse" for e in focus["entry"]), "with a ClaimResponse"
    return focus


def check_id_only(bundle: Json) -> str:
    """§7 (subscriptions_r4_server_id_only_conformance): notification-events, each with a focus; every
    entry after the status has a fullUrl and no resource. Returns the first focus reference."""
    events = _events(bundle)
    assert events and all("focus" in e for e in events), "id-only notifications name their focus"
    for entry in bundle["entry"][1:]:
        assert "resource" not in entry, "id-only entries carry no resource"
        assert entry.get("fullUrl"), "id-only entries carry a fullUrl"
    assert "resource" in bundle["entry"][0], "the SubscriptionStatus stays (backport: entry 0)"
    return events[0]["focus"]["valueReference"]["reference"]


def kit_subscription(endpoint: str, token: str, content: str | None = "full-resource",
                     org_filter: str = "org-identifier=1234567893", payload: str = "application/fhir+json") -> Json:
    """The Subscription the kit POSTs: its 2.2.1 preset's (an `end` long past, backport timeout and
    max-count extensions, the backport profile) after server_check_channel pointed it at the kit's
    listener and added the notification token's Authorization header. content None: no
    backport-payload-content at all."""
    channel: Json = {
        "extension": [
            {"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-timeout",
             "valueUnsignedInt": 60},
            {"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-max-count",
             "valuePositiveInt": 20}],
        "type": "rest-hook", "header": [f"Authorization: Bearer {token}"], "endpoint": endpoint, "payload": payload}
    if content:
        channel["_payload"] = {"extension": [{
            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
            "valueCode": content}]}
    return {"resourceType": "Subscription", "status": "requested", "end": "2020-12-31T12:00:00Z",
            "reason": "R4 Topic-Based Workflow Subscription for Patient Admission",
            "criteria": "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
            "_criteria": {"extension": [{
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",
                "valueString": org_filter}]},
            "channel": channel,
            "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"]}}
