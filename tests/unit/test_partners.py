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


FINGERPRINT_A, FINGERPRINT_B = "ab" * 32, ":".join(["CD"] * 32)  # colons and capitals as openssl prints them


def mllp_registry(blocks: dict) -> PartnerRegistry:
    import json

    return PartnerRegistry.from_document(json.dumps({"partners": [
        {"id": pid, "hl7_facilities": [pid.upper()], **({"mllp": block} if block is not None else {})}
        for pid, block in blocks.items()]}))


def test_an_mllp_connection_is_named_by_certificate_else_by_source_network():
    registry = mllp_registry({"a": {"client_certs": [FINGERPRINT_A], "source_cidrs": ["10.1.0.0/16"]},
                              "b": {"client_certs": [FINGERPRINT_B]},
                              "c": {"source_cidrs": ["192.168.7.0/24", "2001:db8::/32"]}, "d": None})
    assert registry.partners["b"].mllp.client_certs == ("cd" * 32,)  # normalised
    assert registry.mllp_sender("10.1.2.3", FINGERPRINT_A.upper()).id == "a"
    assert registry.mllp_sender("172.16.0.1", "cd" * 32).id == "b"  # no networks: anywhere
    assert registry.mllp_sender("192.168.7.9", None).id == "c"
    assert registry.mllp_sender("::ffff:192.168.7.9", None).id == "c"  # a dual-stack socket's IPv4 peer
    assert registry.mllp_sender("2001:db8::1", None).id == "c"


@pytest.mark.parametrize("address, fingerprint, reason", [
    ("10.1.2.3", "ef" * 32, "the client certificate is no partner's"),
    ("10.9.9.9", FINGERPRINT_A, "the client certificate's partner does not connect from this address"),
    ("10.1.2.3", None, "no partner's client certificate or source network"),  # a's network, but a needs its certificate
    ("192.168.8.1", None, "no partner's client certificate or source network"),
])
def test_an_mllp_connection_no_partner_vouches_for_is_refused(address, fingerprint, reason):
    from adapters.partners import SenderRefused

    registry = mllp_registry({"a": {"client_certs": [FINGERPRINT_A], "source_cidrs": ["10.1.0.0/16"]},
                              "c": {"source_cidrs": ["192.168.7.0/24"]}, "d": None})
    with pytest.raises(SenderRefused, match=reason):
        registry.mllp_sender(address, fingerprint)


def test_with_no_mllp_block_msh_4_alone_names_the_sender():
    assert mllp_registry({"a": None, "b": None}).mllp_sender("203.0.113.9", None) is None


@pytest.mark.parametrize("block, message", [
    ({}, "partner acme: mllp: give client_certs, source_cidrs or both"),
    ({"client_certs": ["abc"]}, "partner acme: mllp.client_certs: each is a certificate's SHA-256 fingerprint"),
    ({"source_cidrs": ["10.0.0.1/8"]}, "partner acme: mllp.source_cidrs: each is a network"),
    ({"source_cidrs": ["engine.example"]}, "partner acme: mllp.source_cidrs: each is a network"),
    ({"source_cidr": ["10.0.0.0/8"]}, "partner acme: mllp.source_cidr: Extra inputs are not permitted"),
])
def test_a_bad_mllp_block_names_the_partner_and_field_and_no_value(block, message):
    with pytest.raises(ValueError) as err:
        mllp_registry({"acme": block})
    assert str(err.value).startswith(message), str(err.value)
    assert "10.0.0" not in str(err.value) and "engine.example" not in str(err.value)


def test_one_certificate_or_address_names_one_partner_only():
    with pytest.raises(ValueError, match="partners a and b: mllp.client_certs: a certificate can name one partner only"):
        mllp_registry({"a": {"client_certs": [FINGERPRINT_A]}, "b": {"client_certs": [FINGERPRINT_A.upper()]}})
    with pytest.raises(ValueError, match="partners a and b: mllp.source_cidrs overlap"):
        mllp_registry({"a": {"source_cidrs": ["10.0.0.0/8"]}, "b": {"source_cidrs": ["10.20.0.0/16"]}})
    # Certificates tell partners apart: their networks may overlap (one engine host, two partners' certificates).
    mllp_registry({"a": {"client_certs": [FINGERPRINT_A], "source_cidrs": ["10.0.0.0/8"]},
                   "b": {"client_certs": [FINGERPRINT_B], "source_cidrs": ["10.0.0.0/8"]}})


def test_transaction_id_strictness_and_pas_version_are_read():
    registry = PartnerRegistry.from_document("""
partners:
  - id: strict
    strict_transaction_ids: true
    pas_version: 2.0.1
  - id: default
""")
    assert registry.policy("strict").strict_transaction_ids and registry.partners["strict"].pas_version == "2.0.1"
    assert not registry.policy("default").strict_transaction_ids and registry.partners["default"].pas_version == "2.2.1"


@pytest.mark.parametrize("entry, message", [
    ("strict_transaction_ids: 'yes'", "partner p: strict_transaction_ids is true or false"),
    ("pas_version: 1.0.0", "partner p: pas_version must be one of 2.2.1, 2.0.1"),
    ("strict_transaction_id: true", "partner p: unknown field strict_transaction_id"),
])
def test_a_bad_or_misspelt_field_stops_the_load(entry, message):
    with pytest.raises(ValueError) as raised:
        PartnerRegistry.from_document(f"partners:\n  - id: p\n    {entry}\n")
    assert str(raised.value) == message
