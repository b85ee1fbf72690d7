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
Referrer = Callable[[str | None], Json | None]

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
    """The ClaimResponse read on its own (references as sent; a party the sender gave an absolute
    fullUrl is named by it). In a Bundle, `references` maps each reference to the fullUrl of the entry
    it resolves to, and only what resolves (or is absolute) is referenced: see response_bundle."""
    in_bundle = references is not None
    refs = {**_absolute_urls(case), **(references or {})}
    ref = _referrer(refs, strict=in_bundle)
    pas = case.use == "preauthorization"
    outcome = _outcome(case)
    requestor = ref(_requestor(case))
    resp: Json = {"resourceType": "ClaimResponse", "id": case.id}
    if pas and outcome != "queued":  # PAS outcomes are complete, error or partial
        resp["meta"] = {"profile": [codes.PAS_CLAIMRESPONSE]}
    asks = communication_requests(case, refs, strict=in_bundle)
    if contained := [c for c in asks if _local(c) not in refs]:
        resp["contained"] = contained
    if pas and (extensions := [e for e in (_transmission(case), _reviewer(case)) if e]):
        resp["extension"] = extensions
    resp |= {
        "identifier": [_identifier(i, case, echo=True) for i in case.claim_ids],
        "status": "active",
        "type": {"coding": [_json(case.claim_type)]} if case.claim_type else {"text": "unknown"},
        "use": case.use,
        "patient": _party(ref, case, "patient", case.patient_ref),
        "created": instant(case.decided_at or case.received_at),
        "insurer": _party(ref, case, "insurer", case.insurer_ref),
        **({"requestor": requestor} if requestor else {}),
        "request": request_reference(case),
        "outcome": outcome,
    }
    if case.status in DISPOSITION:
        resp["disposition"] = DISPOSITION[case.status]
    if case.preauth_ref:
        resp["preAuthRef"] = case.preauth_ref
        if case.preauth_period:
            resp["preAuthPeriod"] = _json(case.preauth_period)
    notes: list[Json] = []
    provider = _authorized_provider(case, ref)
    resp["item"] = [_item(i, case, notes, pas, provider) for i in case.items]
    if pas and (added := [a for i in case.items for a in _added(i, case, provider)]):
        resp["addItem"] = added
    if notes:
        resp["processNote"] = notes
    if asks:
        resp["communicationRequest"] = [{"reference": refs.get(_local(c), "#" + c["id"])} for c in asks]
    if errors := [_error(i) for i in case.items if i.error]:
        resp["error"] = errors
    return resp


def request_reference(case: Case) -> Json:
    """ClaimResponse.request (and Task.reasonReference): the request Claim by the absolute fullUrl the
    sender gave its entry; else by identifier, the literal reference marked unknown (a urn:uuid or a
    relative id means nothing outside the request, and an HL7 v2 request has no Claim at all)."""
    if case.claim_url:
        return {"reference": case.claim_url}
    return {"extension": [{"url": codes.DATA_ABSENT_REASON, "valueCode": "unknown"}],
            "identifier": _identifier(case.claim_ids[0], case)}


def communication_requests(case: Case, references: dict[str, str] | None = None, strict: bool = True) -> list[Json]:
    """A PAS CommunicationRequest per thing the case's unanswered information requests want. None once
    the case is closed: a decided, cancelled or withdrawn case waits for nothing. `strict`: see _referrer."""
    if not case.is_open:
        return []
    ref = _referrer(references or {}, strict=strict)
    return [_communication_request(case, f"{case.id}-ir{k}-{n}", request, n, wanted, ref)
            for k, request in enumerate(case.information_requests, 1) if request.answered_at is None
            for n, wanted in enumerate(request.items, 1)]


def tasks(case: Case, base_url: str, references: dict[str, str]) -> list[Json]:
    """The PAS Task (attachment request) per unanswered information request, alongside its
    CommunicationRequests: what PAS 2.2.1 asks a provider for additional information with."""
    if not case.is_open:
        return []
    ref = _referrer(references, strict=True)
    return [_task(case, f"{case.id}-task{k}", request, base_url, ref)
            for k, request in enumerate(case.information_requests, 1) if request.answered_at is None]


def response_bundle(case: Case, base_url: str, inquiry: bool = False) -> Json:
    """The PAS Response Bundle: the ClaimResponse first, then the CommunicationRequests it names and the
    Tasks asking for the same, then the parties they reference. Every reference in it resolves to one
    entry's fullUrl or is absolute; our own entries' fullUrls are under the public base URL.
    `inquiry`: as one answer of $inquire (the inquiry response profiles)."""
    urls = {p["reference"]: p["fullUrl"] for p in case.parties}
    asks = communication_requests(case, urls)
    urls |= {_local(c): f"{base_url}/{_local(c)}" for c in asks}
    response = claim_response(case, urls)
    if inquiry:
        response["meta"] = {"profile": [codes.PAS_CLAIM_INQUIRY_RESPONSE]}
    todo = tasks(case, base_url, urls)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [codes.PAS_INQUIRY_RESPONSE_BUNDLE if inquiry else codes.PAS_RESPONSE_BUNDLE]},
        "identifier": _identifier(case.submission_id, case) if case.submission_id else {
            "system": codes.CLAIMBRIDGE_CASE, "value": case.id},
        "type": "collection",
        "timestamp": instant(case.decided_at or case.received_at),
        "entry": [{"fullUrl": f"{base_url}/ClaimResponse/{case.id}", "resource": response}]
        + [{"fullUrl": urls[_local(c)], "resource": c} for c in asks]
        + [{"fullUrl": f"{base_url}/{_local(t)}", "resource": t} for t in todo]
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


def inquiry_response(cases: list[Case], base_url: str, identifier: Json | None, pas_version: str = "2.2.1") -> Json:
    """What $inquire answers. PAS 2.2.1: Parameters with a `return` PAS Inquiry Response Bundle per
    matching case (newest first), none when nothing matches. PAS 2.0.1: one Inquiry Response Bundle
    holding every match's ClaimResponse. Either way each Bundle echoes the inquiry's identifier."""
    bundles = [response_bundle(c, base_url, inquiry=True) | ({"identifier": identifier} if identifier else {})
               for c in cases]
    if pas_version != "2.0.1":
        return {"resourceType": "Parameters",
                **({"parameter": [{"name": "return", "resource": b} for b in bundles]} if bundles else {})}
    others = {e["fullUrl"]: e for b in bundles for e in b["entry"][1:]}
    return {**bundles[0], "entry": [b["entry"][0] for b in bundles] + list(others.values())}


def _outcome(case: Case) -> str:
    if case.response_shape == "claimresponse" and case.is_open and not any(i.determination for i in case.items):
        return "queued"  # R4 core $submit: accepted, not yet adjudicated
    if any(i.error for i in case.items):
        return "partial"  # some items could not be processed (ClaimResponse.error), the others are answered
    return "complete"  # PAS: a pend is A4 in a complete outcome


def _item(item: Item, case: Case, notes: list[Json], pas: bool, provider: Json | None) -> Json:
    det = item.determination
    closed = item.cancelled or case.status in DISPOSITION
    if closed:
        code, display = CANCELLED_ACTION
    else:
        code, display = REVIEW_ACTION[det.decision if det else Decision.PENDED]
    out: Json = {}
    if pas and (extensions := _item_extensions(item, case, provider if _granted(item, case) else None)):
        out["extension"] = extensions
    out["itemSequence"] = item.sequence
    if det and det.reason_text:
        notes.append({"number": len(notes) + 1, "type": "display", "text": det.reason_text})
        out["noteNumber"] = [len(notes)]
    if item.error:  # not processed: no review action (X12 AAA instead of HCR), see ClaimResponse.error
        out["adjudication"] = [{"category": SUBMITTED}]
    elif pas:
        out["adjudication"] = [_reviewed(code, display, det.authorization_number if det and not closed else None,
                                         det.reason_code if det else None)]
    else:
        out["adjudication"] = [{"category": SUBMITTED, "reason": {"coding": [
            {"system": codes.X12_REVIEW_ACTION, "code": code, "display": display}]}}]
    return out


SUBMITTED = {"coding": [{"system": codes.ADJUDICATION, "code": "submitted"}]}  # adjudication.category


def _reviewed(code: str, display: str, number: str | None = None, reason_code: str | None = None) -> Json:
    """A PAS adjudication: the X12 review action (HCR01), its authorization number and reason (HCR02, 03)."""
    action = [{"url": codes.EXT_REVIEW_ACTION_CODE, "valueCodeableConcept": {"coding": [
        {"system": codes.X12_REVIEW_ACTION, "code": code, "display": display}]}}]
    if number:
        action.append({"url": "number", "valueString": number})
    if reason_code:
        action.append({"url": "reasonCode", "valueCodeableConcept": {"coding": [
            {"system": codes.X12_REVIEW_REASON, "code": reason_code}]}})
    return {"category": SUBMITTED, "extension": [{"url": codes.EXT_REVIEW_ACTION, "extension": action}]}


def _granted(item: Item, case: Case) -> bool:
    det = item.determination
    return bool(det and det.decision in GRANTED and not item.cancelled and case.status not in DISPOSITION)


def _item_extensions(item: Item, case: Case, provider: Json | None) -> list[Json]:
    """PAS item extensions: what the request said of the item, echoed (trace numbers, an earlier
    authorization, the dates asked for, admission and discharge), our reference number, and for a
    granted item what was authorized (issue date, period, provider, substituted detail)."""
    det = item.determination
    out = [{"url": codes.EXT_ITEM_TRACE_NUMBER, "valueIdentifier": _json(t)} for t in item.trace_numbers]
    if item.previous_authorization:
        out.append({"url": codes.EXT_AUTHORIZATION_NUMBER, "valueString": item.previous_authorization})
    if item.error is None:
        out.append(_reference_number(case))
    if item.serviced and item.serviced.start:
        out.append({"url": codes.EXT_ITEM_REQUESTED_SERVICE_DATE, **_date_or_period(item.serviced)})
    out += _stay(case)
    if det and _granted(item, case):
        out.append(_issued(det))
        out += [ext for ext in (_preauth_period(det, case), _authorized_detail(det)) if ext]
        if provider:
            out.append({"url": codes.EXT_ITEM_AUTHORIZED_PROVIDER, "extension": [{"url": "provider",
                                                                              "valueReference": provider}]})
    return out


def _reference_number(case: Case) -> Json:
    """Our reference for the review (X12 administration reference number): the case id."""
    return {"url": codes.EXT_ADMINISTRATION_REFERENCE, "valueString": case.id}


def _issued(det: Determination) -> Json:
    return {"url": codes.EXT_ITEM_PREAUTH_ISSUE_DATE, "valueDate": det.decided_at.date().isoformat()}


def _stay(case: Case) -> list[Json]:
    """The admission and discharge dates the request gave, echoed on each line."""
    out = [{"url": codes.EXT_ADMISSION_DATES, "valuePeriod": _json(case.admission)}] if case.admission else []
    return out + ([{"url": codes.EXT_DISCHARGE_DATE, "valueDate": case.discharge}] if case.discharge else [])


def _date_or_period(period) -> Json:
    return {"valueDateTime": period.start} if period.end in (None, period.start) else {"valuePeriod": _json(period)}


def _added(item: Item, case: Case, provider: Json | None) -> list[Json]:
    """addItem: a service line the reviewer authorized beside (or instead of) the item asked for."""
    det = item.determination
    if not det or not det.added_services or not _granted(item, case):
        return []
    out = []
    for n, added in enumerate(det.added_services, 1):
        extensions = [_issued(det), _reference_number(case)]
        if period := added.period or det.authorized_period or case.preauth_period:
            extensions.append({"url": codes.EXT_ITEM_PREAUTH_PERIOD, "valuePeriod": _json(period)})
        line: Json = {"extension": extensions + _stay(case), "itemSequence": [item.sequence]}
        if provider:
            line["provider"] = [provider]
        line["productOrService"] = {"coding": [_json(added.service)]}
        if added.modifiers:
            line["modifier"] = [{"coding": [{"system": added.service.system, "code": m}]} for m in added.modifiers]
        if added.period:
            line["servicedPeriod"] = _json(added.period)
        if added.quantity is not None:
            line["quantity"] = _quantity(added.quantity)
        line["adjudication"] = [_reviewed(*REVIEW_ACTION[Decision.APPROVED],
                                          f"{det.authorization_number}-{n}" if det.authorization_number else None)]
        out.append(line)
    return out


def _error(item: Item) -> Json:
    """ClaimResponse.error for an item that could not be processed (X12 AAA at the service line)."""
    err = item.error
    return {"extension": [
        {"url": codes.EXT_ERROR_ELEMENT, "extension": [{"url": "error", "valueString": err.element}]},
        {"url": codes.EXT_ERROR_PATH, "valueString": err.path},
        {"url": codes.EXT_ERROR_FOLLOWUP, "valueCodeableConcept": {"coding": [
            {"system": codes.X12_FOLLOWUP_ACTION, "code": err.followup}]}},
    ], "itemSequence": item.sequence, "code": {"coding": [{"system": codes.X12_REJECT_REASON, "code": err.code}]}}


def _quantity(value: float) -> Json:
    """A PAS Quantity: a value with its X12 unit (HSD01 "FL": units)."""
    return {"value": value, "unit": "Units", "system": codes.X12_QUANTITY_QUALIFIER, "code": "FL"}


def _authorized_provider(case: Case, ref: Referrer) -> Json | None:
    """Who may perform what is granted: the servicing provider, else the requesting one; only one the
    response can reference (in a Bundle: an entry)."""
    for role in ("servicing", "requesting"):
        for p in case.providers:
            if p.role == role and p.reference and (found := ref(p.reference)):
                return found
    return None


def _transmission(case: Case) -> Json | None:
    """TransmissionIdentifiers echoed: the request's sender is the response's receiver."""
    if not case.transmission:
        return None
    swapped = {"applicationSenderCode": "applicationReceiverCode", "applicationReceiverCode": "applicationSenderCode",
               "interchangeSenderID": "interchangeReceiverID", "interchangeReceiverID": "interchangeSenderID"}
    parts = [{"url": swapped.get(url, url), "valueString": value} for url, value in case.transmission.items()]
    return {"url": codes.EXT_TRANSMISSION_IDENTIFIERS, "extension": parts}


def _authorized_detail(det: Determination) -> Json | None:
    """What a partial or modified decision authorized instead of what was asked (PAS puts a substituted
    service here, on the item it decides; addItem is for lines the payer adds)."""
    parts = []
    if det.authorized_service:
        parts.append({"url": "productOrServiceCode",
                      "valueCodeableConcept": {"coding": [_json(det.authorized_service)]}})
    if det.authorized_quantity is not None:
        parts.append({"url": "quantity", "valueQuantity": _quantity(det.authorized_quantity)})
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
    }
    if wanted.item_sequence is not None:
        out["extension"] = [{"url": codes.EXT_SERVICE_LINE_NUMBER, "valuePositiveInt": wanted.item_sequence}]
    out |= {
        # PAS: the X12 attachment control number, by which the answer names what it answers
        "identifier": [{"system": codes.CLAIMBRIDGE_INFORMATION_REQUEST, "value": f"{request.id}-{n}"}],
        "groupIdentifier": {"system": codes.CLAIMBRIDGE_INFORMATION_REQUEST, "value": request.id},
        "status": "active",
        "category": [{"coding": [{"system": codes.X12_REPORT_TYPE, "code": "M1"}]}],  # medical record attachment
        "medium": [{"coding": [{"system": codes.X12_REPORT_TRANSMISSION, "code": "EL"}]}],  # electronically only
    }
    _put(out, "subject", ref(case.patient_ref))
    if loinc:
        out["payload"] = [{"contentString": loinc}]
    out["occurrenceDateTime"] = request.due_by.isoformat()
    out["authoredOn"] = instant(request.requested_at)
    if insurer := ref(case.insurer_ref):
        out["requester"] = insurer
        out["recipient"] = [insurer]
    if sender and sender.split("/")[-2:-1] == ["Organization"]:  # PAS: a PAS Requestor Organization
        _put(out, "sender", ref(sender))
    out["note"] = [{"text": wanted.text}]
    return out


def _task(case: Case, id_: str, request: InformationRequest, base_url: str, ref: Referrer) -> Json:
    """PAS Task (profile-task): what an information request asks the provider for, as PAS 2.2.1 says it.
    The owner is the requesting provider (by NPI), the requester the reviewing organization."""
    lines = [i.sequence for i in case.active_items]
    needed = [{"extension": [{"url": codes.EXT_SERVICE_LINE_NUMBER, "valuePositiveInt": line}],
               "type": _temp_code("attachments-needed"), "valueCodeableConcept": {"coding": [_json(wanted.code)]}}
              for wanted in request.items if wanted.code and wanted.code.system == codes.LOINC
              for line in ([wanted.item_sequence] if wanted.item_sequence is not None else lines)]
    out: Json = {
        "resourceType": "Task",
        "id": id_,
        "meta": {"profile": [codes.PAS_TASK]},
        "identifier": [{"system": codes.CLAIMBRIDGE_INFORMATION_REQUEST, "value": request.id}],
        "status": "requested",
        "intent": "order",
        "code": _temp_code("attachment-request-code"),
    }
    _put(out, "for", ref(case.patient_ref))
    out["authoredOn"] = instant(request.requested_at)
    out["requester"] = {"identifier": {"system": codes.CLAIMBRIDGE_ORGANIZATION, "value": "claimbridge"}}
    if npi := next((p.npi for p in case.providers if p.role == "requesting" and p.npi), None):
        out["owner"] = {"identifier": {"system": codes.NPI, "value": npi}}
    out |= {
        "reasonCode": _temp_code("priorAuthorization"),
        "reasonReference": request_reference(case),
        "restriction": {"period": {"end": request.due_by.isoformat()}},
        "input": [{"type": _temp_code("payer-url"), "valueUrl": f"{base_url}/Claim/$submit"}, *needed],
        "note": [{"text": w.text} for w in request.items],
    }
    return out


def _party(ref: Referrer, case: Case, element: str, reference: str | None) -> Json:
    """ClaimResponse.patient or insurer (1..1): as referenced, else as the sender named it (by identifier)."""
    if reference:
        return ref(reference) or {"reference": reference}  # a PAS request Bundle always includes both
    return case.logical_refs.get(element, {})


def _temp_code(code: str) -> Json:
    return {"coding": [{"system": codes.PAS_TEMP_CODES, "code": code}]}


def _put(resource: Json, element: str, value: Json | None) -> None:
    if value:
        resource[element] = value


def _requestor(case: Case) -> str | None:
    return next((p.reference for p in case.providers if p.role == "requesting" and p.reference), None)


def _absolute_urls(case: Case) -> dict[str, str]:
    return {p["reference"]: p["fullUrl"] for p in case.parties if p["fullUrl"].startswith(("http://", "https://"))}


def _identifier(identifier, case: Case, echo: bool = False) -> Json:
    """PAS identifiers carry a system: one the sender left out is the partner's own namespace.
    `echo`: with the subDepartment/jurisdiction extensions the sender gave this Claim identifier."""
    out: Json = {}
    if echo and (extensions := case.identifier_extensions.get(identifier.value)):
        out["extension"] = extensions
    return out | {"system": identifier.system or f"{codes.CLAIMBRIDGE_PARTNER}:{case.partner_id}",
                  "value": identifier.value}


def _referrer(references: dict[str, str], strict: bool = False) -> Referrer:
    """Reference JSON for a reference the case keeps: rewritten by `references`; `strict` (in a Bundle):
    None for one that resolves to no entry, so that nothing in the Bundle points nowhere."""
    def ref(reference: str | None) -> Json | None:
        if not reference:
            return None
        if strict and reference not in references:
            return None
        return {"reference": references.get(reference, reference)}
    return ref


def _local(resource: Json) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _json(value) -> Json:
    """An Identifier, Code or Period as FHIR JSON: the model's fields are the FHIR element names."""
    return value.model_dump(exclude_none=True)
