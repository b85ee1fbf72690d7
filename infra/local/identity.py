"""The local stand-in for the Cognito user pool `ReviewerPool` and API Gateway's authorizer for it.

On AWS, Cognito signs the reviewers' ID tokens and API Gateway checks them before a handler runs;
nothing of this module is deployed. Here the demo reviewers of reviewers.yaml get tokens signed with
a key kept outside the work tree, and `claims_for` checks a request's token the way API Gateway's
COGNITO_USER_POOLS authorizer does, handing the claims over in the shape a REST API proxy event
carries them. Groups are not checked: the authorizer does not, the handler does.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REVIEWERS = Path(__file__).with_name("reviewers.yaml")
KEY_ENV = "CLAIMBRIDGE_SIGNING_KEY"
# Fixed, whatever the port: a token stays good across restarts on another port, as it would on AWS.
ISSUER = "https://cognito-idp.local.claimbridge/local_reviewers"
CLIENT_ID = "claimbridge-local-console"  # the stand-in for ReviewerPoolClient
TOKEN_TTL = 3600  # seconds: ReviewerPoolClient's IdTokenValidity (60 minutes)
CLOCK_SKEW = 0  # seconds; issuer and verifier share this machine's clock
# API Gateway hands these to the handler as Java's Date.toString() in UTC ("Tue Apr 04 18:39:39 UTC 2023"),
# while auth_time stays a number in a string ("1680629979"): seen in real REST API events.
DATE_CLAIMS = ("exp", "iat", "nbf")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def default_key_path() -> Path:
    """$CLAIMBRIDGE_SIGNING_KEY, else ~/.claimbridge/: never in the work tree, where it could be committed."""
    return Path(os.environ.get(KEY_ENV) or Path.home() / ".claimbridge" / "local-signing-key.pem")


class UnknownReviewer(KeyError):
    def __init__(self, username: str, known: list[str]):
        super().__init__(username)
        self.username = username
        self.message = f"no reviewer {username!r} in the local user pool (known: {', '.join(known)})"

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.message


@dataclass(frozen=True)
class Reviewer:
    username: str
    sub: str
    groups: tuple[str, ...] = ()
    npi: str | None = None
    specialty: str | None = None
    conflicts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # partners, provider_npis, organizations


def load_reviewers(path: Path) -> dict[str, Reviewer]:
    doc = yaml.safe_load(path.read_text()) or {}
    return {r["username"]: Reviewer(
        username=r["username"], sub=str(r.get("sub") or r["username"]), groups=tuple(r.get("groups") or ()),
        npi=str(r["npi"]) if r.get("npi") else None, specialty=r.get("specialty"),
        conflicts={kind: tuple(values or ()) for kind, values in (r.get("conflicts") or {}).items()},
    ) for r in doc.get("reviewers") or []}


def signing_key(path: Path) -> rsa.RSAPrivateKey:
    """The pool's RSA key from `path`, made there (mode 0600) at first use. Written aside and
    hard-linked into place, so a stack and `claimbridge token` starting at once agree on one key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            with suppress(FileExistsError):  # another process got there first: use its key
                os.link(aside, path)
        finally:
            os.unlink(aside)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def thumbprint(jwk: Mapping[str, str]) -> str:
    """An RSA key's RFC 7638 thumbprint, its `kid` (PyJWT has none): SHA-256 of the required
    members, in order, without spaces."""
    required = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(required.encode()).digest()).rstrip(b"=").decode()


def bearer_value(authorization: str | None) -> str | None:
    """The token of an Authorization header. API Gateway's docs say only "include the token in the
    Authorization header"; deployed REST APIs take it bare or as "Bearer <token>" (Amplify's docs
    send the prefix; awslabs/nx-plugin-for-aws#828 shows a deployed REST API taking it), so both
    are taken here. Any other scheme is not a token."""
    scheme, _, rest = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return None if rest else scheme or None


def rest_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as a REST API puts them at requestContext.authorizer.claims: every value a string,
    lists joined with commas ("cognito:groups": "reviewer,supervisor"), booleans "true"/"false"."""
    def text(name: str, value: Any) -> str:
        if name in DATE_CLAIMS and isinstance(value, (int, float)):
            return _java_date(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)
    return {name: text(name, value) for name, value in claims.items()}


def _java_date(seconds: float) -> str:
    t = datetime.fromtimestamp(seconds, timezone.utc)
    return f"{_DAYS[t.weekday()]} {_MONTHS[t.month - 1]} {t:%d %H:%M:%S} UTC {t.year}"


class LocalUserPool:
    """Demo reviewers, their ID tokens, the pool's JWKS, and the check API Gateway makes."""

    def __init__(self, reviewers_file: str | Path | None = None, signing_key: str | Path | None = None):
        self.reviewers = load_reviewers(Path(reviewers_file or REVIEWERS))
        self.key_path = Path(signing_key) if signing_key else default_key_path()

    def reviewer(self, username: str) -> Reviewer:
        try:
            return self.reviewers[username]
        except KeyError:
            raise UnknownReviewer(username, sorted(self.reviewers)) from None

    def token(self, username: str, ttl: int = TOKEN_TTL) -> str:
        """An ID token shaped like Cognito's for ReviewerPoolClient."""
        user = self.reviewer(username)
        now = int(time.time())
        claims: dict[str, Any] = {"sub": user.sub}
        if user.groups:  # Cognito leaves the claim out for a user in no group
            claims["cognito:groups"] = list(user.groups)
        if user.npi:
            claims["custom:npi"] = user.npi
        if user.specialty:
            claims["custom:specialty"] = user.specialty
        claims |= {"iss": ISSUER, "cognito:username": user.username, "aud": CLIENT_ID, "token_use": "id",
                   "auth_time": now, "iat": now, "exp": now + ttl, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict:
        return {"keys": [self._public_jwk]}

    @property
    def kid(self) -> str:
        return self._public_jwk["kid"]

    def claims_for(self, authorization: str | None) -> dict[str, str] | None:
        """The claims API Gateway would hand the handler for this Authorization header, or None
        where it would answer 401: not a JWT, another key, expired, another issuer, or not an ID
        token of the pool's client. ReviewerPool declares no AuthorizationScopes, and without scopes
        API Gateway takes ID tokens only (access tokens need scopes on the method), so access
        tokens are refused here too."""
        token = bearer_value(authorization)
        if not token:
            return None
        try:
            if jwt.get_unverified_header(token).get("kid") != self.kid:
                return None
            claims = jwt.decode(token, self._private_key.public_key(), algorithms=["RS256"], issuer=ISSUER,
                                audience=CLIENT_ID, leeway=CLOCK_SKEW,
                                options={"require": ["exp", "iat", "iss", "sub", "aud", "token_use"]})
        except jwt.PyJWTError:
            return None
        return rest_claims(claims) if claims["token_use"] == "id" else None

    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        return signing_key(self.key_path)

    @cached_property
    def _public_jwk(self) -> dict[str, str]:
        jwk = RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": thumbprint(jwk), "n": jwk["n"], "e": jwk["e"]}
