"""FHIR API function: /healthz, /fhir/metadata, Claim/$submit, Claim/$inquire, ClaimResponse read/search,
PAS Subscriptions."""
from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from functions import http
from functions.observability import entry_point
from functions.fhir import claim, claim_response, subscription
from fhir_mappings.capability import capability_statement

app = http.create_app()
app.include_router(claim.router)
app.include_router(claim_response.router)
app.include_router(subscription.router)


@app.route("/fhir/metadata", method=["GET", "HEAD"])
def metadata():
    return http.fhir(200, capability_statement(http.base_url(app), http.VERSION, http.built_on()))


@app.route("/healthz", method=["GET", "HEAD"])
def health():
    """Liveness for probes and load balancers: answers without touching storage."""
    return Response(200, "application/health+json", '{"status":"pass"}')


@entry_point
def lambda_handler(event, context):
    return http.resolve(app, event, context)
