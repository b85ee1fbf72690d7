"""Claim operations: $submit and $inquire."""
from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from fhir_mappings.case_to_claimresponse import inquiry_response, submit_response
from fhir_mappings.claim_to_case import inquiry_of, submission_from_fhir
from functions import http, message_log
from functions.bootstrap import services
from functions.observability import count
from review import services as cases
from review.errors import NotFound
from review.model import Door

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


SUBMIT = "Claim/$submit"


def submit():
    svc, partner = services(), http.partner_id(router)
    body = None
    try:
        body = http.json_body(router)
        submission = submission_from_fhir(body)
        case = cases.submit(svc.store, svc.archive, svc.clock, partner, svc.partners().policy(partner), submission,
                            router.current_event.decoded_body.encode(), http.FHIR_JSON,
                            message_log.entry(Door.FHIR, SUBMIT, partner, submission.key.value, "200"),
                            on_reuse=lambda earlier: _reused(partner, earlier))
    except Exception as err:
        message_log.refused(Door.FHIR, SUBMIT, partner, _transaction_id(body), str(http.status_of(err)))
        raise
    http.logger.info("submission accepted", extra={"case_id": case.id, "kind": case.kind.value})
    return http.fhir(200, submit_response(case, http.base_url(router)))


def _reused(partner: str, earlier: str) -> None:
    """A transaction identifier reused for other content, taken as a new transaction: counted."""
    http.logger.info("transaction identifier reused", extra={"earlier_case_id": earlier})
    count("TransactionIdReused", partner=partner)


def _transaction_id(body) -> str | None:
    """Bundle.identifier.value of a refused request, as far as it can be read (bare or in Parameters)."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        parameters = body.get("parameter")
        body = parameters[0].get("resource") if isinstance(parameters, list) and parameters and isinstance(parameters[0], dict) else None
    identifier = body.get("identifier") if isinstance(body, dict) else None
    value = identifier.get("value") if isinstance(identifier, dict) else None
    return value if isinstance(value, str) else None


def inquire():
    svc, partner = services(), http.partner_id(router)
    inquiry = inquiry_of(http.json_body(router))
    matches = cases.inquire(svc.store, partner, inquiry.member_keys, inquiry.provider_ids)
    version = svc.partners().pas_version(partner)
    if not matches and version == "2.0.1":  # PAS 2.0.1 answers one Bundle: there is none to answer with
        raise NotFound("no request is known for this member and provider")
    return http.fhir(200, inquiry_response(matches, http.base_url(router), inquiry.identifier, version))
