"""HTTP delivery to partners' FHIR endpoints: `FhirEndpoint.put` sends a ClaimResponse and reports
what came back as an `Answer`. It never raises: a refused connection, a timeout or an unreadable
secret is an Answer too, so the delivery worker has one shape to judge.

How each kind of `delivery.fhir.auth` authenticates the PUT:

- none: nothing (TLS with the system's CAs for https).
- `bearer`: `Authorization: Bearer <token_file's contents, stripped>`.
- `smart-backend` (SMART App Launch v2, Backend Services): a client assertion (a JWT signed with
  `key_file`'s private key: iss = sub = client_id, aud = the token endpoint, five-minute exp, random
  jti) is exchanged for an access token with the client_credentials grant. The token endpoint is
  `token_url`, else discovered once from {base_url}/.well-known/smart-configuration. The access token
  is reused until 60 s before it expires; a 401 from the FHIR server gets one new token and one retry.
- `mtls`: the client certificate and key (`cert_file`, `key_file`) are presented in the handshake;
  `ca_file` pins the server's CA (else the system's CAs). They are read when the endpoint first
  connects: a rotated certificate is picked up at the next cold start.

Secrets (`*_file`): locally (PARTNERS_FILE set) they are files, relative to the partners file's
directory; on AWS they name Secrets Manager secrets, cached five minutes. A secret's value never
reaches a log line or an Answer; errors name the config field ("delivery.fhir.auth.token_file:
cannot be read").

What is worth retrying (`Answer.retryable`):

- no answer (`status` None): a connect error, timeout or reset; a token endpoint or SMART discovery
  that failed the same way or answered 408, 429 or 5xx (error "token endpoint 503"); a secret that
  cannot be read or used (an operator can fix it without a deploy; the attempts limit still ends it);
- 408, 429 and 5xx from the FHIR server, after `retry_after` seconds when it says so.

Not retryable: any other non-2xx status, from the FHIR server or, with error "token endpoint refused"
or "smart-configuration refused", from the token endpoint or discovery (a 400/401 there is our
configuration's fault: the record goes to the dead-letter queue rather than hammer the endpoint).

`post` sends to an arbitrary URL (no partner auth, the caller's headers) over one shared client, with
the same Answer (its `body` is the answer's, e.g. an HL7 ACK); `post_json` is `post` for subscription
notifications, Content-Type application/json unless the headers say otherwise.
"""
from __future__ import annotations

import math
import os
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable

import httpx
import jwt

from adapters.partners import BearerAuth, FhirTarget, MtlsAuth, SmartBackendAuth
from review.delivery import retryable

FHIR_JSON = "application/fhir+json"
CONNECT_TIMEOUT = 5.0
TOKEN_MARGIN = 60.0  # an access token is replaced this many seconds before it expires
ASSERTION_LIFETIME = 300  # SMART: a client assertion expires no more than five minutes after issue
DEFAULT_TOKEN_LIFETIME = 300.0  # when the token endpoint leaves out expires_in
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_FIELD = "delivery.fhir.auth"
SECRET_MAX_AGE = 300
# What httpx raises for a request that got no usable answer (connect, timeout, reset, protocol, bad URL).
HTTP_ERRORS = (httpx.HTTPError, httpx.InvalidURL)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (connect error, timeout, reset, or a step before the PUT failed)
    retry_after: float | None = None  # seconds, from Retry-After
    latency_ms: float = 0.0  # the whole call, token fetch and retry included
    error: str | None = None  # short and safe: an exception class name or a config field, never a value
    body: bytes = field(default=b"", repr=False)  # what the peer answered (an HL7 ACK); kept out of logs

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return retryable(self.status)


def read_secret(name: str, base_dir: Path | None = None) -> bytes:
    """A `*_file` value's bytes: the file `name` under `base_dir` (unless absolute). Without a
    base_dir, the partners file's directory when PARTNERS_FILE is set, else the Secrets Manager
    secret `name` (cached five minutes by Powertools)."""
    if base_dir is None and (partners_file := os.environ.get("PARTNERS_FILE")):
        base_dir = Path(partners_file).parent
    if base_dir is not None:
        return (base_dir / name).read_bytes()
    from aws_lambda_powertools.utilities.parameters import get_secret

    value = get_secret(name, max_age=SECRET_MAX_AGE)
    return value if isinstance(value, bytes) else value.encode()


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP-date, never negative."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp() - now  # HTTP-dates are GMT
    return max(0.0, seconds) if math.isfinite(seconds) else None


class _Failed(Exception):
    """A step of the call that ends it without a usable answer from the FHIR server."""

    def __init__(self, error: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(error)
        self.error, self.status, self.retry_after = error, status, retry_after


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _answer(response: httpx.Response, started: float, now: float) -> Answer:
    return Answer(status=response.status_code, retry_after=retry_after(response.headers.get("Retry-After"), now),
                  latency_ms=_elapsed_ms(started), body=response.content)


def _timeout(read: float) -> httpx.Timeout:
    return httpx.Timeout(read, connect=CONNECT_TIMEOUT)


class FhirEndpoint:
    """One partner's FHIR endpoint: a keep-alive client, and the SMART token while it is good."""

    def __init__(self, target: FhirTarget, secret: Callable[[str], bytes], *, timeout: float = 10.0,
                 now: Callable[[], float] = time.time):
        self.target = target
        self._secret = secret
        self._now = now
        self._timeout = _timeout(timeout)
        self._client: httpx.Client | None = None
        self._token_url = target.auth.token_url if isinstance(target.auth, SmartBackendAuth) else None
        self._token: tuple[str, float] | None = None  # access token, good until (epoch seconds)

    def put(self, path: str, body: bytes) -> Answer:
        """PUT {base_url}/{path} with `body` (FHIR JSON)."""
        started = time.perf_counter()
        try:
            response = self._put(path, body)
            if response.status_code == 401 and isinstance(self.target.auth, SmartBackendAuth):
                self._token = None  # revoked or expired early: one new token, one more try
                response = self._put(path, body)
        except _Failed as failed:
            return Answer(failed.status, failed.retry_after, _elapsed_ms(started), failed.error)
        except HTTP_ERRORS as err:
            return Answer(None, None, _elapsed_ms(started), type(err).__name__)
        return _answer(response, started, self._now())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _put(self, path: str, body: bytes) -> httpx.Response:
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **self._authorization()}
        return self._http().put(f"{self.target.base_url}/{path.lstrip('/')}", content=body, headers=headers)

    def _authorization(self) -> dict[str, str | bytes]:
        auth = self.target.auth
        if isinstance(auth, BearerAuth):
            return {"Authorization": b"Bearer " + self._read("token_file").strip()}
        if isinstance(auth, SmartBackendAuth):
            return {"Authorization": f"Bearer {self._access_token(auth)}"}
        return {}  # mTLS authenticates in the handshake

    def _read(self, field: str) -> bytes:
        """The secret a field of the auth config names; a failure names the field, never the value."""
        try:
            return self._secret(getattr(self.target.auth, field))
        except Exception:  # a missing file, a denied or absent secret: all "cannot be read"
            raise _Failed(f"{AUTH_FIELD}.{field}: cannot be read") from None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(verify=self._tls(), timeout=self._timeout)
        return self._client

    def _tls(self) -> ssl.SSLContext:
        auth = self.target.auth
        if not isinstance(auth, MtlsAuth):
            return ssl.create_default_context()
        try:
            context = ssl.create_default_context(cadata=self._read("ca_file").decode() if auth.ca_file else None)
        except (ssl.SSLError, ValueError):  # UnicodeDecodeError is a ValueError
            raise _Failed(f"{AUTH_FIELD}.ca_file: not a usable CA certificate") from None
        chain = self._read("cert_file").rstrip() + b"\n" + self._read("key_file")
        # ssl loads a certificate chain only from a file: a private one (mkstemp: 0600), gone once loaded.
        with tempfile.NamedTemporaryFile(suffix=".pem") as file:
            file.write(chain)
            file.flush()
            try:
                context.load_cert_chain(file.name)
            except ssl.SSLError:
                raise _Failed(f"{AUTH_FIELD}.cert_file: not a usable certificate and key") from None
        return context

    def _access_token(self, auth: SmartBackendAuth) -> str:
        if self._token is not None and self._now() < self._token[1]:
            return self._token[0]
        token_url = self._token_url or self._discover()
        issued = self._now()
        response = self._call("token endpoint", "POST", token_url, data={
            "grant_type": "client_credentials",
            "scope": auth.scope,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": self._assertion(auth, token_url),
        })
        try:
            grant = response.json()
            token, lifetime = grant["access_token"], float(grant.get("expires_in", DEFAULT_TOKEN_LIFETIME))
            if not isinstance(token, str) or not token:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _Failed("token endpoint answer unusable") from None
        self._token = (token, issued + lifetime - TOKEN_MARGIN)
        return token

    def _discover(self) -> str:
        response = self._call("smart-configuration", "GET", f"{self.target.base_url}/.well-known/smart-configuration")
        try:
            token_url = response.json()["token_endpoint"]
            if not isinstance(token_url, str) or not token_url.startswith(("https://", "http://")):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise _Failed("smart-configuration has no token_endpoint") from None
        self._token_url = token_url
        return token_url

    def _assertion(self, auth: SmartBackendAuth, token_url: str) -> str:
        now = int(self._now())
        claims = {"iss": auth.client_id, "sub": auth.client_id, "aud": token_url, "iat": now,
                  "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex}
        headers = {"typ": "JWT", **({"kid": auth.kid} if auth.kid else {})}
        try:
            return jwt.encode(claims, self._read("key_file"), algorithm=auth.alg, headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError):  # not PEM, or not a key for this alg
            raise _Failed(f"{AUTH_FIELD}.key_file: not a usable {auth.alg} private key") from None

    def _call(self, what: str, method: str, url: str, **request) -> httpx.Response:
        """A request on the way to the PUT (discovery, token); anything but a 2xx ends the call."""
        try:
            response = self._http().request(method, url, headers={"Accept": "application/json"}, **request)
        except HTTP_ERRORS as err:
            raise _Failed(f"{what} {type(err).__name__}") from None
        status = response.status_code
        if retryable(status):
            raise _Failed(f"{what} {status}", retry_after=retry_after(response.headers.get("Retry-After"), self._now()))
        if not 200 <= status < 300:
            raise _Failed(f"{what} refused", status=status)
        return response


@lru_cache(maxsize=64)
def endpoint_for(target: FhirTarget) -> FhirEndpoint:
    """The endpoint for a target config, kept for the life of the process (a warm Lambda reuses its
    connections and tokens); a changed config is a new key, so a new endpoint."""
    return FhirEndpoint(target, read_secret)


_shared: httpx.Client | None = None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> Answer:
    """POST `body` to `url` with exactly `headers`, no partner auth, over one shared client."""
    global _shared
    started = time.perf_counter()
    if _shared is None:
        _shared = httpx.Client(verify=ssl.create_default_context())
    try:
        response = _shared.post(url, content=body, headers=headers, timeout=_timeout(timeout))
    except HTTP_ERRORS as err:
        return Answer(None, None, _elapsed_ms(started), type(err).__name__)
    return _answer(response, started, time.time())


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> Answer:
    """`post` with Content-Type application/json unless `headers` give one (a subscription notification)."""
    if not any(name.lower() == "content-type" for name in headers):
        headers = {**headers, "Content-Type": "application/json"}
    return post(url, body, headers, timeout)
