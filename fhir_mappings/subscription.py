"""Da Vinci PAS Subscription (R4 Subscriptions Backport 1.1, rest-hook) -> PasSubscription, and what a
subscriber receives: the handshake, the $status answer and the event notifications, full-resource
(PAS 2.2.1) or id-only (PAS 2.0.1).

| Subscription element (R4, backport extensions)           | PasSubscription | accepted                          |
|----------------------------------------------------------|-----------------|-----------------------------------|
| status                                                   | status          | requested (R4: what a client may  |
|                                                          |                 | send); the server sets the rest   |
| reason                                                   | reason          | kept                              |
| criteria                                                 | -               | TOPIC only                        |
| criteria.extension:backport-filter-criteria .valueString | org             | exactly one, <name>=[system|]value|
|                                                          |                 |   name orgIdentifier (the topic), |
|                                                          |                 |   org-identifier (PAS 2.2.1 kit), |
|                                                          |                 |   identifier (PAS 2.0.1); echoed  |
| end                                                      | -               | not kept: the 201 shows none (a   |
|                                                          |                 |   subscription lasts until DELETE)|
| channel.type                                             | -               | rest-hook                         |
| channel.endpoint                                         | endpoint        | http(s) URL with a host           |
| channel.payload                                          | payload         | application/fhir+json or          |
|                                                          |                 |   application/json: the POSTs'    |
|                                                          |                 |   Content-Type                    |
| channel.payload.extension:backport-payload-content       | content         | full-resource or id-only; absent: |
|                                                          |                 |   id-only for a PAS 2.0.1 partner,|
|                                                          |                 |   else full-resource              |
| channel.header                                           | headers         | "Name: value", sent with each POST|
| error (R4 string)                                        | error           | set by the server                 |

The status is requested at creation (the 201 says so), active once the endpoint answered the
handshake (sent by the delivery worker, retried as any delivery), error when it refused it or
never answered, off once deleted. Element-level problems are 422 naming the element; a
well-formed filter for an organization the partner is not registered for is 403 (`check_organization`).

SubscriptionStatus: a Parameters (backport-subscription-status-r4), the first entry of each Bundle:
| parameter                       | value                                                          |
|---------------------------------|----------------------------------------------------------------|
| subscription                    | valueReference Subscription/<id> (resolved against the fullUrl) |
| topic                           | valueCanonical TOPIC                                           |
| status                          | valueCode: the subscription's status                           |
| type                            | valueCode handshake / query-status / event-notification        |
| events-since-subscription-start | valueString: the event counter (0 at the handshake)            |
| notification-event              | parts event-number (valueString), timestamp (valueInstant),    |
|                                 |   focus (valueReference: entry 1's fullUrl)                    |
| error                           | valueCodeableConcept.text: the subscription's error, if any    |

Notification Bundle (type history), full-resource as the PAS example Bundle-PASSubscriptionNotification:
| entry | fullUrl                     | resource                  | request                                 | response |
|-------|-----------------------------|---------------------------|-----------------------------------------|----------|
| 0     | <base>/Parameters/<sub>-<n> | SubscriptionStatus        | GET <base>/Subscription/<sub>/$status   | 200      |
| 1     | <base>/Bundle/<case id>     | the PAS response Bundle   | GET <base>/Bundle/<case id>             | 200      |
The PAS topic's notification shape is the response Bundle, so the focus is that Bundle, carried whole.
id-only (backport: entries carry a fullUrl and no resource; the status entry keeps its resource):
| 1     | <base>/ClaimResponse/<case id> | -                      | GET <base>/ClaimResponse/<case id>      | 200      |
The focus is the ClaimResponse's read URL, which the subscriber GETs with its token (PAS 2.0.1:
the client then queries).
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from review.errors import Forbidden, Invalid
from review.model import Case, instant
from review.outbox import Attempt, DeliveryState

from . import codes
from .validation import validate

Json = dict[str, Any]

TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
PAS_SUBSCRIPTION = codes.PAS + "profile-subscription"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"
NOTIFICATION_PROFILE = BACKPORT + "backport-subscription-notification-r4"
BACKPORT_SUBSCRIPTION = BACKPORT + "backport-subscription"
FHIR_JSON = "application/fhir+json"
PAYLOAD_TYPES = (FHIR_JSON, "application/json")
# The topic's filter parameter, and the names PAS clients also write: org-identifier (the 2.2.1 test
# kit requires it), identifier (PAS 2.0.1: "the Subscription parameters SHALL be identifier = ...").
FILTER_PARAMETER = "orgIdentifier"
FILTER_PARAMETERS = (FILTER_PARAMETER, "org-identifier", "identifier")
CHANNEL = "rest-hook"

FILTER_EXPRESSION = f"Subscription.criteria.extension('{FILTER_CRITERIA}')"
CONTENT_EXPRESSION = f"Subscription.channel.payload.extension('{PAYLOAD_CONTENT}')"
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)
# Headers the sender sets itself: a subscriber's value would contradict the body or the connection.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "transfer-encoding", "connection"})
MAX_HEADERS = 10
# A subscription is one small item: text beyond these is refused (too-costly) rather than stored.
MAX_LENGTH = {"Subscription.reason": 1024, "Subscription.channel.endpoint": 2048, FILTER_EXPRESSION: 512,
              "Subscription.channel.header": 4096}
REDACTED = "***"


class Status(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    ERROR = "error"
    OFF = "off"


class Content(StrEnum):
    """backport-payload-content: what a notification carries besides the SubscriptionStatus."""
    FULL_RESOURCE = "full-resource"  # the PAS response Bundle (PAS 2.2.1's profile-subscription)
    ID_ONLY = "id-only"  # the ClaimResponse's URL only (PAS 2.0.1: intermediaries SHALL support it)


# What a partner gets when its Subscription does not say (partners file: pas_version).
DEFAULT_CONTENT = {"2.0.1": Content.ID_ONLY}


def default_content(pas_version: str) -> Content:
    return DEFAULT_CONTENT.get(pas_version, Content.FULL_RESOURCE)


class NotificationType(StrEnum):
    HANDSHAKE = "handshake"
    QUERY_STATUS = "query-status"
    EVENT_NOTIFICATION = "event-notification"


class OrgFilter(BaseModel):
    """orgIdentifier=[system|]value: a bare value matches that value under any system. `parameter` is
    the name the subscriber wrote (one of FILTER_PARAMETERS), shown back as written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str | None = None
    value: str
    parameter: str = FILTER_PARAMETER

    @property
    def criteria(self) -> str:
        return f"{self.parameter}={self.system + '|' if self.system else ''}{self.value}"

    def admits(self, system: str | None, value: str) -> bool:
        return value == self.value and (self.system is None or system == self.system)


class PasSubscription(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    partner_id: str
    org: OrgFilter
    endpoint: str
    headers: list[str] = []  # "Name: value", as the subscriber gave them
    payload: str = FHIR_JSON  # the notifications' Content-Type (one of PAYLOAD_TYPES)
    content: Content = Content.FULL_RESOURCE
    reason: str = ""
    status: Status = Status.REQUESTED
    error: str | None = None
    events: int = 0  # events-since-subscription-start: notifications numbered so far
    created: datetime


class Handshake(BaseModel):
    """The handshake a new subscription owes its endpoint, tried by the delivery worker as an outbox
    record is (review/delivery.judge reads `tries` and `target`): delivered makes the subscription
    active, dead (refused, or out of attempts) makes it error."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    state: DeliveryState = DeliveryState.PENDING
    tries: int = 0
    attempts: list[Attempt] = []

    target: ClassVar[str] = "handshake"

    def attempted(self, state: DeliveryState, attempt: Attempt) -> Handshake:
        return self.model_copy(update={"state": state, "tries": attempt.n, "attempts": [*self.attempts, attempt]})


# Parsing and checking an incoming Subscription


def parse_subscription(body: Any, *, id: str, partner_id: str, created: datetime, private_endpoints: bool = False,
                       pas_version: str = "2.2.1") -> PasSubscription:
    """A client's Subscription, checked: StructureError (400) for what is not R4, Invalid (422)
    naming the element for what this server does not take. `private_endpoints` lets an endpoint be
    a loopback or private address (the local stack's tests); off, such an endpoint is refused, so a
    partner cannot make the function POST to its own host (the Lambda runtime API) or network.
    `pas_version` (the partner's) chooses the payload content when the Subscription does not.
    An `end` is not kept (nor refused: the PAS test kit's own Subscription has one): the 201 shows
    the subscription without it, as stored, and it lasts until deleted."""
    validate(body, frozenset({"Subscription"}))
    _check_status(body)
    _check_topic(body)
    channel = body["channel"]
    _check_channel_type(channel)
    return PasSubscription(id=id, partner_id=partner_id, org=_org_filter(body), created=created,
                           endpoint=_endpoint(channel, private_endpoints), headers=_headers(channel),
                           payload=_payload(channel), content=_content(channel, default_content(pas_version)),
                           reason=_bounded(body.get("reason", ""), "Subscription.reason"))


def check_organization(sub: PasSubscription, registered: Iterable[str]) -> None:
    """A partner subscribes only for the organizations it is registered for ("system|value"): a
    system|value filter must be one of them, a bare value the value of one of them."""
    pairs = [tuple(entry.split("|", 1)) for entry in registered]
    if not any(sub.org.admits(system or None, value) for system, value in pairs):
        raise Forbidden("the partner is not registered for the organization of this filter", "Subscription.criteria")


def _check_status(body: Json) -> None:
    if body.get("status") != Status.REQUESTED:
        raise Invalid("a new subscription has status requested", "Subscription.status")


def _check_topic(body: Json) -> None:
    if body.get("criteria") != TOPIC:
        raise Invalid(f"the only topic is {TOPIC}", "Subscription.criteria", "not-supported")


def _org_filter(body: Json) -> OrgFilter:
    filters = [e for e in (body.get("_criteria") or {}).get("extension", []) if e.get("url") == FILTER_CRITERIA]
    if not filters:
        raise Invalid(f"give the organization as {FILTER_PARAMETER}=[system|]value", FILTER_EXPRESSION, "required")
    if len(filters) > 1:
        raise Invalid("one filter per subscription", FILTER_EXPRESSION, "not-supported")
    name, sep, identifier = _bounded(filters[0].get("valueString") or "", FILTER_EXPRESSION).partition("=")
    system, bar, value = identifier.rpartition("|")
    if name.strip() not in FILTER_PARAMETERS or not sep or not value.strip() or (bar and not system.strip()):
        raise Invalid(f"the filter is {FILTER_PARAMETER}=[system|]value", FILTER_EXPRESSION)
    return OrgFilter(system=system.strip() or None, value=value.strip(), parameter=name.strip())


def _check_channel_type(channel: Json) -> None:
    if channel.get("type") != CHANNEL:
        raise Invalid("the channel type is rest-hook", "Subscription.channel.type", "not-supported")


def _payload(channel: Json) -> str:
    """The media type, without parameters: it is the Content-Type of every POST, so nothing but one
    of PAYLOAD_TYPES reaches a header."""
    payload = channel.get("payload")
    if payload is None:
        raise Invalid(f"notifications carry {FHIR_JSON}", "Subscription.channel.payload", "required")
    media_type = payload.split(";")[0].strip().lower()
    if media_type not in PAYLOAD_TYPES:
        raise Invalid(f"notifications carry {' or '.join(PAYLOAD_TYPES)}", "Subscription.channel.payload",
                      "not-supported")
    return media_type


def _content(channel: Json, default: Content) -> Content:
    content = [e.get("valueCode") for e in (channel.get("_payload") or {}).get("extension", [])
               if e.get("url") == PAYLOAD_CONTENT]
    if not content:
        return default
    offered = " or ".join(Content)
    if len(content) > 1:
        raise Invalid(f"one payload content: {offered}", CONTENT_EXPRESSION)
    if content[0] not in tuple(Content):
        raise Invalid(f"the payload content is {offered}", CONTENT_EXPRESSION, "not-supported")
    return Content(content[0])


def _endpoint(channel: Json, private_allowed: bool) -> str:
    endpoint = channel.get("endpoint")
    if not endpoint:
        raise Invalid("the channel needs an endpoint", "Subscription.channel.endpoint", "required")
    _bounded(endpoint, "Subscription.channel.endpoint")
    try:
        url = urlsplit(endpoint)
        host = url.hostname
        url.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise Invalid("the endpoint is an http(s) URL", "Subscription.channel.endpoint") from None
    if url.scheme not in ("http", "https") or not host or any(c.isspace() for c in endpoint):
        raise Invalid("the endpoint is an http(s) URL", "Subscription.channel.endpoint")
    if not private_allowed and _private(host):
        raise Invalid("the endpoint must be a public address", "Subscription.channel.endpoint")
    return endpoint


def _private(host: str) -> bool:
    """A loopback, private, link-local or otherwise non-public address, written as such. (A name is
    not resolved here: that would be I/O, and its address may change before the POST.)"""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def _headers(channel: Json) -> list[str]:
    headers = channel.get("header") or []
    if len(headers) > MAX_HEADERS:
        raise Invalid(f"at most {MAX_HEADERS} headers", "Subscription.channel.header", "too-costly")
    for n, header in enumerate(headers):
        where = f"Subscription.channel.header[{n}]"
        name, colon, value = _bounded(header, "Subscription.channel.header", where).partition(":")
        if not colon or not HEADER_NAME.match(name) or not value.strip() or any(c in header for c in "\r\n\0"):
            raise Invalid("a header is 'Name: value'", where)
        if name.lower() in RESERVED_HEADERS:
            raise Invalid("this header is set by the server", where, "not-supported")
    return list(headers)


def _bounded(text: str, element: str, where: str | None = None) -> str:
    if len(text) > MAX_LENGTH[element]:
        raise Invalid(f"at most {MAX_LENGTH[element]} characters", where or element, "too-costly")
    return text


def header_fields(sub: PasSubscription) -> dict[str, str]:
    """What every POST to the endpoint carries: the subscription's payload type, then its headers."""
    fields = {"Content-Type": sub.payload}
    for header in sub.headers:
        name, _, value = header.partition(":")
        fields[name.strip()] = value.strip()
    return fields


# The Subscription as this server shows it


def to_resource(sub: PasSubscription, show_headers: bool = False) -> Json:
    """The stored Subscription as R4 JSON. Header values are shown only in the answer to the POST
    that gave them (the backport's clients check them there); later they are not: they are the
    subscriber's credentials for its endpoint, and a GET is not the place to hand them out again.
    The PAS profile fixes full-resource, so an id-only subscription claims the backport's profile."""
    resource: Json = {
        "resourceType": "Subscription",
        "id": sub.id,
        "meta": {"profile": [PAS_SUBSCRIPTION if sub.content is Content.FULL_RESOURCE else BACKPORT_SUBSCRIPTION]},
        "status": sub.status.value,
        "reason": sub.reason,
        "criteria": TOPIC,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": sub.org.criteria}]},
        "channel": {
            "type": CHANNEL,
            "endpoint": sub.endpoint,
            "payload": sub.payload,
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": sub.content.value}]},
        },
    }
    if sub.error:
        resource["error"] = sub.error
    if sub.headers:
        resource["channel"]["header"] = (list(sub.headers) if show_headers
                                         else [f"{h.partition(':')[0]}: {REDACTED}" for h in sub.headers])
    return resource


# What the subscriber receives


def handshake_bundle(sub: PasSubscription, base_url: str) -> Json:
    """Sent to the endpoint once the subscription is stored (status requested, no events yet)."""
    id_ = f"{sub.id}-handshake"
    return _history(sub, base_url, subscription_status(sub, NotificationType.HANDSHAKE, 0, id_), sub.created, [])


def status_bundle(sub: PasSubscription, base_url: str) -> Json:
    """What GET Subscription/<id>/$status answers: a searchset holding the SubscriptionStatus."""
    status = subscription_status(sub, NotificationType.QUERY_STATUS, sub.events, f"{sub.id}-status")
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [{"fullUrl": f"{base_url}/Parameters/{status['id']}", "resource": status, "search": {"mode": "match"}}],
    }


def notification_bundle(sub: PasSubscription, event_number: int, response_bundle: Json, base_url: str,
                        at: datetime | None = None) -> Json:
    """Event `event_number` (from the store's next_event) about the case whose PAS response Bundle
    (case_to_claimresponse.response_bundle) this is: carried whole (full-resource), or named by its
    ClaimResponse's read URL (id-only: the entry has no resource). `at` is the event's time; by
    default the response Bundle's timestamp (the determination's, or the receipt's)."""
    if sub.content is Content.ID_ONLY:
        url = f"{base_url}/ClaimResponse/{response_bundle['entry'][0]['resource']['id']}"
        focus = {"fullUrl": url, "request": {"method": "GET", "url": url}, "response": {"status": "200"}}
    else:
        bundle_id = response_bundle.get("id") or response_bundle["entry"][0]["resource"]["id"]
        carried = {"resourceType": "Bundle", "id": bundle_id, **{k: v for k, v in response_bundle.items() if k != "id"}}
        url = f"{base_url}/Bundle/{bundle_id}"
        focus = {"fullUrl": url, "resource": carried, "request": {"method": "GET", "url": url},
                 "response": {"status": "200"}}
    timestamp = instant(at) if at else response_bundle["timestamp"]
    status = subscription_status(sub, NotificationType.EVENT_NOTIFICATION, event_number, f"{sub.id}-{event_number}", {
        "name": "notification-event",
        "part": [{"name": "event-number", "valueString": str(event_number)},
                 {"name": "timestamp", "valueInstant": timestamp},
                 {"name": "focus", "valueReference": {"reference": url}}],
    })
    return _history(sub, base_url, status, timestamp, [focus])


def subscription_status(sub: PasSubscription, kind: NotificationType, events: int, id_: str,
                        notification_event: Json | None = None) -> Json:
    """The SubscriptionStatus Parameters (backport-subscription-status-r4)."""
    parameters = [
        {"name": "subscription", "valueReference": {"reference": f"Subscription/{sub.id}"}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": sub.status.value},
        {"name": "type", "valueCode": kind.value},
        {"name": "events-since-subscription-start", "valueString": str(events)},
    ]
    if notification_event:
        parameters.append(notification_event)
    if sub.error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": sub.error}})
    return {"resourceType": "Parameters", "id": id_, "meta": {"profile": [STATUS_PROFILE]}, "parameter": parameters}


def _history(sub: PasSubscription, base_url: str, status: Json, at: datetime | str, entries: list[Json]) -> Json:
    """A notification Bundle: the SubscriptionStatus first, its request a GET of $status (R4 history
    Bundles need request and response on every entry: bdl-3, bdl-4)."""
    status_url = f"{base_url}/Subscription/{sub.id}/$status"
    return {
        "resourceType": "Bundle",
        "id": status["id"],
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": at if isinstance(at, str) else instant(at),
        "entry": [{"fullUrl": f"{base_url}/Parameters/{status['id']}", "resource": status,
                   "request": {"method": "GET", "url": status_url}, "response": {"status": "200"}}, *entries],
    }


# Which cases a subscription is about


def requester_identifiers(case: Case) -> list[tuple[str | None, str]]:
    """(system, value) of who requested the case: the requesting provider's NPI, and the identifiers of
    the requestor resources the case keeps (an Organization; a PractitionerRole's practitioner and
    organization). The insurer, also an Organization among the parties, is not the requester."""
    parties = {p["reference"]: p["resource"] for p in case.parties}
    found: list[tuple[str | None, str]] = []
    for provider in case.providers:
        if provider.role != "requesting":
            continue
        if provider.npi:
            found.append((codes.NPI, provider.npi))
        resource = parties.get(provider.reference or "") or {}
        related = [resource]
        if resource.get("resourceType") == "PractitionerRole":
            related += [parties.get((resource.get(k) or {}).get("reference", "")) or {}
                        for k in ("practitioner", "organization")]
        found += [(i.get("system"), str(i["value"])) for r in related for i in _identifiers(r) if i.get("value")]
    return list(dict.fromkeys(found))


def organization_values(case: Case) -> list[str]:
    """The values to look subscriptions up by (their filters are stored under the value alone)."""
    return list(dict.fromkeys(value for _, value in requester_identifiers(case)))


def matches(sub: PasSubscription, case: Case) -> bool:
    """Whether an active subscription wants this case's notifications: its requester carries the
    filter's identifier, whichever partner sent the request. (The subscriber was admitted for that
    organization: a partner subscribes only for the organizations it is registered for. This is how
    an EHR hears of its providers' requests that a payer sent for review.)"""
    return sub.status is Status.ACTIVE and any(sub.org.admits(system, value)
                                               for system, value in requester_identifiers(case))


def speaks_for(registered: Iterable[str], case: Case) -> bool:
    """Whether a partner registered for these organizations ("system|value", partners file
    `org_identifiers`) is this case's requester, whichever partner sent it: the partner its
    subscriptions notify of the case, and so the one that should read the ClaimResponse an id-only
    notification names."""
    pairs = {tuple(entry.split("|", 1)) for entry in registered}
    return any((system, value) in pairs for system, value in requester_identifiers(case))


def _identifiers(resource: Json) -> list[Json]:
    if resource.get("resourceType") not in ("Organization", "Practitioner", "PractitionerRole"):
        return []
    found = resource.get("identifier") or []
    return [i for i in found if isinstance(i, dict)]
