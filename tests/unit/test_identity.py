"""The local user pool: its ID tokens, and the check API Gateway's Cognito authorizer makes. No I/O
beyond a key file in a temporary directory."""
from __future__ import annotations

import re
import stat

import jwt
import pytest

from infra.local.identity import CLIENT_ID, ISSUER, LocalUserPool, UnknownReviewer, rest_claims, thumbprint

JAVA_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}")


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> LocalUserPool:
    return LocalUserPool(signing_key=tmp_path_factory.mktemp("key") / "nested" / "signing-key.pem")


@pytest.fixture(scope="module")
def other_pool(tmp_path_factory) -> LocalUserPool:
    return LocalUserPool(signing_key=tmp_path_factory.mktemp("other") / "signing-key.pem")


def resigned(pool: LocalUserPool, username: str = "dr-demo", *, drop: tuple[str, ...] = (), **changes) -> str:
    """A token of `pool` for `username` with claims changed, signed again with the pool's own key."""
    claims = jwt.decode(pool.token(username), options={"verify_signature": False})
    claims = {k: v for k, v in claims.items() if k not in drop} | changes
    return jwt.encode(claims, pool.key_path.read_bytes(), algorithm="RS256", headers={"kid": pool.kid})


def test_a_token_round_trips_to_the_claims_a_rest_api_hands_over(pool):
    claims = pool.claims_for(f"Bearer {pool.token('dr-demo')}")
    assert all(isinstance(v, str) for v in claims.values())
    assert claims | {"auth_time": "", "iat": "", "exp": "", "jti": ""} == {
        "sub": "dr-demo", "cognito:username": "dr-demo", "cognito:groups": "physician-reviewer",
        "custom:npi": "1234567893", "custom:specialty": "internal-medicine", "token_use": "id",
        "aud": CLIENT_ID, "iss": ISSUER, "auth_time": "", "iat": "", "exp": "", "jti": ""}
    assert claims["auth_time"].isdigit()
    assert JAVA_DATE.fullmatch(claims["exp"]) and JAVA_DATE.fullmatch(claims["iat"])


def test_the_token_is_shaped_like_cognitos(pool):
    token = pool.token("nurse-demo", ttl=60)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": pool.kid, "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cognito:groups"] == ["reviewer"] and claims["exp"] - claims["iat"] == 60
    assert "custom:npi" not in claims and "custom:specialty" not in claims


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer ", "  Bearer   "])
def test_the_token_is_taken_bare_or_as_a_bearer_token(pool, prefix):
    assert pool.claims_for(prefix + pool.token("lead-demo"))["cognito:groups"] == "supervisor"


def test_an_expired_token_is_refused(pool):
    assert pool.claims_for(pool.token("dr-demo", ttl=-1)) is None


@pytest.mark.parametrize("changes", [
    {"aud": "another-client"},
    {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"},
    {"token_use": "access"},
])
def test_a_token_for_another_client_issuer_or_use_is_refused(pool, changes):
    assert pool.claims_for(resigned(pool, **changes)) is None


def test_an_access_token_is_refused_as_api_gateway_refuses_it_without_scopes(pool):
    access = resigned(pool, drop=("aud",), token_use="access", client_id=CLIENT_ID,
                      scope="aws.cognito.signin.user.admin")
    assert pool.claims_for(access) is None


@pytest.mark.parametrize("missing", ["exp", "iss", "sub", "token_use"])
def test_a_token_without_a_required_claim_is_refused(pool, missing):
    assert pool.claims_for(resigned(pool, drop=(missing,))) is None


def test_a_token_signed_by_another_key_is_refused(pool, other_pool):
    assert pool.claims_for(other_pool.token("dr-demo")) is None
    # The pool's own kid does not make another key's signature good.
    claims = jwt.decode(other_pool.token("dr-demo"), options={"verify_signature": False})
    forged = jwt.encode(claims, other_pool.key_path.read_bytes(), algorithm="RS256", headers={"kid": pool.kid})
    assert pool.claims_for(forged) is None


def test_an_unsigned_or_symmetric_token_is_refused(pool):
    claims = jwt.decode(pool.token("dr-demo"), options={"verify_signature": False})
    assert pool.claims_for(jwt.encode(claims, None, algorithm="none", headers={"kid": pool.kid})) is None
    assert pool.claims_for(jwt.encode(claims, "secret" * 6, algorithm="HS256", headers={"kid": pool.kid})) is None


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic ZHI6ZGVtbw==", "not-a-jwt",
                                    "a.b.c", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.", "token-alpha"])
def test_a_malformed_header_is_refused(pool, header):
    assert pool.claims_for(header) is None


def test_groups_are_one_comma_separated_string(tmp_path, pool):
    reviewers = tmp_path / "reviewers.yaml"
    reviewers.write_text("reviewers:\n  - {username: lead, sub: lead, groups: [reviewer, supervisor]}\n"
                         "  - {username: nobody-in-particular}\n")
    two = LocalUserPool(reviewers, pool.key_path)
    assert two.claims_for(two.token("lead"))["cognito:groups"] == "reviewer,supervisor"
    assert "cognito:groups" not in two.claims_for(two.token("nobody-in-particular"))  # as Cognito leaves it out


def test_rest_claims_are_strings_as_api_gateway_writes_them():
    assert rest_claims({"exp": 1680629979, "iat": 1680626379, "auth_time": 1680626379, "email_verified": True,
                        "cognito:groups": ["a", "b"], "sub": "x"}) == {
        "exp": "Tue Apr 04 17:39:39 UTC 2023", "iat": "Tue Apr 04 16:39:39 UTC 2023", "auth_time": "1680626379",
        "email_verified": "true", "cognito:groups": "a,b", "sub": "x"}


def test_an_unknown_user_is_named_with_the_known_ones(pool):
    with pytest.raises(UnknownReviewer) as raised:
        pool.token("dr-nobody")
    assert isinstance(raised.value, KeyError)
    assert str(raised.value) == "no reviewer 'dr-nobody' in the local user pool (known: dr-demo, lead-demo, nurse-demo)"


def test_the_demo_reviewers(pool):
    assert {u: (r.sub, r.groups) for u, r in pool.reviewers.items()} == {
        "dr-demo": ("dr-demo", ("physician-reviewer",)), "nurse-demo": ("nurse-demo", ("reviewer",)),
        "lead-demo": ("lead-demo", ("supervisor",))}
    assert pool.reviewers["nurse-demo"].conflicts["partners"] == ("conflicted-payer",)


def test_the_key_is_private_and_kept(pool):
    pool.jwks()
    assert stat.S_IMODE(pool.key_path.stat().st_mode) == 0o600
    again = LocalUserPool(signing_key=pool.key_path)
    assert again.kid == pool.kid and again.claims_for(pool.token("dr-demo"))


def test_the_jwks_holds_the_public_key_only(pool):
    (key,) = pool.jwks()["keys"]
    assert set(key) == {"kty", "alg", "use", "kid", "n", "e"}
    assert key["kid"] == thumbprint(key)
    assert jwt.decode(pool.token("dr-demo"), jwt.PyJWK(key).key, algorithms=["RS256"], audience=CLIENT_ID)


def test_the_kid_is_the_rfc_7638_thumbprint():
    rfc_example = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W"
        "-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08q"
        "NLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")}
    assert thumbprint(rfc_example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
