"""HL7 v2 application responses: what the sender's engine gets when a case it sent changes
(determination, pend for information, cancellation, reopen), in the sender's own HL7 version.

| request (MSH-9)             | response (MSH-9, structure)        | versions |
|-----------------------------|------------------------------------|----------|
| RQA^I08 / ^I09 / ^I10 / ^I11 | RPA^I08 / ^I09 / ^I10 / ^I11, RPA_I08 | 2.3+   |
| REF^I12                     | RRI^I12, RRI_I12                   | 2.3+     |
| EHC^E20                     | EHC^E24, EHC_E24                   | 2.6+     |
| EHC^E01, EHC^E04            | EHC^E10, EHC_E10                   | 2.6+     |

Every response: MSH with sender and receiver swapped, the request's encoding characters, MSH-11,
MSH-12 and MSH-18; MSH-9 = type^trigger^structure (the structure from 2.3.1); MSH-10 = the
control id given. MSA-1 AA (the request was taken in; the answer is in the body), MSA-2 = the
request's MSH-10. Text from the case (names, ids, reason texts) is escaped for the request's
delimiters; segments copied from the request stay as it sent them.

Each item's outcome (`outcome`) comes from the case's status and the item's determination: a
closed case (cancelled, withdrawn) cancels every item; an open one (received, in review,
information requested, reopened) pends every item; a decided one answers item by item.

RPA, RRI

| segment-field           | case element                                                            |
|-------------------------|-------------------------------------------------------------------------|
| RF1                     | the request's, as sent; RF1-6 claim_ids[0] (else id) if it had none    |
| RF1-1 referral status   | table 0283: P anything pended, A anything granted, else R (no cancel)   |
| RF1-7, RF1-8            | preauth_period (when granted)                                           |
| RF1-9 process date      | decided_at                                                              |
| AUT after RF1           | the case's authorization, when anything is granted:                     |
|   AUT-1, AUT-2, AUT-3   |   the payer as the request named it (its AUT-1/2/3, else IN1-2/3/4)     |
|   AUT-4, AUT-5          |   preauth_period                                                        |
|   AUT-6                 |   preauth_ref                                                           |
|   AUT-10 process date   |   decided_at                                                            |
| PRD (+CTD), PID         | the request's, as sent (else made from providers, member)               |
| IN1, IN2, IN3 (RPA)     | the request's, as sent                                                  |
| PR1                     | per item: the request's PR1 for it, as sent (else made from the item)   |
| AUT after each PR1      | per decided item (none while pended or cancelled):                      |
|   AUT-1, AUT-2, AUT-3   |   the payer, as above                                                   |
|   AUT-4, AUT-5          |   determination.authorized_period, else preauth_period (granted)        |
|   AUT-6                 |   determination.authorization_number, else preauth_ref (granted)        |
|   AUT-8 requested       |   item.quantity                                                         |
|   AUT-9 authorized      |   authorized_quantity, else item.quantity (granted); 0 (denied)         |
|   AUT-10 process date   |   determination.decided_at                                              |
|   AUT-13 (2.8+)         |   the request's AUT-13, else AUT^Authorization^L                        |
|   AUT-14 (2.8+)         |   decision, X12 306: A1 A2 A3 A4 A6 or C ^ text ^ X12DE306              |
|   AUT-17 (2.8+)         |   reason_text; a modified decision's authorized_service                 |
| NTE (not in RPA 2.3)    | per item not simply approved: "item 1 72148: A3 Not Certified;          |
|                         |   reason 35; reason_text"; the open information request's asks          |

EHC^E24 (authorization response), EHC^E10 (invoice processing results)

| segment-field           | case element                                                            |
|-------------------------|-------------------------------------------------------------------------|
| IPR (E10)               | IPR-1 id; IPR-2, IPR-3 the request's IVC-1, IVC-2; IPR-5 decided_at     |
|                         |   (pended: the response time); IPR-8 a digest of the IPR's fields       |
| IPR-4 status (E10)      | table 0571: ADJSUB all approved as asked, ADJ some adjusted or denied,  |
|                         |   ADJZER all denied, PEND pended, REJECT cancelled                      |
| NTE (E10)               | the open information request's asks                                     |
| PYE, IN1, IN2 (E10)     | the request's (else PYE ORG; IN1 from the insurer and subscriber_id)    |
| IVC                     | the request's, coded fields cut to their code; required fields it       |
|                         |   lacked filled (IVC-1 claim_ids[0]; see `invoice`)                     |
| PSS, PSG (E10)          | the request's first, required amounts (0) and texts filled              |
| PSL                     | per item: the request's PSL with its PSL-3 = sequence, as sent, but     |
|   PSL-6 status          |   table 0559: P granted, D denied, R cancelled; pended: as sent (else P)|
|   PSL-21                |   as sent, else N                                                       |
| AUT after PSL (E24)     | as the AUT after each PR1 above                                         |
| ADJ after PSL           | per item:                                                               |
|   ADJ-1, ADJ-13         |   PSL-1, the provider's line number                                     |
|   ADJ-2                 |   authorization_number (granted), else <case id>-<sequence>             |
|   ADJ-4 category        |   table 0564: EA edit/adjudication response; IN information (pended)    |
|   ADJ-7 reason          |   decision ^ text ^ X12DE306 ~ reason_code ^^ 99X12886                  |
|   ADJ-8 description     |   reason_text, authorized_service; pended: the information requested    |
|   ADJ-9, ADJ-10         |   item.quantity, authorized_quantity (when they differ)                 |
|   ADJ-14 date           |   determination.decided_at, else the response time                      |

`read_acknowledgment` reads the engine's answer to a response: MSA-1, MSA-2 and a short ERR summary.

Built as text, as ack.py builds ACKs: hl7apy judges the output in the tests and is not a runtime
dependency.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fhir_mappings.case_to_claimresponse import CANCELLED_ACTION, REVIEW_ACTION
from fhir_mappings.hl7v2_to_fhir import CODING_SYSTEMS
from review.model import Case, Code, Decision, Item, Period, Status

from . import wire
from .ack import DEFAULT_ENCODING, GENERIC_VERSION, Header

X12_ACTION_SYSTEM = "X12DE306"  # HL7 table 0396 names X12 code lists by data element: HCR01 is DE 306
# HCR03 codes come from X12 external code source 886, which table 0396 does not name: a local (99zzz) name
X12_REASON_SYSTEM = "99X12886"
DEFAULT_REFERRAL_TYPE = ("AUT", "Authorization", "L")  # AUT-13 (2.8+, required) when the request sent none
GRANTED = frozenset({Decision.APPROVED, Decision.PARTIAL, Decision.MODIFIED})
CLOSED = frozenset({Status.CANCELLED, Status.WITHDRAWN})

REFERRAL_STATUS = {"A": "Accepted", "P": "Pending", "R": "Rejected"}  # RF1-1, table 0283 (no "cancelled")
LINE_STATUS = {"granted": ("P", "Processed"), "denied": ("D", "Denied"),  # PSL-6, table 0559 (no "pending")
               "cancelled": ("R", "Rejected")}
ADJUDICATION = "EA"  # ADJ-4, table 0564: edit/adjudication response
INFORMATION = "IN"  # ADJ-4, table 0564: information (a pended line)


@dataclass(frozen=True)
class Response:
    type: str
    trigger: str
    structure: str
    body: Callable[[Request, Case, datetime], list[str]]  # the segments after MSA


@dataclass(frozen=True)
class Ack:
    """The engine's answer to a response. code None: not an acknowledgment (treat as no answer)."""

    code: str | None = None  # MSA-1: AA AE AR CA CE CR
    control_id: str | None = None  # MSA-2: the MSH-10 of the message it answers
    error: str | None = None  # "code^text" of the first ERR (or MSA-6, MSA-3), shortened

    @property
    def delivered(self) -> bool:
        return self.code in ("AA", "CA")

    @property
    def refused(self) -> bool:
        return self.code in ("AE", "AR", "CE", "CR")


# --- the message's delimiters and text --------------------------------------------------------------

@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None  # 2.7+ may declare a fifth encoding character

    @classmethod
    def of(cls, header: Header) -> Delimiters:
        enc = header.encoding + DEFAULT_ENCODING[len(header.encoding):]  # a short MSH-2 keeps the defaults
        return cls(header.field_sep, enc[0], enc[1], enc[2], enc[3], enc[4] if len(enc) > 4 else None)

    def text(self, value: object) -> str:
        """Case text as an HL7 value: each delimiter as its escape sequence, line breaks as .br,
        other control characters dropped."""
        e = self.escape
        table = {self.field: f"{e}F{e}", self.component: f"{e}S{e}", self.repetition: f"{e}R{e}",
                 self.subcomponent: f"{e}T{e}", e: f"{e}E{e}"}
        if self.truncation:
            table[self.truncation] = f"{e}P{e}"
        out = []
        for ch in str(value).replace("\r\n", "\n").replace("\r", "\n"):
            if ch in table:
                out.append(table[ch])
            elif ch == "\n":
                out.append(f"{e}.br{e}")
            elif ch.isprintable():
                out.append(ch)
        return "".join(out)

    def coded(self, code: str, display: str, system: str) -> str:
        """A CE/CWE value: code ^ text ^ coding system."""
        return self.component.join([self.text(code), self.text(display), system])

    def segment(self, name: str, fields: dict[int, str]) -> str:
        """A segment with the given (already HL7) values at their field numbers; trailing empties dropped."""
        last = max((n for n, v in fields.items() if v), default=0)
        return self.field.join([name] + [fields.get(n, "") for n in range(1, last + 1)])


# --- the request, as the sender sent it -------------------------------------------------------------

class Request:
    """The inbound message's segments, as received (raw, still escaped), by name and field number."""

    def __init__(self, text: str):
        lines = wire.segments(text.lstrip("\ufeff"))
        start = next((n for n, s in enumerate(lines) if s.startswith("MSH")), None)
        if start is None:
            raise ValueError("no MSH segment in the request")
        self.lines = lines[start:]
        self.header = Header.of("\r".join(self.lines))
        self.delimiters = Delimiters.of(self.header)

    def all(self, name: str) -> list[str]:
        return [s for s in self.lines if s[:3] == name and (len(s) == 3 or s[3] == self.header.field_sep)]

    def first(self, name: str) -> str | None:
        found = self.all(name)
        return found[0] if found else None

    def fields(self, segment: str | None) -> list[str]:
        """Field n at index n (the name at 0)."""
        return segment.split(self.header.field_sep) if segment else []

    def value(self, segment: str | None, n: int) -> str:
        fields = self.fields(segment)
        return fields[n] if len(fields) > n else ""

    def code(self, segment: str | None, n: int) -> str:
        """The first component of field n's first repetition (an IS/ID code, an id)."""
        d = self.delimiters
        return self.value(segment, n).split(d.repetition)[0].split(d.component)[0]

    def groups(self, head: str, members: tuple[str, ...]) -> list[list[str]]:
        """Each `head` segment with the `members` that follow it (a PR1 and its AUT, CTD...)."""
        out: list[list[str]] = []
        current: list[str] | None = None
        for seg in self.lines:
            if seg[:3] == head:
                current = [seg]
                out.append(current)
            elif current is not None and seg[:3] in members:
                current.append(seg)
            else:
                current = None
        return out


# --- what the case says about each item -------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    item: Item
    state: str  # granted, denied, pended, cancelled
    action: tuple[str, str]  # X12 306 review action: code, display
    authorization: str | None = None
    period: Period | None = None
    quantity: float | None = None  # authorized
    decided_at: datetime | None = None
    reason_code: str | None = None
    reason_text: str | None = None
    service: Code | None = None  # a modified decision's service, authorized instead of the one asked

    @property
    def decided(self) -> bool:
        return self.state in ("granted", "denied")

    @property
    def description(self) -> str:
        """The reason text, and the service authorized instead of the one asked, in words."""
        substitute = f"authorized {self.service.code} instead" if self.service else ""
        return "; ".join(t for t in (self.reason_text, substitute) if t)


def outcome(item: Item, case: Case) -> Outcome:
    det = item.determination
    if case.status in CLOSED or item.cancelled:
        return Outcome(item, "cancelled", CANCELLED_ACTION)
    if case.is_open or det is None or det.decision is Decision.PENDED:
        return Outcome(item, "pended", REVIEW_ACTION[Decision.PENDED])
    common = dict(action=REVIEW_ACTION[det.decision], decided_at=det.decided_at, reason_code=det.reason_code,
                  reason_text=det.reason_text)
    if det.decision in GRANTED:
        return Outcome(item, "granted", authorization=det.authorization_number or case.preauth_ref,
                       period=det.authorized_period or case.preauth_period,
                       quantity=det.authorized_quantity if det.authorized_quantity is not None else item.quantity,
                       service=det.authorized_service, **common)
    return Outcome(item, "denied", quantity=0, **common)


def outcomes(case: Case) -> list[Outcome]:
    return [outcome(i, case) for i in sorted(case.items, key=lambda i: i.sequence)]


def referral_status(results: list[Outcome]) -> str:
    """RF1-1 (table 0283): pending while anything is, accepted when anything is granted, else rejected."""
    live = [r for r in results if r.state != "cancelled"]
    if any(r.state == "pended" for r in live):
        return "P"
    return "A" if any(r.state == "granted" for r in live) else "R"


def invoice_status(results: list[Outcome]) -> str:
    """IPR-4 (table 0571). It has no "cancelled": a cancelled invoice is REJECT, its lines say C."""
    live = [r for r in results if r.state != "cancelled"]
    if not live:
        return "REJECT"
    if any(r.state == "pended" for r in live):
        return "PEND"
    if not any(r.state == "granted" for r in live):
        return "ADJZER"
    as_asked = all(r.state == "granted" and r.action[0] == REVIEW_ACTION[Decision.APPROVED][0] for r in live)
    return "ADJSUB" if as_asked else "ADJ"


# --- values ----------------------------------------------------------------------------------------

def hl7_timestamp(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S") + (at.strftime("%z") if at.tzinfo else "")


def hl7_date(value: str | None) -> str:
    digits = (value or "")[:10].replace("-", "")
    return digits if len(digits) == 8 and digits.isdigit() else ""


def hl7_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:f}".rstrip("0")


def coding_system_name(system: str | None) -> str:
    """A FHIR code system URI back to its HL7 v2 coding-system name (C4 for CPT, HCPCS, I10...)."""
    if not system:
        return ""
    for name, uri in CODING_SYSTEMS.items():
        if uri == system:
            return name
    for prefix, make in (("urn:claimbridge:hl7v2:coding:", str),
                         ("http://terminology.hl7.org/CodeSystem/v2-", lambda t: "HL7" + t)):
        if system.startswith(prefix):
            return make(system[len(prefix):])
    return ""


# --- MSH and MSA -----------------------------------------------------------------------------------

def message_header(req: Request, response: Response, at: datetime, control_id: str) -> str:
    h, d = req.header, req.delimiters
    structure = f"{d.component}{response.structure}" if h.version_tuple >= (2, 3, 1) else ""
    msh = [
        "MSH", h.encoding, h.receiving_application, h.receiving_facility, h.sending_application,
        h.sending_facility, hl7_timestamp(at), "", f"{response.type}{d.component}{response.trigger}{structure}",
        d.text(control_id), h.processing_id, h.version or GENERIC_VERSION,
    ]
    charset = req.value(req.lines[0], 17)  # MSH-18: split index 17, MSH-1 being the separator itself
    if charset:
        msh += ["", "", "", "", "", charset]
    return d.field.join(msh)


def acceptance(req: Request) -> str:
    return req.delimiters.segment("MSA", {1: "AA", 2: req.header.control_id})


# --- RPA (to RQA) and RRI (to REF) -----------------------------------------------------------------

def rpa_body(req: Request, case: Case, at: datetime) -> list[str]:
    """RPA_I08 has the insurance group; message-level NTE only from 2.3.1."""
    return referral_body(req, case, insurance=True, notes_allowed=req.header.version_tuple >= (2, 3, 1))


def rri_body(req: Request, case: Case, at: datetime) -> list[str]:
    """RRI_I12 has no insurance group; NTE in every version."""
    return referral_body(req, case, insurance=False, notes_allowed=True)


def referral_body(req: Request, case: Case, *, insurance: bool, notes_allowed: bool) -> list[str]:
    results = outcomes(case)
    out = [referral(req, case, results), *case_authorization(req, case), *providers(req, case),
           req.first("PID") or patient(case, req.delimiters)]
    if insurance:
        out += [s for s in req.lines if s[:3] in ("IN1", "IN2", "IN3")]
    for result, pr1 in zip(results, procedures(req, results)):
        out.append(pr1)
        if result.decided:
            out.append(item_authorization(req, result))
    if notes_allowed:
        out += notes(req.delimiters, results, case)
    return out


def referral(req: Request, case: Case, results: list[Outcome]) -> str:
    """The request's RF1 with the decision in RF1-1 (and the authorized dates, the process date)."""
    d = req.delimiters
    fields = dict(enumerate(req.fields(req.first("RF1"))))
    fields.pop(0, None)
    status = referral_status(results)
    fields[1] = d.coded(status, REFERRAL_STATUS[status], "HL70283")
    if not fields.get(6):  # RF1-6 is required: the case's first claim id
        fields[6] = d.text(case.claim_ids[0].value if case.claim_ids else case.id)
    if case.preauth_ref and case.preauth_period and case.status not in CLOSED:
        fields[7], fields[8] = hl7_date(case.preauth_period.start), hl7_date(case.preauth_period.end)
    if case.decided_at and not case.is_open:
        fields[9] = hl7_timestamp(case.decided_at)
    return d.segment("RF1", fields)


def payer(req: Request) -> dict[int, str]:
    """AUT-1/2/3 as the request named the payer: its first AUT's, else IN1-2/3/4. AUT-2 is required."""
    aut, in1 = req.first("AUT"), req.first("IN1")
    plan = req.value(aut, 1) or req.code(in1, 2)
    company = req.value(aut, 2) or req.code(in1, 3) or '""'
    name = req.value(aut, 3) or req.code(in1, 4)
    return {1: plan, 2: company, 3: name}


def authorization_fields(req: Request) -> dict[int, str]:
    fields = payer(req)
    if req.header.version_tuple >= (2, 8):  # AUT-13 authorization-referral type is required from 2.8
        sent = next((v for s in req.all("AUT") if (v := req.value(s, 13))), None)
        fields[13] = sent or req.delimiters.coded(*DEFAULT_REFERRAL_TYPE)
    return fields


def case_authorization(req: Request, case: Case) -> list[str]:
    """The AUT after RF1: the case's own authorization, when it granted anything."""
    if not case.preauth_ref or case.status in CLOSED or case.is_open:
        return []
    d, period = req.delimiters, case.preauth_period
    fields = authorization_fields(req) | {
        4: hl7_date(period.start if period else None), 5: hl7_date(period.end if period else None),
        6: d.text(case.preauth_ref), 10: hl7_timestamp(case.decided_at) if case.decided_at else ""}
    return [d.segment("AUT", fields)]


def item_authorization(req: Request, result: Outcome) -> str:
    """The AUT after an item's PR1 or PSL: what was authorized for it (AUT-9 0 when denied)."""
    d = req.delimiters
    fields = authorization_fields(req) | {
        8: hl7_number(result.item.quantity), 9: hl7_number(result.quantity),
        10: hl7_timestamp(result.decided_at) if result.decided_at else ""}
    if result.state == "granted":
        fields |= {4: hl7_date(result.period.start if result.period else None),
                   5: hl7_date(result.period.end if result.period else None),
                   6: d.text(result.authorization or "")}
    if req.header.version_tuple >= (2, 8):
        fields[14] = d.coded(*result.action, X12_ACTION_SYSTEM)
        fields[17] = d.text(result.description)
    return d.segment("AUT", fields)


def providers(req: Request, case: Case) -> list[str]:
    """PRD (with its CTD) as the request sent them: the structure requires one."""
    sent = [s for g in req.groups("PRD", ("CTD",)) for s in g]
    if sent:
        return sent
    d = req.delimiters
    made = [d.segment("PRD", {1: "RP" if p.role == "requesting" else "RT", 2: d.text(p.name or ""),
                              7: d.component.join([d.text(p.npi), "NPI"]) if p.npi else ""})
            for p in case.providers]
    return made or [d.segment("PRD", {1: "RP"})]


def patient(case: Case, d: Delimiters) -> str:
    """A PID from the member, for a request that sent none (PID-3 and PID-5 are required)."""
    m = case.member
    ident = m.identifiers[0].value if m.identifiers else m.subscriber_id
    name = d.component.join([d.text(m.family or ""), *(d.text(g) for g in m.given[:2])])
    return d.segment("PID", {1: "1", 3: d.text(ident) if ident else '""', 5: name.rstrip(d.component) or '""',
                             7: hl7_date(m.birth_date)})


def procedures(req: Request, results: list[Outcome]) -> list[str]:
    """Per item, the PR1 the request sent for it (items are numbered by coded PR1), else one made
    from the item."""
    d = req.delimiters
    sent = [g[0] for g in req.groups("PR1", ("AUT", "CTD", "NTE", "ROL")) if req.code(g[0], 3)]
    out = []
    for r in results:
        n = r.item.sequence
        if 0 < n <= len(sent):
            out.append(sent[n - 1])
            continue
        service = r.item.service
        code = d.coded(service.code, service.display or "", coding_system_name(service.system)) if service else '""'
        start = r.item.serviced.start if r.item.serviced else None
        out.append(d.segment("PR1", {1: str(n), 3: code.rstrip(d.component), 5: hl7_date(start) or '""'}))
    return out


def notes(d: Delimiters, results: list[Outcome], case: Case) -> list[str]:
    texts = [t for r in results if (t := item_note(r))]
    if asks := information_wanted(case):
        texts.append(asks)
    return [d.segment("NTE", {1: str(n), 2: "L", 3: d.text(t)}) for n, t in enumerate(texts, 1)]


def item_note(r: Outcome) -> str | None:
    """Why an item is not simply approved, in words: its review action, reason code and text."""
    if r.state == "granted" and r.action[0] == REVIEW_ACTION[Decision.APPROVED][0] and not r.description:
        return None
    service = r.item.service.code if r.item.service else ""
    parts = [f"item {r.item.sequence}{' ' + service if service else ''}: {r.action[0]} {r.action[1]}"]
    if r.reason_code:
        parts.append(f"reason {r.reason_code}")
    if r.description:
        parts.append(r.description)
    return "; ".join(parts)


def information_wanted(case: Case) -> str | None:
    request = case.open_information_request if case.is_open else None
    if request is None:
        return None
    asks = [i.text + (f" ({i.code.code})" if i.code else "") for i in request.items]
    return f"information requested by {request.due_by.isoformat()}: " + "; ".join(asks)


# --- EHC^E24 (to E20) and EHC^E10 (to E01, E04) ----------------------------------------------------

def e24_body(req: Request, case: Case, at: datetime) -> list[str]:
    out = [invoice(req, case, at, "OA")]
    for result, psl in lines(req, case):
        out.append(service_line(req, result, psl))
        if result.decided:
            out.append(item_authorization(req, result))
        out.append(adjustment(req, case, result, psl, at))
    return out


def e10_body(req: Request, case: Case, at: datetime) -> list[str]:
    d, results = req.delimiters, outcomes(case)
    out = [processing_result(req, case, results, at)]
    if asks := information_wanted(case):
        out.append(d.segment("NTE", {1: "1", 2: "L", 3: d.text(asks)}))
    out.append(completed(req, "PYE", {1: "1", 2: "ORG"}, codes=(2,)))  # table 0557: payee organization
    if in1 := req.first("IN1"):
        out += [in1, *req.all("IN2")[:1]]
    else:
        out.append(insurance(case, d))
    out.append(invoice(req, case, at, "RA" if req.header.trigger == "E04" else "OR"))
    out.append(completed(req, "PSS", {1: "1", 3: "1", 4: "0", 5: "Services"}))
    out.append(completed(req, "PSG", {1: "1", 3: "1", 4: "N", 5: "0", 6: "Services"}))
    for result, psl in lines(req, case):
        out.append(service_line(req, result, psl))
        out.append(adjustment(req, case, result, psl, at))
    return out


def invoice(req: Request, case: Case, at: datetime, control: str) -> str:
    """The request's IVC, coded fields reduced to their code, required fields it lacked filled:
    provider invoice number (claim id), invoice control (0553: OA, OR or RA by response), reason
    NORM (0554), type FS (0555), date (the response's), amount 0, provider and payer organizations
    (the request's MSH-4 and MSH-6), benefit group AMB (0556)."""
    d, h = req.delimiters, req.header
    return completed(req, "IVC", {
        1: d.text(case.claim_ids[0].value if case.claim_ids else case.id), 4: control, 5: "NORM", 6: "FS",
        7: hl7_timestamp(at), 8: "0", 10: h.sending_facility.split(d.component)[0] or '""',
        11: h.receiving_facility.split(d.component)[0] or '""', 25: "AMB"}, codes=(4, 5, 6, 25))


def lines(req: Request, case: Case) -> list[tuple[Outcome, str | None]]:
    """Each item with the PSL the request sent for it (same PSL-3), if any."""
    sent: dict[int, str] = {}
    for n, psl in enumerate(req.all("PSL"), 1):
        seq = req.code(psl, 3)
        sent.setdefault(int(seq) if seq.isdigit() and int(seq) > 0 else n, psl)
    return [(r, sent.get(r.item.sequence)) for r in outcomes(case)]


def service_line(req: Request, result: Outcome, psl: str | None) -> str:
    """The request's PSL (else one made from the item) with the line's status in PSL-6. Table 0559
    has no "pending": a pended line keeps the status it was sent with (else P), its ADJ says A4."""
    d, item = req.delimiters, result.item
    fields = dict(enumerate(req.fields(psl)))
    fields.pop(0, None)
    if psl is None:
        service = item.service
        fields = {1: str(item.sequence), 3: str(item.sequence),
                  7: d.coded(service.code, service.display or "", coding_system_name(service.system))
                  if service else '""',
                  10: hl7_date(item.serviced.start if item.serviced else None),
                  11: hl7_date(item.serviced.end if item.serviced else None), 12: hl7_number(item.quantity)}
    status = LINE_STATUS.get(result.state)
    fields[6] = d.coded(*status, "HL70559") if status else fields.get(6) or d.coded(*LINE_STATUS["granted"], "HL70559")
    fields[21] = fields.get(21) or "N"
    return d.segment("PSL", fields)


def adjustment(req: Request, case: Case, result: Outcome, psl: str | None, at: datetime) -> str:
    """The line's adjudication: the decision (X12 306) and reason (X12 886) in ADJ-7, the reason text
    in ADJ-8, an authorized quantity other than the one asked in ADJ-9/ADJ-10."""
    d, item = req.delimiters, result.item
    line = req.value(psl, 1).split(d.repetition)[0] or str(item.sequence)  # PSL-1, the provider's line id
    reasons = [d.coded(*result.action, X12_ACTION_SYSTEM)]
    if result.reason_code:
        reasons.append(d.coded(result.reason_code, "", X12_REASON_SYSTEM))
    changed = result.state == "granted" and result.quantity is not None and result.quantity != item.quantity
    description = result.description or (information_wanted(case) if result.state == "pended" else None)
    return d.segment("ADJ", {
        1: line, 2: d.text(result.authorization if result.state == "granted" and result.authorization
                           else f"{case.id}-{item.sequence}"),
        3: "1", 4: INFORMATION if result.state == "pended" else ADJUDICATION,
        7: d.repetition.join(reasons), 8: d.text(description or ""),
        9: hl7_number(item.quantity) if changed else "", 10: hl7_number(result.quantity) if changed else "",
        13: line, 14: hl7_timestamp(result.decided_at or at)})


def processing_result(req: Request, case: Case, results: list[Outcome], at: datetime) -> str:
    d, ivc = req.delimiters, req.first("IVC")
    fields = {1: d.text(case.id), 2: req.value(ivc, 1) or d.text(case.id), 3: req.value(ivc, 2) or d.text(case.id),
              4: invoice_status(results), 5: hl7_timestamp(case.decided_at if case.decided_at and not case.is_open
                                                            else at)}
    # IPR-8 (checksum) is required: a digest of the IPR's other fields
    fields[8] = hashlib.sha256(d.field.join(fields[n] for n in sorted(fields)).encode()).hexdigest()[:16].upper()
    return d.segment("IPR", fields)


def insurance(case: Case, d: Delimiters) -> str:
    """An IN1 for a request that sent none (a re-assessment names only the invoice): the insurer the
    case knows and the member's subscriber id. IN1-2 and IN1-3 are required: "" when unknown."""
    insurer = next((p["resource"] for p in case.parties
                    if p.get("reference") == case.insurer_ref and p.get("resource")), {})
    ident = next((i.get("value") for i in insurer.get("identifier", []) if i.get("value")), None)
    subscriber = case.member.subscriber_id
    return d.segment("IN1", {  # CX-5, required from 2.7 (table 0203): NIIP payor id, MB member number
        1: "1", 2: '""', 3: d.component.join([d.text(ident) if ident else '""', "", "", "", "NIIP"]),
        4: d.text(insurer["name"]) if insurer.get("name") else "",
        49: d.component.join([d.text(subscriber), "", "", "", "MB"]) if subscriber else ""})


def completed(req: Request, name: str, defaults: dict[int, str], codes: tuple[int, ...] = ()) -> str:
    """The request's first `name` segment as sent, its coded fields (`codes`: IS in 2.6) reduced to
    their code, and the required fields it lacked set to `defaults` (amounts 0: review prices nothing)."""
    sent = req.first(name)
    fields = dict(enumerate(req.fields(sent)))
    fields.pop(0, None)
    fields |= {n: req.code(sent, n) for n in codes}
    return req.delimiters.segment(name, {**fields, **{n: v for n, v in defaults.items() if not fields.get(n)}})


# --- the table and the entry points ----------------------------------------------------------------

RESPONSES: dict[tuple[str, str], Response] = {
    ("RQA", "I08"): Response("RPA", "I08", "RPA_I08", rpa_body),
    ("RQA", "I09"): Response("RPA", "I09", "RPA_I08", rpa_body),
    ("RQA", "I10"): Response("RPA", "I10", "RPA_I08", rpa_body),
    ("RQA", "I11"): Response("RPA", "I11", "RPA_I08", rpa_body),
    ("REF", "I12"): Response("RRI", "I12", "RRI_I12", rri_body),
    ("EHC", "E20"): Response("EHC", "E24", "EHC_E24", e24_body),
    ("EHC", "E01"): Response("EHC", "E10", "EHC_E10", e10_body),
    ("EHC", "E04"): Response("EHC", "E10", "EHC_E10", e10_body),
}


def application_response(original: str, case: Case, at: datetime, control_id: str) -> str:
    """The application response to `original` (the request as archived) for `case` as it now stands.
    Raises ValueError for a message with no MSH or a type RESPONSES does not answer."""
    req = Request(original)
    response = RESPONSES.get((req.header.message_type, req.header.trigger))
    if response is None:
        raise ValueError(f"no application response for {req.header.message_type}^{req.header.trigger}")
    segments = [message_header(req, response, at, control_id), acceptance(req), *response.body(req, case, at)]
    return "\r".join(segments) + "\r"


# --- the engine's acknowledgment of a response -----------------------------------------------------

ACK_CODES = frozenset({"AA", "AE", "AR", "CA", "CE", "CR"})
MAX_ERROR = 120
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]")


def read_acknowledgment(text: str | bytes) -> Ack:
    """MSA-1, MSA-2 and a short ERR summary of an engine's ACK. Never raises: anything that is not
    an ACK (no MSH, MSH-9 not ACK, no MSA with a table 0008 code) reads as Ack(code=None)."""
    try:
        return _read_acknowledgment(text)
    except Exception:  # hostile bytes: the caller treats it as no answer and retries
        return Ack()


def _read_acknowledgment(text: str | bytes) -> Ack:
    if isinstance(text, bytes):
        text = wire.decode(text)
    if not isinstance(text, str):
        return Ack()
    lines = wire.segments(text.replace("\x0b", "").replace("\x1c", "").lstrip("\ufeff"))
    start = next((n for n, s in enumerate(lines) if s.startswith("MSH") and len(s) > 8), None)
    if start is None:
        return Ack()
    sep = lines[start][3]
    msh = lines[start].split(sep)
    enc = msh[1] + DEFAULT_ENCODING[len(msh[1]):]
    kind = msh[8].split(enc[0])[0].strip().upper() if len(msh) > 8 else ""
    if kind not in ("ACK", ""):
        return Ack()  # e.g. our own response echoed back: its MSA-1 AA answers nothing
    body = [s.split(sep) for s in lines[start + 1:] if s[:4] in (f"MSA{sep}", f"ERR{sep}")]
    msa = next((s for s in body if s[0] == "MSA"), None)
    code = msa[1].strip().upper() if msa and len(msa) > 1 else ""
    if code not in ACK_CODES:
        return Ack()
    control_id = _short(msa[2], 199) if len(msa) > 2 and msa[2].strip() else None
    err = next((s for s in body if s[0] == "ERR"), None)
    return Ack(code, control_id, _error(err, msa, enc))


def _error(err: list[str] | None, msa: list[str], enc: str) -> str | None:
    """code^text: ERR-3 (2.5+), else ERR-1's code&text (before 2.5), else MSA-6, else MSA-3."""
    component, repetition, sub = enc[0], enc[1], enc[3]

    def part(fields: list[str], n: int, k: int) -> str:
        value = (fields[n] if len(fields) > n else "").split(repetition)[0]
        pieces = value.split(component)
        return pieces[k] if len(pieces) > k else ""

    candidates = []
    if err:
        candidates.append((part(err, 3, 0), part(err, 3, 1)))
        eld = part(err, 1, 3).split(sub)  # ERR-1 ELD: segment ^ sequence ^ field ^ code&text&table
        candidates.append((eld[0], eld[1] if len(eld) > 1 else ""))
    candidates += [(part(msa, 6, 0), part(msa, 6, 1)), ("", msa[3] if len(msa) > 3 else "")]
    for code, text in candidates:
        code, text = _short(code, 20), _short(text)
        if code or text:
            return f"{code}^{text}" if text else code
    return None


def _short(value: str, limit: int = MAX_ERROR) -> str:
    """A value fit for a log or a dead-letter record: one line, printable, bounded."""
    return _UNPRINTABLE.sub("", value).strip()[:limit]
