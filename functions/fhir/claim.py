"""Claim operations: $submit and $inquire."""
from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from fhir_mappings.case_to_claimresponse import inquiry_response, submit_response
from fhir_mappings.claim_to_case import inquiry_of, submission_from_fhir
from functions import http
from functions.bootstrap import services
from review import services as cases
from review.errors import NotFound

router = Router()


@router.post("/fhir/Claim/<operation>")
def claim_operation(operation: str):
    if operation == "$submit":
        return submit()
    if operation == "$inquire":
        return inquire()
    raise NotFound("this operation is not supported on Claim")


@router.get("/fhir/Claim/<operation>")
def claim_operation_read(operation: str):
    """$submit and $inquire change or look up state from a body: only POST (FHIR: 405 with Allow)."""
    if operation not in ("$submit", "$inquire"):
        raise NotFound("this operation is not supported on Claim")
    return http.outcome(405, "not-supported", f"{operation} takes POST", headers={"Allow": "POST"})


def submit():
    body = http.json_body(router)
    submission = submission_from_fhir(body)
    svc, partner = services(), http.partner_id(router)
    case = cases.submit(svc.store, svc.archive, svc.clock, partner, svc.partners().policy(partner), submission,
                        router.current_event.decoded_body.encode(), http.FHIR_JSON)
    http.logger.info("submission accepted", extra={"case_id": case.id, "kind": case.kind.value})
    return http.fhir(200, submit_response(case, http.base_url(router)))


def inquire():
    inquiry = inquiry_of(http.json_body(router))
    matches = cases.inquire(services().store, http.partner_id(router), inquiry.member_keys, inquiry.provider_ids)
    return http.fhir(200, inquiry_response(matches, http.base_url(router), inquiry.identifier))
