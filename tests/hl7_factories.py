"""Builders of HL7 v2 messages for the tests: each message type of the intake table, with every
mapped field filled so a test can assert where it lands. Segments follow the v2.6 structures
(hl7apy's) for EHC, and the RQA/REF structures for the rest."""
from __future__ import annotations

from datetime import timedelta

from adapters.hl7v2.ack import Header
from adapters.hl7v2.message import V2Message
from fhir_mappings.claim_to_case import submission_from_request
from fhir_mappings.hl7v2_to_fhir import MESSAGES, request_bundle
from review.model import Case
from tests.factories import T0

FACILITY = "ACMEHLTH"


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields at their HL7 positions (1-based), the rest empty."""
    return "|".join([name] + [fields.get(n, "") for n in range(1, max(fields) + 1)])


def msh(trigger: str, control_id: str, version: str = "2.5", *, ack: str = "", app_ack: str = "",
        facility: str = FACILITY, charset: str = "") -> str:
    return (f"MSH|^~\\&|ACMEAPP|{facility}|CLAIMBRIDGE|IRO|20261123101500-0500||{trigger}|{control_id}|P|{version}"
            f"|||{ack}|{app_ack}||{charset}")


PID = "PID|1||M-1001^^^ACME&2.16.840.1.113883.3.1&ISO^MB~555-12-3456^^^SSA^SS||DOE^JANE^Q||19700102|F"
IN1 = segment("IN1", {1: "1", 2: "GOLD^Gold PPO", 3: "ACME-PAYER", 4: "ACME HEALTH PLAN", 12: "20260101",
                      13: "20261231", 36: "POL-77", 49: "SUB-1001"})
IN2 = segment("IN2", {6: "1EG4-TE5-MK72", 8: "MCD-9876"})
PRD_RP = "PRD|RP|SMITH^ANNA^B|||||1234567893^NPI~LIC-9^SL"
PRD_RT = "PRD|RT|JONES^OMAR|||||1122334455^^2.16.840.1.113883.4.6"
DG1 = "DG1|1||M54.5^Low back pain^I10|||A"
RF1 = segment("RF1", {1: "P^Pending^HL70283", 2: "{priority}^Priority^HL70280", 6: "ORIG-{ref}^ACME",
                      11: "REF-{ref}^ACME"})
AUT = "AUT|GOLD|ACME-PAYER|ACME HEALTH PLAN|20261201|20261231|AUTH-{ref}||12"
PR1 = segment("PR1", {1: "1", 3: "72148^MRI lumbar spine^C4", 5: "20261205", 16: "26^Professional^C4"})


def rqa(trigger: str = "I08", ref: str = "1", control_id: str | None = None, priority: str = "R",
        version: str = "2.5", **msh_args) -> str:
    return "\r".join([
        msh(f"RQA^{trigger}^RQA_I08", control_id or f"RQA{trigger}-{ref}", version, **msh_args),
        RF1.format(priority=priority, ref=ref), AUT.format(ref=ref), PRD_RP, PRD_RT, PID, IN1, IN2, DG1,
        PR1, AUT.format(ref=ref),
    ]) + "\r"


def ref_i12(ref: str = "12", control_id: str = "REF-1", version: str = "2.8", **msh_args) -> str:
    return "\r".join([
        msh("REF^I12^REF_I12", control_id, version, **msh_args),
        RF1.format(priority="S", ref=ref), AUT.format(ref=ref), PRD_RP, PRD_RT, PID, IN1, DG1, PR1,
    ]) + "\r"


IVC = "IVC|INV-{inv}^ACME|PAYINV-{inv}^IRO||FN^Final^HL70553|NB^New^HL70554|FS^Fee for service^HL70555|20261120"
PSL = "PSL|LINE-{n}^ACME||{n}|||A^Active^HL70559|{code}^{text}^HCPCS|||20261201|20261215|{qty}"


def ehc(trigger: str, inv: str = "1", control_id: str | None = None, version: str = "2.6", **msh_args) -> str:
    """EHC^E20 (authorization request), E01 (invoice), E21/E02 (cancels) and E04 (re-assess)."""
    head = [msh(f"EHC^{trigger}^EHC_{trigger}", control_id or f"EHC{trigger}-{inv}", version, **msh_args),
            IVC.format(inv=inv)]
    lines = [PSL.format(n=1, code="E0601", text="CPAP device", qty=1), PSL.format(n=2, code="A7030", text="Mask", qty=3)]
    if trigger == "E20":
        body = ["CTD|PR^Provider^HL70131|SMITH^ANNA", PID, IN1, IN2, DG1, *lines]
    elif trigger == "E01":
        body = ["PYE|1|PR^Provider", "PSS|1||1", "PSG|1||1|Y", PID, IN1, DG1, *lines]
    elif trigger == "E21":
        body = [lines[0]]
    elif trigger == "E02":
        body = ["PYE|1|PR^Provider"]
    else:  # E04
        body = ["NTE|1||Please re-assess line 2", "PSS|1||1", "PSG|1||1|Y", lines[1]]
    return "\r".join(head + body) + "\r"


def hl7_case(text: str, **changes) -> Case:
    """The review case the intake stores for `text` (mapped as the intake maps it), then `changes`:
    what an application response is built from."""
    header = Header.of(text)
    event = MESSAGES[header.message_type, header.trigger]
    draft = submission_from_request(request_bundle(V2Message(text), event), source="hl7v2", appeal=event.appeal).draft
    known = {k: v for k, v in dict(draft).items() if v is not None}
    made = Case(**known, id="case1", partner_id="acme", received_at=T0, due_at=T0 + timedelta(days=7))
    return made.model_copy(update=changes)
