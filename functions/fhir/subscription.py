"""PAS Subscriptions: create, read, $status, delete. The handshake and the notifications go out from
the delivery worker (adapters/subscriptions.py: deliver_handshake; fhir_mappings/subscription.py:
notification_bundle): a client such as the PAS test kit starts listening once it has our 201, so the
handshake cannot be sent inside the POST."""
from __future__ import annotations

import os
import re
import uuid

from aws_lambda_powertools.event_handler.api_gateway import Router

from fhir_mappings.subscription import (
    PasSubscription, Status, check_organization, parse_subscription, status_bundle, to_resource,
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
    """201 with the Subscription as stored, status requested (and the headers as given: the only
    answer that shows them); the handshake record is written with it."""
    svc, partner_id = services(), http.partner_id(router)
    registry = svc.partners()
    sub = parse_subscription(http.json_body(router), id=str(uuid.uuid4()), partner_id=partner_id, created=svc.clock(),
                             private_endpoints=os.environ.get(PRIVATE_ENDPOINTS) == "allow",
                             pas_version=registry.pas_version(partner_id))
    check_organization(sub, getattr(registry.partners.get(partner_id), "org_identifiers", ()))
    svc.subscriptions.create(sub)
    http.logger.info("subscription created", extra={"subscription_id": sub.id, "content": sub.content.value})
    return http.fhir(201, to_resource(sub, show_headers=True),
                     {"Location": f"{http.base_url(router)}/Subscription/{sub.id}"})


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


def _owned(subscription_id: str) -> PasSubscription:
    """The caller's subscription; another partner's is as unknown as one that does not exist."""
    sub = services().subscriptions.get(subscription_id) if FHIR_ID.match(subscription_id) else None
    if sub is None or sub.partner_id != http.partner_id(router):
        raise NotFound("no such subscription")
    return sub
