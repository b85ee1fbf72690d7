"""The partners file: delivery targets and organizations, checked at load; a bad entry names the
partner and the field, never a value."""
from __future__ import annotations

import pytest

from adapters.partners import BearerAuth, MtlsAuth, PartnerRegistry, SmartBackendAuth

COMPLETE = """
partners:
  - id: acme-health
    token_sha256: ["00"]
    delivery:
      fhir:
        base_url: https://fhir.acme.example/r4/
        auth: {type: smart-backend, client_id: claimbridge, key_file: secrets/acme.pem, alg: ES384,
               scope: system/ClaimResponse.write}
      hl7v2: {mllp: engine.acme.example:6661, tls: true}
      max_attempts: 5
  - id: beta
    delivery:
      fhir: {base_url: "http://127.0.0.1:9000/fhir", auth: {type: bearer, token_file: secrets/beta.token}}
      hl7v2: {http: "https://engine.beta.example/hl7"}
  - id: gamma
    delivery:
      fhir: {base_url: "https://gamma.example", auth: {type: mtls, cert_file: c.pem, key_file: k.pem}}
  - id: clinic-ehr
    org_identifiers: ["http://hl7.org/fhir/sid/us-npi|1234567893"]
"""


def test_every_target_kind_and_auth_is_read():
    partners = PartnerRegistry.from_document(COMPLETE).partners
    acme = partners["acme-health"].delivery
    assert acme.fhir.base_url == "https://fhir.acme.example/r4"  # no trailing slash: {base_url}/ClaimResponse/{id}
    assert isinstance(acme.fhir.auth, SmartBackendAuth) and acme.fhir.auth.alg == "ES384"
    assert acme.fhir.auth.token_url is None  # discovered
    assert acme.hl7v2.mllp == "engine.acme.example:6661" and acme.hl7v2.tls and acme.max_attempts == 5
    beta = partners["beta"].delivery
    assert isinstance(beta.fhir.auth, BearerAuth) and beta.hl7v2.http.startswith("https://") and beta.max_attempts == 8
    assert isinstance(partners["gamma"].delivery.fhir.auth, MtlsAuth) and partners["gamma"].delivery.hl7v2 is None
    ehr = partners["clinic-ehr"]
    assert ehr.org_identifiers == ("http://hl7.org/fhir/sid/us-npi|1234567893",)
    assert ehr.delivery.fhir is None and ehr.delivery.hl7v2 is None


@pytest.mark.parametrize("delivery, field", [
    ("{fhir: {base_url: ftp://x}}", "delivery.fhir.base_url"),
    ("{fhir: {base_url: https://x, auth: {type: oauth, token_file: t}}}", "delivery.fhir.auth"),
    ("{fhir: {base_url: https://x, auth: {type: bearer}}}", "delivery.fhir.auth.bearer.token_file"),
    ("{fhir: {base_url: https://x, auth: {type: smart-backend, client_id: c, key_file: k, alg: HS256}}}",
     "delivery.fhir.auth.smart-backend.alg"),
    ("{hl7v2: {mllp: engine.example}}", "delivery.hl7v2"),
    ("{hl7v2: {mllp: 'e:1', http: 'https://e'}}", "delivery.hl7v2"),
    ("{hl7v2: {}}", "delivery.hl7v2"),
    ("{max_attempts: 0}", "delivery.max_attempts"),
    ("{fhir: {base_url: https://x, tokn_file: t}}", "delivery.fhir.tokn_file"),  # a misspelt key
])
def test_a_bad_delivery_entry_names_the_partner_and_field_and_no_value(delivery, field):
    with pytest.raises(ValueError) as err:
        PartnerRegistry.from_document(f"partners:\n  - id: acme\n    delivery: {delivery}\n")
    message = str(err.value)
    assert message.startswith(f"partner acme: {field}:"), message
    assert "secret" not in message and "engine.example" not in message and "ftp://" not in message


def test_org_identifiers_are_system_and_value():
    with pytest.raises(ValueError, match="partner ehr: org_identifiers"):
        PartnerRegistry.from_document("partners:\n  - id: ehr\n    org_identifiers: ['1234567893']\n")
