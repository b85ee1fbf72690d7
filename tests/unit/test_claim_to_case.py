"""FHIR Claim -> Submission mapping: pure, no I/O."""
from __future__ import annotations

import pytest

from fhir_mappings.claim_to_case import inquiry_of, submission_from_fhir
from fhir_mappings.validation import StructureError
from review.errors import Invalid
from review.model import Intent, Kind, Priority
from tests import factories as f
from tests.conftest import PAS_DIR, PAS_REQUEST_BUNDLES


def test_pas_bundle_maps_member_providers_items_and_key():
    sub = submission_from_fhir(f.pas_bundle(f.claim(items=2), identifier="BND-9"))
    d = sub.draft
    assert (sub.key.value, sub.key_expression, sub.intent) == ("BND-9", "Bundle.identifier", Intent.NEW)
    assert (d.kind, d.priority, d.response_shape, d.source) == (Kind.PRIOR_AUTH, Priority.STANDARD, "pas-bundle", "fhir")
    assert [i.sequence for i in d.items] == [1, 2]
    assert [i.service.code for i in d.items] == ["99211", "99212"]
    assert d.items[0].serviced.start == "2026-12-01" and d.items[0].quantity == 1
    assert d.items[0].certification_type == "I" and d.items[0].request_type == "HS"
    assert (d.member.family, d.member.given, d.member.birth_date, d.member.subscriber_id) == ("DOE", ["JANE"], "1970-01-01", "M-1")
    assert [(p.role, p.npi, p.name) for p in d.providers] == [("requesting", "1234567893", "EXAMPLE CLINIC")]
    assert [c.code for c in d.diagnoses] == ["G89.4"]
    assert {p["reference"] for p in d.parties} == {"Patient/member-1", "Organization/insurer-1", "Organization/provider-1"}
    assert d.claim_ids[0].key == "urn:example:claims|CLM-1"


@pytest.mark.parametrize("claim_args, expected", [
    ({"priority": "stat"}, Priority.EXPEDITED),
    ({"priority": "normal"}, Priority.STANDARD),
    ({"cert": "1", "related": "CLM-0"}, Priority.EXPEDITED),  # appeal - immediate
    ({"cert": "2", "related": "CLM-0"}, Priority.STANDARD),  # appeal - standard
    ({"extension": [{"url": f.PAS + "extension-levelOfServiceCode",
                     "valueCodeableConcept": {"coding": [{"system": f.X12 + "1338", "code": "U"}]}}]}, Priority.EXPEDITED),
])
def test_priority_signals(claim_args, expected):
    assert submission_from_fhir(f.pas_bundle(f.claim(**claim_args))).draft.priority is expected


def test_bare_claim_is_keyed_by_claim_identifier_and_answered_as_claimresponse():
    sub = submission_from_fhir(f.claim("CLM-7", use="claim"))
    assert (sub.key.value, sub.key_expression) == ("CLM-7", "Claim.identifier")
    assert (sub.draft.kind, sub.draft.response_shape) == (Kind.CLAIM, "claimresponse")


def test_parameters_wrapping_a_claim():
    sub = submission_from_fhir(f.parameters(f.claim("CLM-8")))
    assert sub.key.value == "CLM-8"


def test_update_cancel_and_appeal_intents():
    update = submission_from_fhir(f.pas_bundle(f.claim("CLM-2", related="CLM-1")))
    assert update.intent is Intent.UPDATE and update.related == ["urn:example:claims|CLM-1"]
    assert update.related_expression == "Bundle.entry[0].resource.related[0].claim"
    cancel = submission_from_fhir(f.pas_bundle(f.claim("CLM-2", related="CLM-1", claim_cert="3")))
    assert cancel.intent is Intent.CANCEL
    appeal = submission_from_fhir(f.pas_bundle(f.claim("CLM-3", related="CLM-1", cert="2")))
    assert appeal.appeal and appeal.draft.priority is Priority.STANDARD  # X12 1322 "2": Appeal - Standard
    immediate = submission_from_fhir(f.pas_bundle(f.claim("CLM-3", related="CLM-1", cert="1")))
    assert immediate.appeal and immediate.draft.priority is Priority.EXPEDITED


def test_associated_related_claim_is_not_an_update():
    body = f.claim()
    body["related"] = [{"claim": {"reference": "Claim/x"}, "relationship": {"coding": [{"code": "associated"}]}}]
    assert submission_from_fhir(body).intent is Intent.NEW


def test_item_cancelled_by_modifier_extension():
    item = f.pas_item(2, modifierExtension=[{"url": f.PAS + "modifierextension-infoCancelled", "valueBoolean": True}])
    body = f.claim(related="CLM-1")
    body["item"].append(item)
    sub = submission_from_fhir(f.pas_bundle(body))
    assert [i.cancelled for i in sub.draft.items] == [False, True]


def test_replay_hash_ignores_send_time_but_not_content():
    a = f.pas_bundle()
    b = f.pas_bundle()
    b["timestamp"] = "2026-11-24T00:00:00Z"
    c = f.pas_bundle(f.claim(items=2))
    assert submission_from_fhir(a).sha256 == submission_from_fhir(b).sha256 != submission_from_fhir(c).sha256


@pytest.mark.parametrize("body, error, expression", [
    ([], StructureError, None),
    ({"resourceType": "Patient"}, StructureError, "resourceType"),
    ({"resourceType": "Bundle", "type": "collection", "identifier": {"value": "x"},
      "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}]}, Invalid, "Bundle.entry[0].resource"),
    (f.claim(item=[]), Invalid, "Claim.item"),
    ({**f.claim(), "identifier": []}, Invalid, "Claim.identifier"),
    (f.claim(claim_cert="3"), Invalid, "Claim.related"),
    (f.claim(cert="1"), Invalid, "Claim.related"),  # an appeal names what it appeals
    (f.claim(identifier="x" * 300), Invalid, "Claim.identifier"),
    ({**f.pas_bundle(), "type": "transaction"}, Invalid, "Bundle.type"),
    ({**f.pas_bundle(), "entry": f.pas_bundle()["entry"][:1]}, Invalid, "Bundle.entry[0].resource.patient"),
])
def test_bad_bodies_name_the_element(body, error, expression):
    with pytest.raises(error) as raised:
        submission_from_fhir(body)
    assert raised.value.expression == expression


def test_structure_errors_name_the_element_without_echoing_values():
    body = f.pas_bundle()
    body["entry"][0]["resource"]["item"][0]["sequence"] = "SECRET-VALUE"
    del body["entry"][0]["resource"]["patient"]
    with pytest.raises(StructureError) as raised:
        submission_from_fhir(body)
    assert raised.value.expression.startswith("Bundle.entry[0].resource.")
    assert "SECRET-VALUE" not in raised.value.message


def test_bundle_without_identifier_is_refused():
    body = f.pas_bundle()
    del body["identifier"]
    with pytest.raises(Invalid) as raised:
        submission_from_fhir(body)
    assert raised.value.expression == "Bundle.identifier"


def test_inquiry_keys_member_and_provider():
    keys, npis, identifier = inquiry_of(f.pas_bundle())
    assert identifier == {"system": "urn:example:submissions", "value": "BND-1"}
    assert "member:urn:example:member|M-1" in keys and "subscriber:M-1" in keys
    assert npis == {"1234567893"}


@pytest.mark.parametrize("path", PAS_REQUEST_BUNDLES, ids=lambda p: getattr(p, "name", "none"))
def test_every_pas_request_bundle_in_the_corpus_maps(path, corpus_json):
    body = corpus_json(path)
    sub = submission_from_fhir(body)
    claim = body["entry"][0]["resource"]
    assert [i.sequence for i in sub.draft.items] == [i["sequence"] for i in claim["item"]]
    assert sub.key.value == body["identifier"]["value"]
    assert sub.draft.member.identifiers


def test_corpus_referral_is_expedited_by_its_urgent_level_of_service(corpus_json):
    sub = submission_from_fhir(corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json"))
    assert sub.draft.priority is Priority.EXPEDITED
    assert {p.role for p in sub.draft.providers} == {"requesting", "servicing"}


def test_a_non_patient_beneficiary_and_extended_period_do_not_break_mapping():
    body = f.pas_bundle()
    claim = body["entry"][0]["resource"]
    claim["item"][0].pop("servicedDate")
    claim["item"][0]["servicedPeriod"] = {"id": "p1", "extension": [], "start": "2026-12-01", "end": "2026-12-05"}
    claim["patient"] = {"reference": "Organization/insurer-1"}
    sub = submission_from_fhir(body)
    assert sub.draft.items[0].serviced.end == "2026-12-05" and sub.draft.member.family is None


def test_parties_are_kept_without_narrative_or_photo():
    body = f.pas_bundle()
    body["entry"][1]["resource"]["photo"] = [{"contentType": "image/png", "data": "AAAA"}]
    body["entry"][1]["resource"]["text"] = {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}
    patient = next(p for p in submission_from_fhir(body).draft.parties if p["reference"] == "Patient/member-1")
    assert "photo" not in patient["resource"] and "text" not in patient["resource"]


def test_related_identifier_without_system_is_looked_up_by_value():
    body = f.claim("CLM-2", related="CLM-1")
    del body["related"][0]["claim"]["identifier"]["system"]
    assert submission_from_fhir(body).related == ["CLM-1"]


def test_a_patient_or_insurer_named_by_identifier_is_answered_as_named():
    sent = {"identifier": {"system": "http://www.bindb.com/bin", "value": "123456"}, "display": "Humana Inc."}
    draft = submission_from_fhir({**f.claim(), "insurer": sent}).draft
    assert draft.insurer_ref is None and draft.logical_refs == {"insurer": sent}
    assert draft.patient_ref == "Patient/member-1" and "patient" not in draft.logical_refs
