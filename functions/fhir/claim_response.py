"""ClaimResponse read and search: always rendered from the case, so it shows the latest determination."""
from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from fhir_mappings.case_to_claimresponse import claim_response, searchset
from functions import http
from functions.bootstrap import services
from review import services as cases
from review.errors import Invalid

router = Router()


@router.get("/fhir/ClaimResponse/<id>")
def read(id: str):
    return http.fhir(200, claim_response(cases.get_case(services().store, http.partner_id(router), id)))


@router.get("/fhir/ClaimResponse")
def search():
    params = router.current_event.query_string_parameters or {}
    if set(params) - {"request", "identifier", "_format"}:
        raise Invalid("supported search parameters: request, identifier", None, "not-supported")
    if "request" in params:
        key = "Claim/" + params["request"].rstrip("/").split("/")[-1]
    elif "identifier" in params:
        key = params["identifier"]
    else:
        raise Invalid("search by request or identifier", "request", "required")
    found = cases.find_cases(services().store, http.partner_id(router), key)
    return http.fhir(200, searchset(found, http.base_url(router)))
