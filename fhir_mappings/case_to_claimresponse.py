"""Review case -> FHIR R4 ClaimResponse (PAS 2.2.1 ClaimResponse for preauthorizations), and the PAS
CommunicationRequests asking for what the case's open information requests still want.

| case                                       | ClaimResponse                                                      |
|--------------------------------------------|--------------------------------------------------------------------|
| id                                         | id                                                                 |
| claim_ids (a partner's system where none)  | identifier                                                         |
| claim_type, use                            | type, use                                                          |
| patient_ref, insurer_ref                   | patient, insurer: the entry's fullUrl when the sender gave an      |
|                                            |   http(s) one (in a Bundle and in a read alike), else as sent      |
| logical_refs                               | patient, insurer sent by identifier: as sent                       |
| providers[role=requesting]                 | requestor                                                          |
| claim_ref / claim_ids[0]                   | request                                                            |
| status / determinations                    | outcome (queued until reviewed for a bare Claim)                   |
| status cancelled / withdrawn               | disposition; every item's reviewAction code C                      |
| items[].sequence                           | item.itemSequence                                                  |
| items[].determination.decision             | item.adjudication.extension:reviewAction.extension:code            |
| items[].determination.authorization_number | item.adjudication.extension:reviewAction.extension:number          |
| items[].determination.reason_code          | item.adjudication.extension:reviewAction.extension:reasonCode      |
| items[].determination.reason_text          | processNote + item.noteNumber                                      |
| items[].determination.authorized_service   | item.extension:authorizedItemDetail.extension:productOrServiceCode |
| items[].determination.authorized_quantity  | item.extension:authorizedItemDetail.extension:quantity             |
| items[].determination.authorized_period,   | item.extension:preAuthPeriod (granted items)                       |
|   else preauth_period                      |                                                                    |
| items[].determination.reviewer             | extension:claimResponseReviewer: wasHumanReviewedFlag, reviewerNPI |
|                                            |   (PAS allows one: see _reviewer)                                  |
| preauth_ref, preauth_period                | preAuthRef, preAuthPeriod                                          |
| information_requests, unanswered, while    | communicationRequest: a PAS Bundle entry's fullUrl, or "#id" of a  |
|   the case is open                         |   contained CommunicationRequest on a bare ClaimResponse           |

| information_requests[k].items[n] (unanswered) | CommunicationRequest (PAS profile-communicationrequest)            |
|-----------------------------------------------|--------------------------------------------------------------------|
| one per thing wanted (PAS: payload 0..1)      | id <case id>-ir<k>-<n>                                             |
| id, n                                         | identifier <id>-<n> (system urn:claimbridge:information-request)   |
| id                                            | groupIdentifier                                                    |
| code, when LOINC                              | payload.contentString: the code (PAS binds it to LOINC)            |
| text                                          | note.text (free text in contentString would break that binding)    |
| due_by                                        | occurrenceDateTime                                                 |
| requested_at                                  | authoredOn                                                         |
| patient_ref                                   | subject                                                            |
| insurer_ref                                   | requester; recipient (where the information goes)                  |
| providers[role=requesting], an Organization   | sender (PAS Requestor: who sends the information)                  |

Built as plain JSON: serialising fhir.resources models costs more than parsing them, and this
runs on every $submit. Tests parse the output with the R4B models.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from review.model import Case, Decision, Determination, InformationRequest, Item, RequestedInfo, Role, Status, instant

from . import codes

Json = dict[str, Any]
Referrer = Callable[[str], Json]

# X12 306 (HCR01) review action codes
REVIEW_ACTION = {
    Decision.APPROVED: ("A1", "Certified in total"),
    Decision.PARTIAL: ("A2", "Certified - partial"),
    Decision.DENIED: ("A3", "Not Certified"),
    Decision.PENDED: ("A4", "Pended"),
    Decision.MODIFIED: ("A6", "Modified"),
}
CANCELLED_ACTION = ("C", "Cancelled")
GRANTED = frozenset({Decision.APPROVED, Decision.PARTIAL, Decision.MODIFIED})
ADVERSE = frozenset({Decision.DENIED, Decision.PARTIAL, Decision.MODIFIED})
DISPOSITION = {
    Status.CANCELLED: "Cancelled at the submitter's request",
    Status.WITHDRAWN: "Withdrawn by the requester",
}


def claim_response(case: Case, references: dict[str, str] | None = None) -> Json:
    """`references` rewrites references (e.g. to a Bundle entry's fullUrl). A CommunicationRequest
    whose "CommunicationRequest/<id>" it rewrites is referenced there; the others are contained.
    A party the sender gave an absolute fullUrl is named by it everywhere, as its Bundle entry is."""
    refs = {**_absolute_urls(case), **(references or {})}
    ref = _referrer(refs)
    pas = case.use == "preauthorization"
    outcome = _outcome(case)
    requestor = _requestor(case)
    resp: Json = {"resourceType": "ClaimResponse", "id": case.id}
    if pas and outcome != "queued":  # PAS outcomes are complete, error or partial
        resp["meta"] = {"profile": [codes.PAS_CLAIMRESPONSE]}
    asks = communication_requests(case, refs)
    if contained := [c for c in asks if _local(c) not in refs]:
        resp["contained"] = contained
    if pas and (reviewer := _reviewer(case)):
        resp["extension"] = [reviewer]
    resp |= {
        "identifier": [_identifier(i, case) for i in case.claim_ids],
        "status": "active",
        "type": {"coding": [_json(case.claim_type)]} if case.claim_type else {"text": "unknown"},
        "use": case.use,
        "patient": ref(case.patient_ref) if case.patient_ref else case.logical_refs.get("patient", {}),
        "created": instant(case.decided_at or case.received_at),
        "insurer": ref(case.insurer_ref) if case.insurer_ref else case.logical_refs.get("insurer", {}),
        **({"requestor": ref(requestor)} if requestor else {}),
        "request": ref(case.claim_ref) if case.claim_ref else {"identifier": _identifier(case.claim_ids[0], case)},
        "outcome": outcome,
    }
    if case.status in DISPOSITION:
        resp["disposition"] = DISPOSITION[case.status]
    if case.preauth_ref:
        resp["preAuthRef"] = case.preauth_ref
        if case.preauth_period:
            resp["preAuthPeriod"] = _json(case.preauth_period)
    notes: list[Json] = []
    resp["item"] = [_item(i, case, notes, pas) for i in case.items]
    if notes:
        resp["processNote"] = notes
    if asks:
        resp["communicationRequest"] = [{"reference": refs.get(_local(c), "#" + c["id"])} for c in asks]
    return resp


def communication_requests(case: Case, references: dict[str, str] | None = None) -> list[Json]:
    """A PAS CommunicationRequest per thing the case's unanswered information requests want. None once
    the case is closed: a decided, cancelled or withdrawn case waits for nothing."""
    if not case.is_open:
        return []
    ref = _referrer(references or {})
    return [_communication_request(case, f"{case.id}-ir{k}-{n}", request, n, wanted, ref)
            for k, request in enumerate(case.information_requests, 1) if request.answered_at is None
            for n, wanted in enumerate(request.items, 1)]


def response_bundle(case: Case, base_url: str) -> Json:
    """The PAS Response Bundle: the ClaimResponse first, then the CommunicationRequests it names, then
    the parties it references."""
    urls = {p["reference"]: p["fullUrl"] for p in case.parties}
    asks = communication_requests(case, urls)
    urls |= {_local(c): f"{base_url}/{_local(c)}" for c in asks}
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [codes.PAS_RESPONSE_BUNDLE]},
        "identifier": _identifier(case.submission_id, case) if case.submission_id else {
            "system": codes.CLAIMBRIDGE_CASE, "value": case.id},
        "type": "collection",
        "timestamp": instant(case.decided_at or case.received_at),
        "entry": [{"fullUrl": f"{base_url}/ClaimResponse/{case.id}", "resource": claim_response(case, urls)}]
        + [{"fullUrl": urls[_local(c)], "resource": c} for c in asks]
        + [{"fullUrl": p["fullUrl"], "resource": p["resource"]} for p in case.parties],
    }


def submit_response(case: Case, base_url: str) -> Json:
    """What $submit answers: a PAS Response Bundle for a PAS Bundle, else the ClaimResponse."""
    if case.response_shape == "pas-bundle":
        return response_bundle(case, base_url)
    return claim_response(case)


def searchset(cases: list[Case], base_url: str, query: dict[str, str], next_query: dict[str, str] | None = None,
              total: int | None = None) -> Json:
    """One page of a ClaimResponse search. `query`: the search parameters as used (link self);
    `next_query`: those of the next page, when there is one (link next); `total` when counted."""
    from urllib.parse import urlencode

    links = [("self", query)] + ([("next", next_query)] if next_query else [])
    bundle: Json = {
        "resourceType": "Bundle",
        "type": "searchset",
        **({"total": total} if total is not None else {}),
        "link": [{"relation": rel, "url": f"{base_url}/ClaimResponse?{urlencode(q)}"} for rel, q in links],
    }
    if cases:  # FHIR JSON has no empty arrays
        bundle["entry"] = [{"fullUrl": f"{base_url}/ClaimResponse/{c.id}", "resource": claim_response(c),
                            "search": {"mode": "match"}} for c in cases]
    return bundle


def inquiry_response(cases: list[Case], base_url: str, identifier: Json | None = None) -> Json:
    """PAS Inquiry Response Bundle: the inquiry's identifier, a ClaimResponse per matching case (newest
    first) claiming the inquiry response profile, then what they reference (CommunicationRequests, parties)."""
    bundles = [response_bundle(c, base_url) for c in cases]
    others = {e["fullUrl"]: e for b in bundles for e in b["entry"][1:]}
    answers = [{**b["entry"][0], "resource": {**b["entry"][0]["resource"],
                                              "meta": {"profile": [codes.PAS_CLAIM_INQUIRY_RESPONSE]}}}
               for b in bundles]
    return {**bundles[0], "meta": {"profile": [codes.PAS_INQUIRY_RESPONSE_BUNDLE]},
            **({"identifier": identifier} if identifier else {}),
            "entry": answers + list(others.values())}


def _outcome(case: Case) -> str:
    if case.response_shape == "claimresponse" and case.is_open and not any(i.determination for i in case.items):
        return "queued"  # R4 core $submit: accepted, not yet adjudicated
    return "complete"  # PAS: a pend is A4 in a complete outcome


def _item(item: Item, case: Case, notes: list[Json], pas: bool) -> Json:
    det = item.determination
    closed = item.cancelled or case.status in DISPOSITION
    if closed:
        code, display = CANCELLED_ACTION
    else:
        code, display = REVIEW_ACTION[det.decision if det else Decision.PENDED]
    out: Json = {}
    if pas and det and not closed and det.decision in GRANTED:
        extensions = [ext for ext in (_authorized_detail(det), _preauth_period(det, case)) if ext]
        if extensions:
            out["extension"] = extensions
    out["itemSequence"] = item.sequence
    if det and det.reason_text:
        notes.append({"number": len(notes) + 1, "type": "display", "text": det.reason_text})
        out["noteNumber"] = [len(notes)]
    adjudication: Json = {"category": {"coding": [{"system": codes.ADJUDICATION, "code": "submitted"}]}}
    if pas:
        action = [{"url": codes.EXT_REVIEW_ACTION_CODE, "valueCodeableConcept": {"coding": [
            {"system": codes.X12_REVIEW_ACTION, "code": code, "display": display}]}}]
        if det and det.authorization_number and not closed:
            action.append({"url": "number", "valueString": det.authorization_number})
        if det and det.reason_code:
            action.append({"url": "reasonCode", "valueCodeableConcept": {"coding": [
                {"system": codes.X12_REVIEW_REASON, "code": det.reason_code}]}})
        adjudication["extension"] = [{"url": codes.EXT_REVIEW_ACTION, "extension": action}]
    else:
        adjudication["reason"] = {"coding": [{"system": codes.X12_REVIEW_ACTION, "code": code, "display": display}]}
    out["adjudication"] = [adjudication]
    return out


def _authorized_detail(det: Determination) -> Json | None:
    """What a partial or modified decision authorized instead of what was asked (PAS puts a substituted
    service here, on the item it decides; addItem is for lines the payer adds)."""
    parts = []
    if det.authorized_service:
        parts.append({"url": "productOrServiceCode",
                      "valueCodeableConcept": {"coding": [_json(det.authorized_service)]}})
    if det.authorized_quantity is not None:
        parts.append({"url": "quantity", "valueQuantity": {"value": det.authorized_quantity}})
    return {"url": codes.EXT_ITEM_AUTHORIZED_DETAIL, "extension": parts} if parts else None


def _preauth_period(det: Determination, case: Case) -> Json | None:
    period = det.authorized_period or case.preauth_period
    return {"url": codes.EXT_ITEM_PREAUTH_PERIOD, "valuePeriod": _json(period)} if period else None


def _reviewer(case: Case) -> Json | None:
    """PAS names one reviewer per response: a physician with an NPI before anyone else, then whoever
    made the latest adverse decision, then the latest decision."""
    decided = [i.determination for i in case.items
               if not i.cancelled and i.determination and i.determination.reviewer
               and i.determination.decision is not Decision.PENDED]
    if not decided or case.status in DISPOSITION:
        return None
    det = max(decided, key=lambda d: (d.reviewer.npi is not None, d.decision in ADVERSE, d.decided_at))
    who = det.reviewer
    parts: list[Json] = [{"url": "wasHumanReviewedFlag", "valueBoolean": who.role is not Role.SYSTEM}]
    if who.npi:
        parts.append({"url": "reviewerNPI", "valueIdentifier": {"system": codes.NPI, "value": who.npi}})
    return {"url": codes.EXT_CLAIMRESPONSE_REVIEWER, "extension": parts}


def _communication_request(case: Case, id_: str, request: InformationRequest, n: int, wanted: RequestedInfo,
                           ref: Referrer) -> Json:
    sender = _requestor(case)
    loinc = wanted.code.code if wanted.code and wanted.code.system == codes.LOINC else None
    out: Json = {
        "resourceType": "CommunicationRequest",
        "id": id_,
        "meta": {"profile": [codes.PAS_COMMUNICATION_REQUEST]},
        # PAS: the X12 attachment control number, by which the answer names what it answers
        "identifier": [{"system": codes.CLAIMBRIDGE_INFORMATION_REQUEST, "value": f"{request.id}-{n}"}],
        "groupIdentifier": {"system": codes.CLAIMBRIDGE_INFORMATION_REQUEST, "value": request.id},
        "status": "active",
    }
    if case.patient_ref:
        out["subject"] = ref(case.patient_ref)
    if loinc:
        out["payload"] = [{"contentString": loinc}]
    out["occurrenceDateTime"] = request.due_by.isoformat()
    out["authoredOn"] = instant(request.requested_at)
    if case.insurer_ref:
        out["requester"] = ref(case.insurer_ref)
        out["recipient"] = [ref(case.insurer_ref)]
    if sender and sender.split("/")[-2:-1] == ["Organization"]:  # PAS: a PAS Requestor Organization
        out["sender"] = ref(sender)
    out["note"] = [{"text": wanted.text}]
    return out


def _requestor(case: Case) -> str | None:
    return next((p.reference for p in case.providers if p.role == "requesting" and p.reference), None)


def _absolute_urls(case: Case) -> dict[str, str]:
    return {p["reference"]: p["fullUrl"] for p in case.parties if p["fullUrl"].startswith(("http://", "https://"))}


def _identifier(identifier, case: Case) -> Json:
    """PAS identifiers carry a system: one the sender left out is the partner's own namespace."""
    return {"system": identifier.system or f"{codes.CLAIMBRIDGE_PARTNER}:{case.partner_id}", "value": identifier.value}


def _referrer(references: dict[str, str]) -> Referrer:
    def ref(reference: str | None) -> Json:
        return {"reference": references.get(reference, reference)}
    return ref


def _local(resource: Json) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _json(value) -> Json:
    """An Identifier, Code or Period as FHIR JSON: the model's fields are the FHIR element names."""
    return value.model_dump(exclude_none=True)

