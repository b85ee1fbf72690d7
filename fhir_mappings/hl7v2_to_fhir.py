"""HL7 v2 authorization, referral and invoice messages -> a PAS-shaped FHIR R4 request Bundle.

Every message becomes the same Claim (+ Patient, Coverage, Organization, Practitioner) that the FHIR
intake receives, so one path makes the case and its ClaimResponse.

| HL7 v2                         | FHIR R4 (PAS-shaped)                                              |
|--------------------------------|-------------------------------------------------------------------|
| MSH-3, MSH-4, MSH-10           | Bundle.identifier (system = sender, value = control id): the idempotency key |
| MSH-7                          | Claim.created, Bundle.timestamp                                   |
| MSH-9 (type^event)             | Claim.use, status and related: see MESSAGES                       |
| RF1-2 priority (S, A)          | Claim.priority stat (else normal)                                 |
| RF1-6, RF1-11 referral ids     | Claim.identifier                                                  |
| IVC-1, IVC-2 invoice numbers   | Claim.identifier (and the claim an E02/E21/E04 names)             |
| AUT-1 plan                     | Coverage.class[plan]                                              |
| AUT-2 payor company id, AUT-3  | insurer Organization.identifier / name                            |
| AUT-4, AUT-5 effective, expiry | Claim.item.servicedPeriod (items of that AUT)                      |
| AUT-6 authorization id         | Claim.insurance.preAuthRef                                        |
| AUT-8 requested treatments     | Claim.item.quantity (items of that AUT)                           |
| PRD-1 role RP (referring)      | Claim.provider -> Practitioner                                    |
| PRD-1 other roles (RT, CP...)  | Claim.careTeam.provider -> Practitioner                           |
| PRD-2 name, PRD-7 ids          | Practitioner.name, identifier (NPI when the id says so)           |
| PID-3 identifiers              | Patient.identifier                                                |
| PID-5 name, PID-7 birth, PID-8 | Patient.name, birthDate, gender                                   |
| IN1-2 plan id                  | Coverage.class[plan]                                              |
| IN1-3 company id, IN1-4 name   | insurer Organization.identifier / name                            |
| IN1-12, IN1-13                 | Coverage.period                                                   |
| IN1-36 policy number           | Coverage.identifier (type MB); subscriberId when IN1-49 is absent |
| IN1-49 insured's id            | Coverage.subscriberId                                             |
| IN2-6 Medicare, IN2-8 Medicaid | Coverage.identifier (us-mbi / Medicaid)                           |
| DG1-3 code, DG1-6 type         | Claim.diagnosis.diagnosisCodeableConcept / type                   |
| PR1-3 code, PR1-5 date         | Claim.item.productOrService / servicedDate                        |
| PR1-16 modifiers               | Claim.item.modifier                                               |
| PSL-3 seq, PSL-7 code          | Claim.item.sequence / productOrService                            |
| PSL-10, PSL-11 dates           | Claim.item.servicedPeriod                                         |
| PSL-12 quantity                | Claim.item.quantity                                               |
"""
from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapters.hl7v2.message import Segment, V2Message

from . import codes

Json = dict[str, Any]


@dataclass(frozen=True)
class Event:
    use: str  # Claim.use
    status: str = "active"  # Claim.status; cancelled for the cancel events
    related: bool = False  # names an earlier request (by its identifiers)
    appeal: bool = False
    resubmit: bool = False  # re-opens a closed request rather than failing on it
    min_version: str = "2.3"
    key: tuple[str, int] = ("RF1", 6)  # where the message names the request (ERR location when unknown)


# MSH-9 type^event -> meaning. Anything else is refused (200 type, 201 event, 203 version).
MESSAGES: dict[tuple[str, str], Event] = {
    ("RQA", "I08"): Event("preauthorization"),  # request authorization
    ("RQA", "I09"): Event("preauthorization", related=True, resubmit=True),  # modify
    ("RQA", "I10"): Event("preauthorization", related=True, resubmit=True),  # resubmit: re-opens or replaces
    ("RQA", "I11"): Event("preauthorization", status="cancelled", related=True),  # cancel
    ("REF", "I12"): Event("preauthorization"),  # referral carrying an authorization request
    ("EHC", "E20"): Event("preauthorization", min_version="2.6", key=("IVC", 1)),  # submit authorization request
    ("EHC", "E21"): Event("preauthorization", status="cancelled", related=True, min_version="2.6", key=("IVC", 1)),
    ("EHC", "E01"): Event("claim", min_version="2.6", key=("IVC", 1)),  # submit health care services invoice
    ("EHC", "E02"): Event("claim", status="cancelled", related=True, min_version="2.6", key=("IVC", 1)),
    ("EHC", "E04"): Event("claim", related=True, appeal=True, min_version="2.6", key=("IVC", 1)),  # re-assess
}
VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
EXPEDITED_RF1_PRIORITIES = frozenset({"S", "A"})  # HL7 table 0280: STAT, ASAP

# CE/CWE coding-system names -> FHIR system URIs; HL7 tables map to terminology.hl7.org.
CODING_SYSTEMS = {
    "I9": "http://hl7.org/fhir/sid/icd-9-cm", "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "I10": "http://hl7.org/fhir/sid/icd-10-cm", "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "I10P": "http://www.cms.gov/Medicare/Coding/ICD10",
    "C4": "http://www.ama-assn.org/go/cpt", "CPT": "http://www.ama-assn.org/go/cpt",
    "HCPCS": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "HCPC": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "SCT": "http://snomed.info/sct", "SNM": "http://snomed.info/sct", "LN": "http://loinc.org",
    "NDC": "http://hl7.org/fhir/sid/ndc",
}
NPI_OID = "2.16.840.1.113883.4.6"
GENDERS = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}
DIAGNOSIS_TYPES = {"A": "admitting", "W": "working", "F": "discharge"}  # HL7 table 0052
MEDICARE = "http://hl7.org/fhir/sid/us-mbi"
MEDICAID = "urn:claimbridge:medicaid"


def sender_system(msg: V2Message) -> str:
    return f"urn:claimbridge:hl7v2:{msg.msh.get(3) or ''}:{msg.msh.get(4) or ''}"


def request_bundle(msg: V2Message, event: Event) -> Json:
    """The PAS-shaped request Bundle for a supported message, as the intake admitted it (see MESSAGES)."""
    control_id = msg.msh.get(10) or ""
    seed = f"{sender_system(msg)}|{control_id}"
    build = _Builder(seed)
    created = ts_to_datetime(msg.msh.get(7)) or "1970-01-01T00:00:00Z"

    patient = build.add("Patient", _patient(msg.first("PID")))
    insurer = build.add("Organization", _insurer(msg))
    requesting = [p for p in msg.segments("PRD") if (p.get(1) or "").upper() == "RP"]
    others = [p for p in msg.segments("PRD") if (p.get(1) or "").upper() != "RP"]
    provider = build.add("Practitioner", _practitioner(requesting[0])) if requesting else build.add(
        "Organization", {"name": msg.msh.get(4) or "unknown sender"})
    coverage = build.add("Coverage", _coverage(msg, patient, insurer))

    claim: Json = {
        "resourceType": "Claim",
        "id": "hl7-" + hashlib.sha256(seed.encode()).hexdigest()[:24],
        "identifier": _claim_identifiers(msg, control_id),
        "status": event.status,
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": event.use,
        "patient": {"reference": patient},
        "created": created,
        "insurer": {"reference": insurer},
        "provider": {"reference": provider},
        "priority": {"coding": [{"system": codes.PROCESS_PRIORITY, "code": _priority(msg)}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": coverage},
                       **({"preAuthRef": [ref]} if (ref := _first_aut(msg, 6)) else {})}],
    }
    if others:
        claim["careTeam"] = [{"sequence": n, "provider": {"reference": build.add("Practitioner", _practitioner(p))},
                              **({"role": {"text": p.get(1)}} if p.get(1) else {})}
                             for n, p in enumerate(others, 1)]
    diagnoses = [d for d in (_diagnosis(n, s) for n, s in enumerate(msg.segments("DG1"), 1)) if d]
    if diagnoses:
        claim["diagnosis"] = diagnoses
    items = _items(msg)
    if items:
        claim["item"] = items
        if event.related:  # a modify or resubmit restates its service lines as they now are
            for item in items:
                item["extension"] = [{"url": codes.EXT_INFO_CHANGED, "valueCode": "changed"}]
    if event.related:
        claim["related"] = [{"claim": {"identifier": i},
                             "relationship": {"coding": [{"system": codes.RELATED_CLAIM, "code": "prior"}]}}
                            for i in claim["identifier"]]
    build.entries.insert(0, {"fullUrl": build.url("Claim"), "resource": claim})
    return {
        "resourceType": "Bundle",
        "identifier": {"system": sender_system(msg), "value": control_id},
        "type": "collection",
        "timestamp": created if "T" in created else f"{created}T00:00:00Z",  # an instant, even from a date
        "entry": build.entries,
    }


class _Builder:
    """Collects the Bundle entries, with fullUrls derived from the message's key so a replay maps identically."""

    def __init__(self, seed: str):
        self.seed = seed
        self.entries: list[Json] = []

    def url(self, name: str) -> str:
        return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.seed}#{name}"))

    def add(self, rtype: str, body: Json) -> str:
        rid = f"{rtype.lower()}-{len(self.entries) + 1}"
        url = self.url(rid)
        self.entries.append({"fullUrl": url, "resource": {"resourceType": rtype, "id": rid, **body}})
        return url


def _claim_identifiers(msg: V2Message, control_id: str) -> list[Json]:
    out = []
    for seg_name, fields in (("RF1", (6, 11)), ("IVC", (1, 2))):
        seg = msg.first(seg_name)
        for field in fields if seg else ():
            if value := seg.get(field):
                out.append({"system": _ei_system(seg, field, f"{seg_name}-{field}"), "value": value})
    return out or [{"system": sender_system(msg) + ":control-id", "value": control_id}]


def _ei_system(seg: Segment, field: int, label: str) -> str:
    authority = seg.get(field, 3) or seg.get(field, 2)  # EI-3 universal id, else EI-2 namespace
    return authority_system(authority, f"{label}:{authority or ''}")


def _priority(msg: V2Message) -> str:
    rf1 = msg.first("RF1")
    return "stat" if rf1 and (rf1.get(2) or "").upper() in EXPEDITED_RF1_PRIORITIES else "normal"


def _first_aut(msg: V2Message, field: int) -> str | None:
    return next((v for s in msg.segments("AUT") if (v := s.get(field))), None)


def _patient(pid: Segment | None) -> Json:
    if pid is None:
        return {}
    out: Json = {"identifier": [cx_to_identifier(pid, 3, r) for r in range(1, pid.repetitions(3) + 1) if pid.get(3, 1, r)]}
    if name := xpn_to_name(pid, 5):
        out["name"] = [name]
    if birth := ts_to_date(pid.get(7)):
        out["birthDate"] = birth
    if gender := GENDERS.get((pid.get(8) or "").upper()):
        out["gender"] = gender
    return {k: v for k, v in out.items() if v}


def _insurer(msg: V2Message) -> Json:
    in1, aut = msg.first("IN1"), msg.first("AUT")
    ident = (in1 and in1.get(3)) or (aut and aut.get(2))
    name = (in1 and in1.get(4)) or (aut and aut.get(3)) or msg.msh.get(6) or "unknown payer"
    out: Json = {"name": name}
    if ident:
        out["identifier"] = [{"system": "urn:claimbridge:hl7v2:payer-id", "value": ident}]
    return out


def _coverage(msg: V2Message, patient: str, insurer: str) -> Json:
    in1, in2, aut = msg.first("IN1"), msg.first("IN2"), msg.first("AUT")
    out: Json = {"status": "active", "beneficiary": {"reference": patient}, "payor": [{"reference": insurer}]}
    identifiers = []
    if in1 and (policy := in1.get(36)):
        identifiers.append({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                 "code": "MB"}]}, "system": "urn:claimbridge:hl7v2:policy",
                            "value": policy})
    if in2:
        identifiers += [{"system": system, "value": v} for system, field in ((MEDICARE, 6), (MEDICAID, 8))
                        if (v := in2.get(field))]
    if identifiers:
        out["identifier"] = identifiers
    if subscriber := (in1 and (in1.get(49) or in1.get(36))):
        out["subscriberId"] = subscriber
    plan = (in1 and in1.get(2)) or (aut and aut.get(1))
    if plan:
        out["class"] = [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                              "code": "plan"}]}, "value": plan}]
    if in1 and (period := _period(ts_to_date(in1.get(12)), ts_to_date(in1.get(13)))):
        out["period"] = period
    return out


def _practitioner(prd: Segment) -> Json:
    out: Json = {}
    if name := xpn_to_name(prd, 2):
        out["name"] = [name]
    identifiers = []
    for r in range(1, prd.repetitions(7) + 1):
        if value := prd.get(7, 1, r):
            system = codes.NPI if is_npi(prd, 7, r) else "urn:claimbridge:hl7v2:provider-id"
            identifiers.append({"system": system, "value": value})
    if identifiers:
        out["identifier"] = identifiers
    return out


def _diagnosis(n: int, dg1: Segment) -> Json | None:
    concept = cwe_to_codeable_concept(dg1, 3, system_field=2)
    if concept is None:
        return None
    out: Json = {"sequence": n, "diagnosisCodeableConcept": concept}
    if kind := DIAGNOSIS_TYPES.get((dg1.get(6) or "").upper()):
        out["type"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-diagnosistype", "code": kind}]}]
    return out


def _items(msg: V2Message) -> list[Json]:
    items: list[Json] = []
    for group in msg.groups("PR1", ("AUT", "CTD", "NTE", "ROL")):
        pr1, aut = group[0], next((s for s in group if s.name == "AUT"), None)
        item: Json = {"sequence": len(items) + 1}
        if concept := cwe_to_codeable_concept(pr1, 3, system_field=2):
            item["productOrService"] = concept
        else:
            continue
        if modifiers := [m for r in range(1, pr1.repetitions(16) + 1) if (m := cwe_to_codeable_concept(pr1, 16, r))]:
            item["modifier"] = modifiers
        _apply_aut(item, aut, ts_to_date(pr1.get(5)))
        items.append(item)
    for group in msg.groups("PSL", ("NTE", "ADJ", "AUT", "LOC", "ROL")):
        psl, aut = group[0], next((s for s in group if s.name == "AUT"), None)
        concept = cwe_to_codeable_concept(psl, 7)
        if concept is None:
            continue
        seq = psl.get(3)
        item = {"sequence": int(seq) if seq and seq.isdigit() and int(seq) > 0 else len(items) + 1,
                "productOrService": concept}
        if period := _period(ts_to_date(psl.get(10)), ts_to_date(psl.get(11))):
            item["servicedPeriod"] = period
        if quantity := _number(psl.get(12)):
            item["quantity"] = {"value": quantity}
        _apply_aut(item, aut, None)
        items.append(item)
    return items


def _apply_aut(item: Json, aut: Segment | None, date: str | None) -> None:
    period = _period(ts_to_date(aut.get(4)), ts_to_date(aut.get(5))) if aut else None
    if period:
        item["servicedPeriod"] = period
    elif date and "servicedPeriod" not in item:
        item["servicedDate"] = date
    if aut and (treatments := _number(aut.get(8))):
        item["quantity"] = {"value": treatments}


# --- small converters, shared by every message family -------------------------------------------

def is_npi(seg: Segment, field: int, rep: int = 1) -> bool:
    """Whether a provider id is an NPI. Senders use the PI/PLN layout (id ^ type ^ qualifier) or the
    XCN one (id ^ name... ^ assigning authority (XCN-9) ^ ... ^ identifier type (XCN-13)); either
    names NPI by type code or by the NPI's OID."""
    named = {(v or "").upper() for v in (seg.get(field, 2, rep), seg.get(field, 13, rep),  # type codes
                                         seg.get(field, 3, rep), seg.get(field, 9, rep, 1), seg.get(field, 9, rep, 2))}
    return "NPI" in named or NPI_OID in named


def cx_to_identifier(seg: Segment, field: int, rep: int = 1) -> Json:
    """CX: id ^ check digit ^ scheme ^ assigning authority (HD) ^ identifier type."""
    authority = seg.get(field, 4, rep, 2) or seg.get(field, 4, rep, 1)
    out: Json = {"system": authority_system(authority, f"assigner:{authority or 'unknown'}"),
                 "value": seg.get(field, 1, rep)}
    if kind := seg.get(field, 5, rep):
        out["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": kind}]}
    return out


def xpn_to_name(seg: Segment, field: int) -> Json | None:
    family, given = seg.get(field, 1), [g for g in (seg.get(field, 2), seg.get(field, 3)) if g]
    if not family and not given:
        return None
    return {k: v for k, v in (("family", family), ("given", given)) if v}


def cwe_to_codeable_concept(seg: Segment, field: int, rep: int = 1, system_field: int | None = None) -> Json | None:
    """CE/CWE: code ^ text ^ coding system. Before 2.5, DG1-2/PR1-2 carried the coding method instead."""
    code = (seg.get(field, 1, rep) or "").strip()
    if not code:
        return None
    name = (seg.get(field, 3, rep) or (seg.get(system_field) if system_field else None) or "").upper()
    system = CODING_SYSTEMS.get(name) or (
        f"http://terminology.hl7.org/CodeSystem/v2-{name[3:]}" if name.startswith("HL7") and name[3:].isdigit()
        else f"urn:claimbridge:hl7v2:coding:{name or 'local'}")
    coding: Json = {"system": system, "code": code}
    if text := seg.get(field, 2, rep):
        coding["display"] = text
    return {"coding": [coding]}


def ts_to_date(ts: str | None) -> str | None:
    digits = (ts or "").strip()[:8]
    if len(digits) < 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat()
    except ValueError:  # 19701399: not a date
        return None


def ts_to_datetime(ts: str | None) -> str | None:
    date = ts_to_date(ts)
    if date is None:
        return None
    rest = ts.strip()[8:]  # type: ignore[union-attr]
    digits = "".join(ch for ch in rest.split("+")[0].split("-")[0].split(".")[0] if ch.isdigit())
    if len(digits) < 4:
        return date
    hh, mm, ss = digits[:2], digits[2:4], (digits[4:6] or "00")
    zone = "Z"
    for sign in "+-":
        if sign in rest:
            offset = rest.split(sign, 1)[1][:4]
            if len(offset) == 4 and offset.isdigit():
                zone = f"{sign}{offset[:2]}:{offset[2:]}"
    if not (hh.isdigit() and int(hh) < 24 and int(mm) < 60 and int(ss) < 60):
        return date
    return f"{date}T{hh}:{mm}:{ss}{zone}"


def _number(value: str | None) -> float | None:
    try:
        number = float(value.split("^")[0]) if value else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and number > 0 else None


def authority_system(authority: str | None, local: str) -> str:
    """An assigning authority as a FHIR system: its OID when it is one, else a local name."""
    is_oid = bool(authority) and authority.count(".") >= 2 and all(p.isdigit() for p in authority.split("."))
    return f"urn:oid:{authority}" if is_oid else f"urn:claimbridge:hl7v2:{local}"


def _period(start: str | None, end: str | None) -> Json | None:
    period = {k: v for k, v in (("start", start), ("end", end)) if v}
    return period or None
