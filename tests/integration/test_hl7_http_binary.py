"""POST /hl7v2 through the local gateway, which hands bodies to the function as API Gateway does,
by template.yaml's binary media types: an 8859/1 message arrives byte for byte with every content
type the endpoint accepts."""
from __future__ import annotations

import pytest
import requests

from functions.hl7v2.app import HL7_TYPES
from tests import hl7_factories as h


@pytest.mark.parametrize("content_type", sorted(HL7_TYPES))
def test_an_8859_1_message_keeps_its_name_with_every_accepted_content_type(base_url, api, reviewer, content_type):
    ref = "bin-" + content_type.replace("/", "-").replace("+", "-")
    raw = h.rqa(ref=ref, control_id=ref.upper(), charset="8859/1").replace("DOE^JANE", "MÜLLER^RENÉ").encode("latin-1")
    answer = requests.post(f"{base_url}/hl7v2", data=raw, timeout=30,
                           headers={"Authorization": "Bearer token-alpha", "Content-Type": content_type})
    assert answer.status_code == 200 and "MSA|AA|" in answer.text
    [found] = api("alpha").get("/fhir/ClaimResponse", identifier=f"REF-{ref}").json()["entry"]
    member = reviewer().get(f"/cases/{found['resource']['id']}").json()["case"]["member"]
    assert (member["family"], member["given"][0]) == ("MÜLLER", "RENÉ")
