"""The review API's masked case read (functions/cases/cases.py `masked`): who the member is, erased."""
from __future__ import annotations

import json

from functions.cases.cases import masked

CASE = {
    "id": "c1", "status": "received",
    "member": {"family": "QUILLFEATHER", "given": ["ODALYS"], "birth_date": "1970-01-02", "gender": "female",
               "subscriber_id": "SUB-9", "identifiers": [{"system": "urn:example:member", "value": "M-1"}],
               "coverage_ids": [{"system": "urn:example:coverage", "value": "COV-7"}]},
    "logical_refs": {"patient": {"identifier": {"system": "urn:example:member", "value": "M-1"}, "display": "ODALYS Q"},
                     "insurer": {"identifier": {"system": "urn:example:payer", "value": "PAYER-1"}}},
    "items": [{"sequence": 1, "service": {"code": "99213"}}],
}


def test_every_name_date_and_id_of_the_member_is_erased_and_nothing_else():
    shown = masked(json.loads(json.dumps(CASE)))
    text = json.dumps(shown)
    for secret in ("QUILLFEATHER", "ODALYS", "1970-01-02", "SUB-9", "M-1", "COV-7"):
        assert secret not in text, secret
    assert shown["member"]["identifiers"][0]["system"] == "urn:example:member"  # what kind of id it is
    assert shown["member"]["gender"] == "female" and shown["items"] == CASE["items"]
    assert shown["logical_refs"]["insurer"] == CASE["logical_refs"]["insurer"]  # an insurer is no PHI


def test_a_member_with_little_known_is_masked_without_error():
    assert masked({"id": "c2", "member": {"family": "DOE"}})["member"] == {"family": "*****"}
    assert masked({"id": "c3", "member": {}}) == {"id": "c3", "member": {}}
