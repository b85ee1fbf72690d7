"""The local stand-in for the reviewers' Cognito user pool, over real HTTP: which door each kind of
token opens, the pool's own endpoints, and `claimbridge token`."""
from __future__ import annotations

import json
import subprocess
import sys

import jwt
import pytest
import requests

from adapters.partners import token_hash
from infra.local import stack as local
from infra.local.identity import LocalUserPool
from infra.local.stack import Gateway, LocalStack
from infra.local.topology import Topology

pytestmark = pytest.mark.integration

CASES_HANDLER = "functions.cases.app.lambda_handler"
PARTNER = {"Authorization": "Bearer token-alpha"}


@pytest.fixture(scope="module")
def reviewer_stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("identity")
    partners = home / "partners.yaml"
    partners.write_text(json.dumps({"partners": [{"id": "alpha", "token_sha256": [token_hash("token-alpha")]}]}))
    stack = LocalStack("127.0.0.1", 0, str(partners), mllp_port=None, signing_key=str(home / "key" / "signing.pem"))
    yield stack.start()
    stack.stop()


@pytest.fixture
def base(reviewer_stack) -> str:
    return reviewer_stack.base_url


@pytest.fixture
def pool(reviewer_stack) -> LocalUserPool:
    return reviewer_stack.user_pool


@pytest.fixture
def cases_events(monkeypatch) -> list[dict]:
    """The review API's handler (being rewritten elsewhere) swapped for a stub that records its events."""
    events: list[dict] = []
    real = local.load_handler

    def stub(event, context):
        events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "[]"}

    monkeypatch.setattr(local, "load_handler", lambda dotted: stub if dotted == CASES_HANDLER else real(dotted))
    return events


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def outcome(answer: requests.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/fhir+json"
    issue = answer.json()["issue"][0]
    assert answer.json()["resourceType"] == "OperationOutcome" and issue["code"] == code
    return issue["diagnostics"]


def test_routes_name_their_authorizer():
    topology = Topology.load()
    routes = {(r.method, r.path): r for r in topology.routes}
    assert routes["GET", "/cases"].authorizer == "ReviewerPool" and routes["GET", "/cases"].authorized
    assert routes["POST", "/fhir/Claim/{operation}"].authorizer == "PartnerToken"
    assert routes["GET", "/openapi.json"].authorizer is None and not routes["GET", "/openapi.json"].authorized
    assert topology.authorizer_type("ReviewerPool") == "cognito" and topology.authorizer_type("PartnerToken") == "token"
    assert topology.authorizer_handler == "functions.authorizer.app.lambda_handler"


def test_the_jwks_is_served(base, pool):
    answer = requests.get(f"{base}/.well-known/jwks.json", timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    (key,) = answer.json()["keys"]
    assert key["kid"] == pool.kid and "d" not in key
    assert jwt.decode(pool.token("dr-demo"), jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_aud": False})


def test_the_token_endpoint_signs_for_a_demo_reviewer(base, pool):
    answer = requests.post(f"{base}/local/token", json={"username": "nurse-demo"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert pool.claims_for(body["id_token"])["cognito:username"] == "nurse-demo"


def test_the_token_endpoint_names_the_known_reviewers_for_an_unknown_one(base):
    diagnostics = outcome(requests.post(f"{base}/local/token", json={"username": "dr-nobody"}, timeout=30),
                          404, "not-found")
    assert "dr-demo" in diagnostics and "dr-nobody" in diagnostics
    outcome(requests.post(f"{base}/local/token", data=b"dr-demo", timeout=30), 400, "invalid")


@pytest.mark.parametrize("source_ip, status", [("10.0.0.9", 403), ("192.168.1.20", 403), ("::1", 200),
                                               ("::ffff:127.0.0.1", 200)])
def test_the_token_endpoint_answers_this_machine_only(pool, source_ip, status):
    gateway = Gateway(Topology.load(), user_pool=pool)
    answered, _, _ = gateway.handle("POST", "/local/token", {}, b'{"username": "dr-demo"}', source_ip)
    assert answered == status


def test_a_reviewer_token_reaches_the_handler_with_the_claims_as_a_rest_api_puts_them(base, cases_events, pool):
    answer = requests.get(f"{base}/cases", headers=bearer(pool.token("dr-demo")), timeout=30)
    assert answer.status_code == 200
    (event,) = cases_events
    claims = event["requestContext"]["authorizer"]["claims"]
    assert set(event["requestContext"]["authorizer"]) == {"claims"}
    assert all(isinstance(v, str) for v in claims.values())
    assert claims["sub"] == "dr-demo" and claims["cognito:groups"] == "physician-reviewer"
    assert claims["custom:npi"] == "1234567893"


def test_a_raw_reviewer_token_is_taken_too(base, cases_events, pool):
    answer = requests.get(f"{base}/cases", headers={"Authorization": pool.token("lead-demo")}, timeout=30)
    assert answer.status_code == 200 and cases_events[0]["requestContext"]["authorizer"]["claims"]["sub"] == "lead-demo"


def test_a_partner_token_on_the_review_api_is_told_which_door_it_opens(base, cases_events):
    diagnostics = outcome(requests.get(f"{base}/cases", headers=PARTNER, timeout=30), 403, "forbidden")
    assert "reviewer tokens" in diagnostics
    assert cases_events == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Bearer a.b.c"}],
                         ids=["none", "unknown", "malformed"])
def test_no_reviewer_token_is_the_gateways_401(base, cases_events, headers):
    answer = requests.get(f"{base}/cases/C1", headers=headers, timeout=30)
    assert "token is required" in outcome(answer, 401, "login")
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert cases_events == []


def test_an_expired_or_foreign_reviewer_token_is_401(base, cases_events, pool, tmp_path):
    foreign = LocalUserPool(signing_key=tmp_path / "other.pem")
    for token in (pool.token("dr-demo", ttl=-1), foreign.token("dr-demo")):
        outcome(requests.get(f"{base}/cases", headers=bearer(token), timeout=30), 401, "login")
    assert cases_events == []


def test_a_reviewer_token_on_the_partner_api_is_an_unknown_token(base, pool):
    answer = requests.post(f"{base}/fhir/Claim/$submit", headers={**bearer(pool.token("dr-demo")),
                                                                 "Content-Type": "application/fhir+json"},
                           data="{}", timeout=30)
    outcome(answer, 401, "login")


def test_the_partner_token_still_opens_the_partner_api(base):
    answer = requests.get(f"{base}/fhir/ClaimResponse/nothing-here", headers=PARTNER, timeout=30)
    assert answer.status_code not in (401, 403)


def test_claimbridge_token_prints_the_token_alone(reviewer_stack, base, cases_events, pool):
    run = subprocess.run([sys.executable, "-m", "infra.local.cli", "token", "dr-demo",
                          "--signing-key", str(pool.key_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.splitlines()
    assert run.stdout == line + "\n"
    assert pool.claims_for(line)["cognito:username"] == "dr-demo"
    assert requests.get(f"{base}/cases", headers=bearer(line), timeout=30).status_code == 200


def test_claimbridge_token_asks_the_stack(base, pool):
    run = subprocess.run([sys.executable, "-m", "infra.local.cli", "token", "lead-demo", "--url", base],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert pool.claims_for(run.stdout.strip())["cognito:groups"] == "supervisor"


def test_claimbridge_token_for_an_unknown_reviewer_says_so_on_stderr(base, pool):
    for where in (["--signing-key", str(pool.key_path)], ["--url", base]):
        run = subprocess.run([sys.executable, "-m", "infra.local.cli", "token", "dr-nobody", *where],
                             capture_output=True, text=True, timeout=60)
        assert (run.returncode, run.stdout) == (2, "")
        assert "dr-nobody" in run.stderr and "dr-demo" in run.stderr
