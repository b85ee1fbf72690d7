"""FHIR R4 Claim (PAS request Bundle, bare Claim, or Parameters wrapping one) -> Submission.

| FHIR element                                   | case field                          |
|------------------------------------------------|-------------------------------------|
| Bundle.identifier                              | submission_id, idempotency key      |
| Claim.identifier                               | claim_ids (key for a bare Claim)    |
| Claim.use                                      | kind (KIND_BY_USE)                  |
| Claim.priority, levelOfServiceCode, certType   | priority (EXPEDITED_SIGNALS)        |
| Claim.related[relationship=prior].claim        | related: update, cancel or appeal   |
| Claim.extension / item certificationType 1,2,N | appeal                              |
| Claim.extension certificationType 3, status    | cancel                              |
| certificationType 4 (extension), R (renewal)   | a new request following the related |
| certificationType S (revision)                 | update while open, else new request |
| Claim.supportingInfo.valueAttachment, or       | attachments (archived; the case     |
|   valueReference -> DocumentReference.content  |   keeps key + SHA-256)              |
| Claim.patient -> Patient.identifier/name/birth | member                              |
| Claim.insurance[focal].coverage -> Coverage    | member.subscriber_id, coverage_ids  |
| Claim.provider                                 | providers[role=requesting]          |
| Claim.careTeam.provider                        | providers[role=servicing]           |
| Claim.diagnosis.diagnosisCodeableConcept       | diagnoses                           |
| Claim.item.sequence/productOrService/modifier/ | items[]                             |
|   quantity/serviced[x]/category, PAS item exts |                                     |
| Claim.item.modifierExtension infoCancelled     | items[].cancelled                   |
| Claim.item ext authorizationNumber             | items[].previous_authorization      |
| Claim.item.productOrService with no code       | items[].error (X12 AAA: see ITEM_ERROR) |
| Bundle.entry[0].fullUrl (http(s))              | claim_url (ClaimResponse.request)   |
| Claim ext TransmissionIdentifiers              | transmission (echoed, sender and    |
|                                                |   receiver swapped)                 |
| Claim.identifier ext subDepartment/jurisdiction| identifier_extensions (echoed)      |
| Claim.supportingInfo admissionDates/           | admission, discharge (echoed on     |
|   dischargeDates timing                        |   each ClaimResponse.item)          |
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from typing import Any, NamedTuple

from pydantic import ValidationError

from review.errors import Invalid, NoItems
from review.model import (
    Attachment, CaseDraft, Code, Identifier, Intent, Item, ItemError, Kind, Member, Period, Priority, Provider,
    Submission,
)

from . import codes
from .validation import validate

Json = dict[str, Any]
REQUEST_TYPES = frozenset({"Bundle", "Claim", "Parameters"})
MAX_IDENTIFIER_LENGTH = 256
DROPPED_FROM_PARTIES = ("text", "photo", "contained")  # bulky, and not needed to answer
PROVIDER_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization"})  # Claim.provider, careTeam.provider


def submission_from_fhir(body: Any, **wire: Any) -> Submission:
    """Validate and map a request: a $submit body, or what another wire format was mapped to
    (see submission_from_request for `wire`). Raises Invalid (or StructureError) naming the element."""
    validate(body, REQUEST_TYPES)
    return submission_from_request(body, **wire)


def submission_from_request(body: Json, source: str = "fhir", appeal: bool = False, sha256: str | None = None,
                            intent: Intent | None = None) -> Submission:
    """Map a request already known to be valid R4. Another wire format may say what FHIR cannot:
    `appeal` (HL7 EHC^E04), `intent` (RQA^I10 resubmit) and the content hash that tells its replays."""
    request, root = _unwrapped(body)
    claim, refs, where = _claim_in(request, root)
    bundle = request if request["resourceType"] == "Bundle" else None
    if bundle is not None:
        if bundle.get("type") != "collection":
            raise Invalid("a PAS request Bundle is a collection", f"{root}.type", "invalid")
        if not bundle.get("identifier", {}).get("value"):
            raise Invalid("a PAS request Bundle needs an identifier", f"{root}.identifier", "required")
        for element in ("patient", "insurer"):
            if refs.get(claim.get(element)) is None:
                raise Invalid("the Bundle must include the resource this names", f"{where}.{element}", "required")
    try:
        return _from_claim(claim, refs, bundle, where, source, sha256, appeal, intent)
    except ValidationError as err:  # a value R4 allows but a case cannot hold; its text quotes the value
        raise Invalid("the request holds a value a review case cannot keep", _case_expression(err, where)) from None


def _case_expression(err: ValidationError, where: str) -> str:
    """The Claim element behind the first case field a ValidationError names, as near as it can be told."""
    loc = err.errors(include_input=False, include_url=False)[0]["loc"]
    if loc[:1] == ("items",) and len(loc) > 1 and isinstance(loc[1], int):
        return f"{where}.item[{loc[1]}]"
    return where


def claim_of(body: Any) -> tuple[Json, References, str]:
    """The Claim a request carries: the first Bundle entry, the Parameters' resource (a Claim, or a
    Bundle as PAS's OperationDefinitions type it), or the Claim itself."""
    validate(body, REQUEST_TYPES)
    return _claim_in(*_unwrapped(body))


def _unwrapped(body: Json) -> tuple[Json, str]:
    """The request a Parameters carries in its `resource` parameter, with the path that names it."""
    if body["resourceType"] != "Parameters":
        return body, body["resourceType"]
    for n, p in enumerate(body.get("parameter") or []):
        if p.get("name") == "resource" and (p.get("resource") or {}).get("resourceType") in ("Claim", "Bundle"):
            return p["resource"], f"Parameters.parameter[{n}].resource"
    raise Invalid("Parameters must carry a Claim or a PAS request Bundle in parameter 'resource'",
                  "Parameters.parameter", "required")


def _claim_in(request: Json, root: str) -> tuple[Json, References, str]:
    if request["resourceType"] == "Bundle":
        return _first_claim(request, root), References.of(request), f"{root}.entry[0].resource"
    return request, References({}), root


class References:
    """Resolves references inside a Bundle by fullUrl or Type/id."""

    def __init__(self, index: dict[str, Json]):
        self.index = index  # reference or fullUrl -> Bundle entry

    @classmethod
    def of(cls, bundle: Json) -> References:
        index: dict[str, Json] = {}
        for entry in bundle.get("entry", []):
            res = entry.get("resource")
            if not res:  # nothing to resolve to
                continue
            if "fullUrl" in entry:
                index[entry["fullUrl"]] = entry
            if "id" in res:
                index[f"{res['resourceType']}/{res['id']}"] = entry
        return cls(index)

    def entry(self, ref: Json | None) -> Json | None:
        target = (ref or {}).get("reference")
        if not target:
            return None
        return self.index.get(target) or self.index.get("/".join(target.split("/")[-2:]))

    def get(self, ref: Json | None) -> Json | None:
        return (self.entry(ref) or {}).get("resource")


def _first_claim(bundle: Json, root: str) -> Json:
    entries = bundle.get("entry") or []
    if not entries or (entries[0].get("resource") or {}).get("resourceType") != "Claim":
        raise Invalid("the first entry of the Bundle must be the Claim", f"{root}.entry[0].resource", "required")
    return entries[0]["resource"]


def _from_claim(claim: Json, refs: References, bundle: Json | None, where: str, source: str,
                sha256: str | None, appeal: bool, intent: Intent | None) -> Submission:
    for element in ("identifier", "status", "use", "created", "patient", "insurer"):
        if not claim.get(element):
            raise Invalid("required element is missing", f"{where}.{element}", "required")
    items = claim.get("item") or []
    claim_ids = _identifiers(claim)
    if not claim_ids:
        raise Invalid("the Claim identifier needs a value", f"{where}.identifier", "required")
    if any(len(i.key) > MAX_IDENTIFIER_LENGTH for i in claim_ids):
        raise Invalid(f"identifiers are limited to {MAX_IDENTIFIER_LENGTH} characters", f"{where}.identifier")
    claim_certs = _codes_of(claim, codes.EXT_CERTIFICATION_TYPE)
    item_certs = [_codes_of(item, codes.EXT_CERTIFICATION_TYPE) for item in items]
    related = [(n, r) for n, r in enumerate(claim.get("related", [])) if _is_prior(r)]
    cancel = claim.get("status") == "cancelled" or codes.CERT_CANCEL in claim_certs or (
        bool(related) and all(codes.CERT_CANCEL in c for c in item_certs))
    if cancel and not related:
        raise Invalid("a cancel must name the claim it cancels (relationship prior)", f"{where}.related", "required")
    if not items and not cancel:
        raise NoItems("required element is missing", f"{where}.item")
    certs = claim_certs.union(*item_certs)
    appeal = appeal or bool(certs & codes.APPEAL_CERTIFICATIONS)
    if appeal and not related:
        raise Invalid("an appeal must name the claim it appeals (relationship prior)", f"{where}.related", "required")
    if not related:
        named_intent = Intent.NEW
    elif cancel:
        named_intent = Intent.CANCEL
    elif certs & codes.FOLLOW_UP_CERTIFICATIONS:
        named_intent = Intent.FOLLOW_UP
    elif codes.CERT_REVISION in certs:
        named_intent = Intent.RESUBMIT
    else:
        named_intent = Intent.UPDATE

    draft = CaseDraft(
        source=source,
        kind=Kind(codes.KIND_BY_USE.get(claim["use"], "prior-auth")),
        priority=_priority(claim),
        claim_ids=claim_ids,
        submission_id=_identifier(bundle["identifier"]) if bundle else None,
        claim_ref=f"Claim/{claim['id']}" if claim.get("id") else None,
        claim_url=_claim_url(bundle),
        transmission=_transmission(claim),
        identifier_extensions={i["value"]: ext for i in _identifiers_of(claim) if i.get("value")
                               and (ext := [e for e in i.get("extension", []) if e.get("url") in codes.EXT_IDENTIFIER_PARTS])},
        admission=_admission(claim),
        discharge=_timing(claim, "dischargeDates").get("date"),
        use=claim["use"],
        claim_type=_code(claim.get("type")),
        response_shape="pas-bundle" if bundle else "claimresponse",
        member=_member(refs.get(claim.get("patient")), _focal_coverage(claim, refs)),
        patient_ref=claim["patient"].get("reference"),
        insurer_ref=claim["insurer"].get("reference"),
        logical_refs={e: _logical(claim[e]) for e in ("patient", "insurer") if not claim[e].get("reference")},
        providers=_providers(claim, refs, where),
        diagnoses=[c for d in claim.get("diagnosis", []) if (c := _code(d.get("diagnosisCodeableConcept")))],
        items=_items(items, where, _code(claim.get("type"))),
        parties=_parties(claim, refs) if bundle else [],
    )
    key, key_where = (draft.submission_id, f"{where.removesuffix('.entry[0].resource')}.identifier") if bundle \
        else (claim_ids[0], f"{where}.identifier")
    return Submission(
        key=key,
        key_expression=key_where,
        sha256=sha256 or content_hash(bundle or claim),
        unique_key=source == "hl7v2",  # HL7 requires MSH-10 unique; a FHIR transaction id may be reused
        intent=intent or named_intent,
        related=[k for n, r in related for k in _related_keys(r, refs, f"{where}.related[{n}].claim")],
        related_expression=f"{where}.related[{related[0][0]}].claim" if related else None,
        appeal=appeal,
        attachments=_attachments(claim, refs, where),
        draft=draft,
    )


def _attachments(claim: Json, refs: References, where: str) -> list[Attachment]:
    """Clinical documents the request carries: supportingInfo attachments, inline or as DocumentReferences."""
    found = []
    for n, info in enumerate(claim.get("supportingInfo") or []):
        at = f"{where}.supportingInfo[{n}]"
        if info.get("valueAttachment"):
            found.append((info["valueAttachment"], f"{at}.valueAttachment"))
        elif (doc := refs.get(info.get("valueReference")) or {}).get("resourceType") == "DocumentReference":
            # (supportingInfo may reference any resource; only DocumentReferences carry documents)
            found += [(c.get("attachment") or {}, f"{at}.valueReference.content[{m}].attachment")
                      for m, c in enumerate(doc.get("content") or []) if isinstance(c, dict)]
    return [a for attachment, at in found if (a := _attachment(attachment, at))]


def _attachment(attachment: Json, where: str) -> Attachment | None:
    if not isinstance(attachment, dict) or not (attachment.get("data") or attachment.get("url")):
        return None
    if not all(isinstance(attachment.get(k, ""), str) for k in ("data", "url", "contentType", "title")):
        raise Invalid("attachment elements are strings", where)
    try:
        data = base64.b64decode(attachment["data"], validate=True) if attachment.get("data") else None
    except (binascii.Error, ValueError):
        raise Invalid("the attachment data is not base64", f"{where}.data") from None
    return Attachment(content_type=attachment.get("contentType") or "application/octet-stream", data=data,
                      url=None if data is not None else attachment.get("url"), title=attachment.get("title"))


def content_hash(resource: Json) -> str:
    """Hash of what was sent, ignoring the envelope's send time and server metadata, so that a
    retransmission of the same request is recognised as a replay."""
    content = {k: v for k, v in resource.items() if k not in ("timestamp", "meta")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _is_prior(related: Json) -> bool:
    return any(c.get("code") == "prior" for c in (related.get("relationship") or {}).get("coding", []))


def _related_keys(related: Json, refs: References, where: str) -> list[str]:
    """How the earlier claim is named: its identifier, the identifiers of the Claim a reference
    resolves to in the Bundle, and Claim/<id>. A claim named in none of these ways is refused."""
    ref = related.get("claim") or {}
    named = [_identifier(ref["identifier"])] if (ref.get("identifier") or {}).get("value") else []
    if target := _resolve(ref, refs, {"Claim"}, where):
        named += _identifiers(target)
    keys = [i.lookup_key for i in named]
    if claim_id := (ref.get("reference") or "").rstrip("/").split("/")[-1]:
        keys.append("Claim/" + claim_id)
    if not keys:
        raise Invalid("the related claim must be named by identifier or reference", where, "required")
    return keys


def _resolve(ref: Json | None, refs: References, types: set[str] | frozenset[str], where: str) -> Json | None:
    """The Bundle resource a reference names, refused when it is not of a type the element allows."""
    target = refs.get(ref)
    if target is not None and target.get("resourceType") not in types:
        raise Invalid(f"the reference must be to one of: {', '.join(sorted(types))}", where, "invalid")
    return target


def _priority(claim: Json) -> Priority:
    signals = {(c.get("system"), c.get("code")) for c in (claim.get("priority") or {}).get("coding", [])}
    for holder in [claim, *claim.get("item", [])]:
        for ext in holder.get("extension", []):
            if ext.get("url") in (codes.EXT_LEVEL_OF_SERVICE, codes.EXT_CERTIFICATION_TYPE):
                signals |= {(c.get("system"), c.get("code")) for c in
                            (ext.get("valueCodeableConcept") or {}).get("coding", [])}
    return Priority.EXPEDITED if signals & codes.EXPEDITED_SIGNALS else Priority.STANDARD


# An item naming no coded service cannot be reviewed: X12 AAA "AG" (invalid/missing procedure code),
# follow-up "C" (please correct and resubmit), at the service line's procedure code element of the
# request's claim type (278 loop 2000F: SV1 professional, SV2 institutional, SV3 dental).
ITEM_ERROR = {"code": "AG", "followup": "C"}
SERVICE_CODE_ELEMENT = {"institutional": "2000F-SV202", "oral": "2000F-SV301"}  # else professional: SV101


def _items(items: list[Json], where: str, claim_type: Code | None) -> list[Item]:
    mapped = [_item(item, f"{where}.item[{n}]", claim_type) for n, item in enumerate(items)]
    if mapped and all(i.error for i in mapped):  # nothing a reviewer could review: refused whole
        raise Invalid("no item names its service by a code", f"{where}.item[0].productOrService", "required")
    return mapped


def _item(item: Json, where: str, claim_type: Code | None = None) -> Item:
    period = item.get("servicedPeriod") or {}
    date = item.get("servicedDate")
    service = _code(item.get("productOrService"))
    error = None if service else ItemError(
        **ITEM_ERROR, element=SERVICE_CODE_ELEMENT.get(claim_type.code if claim_type else "", "2000F-SV101"),
        path=f"{where}.productOrService")
    return Item(
        sequence=item["sequence"],
        service=service,
        error=error,
        previous_authorization=next((e.get("valueString") for e in item.get("extension", [])
                                     if e.get("url") == codes.EXT_AUTHORIZATION_NUMBER), None),
        modifiers=[c.code for m in item.get("modifier", []) if (c := _code(m))],
        quantity=_quantity(item, f"{where}.quantity.value"),
        serviced=Period(start=date, end=date) if date else (
            Period(start=period.get("start"), end=period.get("end")) if period else None),
        category=_code(item.get("category")),
        certification_type=next(iter(_codes_of(item, codes.EXT_CERTIFICATION_TYPE)), None),
        request_type=next(iter(_codes_of(item, codes.EXT_REQUEST_TYPE)), None),
        trace_numbers=[_identifier(e["valueIdentifier"]) for e in item.get("extension", [])
                       if e.get("url") == codes.EXT_ITEM_TRACE_NUMBER and e.get("valueIdentifier")],
        info_changed=next((e.get("valueCode") for e in item.get("extension", [])
                           if e.get("url") == codes.EXT_INFO_CHANGED), None),
        cancelled=any(e.get("url") == codes.EXT_INFO_CANCELLED and e.get("valueBoolean")
                      for e in item.get("modifierExtension", [])),
    )


def _claim_url(bundle: Json | None) -> str | None:
    url = ((bundle or {}).get("entry") or [{}])[0].get("fullUrl")
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _transmission(claim: Json) -> dict[str, str]:
    ext = next((e for e in claim.get("extension", []) if e.get("url") == codes.EXT_TRANSMISSION_IDENTIFIERS), {})
    return {p["url"]: p["valueString"] for p in ext.get("extension", [])
            if isinstance(p.get("url"), str) and isinstance(p.get("valueString"), str)}


def _timing(claim: Json, category: str) -> Json:
    """The timing of the Claim's supportingInfo of this PAS category (admissionDates, dischargeDates)."""
    info = next((i for i in claim.get("supportingInfo", []) if any(
        c.get("code") == category for c in (i.get("category") or {}).get("coding", []))), {})
    return {"date": info["timingDate"]} if "timingDate" in info else info.get("timingPeriod") or {}


def _admission(claim: Json) -> Period | None:
    timing = _timing(claim, "admissionDates")
    start = timing.get("date") or timing.get("start")
    return Period(start=start, end=timing.get("end") or start) if start else None


def _quantity(item: Json, where: str) -> float | None:
    value = (item.get("quantity") or {}).get("value")
    try:
        return None if value is None else float(value)
    except OverflowError:  # R4 decimals are unbounded; a case keeps a double
        raise Invalid("the quantity is too large", where) from None


def _member(patient: Json | None, coverage: Json | None) -> Member:
    patient = patient if (patient or {}).get("resourceType") == "Patient" else {}
    coverage = coverage if (coverage or {}).get("resourceType") == "Coverage" else {}
    name = (patient.get("name") or [{}])[0]
    return Member(
        identifiers=_identifiers(patient),
        family=name.get("family"),
        given=[g for g in name.get("given", []) if g],  # null beside a `_given` extension
        birth_date=patient.get("birthDate"),
        gender=patient.get("gender"),
        subscriber_id=coverage.get("subscriberId"),
        coverage_ids=_identifiers(coverage),
        payor=((coverage.get("payor") or [{}])[0]).get("reference"),
    )


def _focal_coverage(claim: Json, refs: References) -> Json | None:
    insurance = claim.get("insurance") or []
    focal = next((i for i in insurance if i.get("focal")), insurance[0] if insurance else None)
    return refs.get((focal or {}).get("coverage"))


def _providers(claim: Json, refs: References, where: str) -> list[Provider]:
    named = [("requesting", claim.get("provider"), f"{where}.provider")] + [
        ("servicing", t.get("provider"), f"{where}.careTeam[{n}].provider")
        for n, t in enumerate(claim.get("careTeam", []))]
    return [_provider(role, ref, refs, at) for role, ref, at in named if ref]


def _provider(role: str, ref: Json, refs: References, where: str) -> Provider:
    res = _resolve(ref, refs, PROVIDER_TYPES, where) or {}
    if res.get("resourceType") == "PractitionerRole":
        res = (_resolve(res.get("practitioner"), refs, {"Practitioner"}, where) or
               _resolve(res.get("organization"), refs, {"Organization"}, where) or res)
    name = res.get("name")
    if isinstance(name, list):
        first = name[0] if name else {}
        name = " ".join([*filter(None, first.get("given", [])), first.get("family", "")]).strip() or None
    npi = next((i.get("value") for i in _identifiers_of(res) if i.get("system") == codes.NPI), None)
    return Provider(role=role, name=name, npi=npi, reference=ref.get("reference"))


def _parties(claim: Json, refs: References) -> list[Json]:
    """Patient, insurer, requestor and servicing providers as sent, with their fullUrl: the PAS response
    Bundle carries them (a fullUrl that is not an absolute URI becomes a urn:uuid, so that it resolves)."""
    out: dict[str, Json] = {}

    def keep(ref: Json | None) -> Json | None:
        entry = refs.entry(ref)
        if entry is not None:
            resource = {k: v for k, v in entry["resource"].items() if k not in DROPPED_FROM_PARTIES}
            out[ref["reference"]] = {"reference": ref["reference"], "fullUrl": _full_url(entry, ref["reference"]),
                                     "resource": resource}
            return entry["resource"]
        return None

    care_team = [t.get("provider") for t in claim.get("careTeam", []) if isinstance(t, dict)]
    for ref in (claim.get("patient"), claim.get("insurer"), claim.get("provider"), *care_team):
        res = keep(ref)
        if res is not None and res.get("resourceType") == "PractitionerRole":
            keep(res.get("practitioner"))
            keep(res.get("organization"))
    return list(out.values())


def _full_url(entry: Json, reference: str) -> str:
    url = entry.get("fullUrl")
    if isinstance(url, str) and url.startswith(("https://", "http://", "urn:uuid:", "urn:oid:")):
        return url
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, reference)}"


def _codes_of(holder: Json, url: str) -> set[str]:
    return {c.get("code") for e in holder.get("extension", []) if e.get("url") == url
            for c in (e.get("valueCodeableConcept") or {}).get("coding", [])}


def _identifiers_of(resource: Json) -> list[Json]:
    """A resource's identifiers, whether it has many (Patient) or at most one (QuestionnaireResponse)."""
    ident = resource.get("identifier") or []
    return [ident] if isinstance(ident, dict) else ident


def _identifiers(resource: Json) -> list[Identifier]:
    """A resource's identifiers that carry a value."""
    return [_identifier(i) for i in _identifiers_of(resource) if i.get("value")]


def _logical(reference: Json) -> Json:
    """A reference by identifier (and display) alone, kept as sent so that the response names the same party."""
    return {k: reference[k] for k in ("type", "identifier", "display") if k in reference}


def _identifier(ident: Json) -> Identifier:
    return Identifier(system=ident.get("system"), value=str(ident.get("value", "")))


def _code(concept: Json | None) -> Code | None:
    coding = ((concept or {}).get("coding") or [None])[0]
    if not coding or not coding.get("code"):
        return None
    return Code(system=coding.get("system"), code=coding["code"], display=coding.get("display"))


class Inquiry(NamedTuple):
    member_keys: list[str]
    provider_ids: set[str]
    identifier: Json | None  # the inquiry Bundle's, which its answer echoes


def inquiry_of(body: Any) -> Inquiry:
    """A PAS Inquiry: the member lookup keys and provider NPIs to match cases on."""
    claim, refs, where = claim_of(body)
    member = _member(refs.get(claim.get("patient")), _focal_coverage(claim, refs))
    if not member.lookup_keys:
        raise Invalid("the inquiry must identify the member", f"{where}.patient", "required")
    npis = {p.npi for p in _providers(claim, refs, where) if p.npi}
    if not npis:
        raise Invalid("the inquiry must identify the provider by NPI", f"{where}.provider", "required")
    bundle = _unwrapped(body)[0]
    return Inquiry(member.lookup_keys, npis, bundle.get("identifier") if bundle["resourceType"] == "Bundle" else None)
