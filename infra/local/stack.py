"""The local stack: one process that stands in for API Gateway, Lambda, DynamoDB, S3, SNS, SQS and
EventBridge Pipes.

- DynamoDB, S3, SNS and SQS are moto's server on a free loopback port (unless
  CLAIMBRIDGE_DYNAMODB_ENDPOINT points elsewhere), with the tables, buckets, topics and queues of
  template.yaml; its Pipes and queue-fed functions run on threads (infra/local/events.py).
- HTTP requests become API Gateway REST proxy events, authorized by the template's own Lambda
  authorizer (partners) or by a local stand-in for its Cognito user pool (reviewers,
  infra/local/identity.py), and handed to the same handlers Lambda runs.
- Absolute URLs in answers come from PUBLIC_BASE_URL (the stack's own address unless set), and the
  forwarded-protocol headers are the stack's, as API Gateway's are: never the client's.
"""
from __future__ import annotations

import base64
import importlib
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

from fhir_mappings.operation_outcome import operation_outcome

from .console import ConsoleFiles
from .embedded import EmbeddedAws
from .identity import TOKEN_TTL, LocalUserPool, UnknownReviewer
from .topology import Route, Topology

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit
LISTEN_BACKLOG = 128
logger = logging.getLogger("claimbridge.local")
READ_TIMEOUT = 30.0  # seconds a connection may stall mid-request (or idle between requests) before it is closed
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
ENDPOINT_VARS = {"dynamodb": "CLAIMBRIDGE_DYNAMODB_ENDPOINT", "s3": "CLAIMBRIDGE_S3_ENDPOINT",
                 "sns": "CLAIMBRIDGE_SNS_ENDPOINT", "sqs": "CLAIMBRIDGE_SQS_ENDPOINT"}
# Stand-ins for Cognito's own endpoints: served by the gateway itself, not routes of template.yaml.
JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/local/token"
USERS_PATH = "/local/users"  # the demo reviewers, for the console's local sign-in page


class LambdaContext:
    def __init__(self, function: str):
        self.function_name = function
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def load_handler(dotted: str) -> Callable:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


class Gateway:
    """API Gateway REST API semantics over the template's routes."""

    def __init__(self, topology: Topology, domain: str = "localhost", user_pool: LocalUserPool | None = None):
        self.topology = topology
        self.routes = topology.routes
        self.authorizer = topology.authorizer_handler
        self.user_pool = user_pool  # without one, every user pool route answers 401
        self.domain = domain  # requestContext.domainName: the API's own name, as API Gateway reports it
        self.turns = Turns()
        self.console = ConsoleFiles(topology.console_headers)

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(raw_path)
        path = unquote(url.path)
        if answer := self.console.answer(method, path):
            return answer
        if self.user_pool and (answer := self._user_pool_endpoint(method, path, body, source_ip, headers)):
            return answer
        route, params = self._match(method, path)
        if route is None:  # API Gateway answers an unrouted path or method this way
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN")
        if len(body) > MAX_REQUEST_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE")
        context = {}
        if route.authorized:
            authorization = headers.get("Authorization") or headers.get("authorization")
            if self.topology.authorizer_type(route.authorizer) == "cognito":
                claims = self.user_pool.claims_for(authorization) if self.user_pool else None
                if claims is None:
                    partner = self._authorize(authorization, route) is not None
                    return self.partner_token_refusal() if partner else self.gateway_response("UNAUTHORIZED")
                context = {"claims": claims}  # where a REST API puts a user pool's claims
            else:
                context = self._authorize(authorization, route)
                if context is None:
                    return self.gateway_response("UNAUTHORIZED")
        # API Gateway overwrites the forwarding headers with its own; so does this gateway.
        headers = {k: v for k, v in headers.items() if not k.lower().startswith("x-forwarded-")}
        headers |= {"X-Forwarded-Proto": "http", "X-Forwarded-For": source_ip}
        event = self._event(route, method, path, url.query, headers, body, params, context, source_ip)
        with self.turns.turn(urgent=not route.authorized):
            result = load_handler(route.handler)(event, LambdaContext(route.function))
        out_headers = dict(result.get("headers") or {})
        for k, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[k] = ", ".join(values)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result["statusCode"]), out_headers, data

    def _match(self, method: str, path: str) -> tuple[Route | None, dict]:
        for route in self.routes:
            m = route.pattern.match(path)
            if m and route.method in (method, "ANY"):
                return route, m.groupdict()
        return None, {}

    def _authorize(self, token: str | None, route: Route) -> dict | None:
        event = {"type": "TOKEN", "authorizationToken": token or "",
                 "methodArn": f"arn:aws:execute-api:us-east-1:000000000000:local/local/{route.method}{route.path}"}
        try:
            policy = load_handler(self.authorizer)(event, LambdaContext("AuthorizerFunction"))
        except Exception:  # the authorizer's "Unauthorized"
            return None
        allowed = any(s["Effect"] == "Allow" for s in policy["policyDocument"]["Statement"])
        return {"principalId": policy["principalId"], **policy.get("context", {})} if allowed else None

    def gateway_response(self, kind: str) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self.topology.gateway_response(kind)
        return status, headers, body.encode()

    @staticmethod
    def partner_token_refusal() -> tuple[int, dict[str, str], bytes]:
        """A partner's token on a reviewer route. Local only: on AWS, API Gateway itself answers 401
        there (to the user pool authorizer it is just not a JWT). Here the refusal says which door
        the token opens, for the developer who took the demo partner token to /cases."""
        return _outcome(403, "forbidden",
                        "partner tokens are for the FHIR and HL7 APIs; this API takes reviewer tokens")

    def _user_pool_endpoint(self, method: str, path: str, body: bytes, source_ip: str,
                            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes] | None:
        """The user pool's JWKS, and ID tokens for the demo reviewers without a login (what Cognito's
        hosted sign-in would hand a browser); None for any other request."""
        if method == "GET" and path == JWKS_PATH:
            return 200, {"Content-Type": "application/json"}, json.dumps(self.user_pool.jwks()).encode()
        if (method, path) not in (("POST", TOKEN_PATH), ("GET", USERS_PATH)):
            return None
        # A token for anyone, for the asking: this machine only, asked for by its own name (a page of
        # another site whose name was rebound to 127.0.0.1 sends that name as Host: refused).
        host = next((v for k, v in (headers or {}).items() if k.lower() == "host"), "127.0.0.1")
        if not (_is_loopback(source_ip) and _is_loopback_name(host)):
            return _outcome(403, "forbidden", "the local sign-in answers this machine only")
        if path == USERS_PATH:
            users = [{"username": u.username, "groups": list(u.groups)} for u in self.user_pool.reviewers.values()]
            return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, \
                json.dumps({"users": users}).encode()
        try:
            username = json.loads(body)["username"]
            if not isinstance(username, str):
                raise TypeError(username)
        except (ValueError, KeyError, TypeError):
            return _outcome(400, "invalid", 'the body is {"username": "<reviewer>"}')
        try:
            token = self.user_pool.token(username, TOKEN_TTL)
        except UnknownReviewer as err:
            return _outcome(404, "not-found", str(err))
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, \
            json.dumps({"id_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL}).encode()

    def _event(self, route: Route, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
               params: dict, authorizer: dict, source_ip: str) -> dict[str, Any]:
        pairs = parse_qsl(query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for k, v in pairs:
            multi_query.setdefault(k, []).append(v)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        text, encoded = proxy_body(body, content_type, self.topology.binary_media_types)
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": dict(pairs) or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path, "httpMethod": method, "path": path, "stage": "local",
                "requestId": str(uuid.uuid4()), "accountId": "000000000000", "apiId": "local",
                "domainName": self.domain,
                "identity": {"sourceIp": source_ip}, "authorizer": authorizer or None,
            },
            "body": text,
            "isBase64Encoded": encoded,
        }


def proxy_body(body: bytes, content_type: str, binary_media_types: tuple[str, ...]) -> tuple[str | None, bool]:
    """The body as API Gateway hands it to a REST API's Lambda proxy integration, and whether it is
    base64-encoded: base64 when the request's media type (parameters such as charset aside) is one of
    the API's binary media types (exactly, or by a `type/*` or `*/*` entry); otherwise as UTF-8 text,
    in which bytes that are not UTF-8 are replaced, as they are on AWS. So what a missing entry in
    template.yaml would mangle on AWS is mangled here too."""
    if not body:
        return None, False
    media_type = content_type.split(";", 1)[0].strip().lower()
    kind = media_type.split("/", 1)[0]
    if any(t in (media_type, "*/*", f"{kind}/*") for t in binary_media_types):
        return base64.b64encode(body).decode(), True
    return body.decode("utf-8", "replace"), False


def _outcome(status: int, code: str, diagnostics: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/fhir+json"}, json.dumps(operation_outcome(code, diagnostics)).encode()


def _is_loopback_name(host: str) -> bool:
    """A Host header naming this machine: localhost or a loopback address, any port."""
    name = urlsplit(f"//{host}").hostname or ""
    try:
        return name == "localhost" or _is_loopback(name)
    except ValueError:
        return False


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


class Turns:
    """Handlers run one at a time, in arrival order: Powertools' resolvers keep the current event in
    class attributes, so one process is one Lambda container. Requests to routes without an
    authorizer (the readiness probes /healthz and /fhir/metadata) go ahead of waiting writes, so they
    answer within a handler's time or two however many writes wait; probes and writes then take
    turns, so a flood of probes cannot hold writes off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urgent: deque[threading.Event] = deque()
        self._normal: deque[threading.Event] = deque()
        self._busy = False
        self._urgent_last = False

    @contextmanager
    def turn(self, urgent: bool = False) -> Iterator[None]:
        with self._lock:
            mine = None
            if self._busy:
                mine = threading.Event()
                (self._urgent if urgent else self._normal).append(mine)
            self._busy = True
        if mine is not None:
            mine.wait()
        try:
            yield
        finally:
            with self._lock:
                if nxt := self._next():
                    nxt.set()  # handed over: still busy
                else:
                    self._busy = False

    def _next(self) -> threading.Event | None:
        self._urgent_last = bool(self._urgent) and not (self._urgent_last and self._normal)
        queue = self._urgent if self._urgent_last else self._normal
        return queue.popleft() if queue else None


class LocalStack:
    def __init__(self, host: str = "127.0.0.1", port: int = 8080, partners_file: str | None = None,
                 topology: Topology | None = None, mllp_port: int | None = None, data_dir: str | None = None,
                 public_url: str | None = None, read_timeout: float = READ_TIMEOUT,
                 signing_key: str | None = None, reviewers_file: str | None = None,
                 monitor_interval: float | None = None, mllp_tls: ssl.SSLContext | None = None):
        self.host, self.port = host, port
        self._mllp_port = mllp_port
        self._mllp = None
        self.mllp_tls = mllp_tls  # TLS with client certificates on the MLLP port (adapters.hl7v2.mllp.server_tls)
        self.partners_file = partners_file
        self.topology = topology or Topology.load()
        self.data_dir = data_dir
        self.public_url = public_url
        self.read_timeout = read_timeout
        # The reviewers' user pool; its key is made at start when missing (default ~/.claimbridge/).
        self.user_pool = LocalUserPool(reviewers_file, signing_key)
        self.monitor_interval = monitor_interval  # seconds between runs of the scheduled functions; None: never
        self._embedded: EmbeddedAws | None = None
        self._http: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self.aws_endpoint: str | None = None
        self.names: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        host, port = self._http.server_address[:2] if self._http else (self.host, self.port)
        return f"http://{host}:{port}"

    def start(self) -> LocalStack:
        self.user_pool.jwks()  # the signing key now: `claimbridge token` finds it, and a bad path fails first
        before = dict(os.environ)
        names = self.names = self._start_storage()  # logical id -> its local table, bucket, topic, queue
        # The template's settings, except those the environment already sets (as `sam local --env-vars`);
        # resources are always this stack's own.
        resources = set(self.topology.environment_refs().values())
        os.environ.update({k: v for k, v in self.topology.environment(names).items()
                           if k in resources or k not in os.environ})
        if self.partners_file:
            os.environ["PARTNERS_FILE"] = os.path.abspath(self.partners_file)
        gateway = Gateway(self.topology, user_pool=self.user_pool)
        self._http = _Server((self.host, self.port), _handler_for(gateway, self.read_timeout))
        gateway.domain = urlsplit(self.base_url).netloc
        # Absolute URLs: --public-url, else PUBLIC_BASE_URL as set, else this listener's own address.
        os.environ["PUBLIC_BASE_URL"] = self.public_url or os.environ.get("PUBLIC_BASE_URL") or self.base_url
        # Subscribers here are this machine's own test receivers: loopback endpoints are allowed.
        os.environ.setdefault("SUBSCRIPTION_PRIVATE_ENDPOINTS", "allow")
        # What start set (tables, endpoints, URL...), as it was before: stop() puts it back.
        self._environ_before = {k: before.get(k) for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}
        self._seed_reviewers()
        self._start_event_sources(names)
        if self.replayed:
            self._owe_again()
        threading.Thread(target=self._http.serve_forever, daemon=True, name="claimbridge-http").start()
        if self._mllp_port is not None:
            self._mllp = _mllp_listener(self.host, self._mllp_port, self.mllp_tls).start()
        if self.monitor_interval:
            threading.Thread(target=self._run_schedules, daemon=True, name="claimbridge-schedules").start()
        return self

    def _seed_reviewers(self) -> None:
        """The demo reviewers' profiles (roles, NPI, conflicts), as supervisors keep them on AWS."""
        from adapters.reviewers import DynamoReviewerDirectory
        from functions.bootstrap import aws_client
        from review.model import Conflicts, Reviewer, Role

        directory = DynamoReviewerDirectory(aws_client("dynamodb", ENDPOINT_VARS["dynamodb"]), os.environ["CASES_TABLE"])
        for user in self.user_pool.reviewers.values():
            directory.put(Reviewer(id=user.sub, roles=[Role(g) for g in user.groups], npi=user.npi,
                                   specialty=user.specialty, conflicts=Conflicts(**user.conflicts)))

    def run_scheduled(self) -> list[Any]:
        """Runs every scheduled function of the template once (the SLA monitor), as EventBridge would."""
        event = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
        return [load_handler(handler)(event, LambdaContext(name)) for name, handler in self.topology.schedules]

    def _run_schedules(self) -> None:
        """Outside the handlers' turns: a scheduled function uses no API resolver (whose class state
        is why handlers take turns), and a monitor pass over thousands of cases must not hold up
        requests and readiness probes (it did: 5.8 s probe latency under load)."""
        while not self._stopping.wait(self.monitor_interval):
            try:
                self.run_scheduled()
            except Exception as err:  # a failed run is retried at the next interval, as on AWS
                logger.error("scheduled function failed: %s", type(err).__name__)

    @property
    def replayed(self) -> int:
        """Writes the embedded store replayed from its data directory at start."""
        return self._embedded.replayed if self._embedded else 0

    @property
    def mllp_port(self) -> int | None:
        return self._mllp.port if self._mllp else None

    def stop(self) -> None:
        self._stopping.set()
        if self._mllp:
            self._mllp.stop()
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        if self._embedded:
            self._embedded.stop()
        for key, value in getattr(self, "_environ_before", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _start_storage(self) -> dict[str, str]:
        """Where the template's tables and buckets live, by the environment:
        - CASES_TABLE / ARCHIVE_BUCKET set: existing resources (a deployed stack), reached with the
          normal AWS settings (credentials, region) or CLAIMBRIDGE_*_ENDPOINT; nothing is created;
        - CLAIMBRIDGE_DYNAMODB_ENDPOINT / CLAIMBRIDGE_S3_ENDPOINT set: that endpoint (DynamoDB Local,
          MinIO...), with the template's tables and buckets created if missing;
        - otherwise the embedded moto server on a free loopback port (infra/local/embedded.py), kept
          in `data_dir` across restarts when one is given.
        Returns logical id -> physical name."""
        import boto3

        refs = self.topology.environment_refs()
        given = {logical: os.environ[var] for logical, var in refs.items() if os.environ.get(var)}
        # A bucket no function is configured with (the batch bucket: its S3 notifications are not run
        # here) never makes S3 local, and is made only where S3 is local.
        wanted = {"dynamodb": list(self.topology.tables), "s3": [b for b in self.topology.buckets if b in refs],
                  "sns": self.topology.topics, "sqs": list(self.topology.queues)}
        endpoints = {svc: os.environ.get(var) for svc, var in ENDPOINT_VARS.items()}
        embedded = [svc for svc, logicals in wanted.items()
                    if not endpoints[svc] and any(name not in given for name in logicals)]
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if self.data_dir and not embedded:
            logger.warning("--data-dir is not used: the tables and buckets are elsewhere (CLAIMBRIDGE_*_ENDPOINT, "
                           "CASES_TABLE, ARCHIVE_BUCKET)")
        if embedded:
            self._embedded = EmbeddedAws(self.data_dir)
            self.aws_endpoint = self._embedded.start()
            endpoints |= {svc: self.aws_endpoint for svc in embedded}
            if boto3.Session().get_credentials() is None:
                os.environ.update(LOCAL_CREDENTIALS)
            os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"  # moto 5.2 with boto3 1.44
        for svc, url in endpoints.items():
            if url:
                os.environ[ENDPOINT_VARS[svc]] = url

        names = dict(given)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoints["dynamodb"])
        for logical, params in self.topology.tables.items():
            if logical not in names:
                names[logical] = f"claimbridge-{logical}"
                if names[logical] not in dynamodb.list_tables()["TableNames"]:
                    dynamodb.create_table(TableName=names[logical], **params)
                    if ttl := self.topology.time_to_live(logical):
                        dynamodb.update_time_to_live(TableName=names[logical], TimeToLiveSpecification=ttl)
        s3 = boto3.client("s3", endpoint_url=endpoints["s3"])
        for logical in self.topology.buckets:
            if logical not in names and (logical in refs or endpoints["s3"]):
                names[logical] = f"claimbridge-{logical.lower()}"
                if names[logical] not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
                    s3.create_bucket(Bucket=names[logical])
        sns = boto3.client("sns", endpoint_url=endpoints["sns"])
        for logical in self.topology.topics:
            if logical not in names:  # the ARN, as !Ref gives it
                names[logical] = sns.create_topic(Name=f"claimbridge-{logical}")["TopicArn"]
        sqs = boto3.client("sqs", endpoint_url=endpoints["sqs"])
        for logical, queue in self.topology.queues.items():
            if logical not in names:  # the URL, as !Ref gives it
                names[logical] = sqs.create_queue(QueueName=f"claimbridge-{logical}",
                                                  Attributes=self._queue_attributes(sqs, queue, names))["QueueUrl"]
        return names

    @staticmethod
    def _queue_attributes(sqs: Any, queue: dict, names: dict[str, str]) -> dict[str, str]:
        props = queue.get("Properties") or {}
        attributes = {k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod") if k in props}
        if redrive := props.get("RedrivePolicy"):
            target = names[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]
            arn = sqs.get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn,
                                                      "maxReceiveCount": str(redrive["maxReceiveCount"])})
        return attributes

    def _start_event_sources(self, names: dict[str, str]) -> None:
        """The template's Pipes and queue-fed functions, each on a thread (infra/local/events.py)."""
        from functions.bootstrap import aws_client

        from .events import PipeRunner, QueuePoller

        dynamodb = aws_client("dynamodb", ENDPOINT_VARS["dynamodb"])
        sqs = aws_client("sqs", ENDPOINT_VARS["sqs"])
        runners: list[Any] = [
            PipeRunner(pipe, dynamodb, aws_client("dynamodbstreams", ENDPOINT_VARS["dynamodb"]), sqs,
                       names[pipe.table], names[pipe.queue]) for pipe in self.topology.pipes]
        for consumer in self.topology.queue_consumers:
            url = names[consumer.queue]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            runners.append(QueuePoller(consumer, load_handler(consumer.handler), sqs, url, arn, LambdaContext))
        for runner in runners:
            threading.Thread(target=runner.run, args=(self._stopping,), daemon=True,
                             name=f"claimbridge-{type(runner).__name__}").start()

    def _owe_again(self) -> int:
        """After a restart the queues are empty (they are not journaled): the records the table
        says are still owed (pending or retrying) are sent again, as the Pipe first sent them."""
        from adapters.dynamo_keys import outbox_key
        from functions.bootstrap import aws_client, services
        from review.outbox import DeliveryState

        from .events import render

        sqs, owed = aws_client("sqs", ENDPOINT_VARS["sqs"]), 0
        for pipe in self.topology.pipes:
            url = os.environ[self.topology.environment_refs()[pipe.queue]]
            for state in (DeliveryState.PENDING, DeliveryState.RETRYING):
                for record in services().store.undelivered(state):
                    stream_record = {"dynamodb": {"Keys": outbox_key(record.case_id, record.key)}}
                    sqs.send_message(QueueUrl=url, MessageBody=render(pipe.input_template, stream_record))
                    owed += 1
        return owed


MLLP_WORKERS = 2  # threads handling frames: here the handlers share one core and a serialised store


def _mllp_listener(host: str, port: int, tls: ssl.SSLContext | None):
    """The same listener the Fargate front service runs, handing messages to the same intake as the
    partner each connection proves. The service hands frames to 8 threads, which overlap their
    waits on DynamoDB; here more than two only contend for the interpreter and spread memory over
    more allocator arenas (measured over 8 connections: 98 -> 110 messages/s, 161 -> 143 MB per 5,000)."""
    from infra.mllp import listener

    return listener(host, port, tls=tls, workers=MLLP_WORKERS)


class Deadlines:
    """One thread for all connections: a request that has not arrived whole by its deadline has
    its connection shut (a thread per request for this cost several milliseconds a request)."""

    def __init__(self, tick: float = 0.2):
        self._due: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick = tick
        threading.Thread(target=self._run, daemon=True, name="claimbridge-deadlines").start()

    def start(self, connection: socket.socket, seconds: float) -> None:
        with self._lock:
            self._due[connection] = time.monotonic() + seconds

    def clear(self, connection: socket.socket) -> None:
        with self._lock:
            self._due.pop(connection, None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                late = [c for c, due in self._due.items() if due <= now]
                for connection in late:
                    del self._due[connection]
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG  # socketserver's default is 5: bursts of clients were reset
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.deadlines = Deadlines()

    def server_close(self) -> None:
        self.deadlines.stop()
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-exchange is routine. Anything else is logged by type only
        (socketserver would print a traceback, whose frames may hold request content)."""
        err = sys.exc_info()[1]
        if not isinstance(err, (ConnectionError, TimeoutError)):
            logger.error("http connection failed: %s", type(err).__name__)


class BadRequest(Exception):
    """The HTTP framing itself is broken: answered 400 and the connection closed."""


DIGITS = re.compile(r"[0-9]{1,18}")


def _handler_for(gateway: Gateway, read_timeout: float = READ_TIMEOUT) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else the body waits for the client's delayed ACK of the headers
        timeout = read_timeout  # per read: an idle or silent connection is closed

        def handle_one_request(self) -> None:
            # And per request: a client that drips a byte now and then is cut off at the deadline,
            # as the MLLP listener cuts off a frame. The handler's own work is not timed.
            self.server.deadlines.start(self.connection, read_timeout)
            try:
                super().handle_one_request()
            finally:
                self.server.deadlines.clear(self.connection)

        def handle_expect_100(self) -> bool:
            """Refuse a body before the client sends it, rather than say "100 Continue" first."""
            try:
                too_large = self._length() > MAX_REQUEST_BYTES
            except BadRequest as err:
                self._refuse(err)
                return False
            if too_large:
                self.close_connection = True
                self._answer(*gateway.gateway_response("REQUEST_TOO_LARGE"))
                return False
            return super().handle_expect_100()

        def _serve(self) -> None:
            try:
                data = self._body()
            except BadRequest as err:
                return self._refuse(err)
            except (TimeoutError, ConnectionError):
                self.close_connection = True
                return
            finally:
                self.server.deadlines.clear(self.connection)
            if data is None:
                self.close_connection = True
                return self._answer(*gateway.gateway_response("REQUEST_TOO_LARGE"))
            try:
                status, headers, body = gateway.handle(self.command, self.path, dict(self.headers.items()),
                                                       data, self.client_address[0])
            except Exception:  # the Lambda service's answer to a crashed function
                status, headers, body = 502, {"Content-Type": "application/json"}, \
                    json.dumps({"message": "Internal server error"}).encode()
            self._answer(status, headers, body)

        def _refuse(self, err: BadRequest) -> None:
            self.close_connection = True
            self._answer(400, {"Content-Type": "application/fhir+json"},
                         json.dumps(operation_outcome("structure", str(err))).encode())

        def _length(self) -> int:
            lengths = self.headers.get_all("Content-Length") or []
            if len({v.strip() for v in lengths}) > 1 or (lengths and not DIGITS.fullmatch(lengths[0].strip())):
                raise BadRequest("Content-Length must be one non-negative integer")
            return int(lengths[0]) if lengths else 0

        def _body(self) -> bytes | None:
            """The request body; None when it is over the limit (not read)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._chunked()
            length = self._length()
            if length > MAX_REQUEST_BYTES:
                return None
            data = self.rfile.read(length) if length else b""
            if len(data) < length:
                raise ConnectionError("the client went away mid-body")
            return data

        def _chunked(self) -> bytes | None:
            data = bytearray()
            while True:
                size_line = self.rfile.readline(1024).split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise BadRequest("malformed chunked body") from None
                if size < 0:
                    raise BadRequest("malformed chunked body")
                if size == 0:
                    while self.rfile.readline(8192).strip():  # trailers
                        pass
                    return bytes(data)
                if len(data) + size > MAX_REQUEST_BYTES:
                    return None
                data += self.rfile.read(size)
                self.rfile.readline(8)  # the chunk's CRLF

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # request lines may carry identifiers; the handlers log what is safe

    return Handler
