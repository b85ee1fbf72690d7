"""One local stack for the session: real HTTP to the handlers, moto's server as DynamoDB and S3."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import boto3
import pytest
import requests

from adapters.partners import token_hash
from infra.local.stack import LocalStack

PARTNERS = ["alpha", "beta", "gamma", "delta"] + [f"corpus{n}" for n in range(40)]
FHIR_JSON = "application/fhir+json"
# gamma's determinations are owed to a FHIR endpoint and an HL7 engine (tests/integration/test_outbox.py).
DELIVERING = {"fhir": {"base_url": "http://127.0.0.1:9/fhir"}, "hl7v2": {"mllp": "127.0.0.1:9"}}
# delta speaks for one organization: it may subscribe to PAS notifications for it (test_subscriptions.py).
ORGANIZATIONS = {"delta": ["http://hl7.org/fhir/sid/us-npi|1234567893"]}


@dataclass
class BearerClient:
    """HTTP to the local stack with one bearer token."""

    base: str
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=30)

    def post(self, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=30)

    def put(self, path: str, body: dict) -> requests.Response:
        return requests.put(f"{self.base}{path}", json=body, headers=self.headers, timeout=30)


class Api(BearerClient):
    """The FHIR API as one partner (its token is token-<partner>)."""

    @classmethod
    def of(cls, base: str, partner: str) -> Api:
        return cls(base, f"token-{partner}")

    def submit(self, body, content_type: str = FHIR_JSON, operation: str = "$submit") -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.base}/fhir/Claim/{operation}", data=data, timeout=30,
                             headers={**self.headers, "Content-Type": content_type})


class ReviewerApi(BearerClient):
    """The review API with one reviewer's token (signed by the stack's local user pool)."""

    def command(self, case_id: str, command: str, **body) -> requests.Response:
        """A lifecycle command at the case's current version."""
        version = self.get(f"/cases/{case_id}").json()["case"]["version"]
        return self.post(f"/cases/{case_id}/{command}", {"version": version, **body})

    def decide(self, case_id: str, *decisions: dict, me: str = "dr-demo") -> requests.Response:
        """Assign to self, start, decide: the reviewer's whole path to a determination."""
        if self.get(f"/cases/{case_id}").json()["case"]["status"] == "received":
            assert self.command(case_id, "assignment", reviewer=me).status_code == 200
        if self.get(f"/cases/{case_id}").json()["case"]["status"] == "assigned":
            assert self.command(case_id, "start").status_code == 200
        return self.command(case_id, "determination", decisions=list(decisions))


# Failed deliveries come back after 1-2 s here (30 s, doubling to an hour, on AWS).
QUICK_BACKOFF = {"DELIVERY_BACKOFF_BASE_SECONDS": "1", "DELIVERY_BACKOFF_CAP_SECONDS": "2"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    partners = tmp_path_factory.mktemp("partners") / "partners.yaml"
    partners.write_text(json.dumps({"partners": [
        {"id": p, "token_sha256": [token_hash(f"token-{p}")],
         "hl7_facilities": [p.upper()] + (["ACMEHLTH"] if p == "alpha" else []),
         **({"delivery": DELIVERING} if p == "gamma" else {}),
         **({"org_identifiers": ORGANIZATIONS[p]} if p in ORGANIZATIONS else {})} for p in PARTNERS]}))
    key = tmp_path_factory.mktemp("keys") / "signing-key.pem"
    with pytest.MonkeyPatch.context() as env:
        for name, value in QUICK_BACKOFF.items():
            env.setenv(name, value)
        stack = LocalStack("127.0.0.1", 0, str(partners), mllp_port=0, signing_key=str(key)).start()
        yield stack
        stack.stop()


_partner_numbers = iter(range(10_000))


@pytest.fixture
def delivering_partner(stack):
    """delivering_partner(delivery, **more) -> a new partner id (token token-<id>) whose delivery
    targets are these, added to the stack's partners file (which the stack re-reads when it changes)."""
    import os

    import yaml

    def add(delivery: dict, **more) -> str:
        partner = f"deliver{next(_partner_numbers)}"
        doc = yaml.safe_load(open(stack.partners_file)) or {}
        doc["partners"].append({"id": partner, "token_sha256": [token_hash(f"token-{partner}")],
                                "hl7_facilities": [partner.upper()], "delivery": delivery, **more})
        with open(stack.partners_file, "w") as f:
            f.write(json.dumps(doc))
        stat = os.stat(stack.partners_file)  # a new mtime even within the clock's granularity
        os.utime(stack.partners_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        return partner
    return add


@pytest.fixture(scope="session")
def base_url(stack) -> str:
    return stack.base_url


@pytest.fixture
def api(base_url):
    return lambda partner="alpha": Api.of(base_url, partner)


@pytest.fixture
def reviewer(stack):
    """reviewer("dr-demo") -> the review API as that demo reviewer."""
    return lambda user="dr-demo": ReviewerApi(stack.base_url, stack.user_pool.token(user))


@pytest.fixture(scope="session")
def dynamodb(stack):
    return boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)


@pytest.fixture
def case_count(dynamodb):
    """Cases stored for a partner, read straight from the table (a test may Scan; requests never do)."""
    import os

    def count(partner: str) -> int:
        pages = dynamodb.get_paginator("scan").paginate(TableName=os.environ["CASES_TABLE"])
        kinds = Counter(i["partner"]["S"] for page in pages for i in page["Items"] if i["SK"]["S"] == "CASE")
        return kinds[partner]
    return count


_fresh = iter(range(1000))


@pytest.fixture
def fresh_partner():
    """A corpus partner nobody has used yet in this session."""
    return f"corpus{next(_fresh)}"


@pytest.fixture
def enrolled(stack, tmp_path):
    """enrolled(username, groups=(), npi=None) -> an ID token for a user outside the demo reviewers,
    signed with the stack's key: as if an administrator had enrolled them in its user pool."""
    import yaml

    from infra.local.identity import LocalUserPool

    def token(username: str, groups: tuple[str, ...] = (), npi: str | None = None) -> str:
        users = tmp_path / f"reviewers-{username}.yaml"
        users.write_text(yaml.safe_dump({"reviewers": [
            {"username": username, "sub": username, "groups": list(groups), **({"npi": npi} if npi else {})}]}))
        return LocalUserPool(reviewers_file=users, signing_key=stack.user_pool.key_path).token(username)
    return token


@pytest.fixture(scope="session")
def archived(stack):
    """archived(key) -> the bytes the archive bucket holds under this key."""
    import os

    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    return lambda key: s3.get_object(Bucket=os.environ["ARCHIVE_BUCKET"], Key=key)["Body"].read()
