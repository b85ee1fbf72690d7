"""Delivery over HTTP to partners' FHIR endpoints, against real loopback receivers: bearer, SMART
Backend Services and mutual TLS; what an answer, a silence or a refusal becomes; where secrets come
from, and that a failure names the config field, never the secret."""
from __future__ import annotations

import socket
import ssl
import time
from email.utils import formatdate
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.outbound import Answer, FhirEndpoint, endpoint_for, post, post_json, read_secret, retry_after
from adapters.partners import FhirTarget
from tests.certs import CLIENT_NAME, make_pki
from tests.receivers import Received, Receiver, Reply

PUT_PATH = "/fhir/ClaimResponse/case-1"
BODY = b'{"resourceType": "ClaimResponse", "id": "case-1"}'
TOKEN_PATH = "/auth/token"


def fhir_target(url: str, auth: dict | None = None) -> FhirTarget:
    return FhirTarget.model_validate({"base_url": f"{url}/fhir", "auth": auth})


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def endpoints(tmp_path):
    """Endpoints whose secrets are files under tmp_path; closed after the test."""
    made: list[FhirEndpoint] = []

    def make(target: FhirTarget, **options) -> FhirEndpoint:
        made.append(FhirEndpoint(target, lambda name: read_secret(name, tmp_path), **options))
        return made[-1]
    yield make
    for endpoint in made:
        endpoint.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- answers -------------------------------------------------------------------------------------

def test_a_bearer_put_sends_fhir_json_with_the_token_and_reports_status_and_latency(receiver, endpoints, tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "acme.token").write_text("tok-123\n")
    receiver.answer(PUT_PATH, Reply(201))
    endpoint = endpoints(fhir_target(receiver.url, {"type": "bearer", "token_file": "secrets/acme.token"}))

    answer = endpoint.put("ClaimResponse/case-1", BODY)

    assert answer.status == 201 and answer.error is None and answer.retry_after is None
    assert answer.delivered and not answer.retryable and 0 < answer.latency_ms < 5000
    [put] = receiver.to(PUT_PATH)
    assert put.method == "PUT" and put.body == BODY
    assert put.headers["authorization"] == "Bearer tok-123"
    assert put.headers["content-type"] == put.headers["accept"] == "application/fhir+json"


def test_without_auth_no_authorization_is_sent_and_the_connection_is_kept_alive(receiver, endpoints):
    endpoint = endpoints(fhir_target(receiver.url))
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    first, second = receiver.to(PUT_PATH)
    assert "authorization" not in first.headers
    assert first.peer_port == second.peer_port  # one connection, reused


def test_the_endpoint_for_a_target_config_is_made_once():
    target = FhirTarget(base_url="https://fhir.example/r4")
    assert endpoint_for(target) is endpoint_for(FhirTarget(base_url="https://fhir.example/r4/"))
    assert endpoint_for(target) is not endpoint_for(FhirTarget(base_url="https://other.example/r4"))


NOW = 1_750_000_000.0


@pytest.mark.parametrize("header, seconds", [
    ("120", 120.0),
    (formatdate(NOW + 90, usegmt=True), 90.0),
    (formatdate(NOW - 90, usegmt=True), 0.0),  # a date gone by: now
    ("-5", 0.0),
    ("soon", None),
    (None, None),
])
def test_retry_after_is_delta_seconds_or_an_http_date(receiver, endpoints, header, seconds):
    receiver.answer(PUT_PATH, Reply(503, {"Retry-After": header} if header else {}))
    answer = endpoints(fhir_target(receiver.url), now=lambda: NOW).put("ClaimResponse/case-1", BODY)
    assert answer.status == 503 and answer.retryable and answer.retry_after == seconds
    assert retry_after(header, NOW) == seconds


def test_a_refused_connection_is_no_answer(endpoints):
    answer = endpoints(fhir_target(f"http://127.0.0.1:{closed_port()}")).put("ClaimResponse/case-1", BODY)
    assert answer == Answer(None, None, answer.latency_ms, "ConnectError") and answer.retryable


def test_a_server_that_never_answers_is_no_answer_after_the_timeout(receiver, endpoints):
    receiver.answer(PUT_PATH, Reply(200, delay=10))
    answer = endpoints(fhir_target(receiver.url), timeout=0.3).put("ClaimResponse/case-1", BODY)
    assert answer.status is None and answer.error == "ReadTimeout"
    assert 300 <= answer.latency_ms < 3000


def test_post_json_sends_the_given_headers_over_the_shared_client(receiver):
    receiver.answer("/hooks/sub-1", Reply(202))
    answer = post_json(f"{receiver.url}/hooks/sub-1", b"{}", {"X-Subscription": "sub-1"}, timeout=2)
    assert answer.status == 202 and answer.delivered
    [sent] = receiver.to("/hooks/sub-1")
    assert sent.method == "POST" and sent.body == b"{}" and "authorization" not in sent.headers
    assert sent.headers["x-subscription"] == "sub-1" and sent.headers["content-type"] == "application/json"
    fhir = post_json(f"{receiver.url}/hooks/sub-1", b"{}", {"content-type": "application/fhir+json"}, timeout=2)
    assert fhir.status == 200 and receiver.to("/hooks/sub-1")[1].headers["content-type"] == "application/fhir+json"
    refused = post_json(f"http://127.0.0.1:{closed_port()}/hooks?token=s3cret", b"{}", {}, timeout=2)
    assert refused.status is None and refused.error == "ConnectError"


def test_post_sends_exactly_the_given_headers_and_returns_the_answer_body(receiver):
    receiver.answer("/hl7", Reply(200, {"Content-Type": "x-application/hl7-v2+er7"}, b"MSH|^~\\&|...\rMSA|AA|1\r"))
    answer = post(f"{receiver.url}/hl7", b"MSH|...", {"Content-Type": "x-application/hl7-v2+er7"}, timeout=2)
    assert answer.status == 200 and answer.body.endswith(b"MSA|AA|1\r") and "MSA" not in repr(answer)
    assert receiver.to("/hl7")[0].headers["content-type"] == "x-application/hl7-v2+er7"


# --- SMART Backend Services ----------------------------------------------------------------------

def private_key_pem(alg: str) -> tuple[bytes, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS384" \
        else ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, key.public_key()


@pytest.fixture(scope="module", params=["RS384", "ES384"])
def signing_key(request):
    return (request.param, *private_key_pem(request.param))


class SmartServer:
    """A FHIR server with a SMART token endpoint: it checks each client assertion with the client's
    public key and issues numbered tokens; the FHIR server accepts only the newest one."""

    def __init__(self, receiver: Receiver, public_key, alg: str, expires_in: int = 300):
        self.receiver, self.public_key, self.alg, self.expires_in = receiver, public_key, alg, expires_in
        self.token_url = f"{receiver.url}{TOKEN_PATH}"
        self.issued: list[str] = []
        self.assertions: list[tuple[dict, dict]] = []  # (header, claims) of each accepted assertion
        receiver.serve("/fhir/.well-known/smart-configuration",
                       Reply.json({"token_endpoint": self.token_url, "grant_types_supported": ["client_credentials"]}))
        receiver.serve(TOKEN_PATH, self.token)
        receiver.serve(PUT_PATH, self.resource)

    def token(self, request: Received) -> Reply:
        form = request.form()
        assert form["grant_type"] == "client_credentials" and form["scope"] == "system/ClaimResponse.write"
        assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        claims = jwt.decode(form["client_assertion"], self.public_key, algorithms=[self.alg],
                            audience=self.token_url, options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
        self.assertions.append((jwt.get_unverified_header(form["client_assertion"]), claims))
        self.issued.append(f"access-{len(self.issued) + 1}")
        return Reply.json({"access_token": self.issued[-1], "token_type": "bearer", "expires_in": self.expires_in,
                           "scope": form["scope"]})

    def resource(self, request: Received) -> Reply:
        fresh = self.issued and request.headers.get("authorization") == f"Bearer {self.issued[-1]}"
        return Reply(200 if fresh else 401)

    def puts(self) -> list[str]:
        return [r.headers.get("authorization") for r in self.receiver.to(PUT_PATH)]


def smart_auth(alg: str, **more) -> dict:
    return {"type": "smart-backend", "client_id": "claimbridge", "key_file": "client.pem", "alg": alg, **more}


@pytest.fixture
def smart(receiver, endpoints, tmp_path, signing_key):
    """(the SMART server, an endpoint for it): the endpoint's key is `signing_key`'s."""
    alg, pem, public_key = signing_key
    (tmp_path / "client.pem").write_bytes(pem)

    def make(expires_in: int = 300, clock=time.time, **auth) -> tuple[SmartServer, FhirEndpoint]:
        server = SmartServer(receiver, public_key, alg, expires_in)
        return server, endpoints(fhir_target(receiver.url, smart_auth(alg, **auth)), now=clock)
    return make


def test_smart_discovers_the_token_endpoint_and_puts_with_the_token_it_issues(smart, receiver):
    server, endpoint = smart(kid="key-2026")

    answer = endpoint.put("ClaimResponse/case-1", BODY)

    assert answer.status == 200 and answer.error is None
    assert [r.path for r in receiver.received] == ["/fhir/.well-known/smart-configuration", TOKEN_PATH, PUT_PATH]
    assert server.puts() == ["Bearer access-1"]
    [(header, claims)] = server.assertions
    assert header == {"alg": server.alg, "typ": "JWT", "kid": "key-2026"}
    assert claims["iss"] == claims["sub"] == "claimbridge" and claims["aud"] == server.token_url
    assert 0 < claims["exp"] - claims["iat"] <= 300 and abs(claims["iat"] - time.time()) < 60
    assert len(claims["jti"]) >= 16


def test_smart_reuses_the_token_while_it_is_good_with_fresh_assertions_otherwise(smart, receiver):
    server, endpoint = smart()
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    assert len(receiver.to(TOKEN_PATH)) == 1 and len(receiver.to("/fhir/.well-known/smart-configuration")) == 1
    assert server.puts() == ["Bearer access-1", "Bearer access-1"]
    assert "kid" not in server.assertions[0][0]


def test_smart_refreshes_a_token_60_seconds_before_it_expires(smart, receiver):
    clock = [time.time() - 10]  # behind real time: the token endpoint checks iat against its own clock
    server, endpoint = smart(expires_in=61, clock=lambda: clock[0])
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    clock[0] += 0.5  # inside the one good second
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    clock[0] += 1.0
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    assert server.puts() == ["Bearer access-1", "Bearer access-1", "Bearer access-2"]
    assert len(receiver.to("/fhir/.well-known/smart-configuration")) == 1  # discovered once
    assert server.assertions[0][1]["jti"] != server.assertions[1][1]["jti"]


def test_smart_a_401_gets_exactly_one_new_token_and_one_retry(smart, receiver):
    server, endpoint = smart()
    receiver.answer(PUT_PATH, Reply(401))  # the first token is refused (revoked early, say)
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    assert server.puts() == ["Bearer access-1", "Bearer access-2"]

    receiver.answer(PUT_PATH, Reply(401), Reply(401))  # refused with a new token too: no third try
    answer = endpoint.put("ClaimResponse/case-1", BODY)
    assert answer.status == 401 and not answer.retryable
    assert server.puts()[2:] == ["Bearer access-2", "Bearer access-3"] and len(server.issued) == 3


def test_smart_a_configured_token_url_skips_discovery(smart, receiver):
    server, endpoint = smart(token_url=f"{receiver.url}{TOKEN_PATH}")
    assert endpoint.put("ClaimResponse/case-1", BODY).status == 200
    assert [r.path for r in receiver.received] == [TOKEN_PATH, PUT_PATH]


@pytest.mark.parametrize("token_reply, status, error", [
    (Reply.json({"error": "invalid_client"}, 401), 401, "token endpoint refused"),  # our config: dead-letter
    (Reply.json({"error": "invalid_scope"}, 400), 400, "token endpoint refused"),
    (Reply(503, {"Retry-After": "7"}), None, "token endpoint 503"),  # theirs, for now: retry
    (Reply(429), None, "token endpoint 429"),
    (Reply.json({"token_type": "bearer"}), None, "token endpoint answer unusable"),
])
def test_a_failed_token_request_is_an_answer_and_no_put(smart, receiver, token_reply, status, error):
    server, endpoint = smart()
    receiver.answer(TOKEN_PATH, token_reply)
    answer = endpoint.put("ClaimResponse/case-1", BODY)
    assert (answer.status, answer.error) == (status, error)
    assert answer.retryable == (status is None) and answer.retry_after == (7.0 if "503" in error else None)
    assert server.puts() == []


def test_an_unreachable_token_endpoint_or_discovery_is_no_answer(smart, receiver):
    dead = f"http://127.0.0.1:{closed_port()}"
    assert smart(token_url=f"{dead}/token")[1].put("ClaimResponse/case-1", BODY).error == "token endpoint ConnectError"
    receiver.answer("/fhir/.well-known/smart-configuration", Reply(404))
    refused = smart()[1].put("ClaimResponse/case-1", BODY)
    assert (refused.status, refused.error) == (404, "smart-configuration refused")
    receiver.answer("/fhir/.well-known/smart-configuration", Reply.json({"issuer": "x"}))
    unusable = smart()[1].put("ClaimResponse/case-1", BODY)
    assert (unusable.status, unusable.error) == (None, "smart-configuration has no token_endpoint")
    assert receiver.to(PUT_PATH) == []


def test_an_unusable_signing_key_names_the_field_and_not_the_key(receiver, endpoints, tmp_path):
    (tmp_path / "client.pem").write_text("-----BEGIN PRIVATE KEY-----\nS3CRET-MATERIAL\n-----END PRIVATE KEY-----\n")
    answer = endpoints(fhir_target(receiver.url, smart_auth("RS384", token_url=f"{receiver.url}/t"))).put("x", BODY)
    assert answer.status is None and answer.error == "delivery.fhir.auth.key_file: not a usable RS384 private key"
    assert receiver.received == []


# --- mutual TLS ----------------------------------------------------------------------------------

@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def mtls_auth(pki, ca_file=None) -> dict:
    return {"type": "mtls", "cert_file": str(pki.client_cert), "key_file": str(pki.client_key),
            "ca_file": str(ca_file or pki.ca_file)}


def test_mtls_presents_the_client_certificate(pki, endpoints):
    with Receiver(tls=pki.server_context()) as partner:
        answer = endpoints(fhir_target(partner.url, mtls_auth(pki))).put("ClaimResponse/case-1", BODY)
        assert answer.status == 200 and answer.error is None
        [put] = partner.to(PUT_PATH)
    subject = dict(rdn[0] for rdn in put.peer_cert["subject"])
    assert subject["commonName"] == CLIENT_NAME and "authorization" not in put.headers


def test_mtls_without_a_client_certificate_is_no_answer(pki, endpoints, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))  # trusts the server: only the client cert is missing
    with Receiver(tls=pki.server_context()) as partner:
        answer = endpoints(fhir_target(partner.url)).put("ClaimResponse/case-1", BODY)
        assert answer.status is None and answer.error is not None
        for _ in range(100):  # the receiver's thread records the failed handshake after the client gave up
            if partner.errors:
                break
            time.sleep(0.02)
        assert partner.received == [] and isinstance(partner.errors[0], ssl.SSLError)  # the server refused it


def test_mtls_pins_the_configured_ca(pki, endpoints, tmp_path):
    other = make_pki(tmp_path / "other")
    with Receiver(tls=pki.server_context()) as partner:
        answer = endpoints(fhir_target(partner.url, mtls_auth(pki, ca_file=other.ca_file))).put("x", BODY)
        assert answer.status is None and answer.error == "ConnectError" and partner.received == []


# --- secrets -------------------------------------------------------------------------------------

def test_secret_files_are_relative_to_the_partners_file(tmp_path, monkeypatch):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "acme.token").write_bytes(b"tok\n")
    monkeypatch.setenv("PARTNERS_FILE", str(tmp_path / "partners.yaml"))
    monkeypatch.chdir(Path("/"))
    assert read_secret("secrets/acme.token") == b"tok\n"
    assert read_secret(str(tmp_path / "secrets" / "acme.token")) == b"tok\n"  # absolute stays absolute
    assert read_secret("acme.token", tmp_path / "secrets") == b"tok\n"


def test_on_aws_a_secret_is_read_from_secrets_manager_cached(monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    asked = []
    monkeypatch.delenv("PARTNERS_FILE", raising=False)
    monkeypatch.setattr(parameters, "get_secret", lambda name, max_age: asked.append((name, max_age)) or "tok")
    assert read_secret("claimbridge/acme-token") == b"tok"
    assert asked == [("claimbridge/acme-token", 300)]


def test_an_unreadable_secret_names_the_field_and_sends_nothing(receiver, endpoints):
    endpoint = endpoints(fhir_target(receiver.url, {"type": "bearer", "token_file": "secrets/missing.token"}))
    answer = endpoint.put("ClaimResponse/case-1", BODY)
    assert answer.status is None and answer.error == "delivery.fhir.auth.token_file: cannot be read"
    assert receiver.received == []


def test_an_unreadable_client_certificate_names_the_field(receiver, endpoints, pki):
    auth = {**mtls_auth(pki), "key_file": "nowhere.key"}
    answer = endpoints(fhir_target(receiver.url, auth)).put("ClaimResponse/case-1", BODY)
    assert (answer.status, answer.error) == (None, "delivery.fhir.auth.key_file: cannot be read")
