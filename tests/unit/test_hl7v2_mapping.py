"""HL7 v2 -> FHIR R4 Bundle -> Submission: every message type of the intake table, fields asserted."""
from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle

from adapters.hl7v2.ack import Header
from adapters.hl7v2.message import V2Message
from fhir_mappings.claim_to_case import submission_from_request
from fhir_mappings.hl7v2_to_fhir import MESSAGES, request_bundle, ts_to_datetime
from review.model import Intent, Kind, Priority
from tests import hl7_factories as h


def bundle_of(text: str) -> dict:
    """As the intake maps a message: for the event it admitted it as, read from the MSH."""
    header = Header.of(text)
    return request_bundle(V2Message(text), MESSAGES[header.message_type, header.trigger])


def mapped(text: str):
    bundle = bundle_of(text)
    Bundle.model_validate(bundle)  # valid R4, as the FHIR intake would require
    resources = {e["resource"]["resourceType"] + "/" + e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    return bundle, resources, submission_from_request(bundle, source="hl7v2")


def test_rqa_i08_maps_every_case_field():
    bundle, res, sub = mapped(h.rqa("I08", ref="7", priority="S"))
    claim, d = bundle["entry"][0]["resource"], sub.draft
    # MSH-3/4 + MSH-10: the idempotency key; MSH-7: created
    assert (sub.key.system, sub.key.value) == ("urn:claimbridge:hl7v2:ACMEAPP:ACMEHLTH", "RQAI08-7")
    assert claim["created"] == "2026-11-23T10:15:00-05:00"
    # RF1-2 S -> expedited; RF1-6/RF1-11 -> claim identifiers
    assert d.priority is Priority.EXPEDITED and d.kind is Kind.PRIOR_AUTH and sub.intent is Intent.NEW
    assert [i.value for i in d.claim_ids] == ["ORIG-7", "REF-7"]
    # AUT-6 -> insurance.preAuthRef; AUT-4/5 -> item period; AUT-8 -> item quantity
    assert claim["insurance"][0]["preAuthRef"] == ["AUTH-7"]
    item = d.items[0]
    assert (item.serviced.start, item.serviced.end, item.quantity) == ("2026-12-01", "2026-12-31", 12)
    # PR1-3 code (system from the C4 name), PR1-16 modifier
    assert (item.service.system, item.service.code, item.modifiers) == (CPT, "72148", ["26"])
    # PID-3/5/7(/8)
    m = d.member
    assert [(i.system, i.value) for i in m.identifiers] == [("urn:oid:2.16.840.1.113883.3.1", "M-1001"),
                                                            ("urn:claimbridge:hl7v2:assigner:SSA", "555-12-3456")]
    assert (m.family, m.given, m.birth_date, m.gender) == ("DOE", ["JANE", "Q"], "1970-01-02", "female")
    # IN1-2/3/4/12/13/36/49 and IN2 Medicare/Medicaid
    coverage = next(r for k, r in res.items() if k.startswith("Coverage/"))
    assert coverage["subscriberId"] == "SUB-1001" == m.subscriber_id
    assert coverage["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert coverage["class"][0]["value"] == "GOLD"
    assert {i["system"]: i["value"] for i in coverage["identifier"]} == {
        "urn:claimbridge:hl7v2:policy": "POL-77", "http://hl7.org/fhir/sid/us-mbi": "1EG4-TE5-MK72",
        "urn:claimbridge:medicaid": "MCD-9876"}
    insurer = res[_by_url(bundle, claim["insurer"]["reference"])]
    assert insurer["name"] == "ACME HEALTH PLAN" and insurer["identifier"][0]["value"] == "ACME-PAYER"
    # PRD: RP -> requesting with NPI by type; RT -> servicing with NPI by assigning authority
    assert [(p.role, p.name, p.npi) for p in d.providers] == [("requesting", "ANNA B SMITH", "1234567893"),
                                                            ("servicing", "OMAR JONES", "1122334455")]
    # DG1-3 and DG1-6
    assert [(c.system, c.code) for c in d.diagnoses] == [("http://hl7.org/fhir/sid/icd-10-cm", "M54.5")]
    assert claim["diagnosis"][0]["type"][0]["coding"][0]["code"] == "admitting"


def _by_url(bundle, url):
    entry = next(e for e in bundle["entry"] if e["fullUrl"] == url)
    return entry["resource"]["resourceType"] + "/" + entry["resource"]["id"]


CPT = "http://www.ama-assn.org/go/cpt"


@pytest.mark.parametrize("trigger, intent, status", [
    ("I09", Intent.UPDATE, "active"), ("I10", Intent.UPDATE, "active"), ("I11", Intent.CANCEL, "cancelled")])
def test_rqa_modify_resubmit_cancel_name_the_original_request(trigger, intent, status):
    bundle, _, sub = mapped(h.rqa(trigger, ref="7"))
    assert sub.intent is intent and bundle["entry"][0]["resource"]["status"] == status
    assert "urn:claimbridge:hl7v2:RF1-6:ACME|ORIG-7" in sub.related
    if trigger != "I11":
        assert all(i.info_changed == "changed" for i in sub.draft.items)


def test_ref_i12_is_a_new_prior_auth_and_stat_referral_is_expedited():
    _, _, sub = mapped(h.ref_i12())
    assert sub.intent is Intent.NEW and sub.draft.kind is Kind.PRIOR_AUTH and sub.draft.priority is Priority.EXPEDITED
    assert [i.service.code for i in sub.draft.items] == ["72148"]


@pytest.mark.parametrize("trigger, kind", [("E20", Kind.PRIOR_AUTH), ("E01", Kind.CLAIM)])
def test_ehc_requests_map_ivc_and_psl(trigger, kind):
    bundle, _, sub = mapped(h.ehc(trigger, inv="5"))
    d = sub.draft
    assert sub.intent is Intent.NEW and d.kind is kind
    assert [i.value for i in d.claim_ids] == ["INV-5", "PAYINV-5"]  # IVC-1, IVC-2
    # PSL-3 sequence, PSL-7 code, PSL-10/11 period, PSL-12 quantity
    assert [(i.sequence, i.service.code, i.serviced.start, i.serviced.end, i.quantity) for i in d.items] == [
        (1, "E0601", "2026-12-01", "2026-12-15", 1), (2, "A7030", "2026-12-01", "2026-12-15", 3)]
    assert d.items[0].service.system == "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    assert d.member.family == "DOE"


@pytest.mark.parametrize("trigger", ["E21", "E02"])
def test_ehc_cancels_name_the_invoice(trigger):
    bundle, _, sub = mapped(h.ehc(trigger, inv="5"))
    assert sub.intent is Intent.CANCEL and "urn:claimbridge:hl7v2:IVC-1:ACME|INV-5" in sub.related


def test_ehc_e04_is_an_appeal_of_the_invoice():
    bundle = bundle_of(h.ehc("E04", inv="5"))
    sub = submission_from_request(bundle, source="hl7v2", appeal=True)
    assert sub.appeal and "urn:claimbridge:hl7v2:IVC-1:ACME|INV-5" in sub.related
    assert [i.service.code for i in sub.draft.items] == ["A7030"]


def test_escapes_nulls_and_trailing_separators_are_normalized():
    text = h.rqa().replace("DOE^JANE^Q", "O\\S\\NEIL\\T\\C\\X4F\\^JANE\\F\\ANN\\E\\^\"\"^^^").replace("|F\r", "|\"\"|||\r")
    _, _, sub = mapped(text)
    assert sub.draft.member.family == "O^NEIL&CO" and sub.draft.member.given == ["JANE|ANN\\"]
    assert sub.draft.member.gender is None


def test_the_same_message_maps_identically():
    assert bundle_of(h.rqa()) == bundle_of(h.rqa())


@pytest.mark.parametrize("ts, expected", [
    ("20261123101500-0500", "2026-11-23T10:15:00-05:00"), ("202611231015", "2026-11-23T10:15:00Z"),
    ("20261123", "2026-11-23"), ("2026", None), ("garbage", None)])
def test_timestamps(ts, expected):
    assert ts_to_datetime(ts) == expected


def test_aut_stands_in_for_a_missing_in1_and_pr1_date_for_a_missing_aut():
    lines = h.rqa().rstrip("\r").split("\r")
    lines = [line for line in lines if not line.startswith(("IN1", "IN2"))][:-1]  # no IN1; no AUT after PR1
    bundle, res, sub = mapped("\r".join(lines) + "\r")
    coverage = next(r for k, r in res.items() if k.startswith("Coverage/"))
    insurer = next(r for k, r in res.items() if k.startswith("Organization/") and r.get("identifier"))
    assert coverage["class"][0]["value"] == "GOLD"  # AUT-1
    assert (insurer["identifier"][0]["value"], insurer["name"]) == ("ACME-PAYER", "ACME HEALTH PLAN")  # AUT-2/3
    item = bundle["entry"][0]["resource"]["item"][0]
    assert item["servicedDate"] == "2026-12-05" and "quantity" not in item  # PR1-5


def test_rqa_update_messages_carry_the_full_request():
    for trigger in ("I09", "I10"):
        bundle, _, sub = mapped(h.rqa(trigger, ref="8"))
        d = sub.draft
        assert [i.value for i in d.claim_ids] == ["ORIG-8", "REF-8"] and d.member.family == "DOE"
        assert [(i.service.code, i.quantity) for i in d.items] == [("72148", 12)]
        assert bundle["entry"][0]["resource"]["insurance"][0]["preAuthRef"] == ["AUTH-8"]


def test_ref_i12_fields():
    bundle, _, sub = mapped(h.ref_i12(ref="12"))
    d = sub.draft
    assert (sub.key.value, [i.value for i in d.claim_ids]) == ("REF-1", ["ORIG-12", "REF-12"])
    assert [(p.role, p.npi) for p in d.providers] == [("requesting", "1234567893"), ("servicing", "1122334455")]
    assert d.member.subscriber_id == "SUB-1001" and [c.code for c in d.diagnoses] == ["M54.5"]
    assert bundle["entry"][0]["resource"]["insurance"][0]["preAuthRef"] == ["AUTH-12"]


def test_ehc_cancel_and_reassess_fields():
    _, _, e21 = mapped(h.ehc("E21", inv="5"))
    assert e21.draft.use == "preauthorization" and [i.service.code for i in e21.draft.items] == ["E0601"]
    _, _, e02 = mapped(h.ehc("E02", inv="5"))
    assert e02.draft.use == "claim" and e02.draft.items == [] and e02.key.value == "EHCE02-5"
    _, _, e04 = mapped(h.ehc("E04", inv="5"))
    assert e04.draft.kind is Kind.CLAIM and [(i.sequence, i.quantity) for i in e04.draft.items] == [(2, 3)]


@pytest.mark.parametrize("prd7, npi", [
    ("1234567893^NPI", True),  # PI: id ^ type
    ("1234567893^^2.16.840.1.113883.4.6", True),  # PLN qualified by the NPI OID
    ("1234567893^SMITH^ANNA^^^^^^&2.16.840.1.113883.4.6&ISO", True),  # XCN-9 universal id
    ("1234567893^SMITH^ANNA^^^^^^^^^^NPI", True),  # XCN-13 identifier type
    ("LIC-9^SL", False),
])
def test_npi_is_recognised_in_pln_and_xcn_layouts(prd7, npi):
    text = h.rqa().replace(h.PRD_RP, f"PRD|RP|SMITH^ANNA|||||{prd7}")
    _, _, sub = mapped(text)
    requesting = next(p for p in sub.draft.providers if p.role == "requesting")
    assert (requesting.npi == "1234567893") is npi
