"""The CapabilityStatement served at /fhir/metadata: only what the server really does."""
from __future__ import annotations

from typing import Any

from . import codes
from .subscription import BACKPORT, TOPIC

FHIR_JSON = "application/fhir+json"


def capability_statement(base_url: str, software_version: str, published: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published,
        "kind": "instance",
        "software": {"name": "claimbridge", "version": software_version},
        "implementation": {"description": "claimbridge review-case intake", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "implementationGuide": ["http://hl7.org/fhir/us/davinci-pas/ImplementationGuide/hl7.fhir.us.davinci-pas|2.2.1"],
        "rest": [{
            "mode": "server",
            # No `service` code: partners hold static bearer tokens the server issues, which is none of
            # OAuth, SMART-on-FHIR or the others of restful-security-service. (SMART Backend Services is
            # what the server uses as a client, to deliver determinations: not something it offers.)
            "security": {
                "cors": False,
                "description": "Every request except GET /metadata carries Authorization: Bearer <partner token>: "
                               "a static token the review organization issues to each partner (not OAuth or SMART).",
            },
            "resource": [
                {
                    "type": "Claim",
                    "supportedProfile": [codes.PAS + "profile-claim", codes.PAS + "profile-claim-update",
                                         codes.PAS + "profile-claim-inquiry"],
                    "operation": [
                        {"name": "submit", "definition": "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit"},
                        {"name": "inquire", "definition": "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry"},
                    ],
                },
                {
                    "type": "ClaimResponse",
                    "supportedProfile": [codes.PAS_CLAIMRESPONSE],
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [
                        {"name": "request", "type": "reference"},
                        {"name": "identifier", "type": "token"},
                    ],
                },
                {
                    # Backport IG: the topics a client can subscribe to are named on the Subscription resource.
                    "extension": [{"url": BACKPORT + "capabilitystatement-subscriptiontopic-canonical",
                                   "valueCanonical": TOPIC}],
                    "type": "Subscription",
                    "supportedProfile": [codes.PAS + "profile-subscription"],
                    "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}],
                    "operation": [{"name": "status", "definition":
                                   "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"}],
                },
            ],
        }],
    }
