"""HL7 v2 application responses (RPA, RRI, EHC^E24, EHC^E10) for decided, pended and cancelled cases,
read back with hl7apy's strict parser for the request's version; and the engine's ACKs to them."""
from __future__ import annotations

from datetime import datetime, timezone

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7v2.responses import RESPONSES, Ack, application_response, read_acknowledgment
from review.model import Code, Period, Status
from tests import hl7_factories as h
from tests.factories import asking, decided, determination, information_request, wanted

AT = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
DECIDED_AT = "20261123120000+0000"  # tests.factories.T0, as HL7 writes it
NASTY = "Not medically necessary | see ^policy~7 \\ rule & co"  # every delimiter of ^~\&|


def read(text: str):
    """hl7apy, strict: the structure of the request's version, groups found, every field's type and
    cardinality checked (`validate` raises on the first error)."""
    msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    msg.validate()
    return msg


def segments(element, name: str) -> list:
    """Every `name` segment under `element`, in order, whatever groups hold them in this version."""
    out = []
    for child in element.children:
        if child.classname == "Segment" and child.name == name:
            out.append(child)
        elif child.classname == "Group":
            out += segments(child, name)
    return out


def groups(element, suffix: str) -> list:
    out = []
    for child in element.children:
        if child.classname == "Group":
            out += ([child] if child.name.endswith(suffix) else []) + groups(child, suffix)
    return out


def value(segment, field: str) -> str:
    """The field as hl7apy holds it, repetitions joined by ~."""
    return "~".join(rep.to_er7() for rep in getattr(segment, field.lower()))


def quantity(number: float | None) -> str:
    return f"{number:g}" if number is not None else ""


def unescaped(text: str, raw: str) -> str:
    """python-hl7's own unescaping, independent of the code under test."""
    return hl7.parse(text).unescape(raw)


# Cases, decided as review leaves them

def approved(case):
    """Every item approved with its own authorization number and dates; the quantity as asked."""
    return decided(case, {i.sequence: determination(
        "approved", authorization_number=f"CBCASE1-{i.sequence}",
        authorized_period=Period(start="2026-12-01", end="2027-01-31")) for i in case.items})


def partial(case):
    """The first item partly approved (half the quantity, shorter dates), any other denied."""
    first, *rest = sorted(case.items, key=lambda i: i.sequence)
    dets = {first.sequence: determination("partial", authorization_number=f"CBCASE1-{first.sequence}",
                                          authorized_quantity=(first.quantity or 2) / 2,
                                          authorized_period=Period(start="2026-12-01", end="2026-12-15"),
                                          reason_code="0T", reason_text="Fewer sessions")}
    dets |= {i.sequence: determination("denied", reason_code="35", reason_text=NASTY) for i in rest}
    return decided(case, dets)


def modified(case):
    return decided(case, {i.sequence: determination(
        "modified", authorization_number=f"CBCASE1-{i.sequence}", authorized_service=Code(code="72141"),
        authorized_quantity=1, reason_code="0U", reason_text="Without contrast") for i in case.items})


def denied(case):
    return decided(case, {i.sequence: determination("denied", reason_code="35", reason_text=NASTY)
                          for i in case.items})


def pended(case):
    return asking(case, information_request(wanted("Progress notes | last 6 months", "11506-3")))


# --- RPA (to RQA^I08..I11) and RRI (to REF^I12) ---------------------------------------------------

REFERRALS = [
    pytest.param(h.rqa("I08", version="2.4", control_id="Q-24"), ("RPA", "I08", "RPA_I08"), id="RQA^I08 2.4"),
    pytest.param(h.rqa("I08", version="2.5.1", control_id="Q-251"), ("RPA", "I08", "RPA_I08"), id="RQA^I08 2.5.1"),
    pytest.param(h.rqa("I09", version="2.5", control_id="Q-I09"), ("RPA", "I09", "RPA_I08"), id="RQA^I09 2.5"),
    pytest.param(h.rqa("I10", version="2.5", control_id="Q-I10"), ("RPA", "I10", "RPA_I08"), id="RQA^I10 2.5"),
    pytest.param(h.rqa("I11", version="2.5", control_id="Q-I11"), ("RPA", "I11", "RPA_I08"), id="RQA^I11 2.5"),
    pytest.param(h.ref_i12(version="2.5", control_id="R-25"), ("RRI", "I12", "RRI_I12"), id="REF^I12 2.5"),
]


def referral_response(request: str, decide):
    case = decide(h.hl7_case(request))
    text = application_response(request, case, AT, "CB-OUT-1")
    return case, text, read(text)


def assert_header(request: str, text: str, msg, kind: tuple[str, str, str]):
    sent = request.split("\r")[0].split("|")
    msh = text.split("\r")[0].split("|")
    assert value(msg.msh, "MSH_9") == "^".join(kind)
    assert value(msg.msh, "MSH_12") == sent[11]  # the request's version
    assert value(msg.msh, "MSH_10") == "CB-OUT-1" and value(msg.msh, "MSH_11") == "P"
    assert (msh[2], msh[3], msh[4], msh[5]) == (sent[4], sent[5], sent[2], sent[3])  # sender and receiver swapped
    assert value(msg.msh, "MSH_7") == "20261124093000+0000"
    assert value(msg.msa, "MSA_1") == "AA"
    assert value(msg.msa, "MSA_2") == sent[9]  # the request's MSH-10


@pytest.mark.parametrize("request_text, kind", REFERRALS)
def test_approved_referral_carries_the_authorization(request_text, kind):
    case, text, msg = referral_response(request_text, approved)
    assert_header(request_text, text, msg, kind)
    assert value(msg.rf1, "RF1_1") == "A^Accepted^HL70283"
    sent_rf1 = next(s for s in request_text.split("\r") if s.startswith("RF1|")).split("|")
    assert value(msg.rf1, "RF1_6") == sent_rf1[6] and value(msg.rf1, "RF1_11") == sent_rf1[11]  # kept as sent
    assert (value(msg.rf1, "RF1_7"), value(msg.rf1, "RF1_8")) == ("20261123", "20270221")  # preauth_period
    # the case's authorization right after RF1 (its own group, before the providers)
    head = msg.children[3]
    assert head.classname == "Group" and head.children[0].name == "AUT"
    case_aut = head.children[0]
    assert value(case_aut, "AUT_6") == "CBCASE1" == case.preauth_ref
    assert (value(case_aut, "AUT_4"), value(case_aut, "AUT_5"), value(case_aut, "AUT_10")) == (
        "20261123", "20270221", DECIDED_AT)
    assert value(case_aut, "AUT_2") == "ACME-PAYER" and value(case_aut, "AUT_3") == "ACME HEALTH PLAN"
    # per item: its PR1 as sent, then its AUT in the same procedure group
    [procedure] = groups(msg, "_PROCEDURE")
    pr1, [aut] = segments(procedure, "PR1")[0], segments(procedure, "AUT")
    assert value(pr1, "PR1_3") == "72148^MRI lumbar spine^C4" and value(pr1, "PR1_16") == "26^Professional^C4"
    assert value(aut, "AUT_6") == "CBCASE1-1"  # the item's authorization number
    assert (value(aut, "AUT_4"), value(aut, "AUT_5")) == ("20261201", "20270131")  # its authorized period
    asked = quantity(case.items[0].quantity)  # 12 (AUT-8 of the RQA); the REF asked for no number
    assert (value(aut, "AUT_8"), value(aut, "AUT_9")) == (asked, asked)  # requested, authorized: all
    assert value(aut, "AUT_10") == DECIDED_AT
    # the requester's member and providers, as it sent them
    assert value(msg.pid, "PID_3").startswith("M-1001^^^ACME&2.16.840.1.113883.3.1&ISO^MB")
    assert [value(p, "PRD_1") for p in segments(msg, "PRD")] == ["RP", "RT"]
    assert segments(msg, "NTE") == []  # nothing to explain


@pytest.mark.parametrize("request_text, kind", REFERRALS)
def test_partially_approved_referral_authorizes_less(request_text, kind):
    case, text, msg = referral_response(request_text, partial)
    assert_header(request_text, text, msg, kind)
    assert value(msg.rf1, "RF1_1") == "A^Accepted^HL70283"  # something is granted
    [aut] = segments(groups(msg, "_PROCEDURE")[0], "AUT")
    assert value(aut, "AUT_6") == "CBCASE1-1"
    assert (value(aut, "AUT_4"), value(aut, "AUT_5")) == ("20261201", "20261215")
    assert (value(aut, "AUT_8"), value(aut, "AUT_9")) == (quantity(case.items[0].quantity),
                                                          quantity((case.items[0].quantity or 2) / 2))
    [note] = segments(msg, "NTE")
    assert unescaped(text, value(note, "NTE_3")) == "item 1 72148: A2 Certified - partial; reason 0T; Fewer sessions"


@pytest.mark.parametrize("request_text, kind", REFERRALS[:1] + REFERRALS[-1:])
def test_modified_referral_names_the_service_authorized_instead(request_text, kind):
    _, text, msg = referral_response(request_text, modified)
    [aut] = segments(groups(msg, "_PROCEDURE")[0], "AUT")
    assert (value(aut, "AUT_6"), value(aut, "AUT_9")) == ("CBCASE1-1", "1")
    [note] = segments(msg, "NTE")
    assert unescaped(text, value(note, "NTE_3")) == (
        "item 1 72148: A6 Modified; reason 0U; Without contrast; authorized 72141 instead")


@pytest.mark.parametrize("request_text, kind", REFERRALS)
def test_denied_referral_has_no_authorization_and_says_why(request_text, kind):
    case, text, msg = referral_response(request_text, denied)
    assert_header(request_text, text, msg, kind)
    assert value(msg.rf1, "RF1_1") == "R^Rejected^HL70283"
    assert value(msg.rf1, "RF1_9") == DECIDED_AT and value(msg.rf1, "RF1_7") == ""
    [aut] = segments(msg, "AUT")  # only the item's, no case authorization
    assert value(aut, "AUT_6") == "" and value(aut, "AUT_9") == "0" and value(aut, "AUT_10") == DECIDED_AT
    [note] = segments(msg, "NTE")
    # the reason text went through escaping: its | ^ ~ \ & are still one NTE-3, and read back whole
    assert "|" not in value(note, "NTE_3").replace("\\F\\", "")
    assert unescaped(text, value(note, "NTE_3")) == f"item 1 72148: A3 Not Certified; reason 35; {NASTY}"
    assert len(text.split("\r")[-2].split("|")) == 4  # NTE|1|L|comment: no field was split off


@pytest.mark.parametrize("request_text, kind", REFERRALS)
def test_pended_referral_is_pending_with_no_authorization(request_text, kind):
    case, text, msg = referral_response(request_text, pended)
    assert_header(request_text, text, msg, kind)
    assert value(msg.rf1, "RF1_1") == "P^Pending^HL70283"
    assert segments(msg, "AUT") == [] and "CBCASE1" not in text
    assert [unescaped(text, value(n, "NTE_3")) for n in segments(msg, "NTE")] == [
        "item 1 72148: A4 Pended",
        "information requested by 2026-12-07: Progress notes | last 6 months (11506-3)"]


def test_reopened_case_is_pended_again():
    request = h.rqa("I08", version="2.5")
    case = approved(h.hl7_case(request))
    reopened = case.model_copy(update={
        "status": Status.IN_REVIEW, "decided_at": None, "preauth_ref": None, "preauth_period": None, "reopened": 1,
        "items": [i.model_copy(update={"determination": None}) for i in case.items]})
    msg = read(application_response(request, reopened, AT, "CB-OUT-1"))
    assert value(msg.rf1, "RF1_1") == "P^Pending^HL70283" and segments(msg, "AUT") == []


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.WITHDRAWN])
def test_cancelled_referral_is_rejected_and_authorizes_nothing(status):
    request = h.rqa("I11", version="2.5", control_id="Q-CAN")
    case = approved(h.hl7_case(request)).model_copy(update={"status": status})  # cancelled after approval
    text = application_response(request, case, AT, "CB-OUT-1")
    msg = read(text)
    assert value(msg.msh, "MSH_9") == "RPA^I11^RPA_I08" and value(msg.msa, "MSA_2") == "Q-CAN"
    assert value(msg.rf1, "RF1_1") == "R^Rejected^HL70283" and value(msg.rf1, "RF1_7") == ""
    assert segments(msg, "AUT") == [] and "CBCASE1" not in text
    assert [unescaped(text, value(n, "NTE_3")) for n in segments(msg, "NTE")] == ["item 1 72148: C Cancelled"]


def test_rpa_in_2_3_has_no_structure_in_msh_9_and_no_notes():
    # 2.3 has no MSH-9.3 and no message-level NTE in RPA_I08. The request is a valid 2.3 one: its PR1
    # has the then required PR1-2 (coding method) and PR1-6 (procedure type), and no PR1-16 (2.3.1)
    request = h.rqa("I08", version="2.3").replace(h.PR1, "PR1|1|C4|72148^MRI lumbar spine^C4||20261205|D")
    text = application_response(request, denied(h.hl7_case(request)), AT, "CB-OUT-1")
    msg = read(text)
    assert value(msg.msh, "MSH_9") == "RPA^I08" and value(msg.msh, "MSH_12") == "2.3"
    assert value(segments(msg, "AUT")[0], "AUT_9") == "0" and segments(msg, "NTE") == []


def test_aut_in_2_8_carries_the_referral_type_approval_status_and_reason():
    # 2.8 requires AUT-13, PLN-2 in PRD-7 and CX-5 in IN1-3: the request's AUT and PRD have them (its
    # insurance, optional in RPA, is left out)
    request = (h.rqa("I08", version="2.8").replace("1122334455^^2.16.840.1.113883.4.6", "1122334455^NPI")
               .replace("|AUTH-1||12", "|AUTH-1||12|||||RF^Referral^L"))
    request = "\r".join(s for s in request.split("\r") if not s.startswith(("IN1", "IN2"))) + "\r"
    text = application_response(request, partial(h.hl7_case(request)), AT, "CB-OUT-1")
    msg = read(text)
    case_aut, item_aut = segments(msg, "AUT")
    assert value(case_aut, "AUT_13") == value(item_aut, "AUT_13") == "RF^Referral^L"  # as the request sent it
    assert value(item_aut, "AUT_14") == "A2^Certified - partial^X12DE306"
    assert unescaped(text, value(item_aut, "AUT_17")) == "Fewer sessions"


def test_referral_without_the_segments_the_structure_requires_gets_them_from_the_case():
    # A thin request (no RF1, PRD or PID of its own): RF1-6, PRD and PID are required in RPA
    request = "\r".join(s for s in h.rqa("I08", version="2.5").split("\r")
                        if not s.startswith(("RF1", "PRD", "PID"))) + "\r"
    full = h.hl7_case(h.rqa("I08", version="2.5"))
    case = approved(h.hl7_case(request, member=full.member, providers=full.providers, claim_ids=full.claim_ids))
    msg = read(application_response(request, case, AT, "CB-OUT-1"))
    assert value(msg.rf1, "RF1_1") == "A^Accepted^HL70283" and value(msg.rf1, "RF1_6") == "ORIG-1"
    assert [value(p, "PRD_1") for p in segments(msg, "PRD")] == ["RP", "RT"]
    assert value(segments(msg, "PRD")[0], "PRD_7") == "1234567893^NPI"
    assert (value(msg.pid, "PID_3"), value(msg.pid, "PID_5")) == ("M-1001", "DOE^JANE^Q")


# --- EHC^E24 (to E20) and EHC^E10 (to E01, E04) -----------------------------------------------------

EHC = [
    pytest.param(h.ehc("E20", version="2.6", control_id="E-20"), ("EHC", "E24", "EHC_E24"), id="EHC^E20 2.6"),
    pytest.param(h.ehc("E01", version="2.6", control_id="E-01"), ("EHC", "E10", "EHC_E10"), id="EHC^E01 2.6"),
    pytest.param(h.ehc("E04", version="2.7", control_id="E-04"), ("EHC", "E10", "EHC_E10"), id="EHC^E04 2.7"),
]


def ehc_response(request: str, decide):
    case = decide(h.hl7_case(request))
    text = application_response(request, case, AT, "CB-OUT-1")
    return case, text, read(text)


def lines_of(msg) -> dict[str, tuple]:
    """PSL-3 -> (PSL, its AUTs, its ADJs), from hl7apy's groups."""
    out = {}
    for group in groups(msg, "_PSL_ITEM_INFO") + groups(msg, "_PRODUCT_SERVICE_LINE_INFO"):
        [psl] = segments(group, "PSL")
        out[value(psl, "PSL_3")] = (psl, segments(group, "AUT"), segments(group, "ADJ"))
    return out


@pytest.mark.parametrize("request_text, kind", EHC)
def test_approved_ehc_lines_are_processed_and_authorized(request_text, kind):
    case, text, msg = ehc_response(request_text, approved)
    assert_header(request_text, text, msg, kind)
    lines = lines_of(msg)
    assert set(lines) == {str(i.sequence) for i in case.items}
    for seq, (psl, auts, [adj]) in lines.items():
        assert value(psl, "PSL_6") == "P^Processed^HL70559"
        assert value(psl, "PSL_1") == f"LINE-{seq}^ACME"  # the request's line, as sent
        assert value(adj, "ADJ_4") == "EA" and value(adj, "ADJ_7") == "A1^Certified in total^X12DE306"
        assert value(adj, "ADJ_2") == f"CBCASE1-{seq}"
        assert value(adj, "ADJ_1") == value(adj, "ADJ_13") == f"LINE-{seq}^ACME"  # the provider's line
        assert value(adj, "ADJ_14") == DECIDED_AT and value(adj, "ADJ_10") == ""  # quantity as asked
        if kind[1] == "E24":  # the authorization response carries the AUT per line
            [aut] = auts
            assert value(aut, "AUT_6") == f"CBCASE1-{seq}"
            assert (value(aut, "AUT_4"), value(aut, "AUT_5")) == ("20261201", "20270131")
            assert value(aut, "AUT_9") == value(psl, "PSL_12")
        else:
            assert auts == []
    [ivc] = segments(msg, "IVC")
    assert value(ivc, "IVC_1") == "INV-1^ACME"
    if kind[1] == "E10":
        assert value(segments(msg, "IPR")[0], "IPR_4") == "ADJSUB"


@pytest.mark.parametrize("request_text, kind", EHC)
def test_partially_approved_ehc_adjusts_the_quantity_and_denies_with_a_reason(request_text, kind):
    case, text, msg = ehc_response(request_text, partial)
    assert_header(request_text, text, msg, kind)
    first, *rest = sorted(case.items, key=lambda i: i.sequence)
    lines = lines_of(msg)
    psl, auts, [adj] = lines[str(first.sequence)]
    assert value(psl, "PSL_6") == "P^Processed^HL70559"
    assert value(adj, "ADJ_7") == "A2^Certified - partial^X12DE306~0T^^99X12886"
    assert (value(adj, "ADJ_9"), value(adj, "ADJ_10")) == (
        f"{first.quantity:g}", f"{first.quantity / 2:g}")  # asked, authorized
    for item in rest:  # E20 and E01 have two lines: the second is denied
        psl, auts, [adj] = lines[str(item.sequence)]
        assert value(psl, "PSL_6") == "D^Denied^HL70559"
        assert value(adj, "ADJ_7") == "A3^Not Certified^X12DE306~35^^99X12886"
        assert unescaped(text, value(adj, "ADJ_8")) == NASTY  # | ^ ~ \ & round-trip
        assert value(adj, "ADJ_2") == f"case1-{item.sequence}"
        if kind[1] == "E24":
            [aut] = auts
            assert (value(aut, "AUT_6"), value(aut, "AUT_9")) == ("", "0")
    if kind[1] == "E10":
        assert value(segments(msg, "IPR")[0], "IPR_4") == "ADJ"


@pytest.mark.parametrize("request_text, kind", EHC)
def test_denied_ehc(request_text, kind):
    case, text, msg = ehc_response(request_text, denied)
    for psl, auts, [adj] in lines_of(msg).values():
        assert value(psl, "PSL_6") == "D^Denied^HL70559"
        assert value(adj, "ADJ_7").split("~") == ["A3^Not Certified^X12DE306", "35^^99X12886"]
        assert unescaped(text, value(adj, "ADJ_8")) == NASTY
    assert "CBCASE1" not in text
    if kind[1] == "E10":
        assert value(segments(msg, "IPR")[0], "IPR_4") == "ADJZER"


@pytest.mark.parametrize("request_text, kind", EHC)
def test_pended_ehc_lines_say_what_is_wanted(request_text, kind):
    case, text, msg = ehc_response(request_text, pended)
    asks = "information requested by 2026-12-07: Progress notes | last 6 months (11506-3)"
    for psl, auts, [adj] in lines_of(msg).values():
        assert value(psl, "PSL_6") == "A^Active^HL70559"  # as sent: table 0559 has no "pending"
        assert auts == [] and value(adj, "ADJ_4") == "IN"
        assert value(adj, "ADJ_7") == "A4^Pended^X12DE306" and unescaped(text, value(adj, "ADJ_8")) == asks
        assert value(adj, "ADJ_14") == "20261124093000+0000"  # nothing decided yet: the response's time
    if kind[1] == "E10":
        [ipr] = segments(msg, "IPR")
        assert value(ipr, "IPR_4") == "PEND" and value(ipr, "IPR_5") == "20261124093000+0000"
        assert unescaped(text, value(segments(msg, "NTE")[0], "NTE_3")) == asks


def test_cancelled_invoice_is_rejected_line_by_line():
    request = h.ehc("E01", version="2.6")
    text = application_response(request, approved(h.hl7_case(request)).model_copy(update={
        "status": Status.CANCELLED}), AT, "CB-OUT-1")
    msg = read(text)
    assert value(segments(msg, "IPR")[0], "IPR_4") == "REJECT"
    for psl, _, [adj] in lines_of(msg).values():
        assert value(psl, "PSL_6") == "R^Rejected^HL70559" and value(adj, "ADJ_7") == "C^Cancelled^X12DE306"
    assert "CBCASE1" not in text


def test_reassessment_response_makes_the_insurance_the_thin_e04_lacks():
    request = h.ehc("E04", version="2.7")
    case = approved(h.hl7_case(request, member=h.hl7_case(h.ehc("E01")).member))  # inherited from the invoice
    msg = read(application_response(request, case, AT, "CB-OUT-1"))
    [in1] = segments(msg, "IN1")
    assert value(in1, "IN1_49") == "SUB-1001^^^^MB" and value(in1, "IN1_3").endswith("^^^^NIIP")
    assert value(segments(msg, "PYE")[0], "PYE_2") == "ORG"
    assert value(segments(msg, "IVC")[0], "IVC_4") == "FN"  # the request's code; RA only when it sent none


def test_e24_copies_the_request_invoice_and_codes_only_where_2_6_wants_a_code():
    request = h.ehc("E20", version="2.6")
    msg = read(application_response(request, approved(h.hl7_case(request)), AT, "CB-OUT-1"))
    [ivc] = segments(msg, "IVC")
    assert [value(ivc, f"IVC_{n}") for n in (1, 2, 4, 5, 6, 7, 25)] == [
        "INV-1^ACME", "PAYINV-1^IRO", "FN", "NB", "FS", "20261120", "AMB"]  # 4-6 were code^text^table: IS in 2.6
    assert (value(ivc, "IVC_10"), value(ivc, "IVC_11")) == ("ACMEHLTH", "IRO")  # required; the request had none


# --- the table and what it refuses -----------------------------------------------------------------

def test_every_request_type_the_intake_decides_on_has_a_response():
    assert set(RESPONSES) == {("RQA", "I08"), ("RQA", "I09"), ("RQA", "I10"), ("RQA", "I11"), ("REF", "I12"),
                              ("EHC", "E20"), ("EHC", "E01"), ("EHC", "E04")}


@pytest.mark.parametrize("request_text", [h.ehc("E21"), h.ehc("E02"), "not hl7 at all"])
def test_a_request_with_no_response_type_is_refused(request_text):
    with pytest.raises(ValueError):
        application_response(request_text, approved(h.hl7_case(h.ehc("E20"))), AT, "CB-OUT-1")


def test_request_with_lf_terminators_and_other_delimiters_answers_in_its_own():
    request = h.rqa("I08", version="2.5").replace("^", "#").replace("\r", "\n")  # MSH-2 #~\&
    text = application_response(request, denied(h.hl7_case(h.rqa("I08", version="2.5"))), AT, "CB-OUT-1")
    assert "\n" not in text and text.startswith("MSH|#~\\&|")
    assert "RPA#I08#RPA_I08" in text.split("\r")[0]
    note = next(s for s in text.split("\r") if s.startswith("NTE"))
    assert "\\S\\policy" not in note and "#policy" not in note  # ^ is text here; # is the delimiter
    assert note.endswith("see ^policy\\R\\7 \\E\\ rule \\T\\ co")


# --- the engine's acknowledgment -------------------------------------------------------------------

def ack(*segments_: str, version: str = "2.5") -> str:
    return "\r".join([f"MSH|^~\\&|ACMEAPP|ACMEHLTH|CLAIMBRIDGE|IRO|20261124093001||ACK^I08^ACK|E-9|P|{version}",
                      *segments_]) + "\r"


def test_aa_is_delivered():
    got = read_acknowledgment(ack("MSA|AA|CB-OUT-1"))
    assert got == Ack("AA", "CB-OUT-1", None) and got.delivered and not got.refused


def test_ca_is_delivered():
    assert read_acknowledgment(ack("MSA|CA|CB-OUT-1")).delivered


def test_ae_with_a_2_5_err_records_code_and_text():
    got = read_acknowledgment(ack("MSA|AE|CB-OUT-1", "ERR||PID^1^3|204^Unknown key identifier^HL70357|E"))
    assert (got.code, got.control_id, got.error) == ("AE", "CB-OUT-1", "204^Unknown key identifier")
    assert got.refused and not got.delivered


def test_ar_with_a_2_4_err_reads_the_code_inside_err_1():
    got = read_acknowledgment(ack("MSA|AR|CB-OUT-1", "ERR|MSH^1^9^200&Unsupported message type&HL70357",
                                  version="2.4"))
    assert (got.code, got.error) == ("AR", "200^Unsupported message type")


@pytest.mark.parametrize("segments_, error", [
    (("MSA|AE|CB-OUT-1|Member not on file",), "^Member not on file"),  # MSA-3 only, as 2.3 engines do
    (("MSA|CR|CB-OUT-1||||207^Application internal error",), "207^Application internal error"),  # MSA-6
    (("MSA|AE|CB-OUT-1",), None),
])
def test_error_falls_back_on_msa(segments_, error):
    got = read_acknowledgment(ack(*segments_))
    assert got.refused and got.error == error


def test_error_is_short_and_one_line():
    got = read_acknowledgment(ack("MSA|AE|CB-OUT-1", "ERR||PID|207^" + "x" * 5000 + "\x07\x1b^HL70357|E",
                                  "PID|1||SECRET-MEMBER-ID"))
    assert got.error == "207^" + "x" * 120 and "SECRET" not in got.error


@pytest.mark.parametrize("text", [
    ack("MSA|AA|CB-OUT-1").replace("\r", "\n"),
    ack("MSA|AA|CB-OUT-1").replace("\r", "\r\n"),
    "\ufeff" + ack("MSA|AA|CB-OUT-1"),
    "\x0b" + ack("MSA|AA|CB-OUT-1") + "\x1c\r",  # still in its MLLP frame
    ack("MSA|AA|CB-OUT-1").encode(),
    ack("msa|aa|CB-OUT-1").replace("msa|aa", "MSA|aa"),  # a lower-case code
])
def test_dirty_but_real_acks_are_read(text):
    got = read_acknowledgment(text)
    assert (got.code, got.control_id) == ("AA", "CB-OUT-1")


def test_ack_in_other_delimiters():
    text = "MSH#^~\\&#ACMEAPP#ACMEHLTH#CLAIMBRIDGE#IRO#20261124##ACK#E-9#P#2.5\rMSA#AE#CB-OUT-1\r" \
           "ERR##PID#101^Required field missing^HL70357#E\r"
    assert read_acknowledgment(text) == Ack("AE", "CB-OUT-1", "101^Required field missing")


@pytest.mark.parametrize("text", [
    "", "   ", "\x00\xff garbage", "MSH", "MSH|^~\\&|", "MSA|AA|CB-OUT-1\r",  # no MSH
    ack(),  # no MSA
    ack("MSA|ZZ|CB-OUT-1"),  # not a table 0008 code
    ack("MSA"),
    # our own response echoed back: it has an MSA with AA, but it answers nothing
    application_response(h.rqa("I08"), approved(h.hl7_case(h.rqa("I08"))), AT, "CB-OUT-1"),
    b"\xff\xfe\x00garbage",
    None,
    12,
])
def test_anything_else_is_no_answer_and_never_raises(text):
    got = read_acknowledgment(text)
    assert got == Ack() and got.code is None and not got.delivered and not got.refused
