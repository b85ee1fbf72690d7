"""Review case -> FHIR R4 ClaimResponse (PAS 2.2.1 ClaimResponse for preauthorizations).

| case                              | ClaimResponse                                            |
|-----------------------------------|----------------------------------------------------------|
| id                                | id                                                       |
| claim_ids                         | identifier                                               |
| claim_type, use                   | type, use                                                |
| patient_ref, insurer_ref          | patient, insurer                                         |
| providers[role=requesting]        | requestor                                                |
| claim_ref / claim_ids[0]          | request                                                  |
| status / determinations           | outcome (queued until reviewed for a bare Claim)         |
| items[].sequence                  | item.itemSequence                                        |
| items[].determination.decision    | item.adjudication.extension:reviewAction.reviewActionCode |
| items[].determination.reason_code | item.adjudication.extension:reviewAction.reasonCode      |
| items[].determination.reason_text | processNote + item.noteNumber                            |
| preauth_ref, preauth_period       | preAuthRef, preAuthPeriod                                |

Built as plain JSON: serialising fhir.resources models costs more than parsing them, and this
runs on every $submit. Tests parse the output with the R4B models.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from review.model import Case, Decision, Item, Status

from . import codes

Json = dict[str, Any]

# X12 306 (HCR01) review action codes
REVIEW_ACTION = {
    Decision.APPROVED: ("A1", "Certified in total"),
    Decision.PARTIAL: ("A2", "Certified - partial"),
    Decision.DENIED: ("A3", "Not Certified"),
    Decision.PENDED: ("A4", "Pended"),
    Decision.MODIFIED: ("A6", "Modified"),
}
CANCELLED_ACTION = ("C", "Cancelled")


def claim_response(case: Case, references: dict[str, str] | None = None) -> Json:
    """`references` rewrites references (e.g. to a Bundle entry's fullUrl)."""
    def ref(reference: str | None) -> Json:
        return {"reference": (references or {}).get(reference, reference)} if reference else {"display": "unknown"}

    pas = case.use == "preauthorization"
    outcome = _outcome(case)
    requestor = next((p.reference for p in case.providers if p.role == "requesting" and p.reference), None)
    resp: Json = {"resourceType": "ClaimResponse", "id": case.id}
    if pas and outcome != "queued":  # PAS outcomes are complete, error or partial
        resp["meta"] = {"profile": [codes.PAS_CLAIMRESPONSE]}
    resp |= {
        "identifier": [_json(i) for i in case.claim_ids],
        "status": "active",
        "type": {"coding": [_json(case.claim_type)]} if case.claim_type else {"text": "unknown"},
        "use": case.use,
        "patient": ref(case.patient_ref),
        "created": _instant(case.decided_at or case.received_at),
        "insurer": ref(case.insurer_ref),
        **({"requestor": ref(requestor)} if requestor else {}),
        "request": ref(case.claim_ref) if case.claim_ref else {"identifier": _json(case.claim_ids[0])},
        "outcome": outcome,
    }
    if case.status is Status.CANCELLED:
        resp["disposition"] = "Cancelled at the submitter's request"
    if case.preauth_ref:
        resp["preAuthRef"] = case.preauth_ref
        if case.preauth_period:
            resp["preAuthPeriod"] = case.preauth_period.model_dump(exclude_none=True)
    notes: list[Json] = []
    resp["item"] = [_item(i, notes, pas) for i in case.items]
    if notes:
        resp["processNote"] = notes
    return resp


def response_bundle(case: Case, base_url: str) -> Json:
    """The PAS Response Bundle: the ClaimResponse first, then the parties it references."""
    urls = {p["reference"]: p["fullUrl"] for p in case.parties}
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [codes.PAS_RESPONSE_BUNDLE]},
        "identifier": _json(case.submission_id) if case.submission_id else {
            "system": codes.CLAIMBRIDGE_CASE, "value": case.id},
        "type": "collection",
        "timestamp": _instant(case.decided_at or case.received_at),
        "entry": [{"fullUrl": f"{base_url}/ClaimResponse/{case.id}", "resource": claim_response(case, urls)}]
        + [{"fullUrl": p["fullUrl"], "resource": p["resource"]} for p in case.parties],
    }


def submit_response(case: Case, base_url: str) -> Json:
    """What $submit answers: a PAS Response Bundle for a PAS Bundle, else the ClaimResponse."""
    if case.response_shape == "pas-bundle":
        return response_bundle(case, base_url)
    return claim_response(case)


def searchset(cases: list[Case], base_url: str) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(cases),
        "entry": [{"fullUrl": f"{base_url}/ClaimResponse/{c.id}", "resource": claim_response(c),
                   "search": {"mode": "match"}} for c in cases],
    }


def _outcome(case: Case) -> str:
    if case.response_shape == "claimresponse" and case.status is Status.PENDING_REVIEW and not any(
            i.determination for i in case.items):
        return "queued"  # R4 core $submit: accepted, not yet adjudicated
    return "complete"  # PAS: a pend is A4 in a complete outcome


def _item(item: Item, notes: list[Json], pas: bool) -> Json:
    det = item.determination
    if item.cancelled:
        code, display = CANCELLED_ACTION
    else:
        code, display = REVIEW_ACTION[det.decision if det else Decision.PENDED]
    out: Json = {"itemSequence": item.sequence}
    if det and det.reason_text:
        notes.append({"number": len(notes) + 1, "type": "display", "text": det.reason_text})
        out["noteNumber"] = [len(notes)]
    adjudication: Json = {"category": {"coding": [{"system": codes.ADJUDICATION, "code": "submitted"}]}}
    if pas:
        action = [{"url": codes.EXT_REVIEW_ACTION_CODE, "valueCodeableConcept": {"coding": [
            {"system": codes.X12_REVIEW_ACTION, "code": code, "display": display}]}}]
        if det and det.reason_code:
            action.append({"url": "reasonCode", "valueCodeableConcept": {"coding": [
                {"system": codes.X12_REVIEW_REASON, "code": det.reason_code}]}})
        adjudication["extension"] = [{"url": codes.EXT_REVIEW_ACTION, "extension": action}]
    else:
        adjudication["reason"] = {"coding": [{"system": codes.X12_REVIEW_ACTION, "code": code, "display": display}]}
    out["adjudication"] = [adjudication]
    return out


def _json(value) -> Json:
    """An Identifier or Code as FHIR JSON: the model's fields are the FHIR element names."""
    return value.model_dump(exclude_none=True)


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def inquiry_response(cases: list[Case], base_url: str) -> Json:
    """PAS Inquiry Response Bundle: a ClaimResponse per matching case (newest first), then the parties."""
    bundles = [response_bundle(c, base_url) for c in cases]
    parties = {e["fullUrl"]: e for b in bundles for e in b["entry"][1:]}
    return {**bundles[0], "meta": {"profile": [codes.PAS_INQUIRY_RESPONSE_BUNDLE]},
            "entry": [b["entry"][0] for b in bundles] + list(parties.values())}
