"""PAS Subscriptions: create (with its handshake), read, $status, delete. Notifications go out
from the delivery worker (fhir_mappings/subscription.py: notification_bundle; adapters/subscriptions.py)."""
from __future__ import annotations

import os
import re
import uuid

from aws_lambda_powertools.event_handler.api_gateway import Router

from adapters.subscriptions import post_bundle
from fhir_mappings.subscription import (
    PasSubscription, Status, check_organization, handshake_bundle, parse_subscription, status_bundle, to_resource,
)
from functions import http
from functions.bootstrap import services
from review.errors import NotFound

router = Router()
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Set for the local stack's tests, whose receivers listen on loopback; never on AWS (see parse_subscription).
PRIVATE_ENDPOINTS = "SUBSCRIPTION_PRIVATE_ENDPOINTS"


@router.post("/fhir/Subscription")
def create():
    svc, partner = services(), http.partner_id(router)
    sub = parse_subscription(http.json_body(router), id=str(uuid.uuid4()), partner_id=partner, created=svc.clock(),
                             private_endpoints=os.environ.get(PRIVATE_ENDPOINTS) == "allow")
    registered = getattr(svc.partners().partners.get(partner), "org_identifiers", ())
    check_organization(sub, registered)
    sub = register(svc.subscriptions, sub, http.base_url(router))
    http.logger.info("subscription created", extra={"subscription_id": sub.id, "status": sub.status.value})
    return http.fhir(201, to_resource(sub), {"Location": f"{http.base_url(router)}/Subscription/{sub.id}"})


@router.get("/fhir/Subscription/<id>")
def read(id: str):
    return http.fhir(200, to_resource(_owned(id)))


@router.delete("/fhir/Subscription/<id>")
def delete(id: str):
    sub = _owned(id)
    services().subscriptions.delete(sub.id)
    http.logger.info("subscription deleted", extra={"subscription_id": sub.id})
    return http.fhir(200, to_resource(sub.model_copy(update={"status": Status.OFF})))


@router.get("/fhir/Subscription/<id>/<operation>")
def operation(id: str, operation: str):
    if operation != "$status":
        raise NotFound("this operation is not supported on Subscription")
    return http.fhir(200, status_bundle(_owned(id), http.base_url(router)))


def register(store, sub: PasSubscription, base_url: str) -> PasSubscription:
    """Stored as requested, then the handshake: a 2xx makes it active, anything else (another
    status, no answer within the timeout) error, with the reason in Subscription.error."""
    store.create(sub)
    answer = post_bundle(sub, handshake_bundle(sub, base_url))
    if answer.delivered:
        status, error = Status.ACTIVE, None
    elif answer.status is None:
        status, error = Status.ERROR, f"handshake: no answer from the endpoint ({answer.error})"
    else:
        status, error = Status.ERROR, f"handshake: the endpoint answered {answer.status}"
    if not store.set_status(sub.id, status, error):  # deleted while the handshake ran
        status = Status.OFF
    return sub.model_copy(update={"status": status, "error": error})


def _owned(subscription_id: str) -> PasSubscription:
    """The caller's subscription; another partner's is as unknown as one that does not exist."""
    sub = services().subscriptions.get(subscription_id) if FHIR_ID.match(subscription_id) else None
    if sub is None or sub.partner_id != http.partner_id(router):
        raise NotFound("no such subscription")
    return sub
