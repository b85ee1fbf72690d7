"""Case -> ClaimResponse: the structure PAS and base R4 require, checked on what the R4B models parse."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.communicationrequest import CommunicationRequest

from fhir_mappings import codes
from fhir_mappings.case_to_claimresponse import claim_response, response_bundle, submit_response
from review.model import Code, Period, Status
from tests import factories as f

BASE = "https://iro.example/fhir"
CASE_PERIOD = {"start": "2026-11-23", "end": "2027-02-21"}  # what f.decided gives a granted case


def parsed_response(resp: dict) -> ClaimResponse:
    assert resp["resourceType"] == "ClaimResponse"
    return ClaimResponse.model_validate(resp)


def parsed_bundle(bundle: dict) -> tuple[Bundle, ClaimResponse]:
    parsed = Bundle.model_validate(bundle)
    return parsed, parsed.entry[0].resource


def extensions(element, url: str) -> list:
    return [e for e in element.extension or [] if e.url == url]


def review_action(item) -> dict[str, list]:
    """The reviewAction's sub-extensions by url (the code's by its own canonical url)."""
    [adjudication] = item.adjudication
    assert [c.code for c in adjudication.category.coding] == ["submitted"]
    [action] = extensions(adjudication, codes.EXT_REVIEW_ACTION)
    found: dict[str, list] = {}
    for part in action.extension:
        found.setdefault(part.url, []).append(part)
    return found


def action_code(item) -> str:
    [code] = review_action(item)[codes.EXT_REVIEW_ACTION_CODE]
    [coding] = code.valueCodeableConcept.coding
    assert coding.system == codes.X12_REVIEW_ACTION
    return coding.code


def preauth_period(item) -> dict | None:
    found = extensions(item, codes.EXT_ITEM_PREAUTH_PERIOD)
    assert len(found) <= 1
    return found[0].valuePeriod.model_dump(exclude_none=True, mode="json") if found else None


def authorized_detail(item) -> dict[str, object]:
    found = extensions(item, codes.EXT_ITEM_AUTHORIZED_DETAIL)
    assert len(found) <= 1
    return {part.url: part for part in found[0].extension} if found else {}


def reviewer_extension(resp: ClaimResponse) -> dict[str, object]:
    found = extensions(resp, codes.EXT_CLAIMRESPONSE_REVIEWER)
    assert len(found) <= 1  # PAS: 0..1 per response
    return {part.url: part for part in found[0].extension} if found else {}


def asking_case(*requests, items: int = 2, **claim_args):
    requests = requests or (f.information_request(f.wanted("History and physical", "34117-2"),
                                                  f.wanted("Why conservative therapy was not tried")),)
    return f.asking(f.case(f.pas_bundle(f.claim(items=items, **claim_args))), *requests)


def test_pas_response_bundle_is_pended_complete_and_carries_the_parties():
    bundle = response_bundle(f.case(f.pas_bundle(f.claim(items=3))), BASE)
    parsed, resp = parsed_bundle(bundle)
    assert resp.outcome == "complete" and resp.meta.profile == [codes.PAS_CLAIMRESPONSE]
    assert [i.itemSequence for i in resp.item] == [1, 2, 3]
    assert [action_code(i) for i in resp.item] == ["A4", "A4", "A4"]
    assert resp.request.reference == "http://provider.example/fhir/Claim/req-claim"  # the entry's absolute fullUrl
    assert parsed.identifier.value == "BND-1" and parsed.type == "collection" and parsed.timestamp
    urls = {e.fullUrl for e in parsed.entry[1:]}
    for element in (resp.patient, resp.insurer, resp.requestor):
        assert element.reference in urls  # resolvable inside the Bundle
    assert all(e.fullUrl for e in parsed.entry)
    assert resp.communicationRequest is None and resp.contained is None and resp.extension is None


def test_bare_claim_answer_is_a_queued_claimresponse():
    resp = parsed_response(submit_response(f.case(f.claim(use="claim")), BASE))
    assert resp.outcome == "queued" and resp.id == "case1" and resp.meta is None


@pytest.mark.parametrize("decision, action", [
    ("approved", "A1"), ("partial", "A2"), ("denied", "A3"), ("pended", "A4"), ("modified", "A6")])
def test_decisions_become_review_actions(decision, action):
    status = Status.IN_REVIEW if decision == "pended" else Status.DECIDED
    case = f.decided(f.case(), {1: f.determination(decision, reason_code="0U", reason_text="see notes")}, status)
    resp = parsed_response(claim_response(case))
    [item] = resp.item
    assert action_code(item) == action
    [reason] = review_action(item)["reasonCode"]
    assert [(c.system, c.code) for c in reason.valueCodeableConcept.coding] == [(codes.X12_REVIEW_REASON, "0U")]
    assert item.noteNumber == [1] and [(n.number, n.text) for n in resp.processNote] == [(1, "see notes")]
    granted = decision in ("approved", "partial", "modified")
    assert (resp.preAuthRef is not None) is granted and (resp.preAuthPeriod is not None) is granted
    assert (preauth_period(item) is not None) is granted


def test_approved_items_carry_their_authorization_numbers_and_the_case_preauth_period():
    case = f.decided(f.case(f.pas_bundle(f.claim(items=2))), {
        1: f.determination("approved", authorization_number="AUTH-1"),
        2: f.determination("approved", authorization_number="AUTH-2")})
    _, resp = parsed_bundle(response_bundle(case, BASE))
    assert [action_code(i) for i in resp.item] == ["A1", "A1"]
    assert [[n.valueString for n in review_action(i)["number"]] for i in resp.item] == [["AUTH-1"], ["AUTH-2"]]
    assert [preauth_period(i) for i in resp.item] == [CASE_PERIOD, CASE_PERIOD]
    assert resp.preAuthRef == "CBCASE1"
    assert all(authorized_detail(i) == {} for i in resp.item)  # granted as asked
    assert resp.processNote is None and reviewer_extension(resp) == {}


def test_denial_carries_reason_code_and_text_and_names_the_physician_reviewer():
    case = f.decided(f.case(), {1: f.determination("denied", reason_code="0U", reason_text="Not medically necessary",
                                                   reviewer=f.physician("1234567893"))})
    resp = parsed_response(claim_response(case))
    [item] = resp.item
    assert action_code(item) == "A3"
    action = review_action(item)
    assert [c.code for c in action["reasonCode"][0].valueCodeableConcept.coding] == ["0U"]
    assert "number" not in action and preauth_period(item) is None and authorized_detail(item) == {}
    assert item.noteNumber == [1] and resp.processNote[0].text == "Not medically necessary"
    assert resp.processNote[0].type == "display"
    reviewer = reviewer_extension(resp)
    assert set(reviewer) == {"wasHumanReviewedFlag", "reviewerNPI"}
    assert reviewer["wasHumanReviewedFlag"].valueBoolean is True
    npi = reviewer["reviewerNPI"].valueIdentifier
    assert (npi.system, npi.value) == (codes.NPI, "1234567893")
    assert resp.preAuthRef is None


def test_partial_approval_authorizes_fewer_units_for_its_own_dates():
    case = f.decided(f.case(), {1: f.determination(
        "partial", reason_code="0U", authorization_number="AUTH-P", authorized_quantity=2,
        authorized_period=Period(start="2026-12-01", end="2026-12-31"), reviewer=f.physician())})
    _, resp = parsed_bundle(response_bundle(case, BASE))
    [item] = resp.item
    assert action_code(item) == "A2"
    assert [n.valueString for n in review_action(item)["number"]] == ["AUTH-P"]
    detail = authorized_detail(item)
    assert set(detail) == {"quantity"} and float(detail["quantity"].valueQuantity.value) == 2
    assert preauth_period(item) == {"start": "2026-12-01", "end": "2026-12-31"}  # not the case's period
    assert reviewer_extension(resp)["reviewerNPI"].valueIdentifier.value == "1234567893"


def test_modified_decision_authorizes_another_service_on_the_item_it_decides():
    case = f.decided(f.case(), {1: f.determination(
        "modified", reason_code="0U", authorization_number="AUTH-M",
        authorized_service=Code(system=f.CPT, code="99212", display="Office visit, straightforward"))})
    _, resp = parsed_bundle(response_bundle(case, BASE))
    [item] = resp.item
    assert action_code(item) == "A6"
    assert [n.valueString for n in review_action(item)["number"]] == ["AUTH-M"]
    detail = authorized_detail(item)
    assert set(detail) == {"productOrServiceCode"}
    [coding] = detail["productOrServiceCode"].valueCodeableConcept.coding
    assert (coding.system, coding.code) == (f.CPT, "99212")
    assert preauth_period(item) == CASE_PERIOD
    assert resp.addItem is None  # PAS: addItem is for lines the payer adds, with their own review action


def test_the_reviewer_named_is_the_physician_with_an_npi():
    later = f.T0 + timedelta(hours=1)
    case = f.decided(f.case(f.pas_bundle(f.claim(items=2))), {
        1: f.determination("denied", reason_code="0U", reviewer=f.physician("1987654321")),
        2: f.determination("approved", reviewer=f.reviewer(), decided_at=later)})
    reviewer = reviewer_extension(parsed_response(claim_response(case)))
    assert reviewer["reviewerNPI"].valueIdentifier.value == "1987654321"


def test_information_request_in_a_pas_bundle_is_a_communicationrequest_entry_per_thing_wanted():
    case = asking_case()
    parsed, resp = parsed_bundle(response_bundle(case, BASE))
    assert resp.outcome == "complete" and [action_code(i) for i in resp.item] == ["A4", "A4"]
    asks = [e for e in parsed.entry if e.resource.get_resource_type() == "CommunicationRequest"]
    assert [e.fullUrl for e in asks] == [f"{BASE}/CommunicationRequest/case1-ir1-1",
                                         f"{BASE}/CommunicationRequest/case1-ir1-2"]
    assert [r.reference for r in resp.communicationRequest] == [e.fullUrl for e in asks]
    assert resp.contained is None
    coded, text = (e.resource for e in asks)
    assert [p.contentString for p in coded.payload] == ["34117-2"] and coded.note[0].text == "History and physical"
    assert text.payload is None and text.note[0].text == "Why conservative therapy was not tried"
    urls = {e.fullUrl: e.resource for e in parsed.entry}
    for ask in (coded, text):
        assert ask.meta.profile == [codes.PAS_COMMUNICATION_REQUEST] and ask.status == "active"
        assert ask.occurrenceDateTime == date(2026, 12, 7)
        assert ask.authoredOn == f.T0
        assert ask.groupIdentifier.value == "ir1" and len(ask.identifier) == 1
        assert urls[ask.subject.reference].get_resource_type() == "Patient"
        assert ask.requester.reference == resp.insurer.reference
        assert [r.reference for r in ask.recipient] == [resp.insurer.reference]
        assert ask.sender.reference == resp.requestor.reference
        assert urls[ask.sender.reference].get_resource_type() == "Organization"
    assert [a.identifier[0].value for a in (coded, text)] == ["ir1-1", "ir1-2"]


@pytest.mark.parametrize("render, patient", [
    # the party's Bundle entry had an absolute fullUrl: a read names it by that, as the $submit answer did
    pytest.param(lambda: claim_response(asking_case()), "http://provider.example/fhir/Patient/member-1",
                 id="PAS case, GET ClaimResponse"),
    pytest.param(lambda: submit_response(f.asking(f.case(f.claim(use="claim", items=2)), f.information_request(
        f.wanted("History and physical", "34117-2"), f.wanted("Why conservative therapy was not tried"))), BASE),
        "Patient/member-1", id="bare Claim, $submit"),
])
def test_information_request_on_a_bare_claimresponse_is_contained(render, patient):
    resp = parsed_response(render())
    assert [r.reference for r in resp.communicationRequest] == ["#case1-ir1-1", "#case1-ir1-2"]
    assert all(isinstance(c, CommunicationRequest) for c in resp.contained)
    coded, text = resp.contained
    assert [coded.id, text.id] == ["case1-ir1-1", "case1-ir1-2"]
    assert [p.contentString for p in coded.payload] == ["34117-2"] and text.payload is None
    assert [c.note[0].text for c in resp.contained] == ["History and physical",
                                                        "Why conservative therapy was not tried"]
    for ask in resp.contained:
        assert ask.subject.reference == resp.patient.reference == patient
        assert ask.requester.reference == resp.insurer.reference
        assert ask.sender.reference == resp.requestor.reference and ask.sender.reference.endswith("Organization/provider-1")
        assert ask.occurrenceDateTime == date(2026, 12, 7) and ask.status == "active"
    assert len(resp.item) == 2


def test_answered_information_requests_are_no_longer_rendered():
    answered = f.information_request(f.wanted("Op note", "11504-8"), id="ir1", answered_at=f.T0 + timedelta(days=1))
    case = asking_case(answered).model_copy(update={"status": Status.IN_REVIEW})
    for resp in (parsed_response(claim_response(case)), parsed_bundle(response_bundle(case, BASE))[1]):
        assert resp.communicationRequest is None and resp.contained is None
    entries = response_bundle(case, BASE)["entry"]
    assert "CommunicationRequest" not in [e["resource"]["resourceType"] for e in entries]

    still_open = f.information_request(f.wanted("Imaging report", "18748-4"), id="ir2")
    resp = parsed_response(claim_response(asking_case(answered, still_open)))
    assert [r.reference for r in resp.communicationRequest] == ["#case1-ir2-1"]
    assert [c.groupIdentifier.value for c in resp.contained] == ["ir2"]


def test_withdrawn_case_renders_like_a_cancelled_one_and_says_it_was_withdrawn():
    case = asking_case().model_copy(update={"status": Status.WITHDRAWN})
    bundle = response_bundle(case, BASE)
    _, resp = parsed_bundle(bundle)
    assert [action_code(i) for i in resp.item] == ["C", "C"]
    assert "withdrawn" in resp.disposition.lower()
    assert resp.outcome == "complete" and resp.communicationRequest is None and resp.contained is None
    assert "CommunicationRequest" not in [e["resource"]["resourceType"] for e in bundle["entry"]]


def test_cancelled_case_reports_cancelled_items():
    case = f.decided(f.case(), {1: f.determination("approved", authorization_number="AUTH-1")})
    cancelled = case.model_copy(update={"status": Status.CANCELLED,
                                        "items": [i.model_copy(update={"cancelled": True}) for i in case.items]})
    resp = parsed_response(claim_response(cancelled))
    [item] = resp.item
    assert action_code(item) == "C" and "cancelled" in resp.disposition.lower()
    authorizing = {codes.EXT_ITEM_PREAUTH_PERIOD, codes.EXT_ITEM_PREAUTH_ISSUE_DATE, codes.EXT_ITEM_AUTHORIZED_DETAIL,
                   codes.EXT_ITEM_AUTHORIZED_PROVIDER}
    assert "number" not in review_action(item) and not {e.url for e in item.extension or []} & authorizing  # nothing is authorized any more


def test_created_is_when_the_case_was_decided():
    decided_at = datetime(2026, 11, 25, 9, 30, tzinfo=f.T0.tzinfo)
    case = f.decided(f.case(), {1: f.determination("approved")}, decided_at=decided_at)
    assert parsed_response(claim_response(case)).created == decided_at


# One rule for references, identifiers and instants (issue 9, item 7)


def test_a_read_names_the_parties_as_the_submit_answer_did():
    case = f.case()
    answered = response_bundle(case, BASE)["entry"][0]["resource"]
    read = claim_response(case)
    for element in ("patient", "insurer", "requestor"):
        assert read[element] == answered[element]
        assert read[element]["reference"].startswith(f.BASE), element  # the entry's absolute fullUrl


def test_parties_the_sender_gave_a_urn_are_named_as_sent_outside_the_bundle():
    bundle = f.pas_bundle()
    for entry in bundle["entry"]:
        entry["fullUrl"] = f"urn:uuid:{entry['resource']['id']}-0000"
    case = f.case(bundle)
    assert claim_response(case)["patient"] == {"reference": "Patient/member-1"}
    assert response_bundle(case, BASE)["entry"][0]["resource"]["patient"] == {"reference": "urn:uuid:member-1-0000"}


def systemless_claim() -> dict:
    return {**f.claim(), "identifier": [{"value": "CLM-9"}]}


def test_identifiers_sent_without_a_system_get_the_partners_namespace():
    bundle = f.pas_bundle(systemless_claim())
    bundle["identifier"] = {"value": "BND-9"}
    case = f.case(bundle)
    resp = response_bundle(case, BASE)
    partner_system = f"{codes.CLAIMBRIDGE_PARTNER}:{case.partner_id}"
    assert resp["identifier"] == {"system": partner_system, "value": "BND-9"}
    assert resp["entry"][0]["resource"]["identifier"] == [{"system": partner_system, "value": "CLM-9"}]
    bare = claim_response(f.case(systemless_claim(), claim_ref=None))
    assert bare["request"] == {"extension": [{"url": codes.DATA_ABSENT_REASON, "valueCode": "unknown"}],
                               "identifier": {"system": partner_system, "value": "CLM-9"}}


def test_instants_are_written_in_utc_with_z():
    resp = response_bundle(f.case(), BASE)
    assert resp["timestamp"] == resp["entry"][0]["resource"]["created"] == "2026-11-23T12:00:00Z"


def test_an_insurer_named_by_identifier_is_named_so_in_the_response():
    sent = {"identifier": {"system": "http://www.bindb.com/bin", "value": "123456"}, "display": "Humana Inc."}
    resp = claim_response(f.case({**f.claim(), "insurer": sent}))
    assert resp["insurer"] == sent and resp["patient"] == {"reference": "Patient/member-1"}
    parsed_response(resp)
