"""A recording HTTP(S) receiver on a loopback port: a real peer for tests of outbound delivery.

Every request is recorded (`received`, or `to(path)` for one path) and answered from a per-path
queue of one-shot replies, then the path's standing reply (200 with no body unless `serve` sets one).
A reply is a `Reply` or a function of the request, for peers that must look at what they got (a
token endpoint checking a client assertion, a server checking a bearer token).

    with Receiver() as partner:
        partner.answer("/fhir/ClaimResponse/c1", Reply(503, {"Retry-After": "30"}))   # then 200
        ...
        assert partner.to("/fhir/ClaimResponse/c1")[0].headers["authorization"] == "Bearer t"

With `tls` (an ssl server context, see tests/certs.py) it speaks HTTPS; the client certificate a
request came with is in `Received.peer_cert`, and failed handshakes are in `errors`.
"""
from __future__ import annotations

import json
import ssl
import sys
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # as sent, query included
    headers: dict[str, str]  # names lower-cased
    body: bytes
    peer_port: int  # the client's port: one port for several requests is one kept-alive connection
    peer_cert: dict | None = None  # the client certificate (ssl's getpeercert()), over TLS

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before answering: a slow peer (cut short when the receiver stops)

    @classmethod
    def json(cls, document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document).encode())


Responder = Reply | Callable[[Received], Reply]


class Receiver:
    def __init__(self, tls: ssl.SSLContext | None = None, port: int = 0):
        self.tls = tls
        self.wanted_port = port  # 0: any free one; a given one brings a peer up where one was down
        self.received: list[Received] = []
        self.errors: list[BaseException] = []  # what broke a connection (a refused handshake, say)
        self._queued: dict[str, deque[Responder]] = defaultdict(deque)
        self._standing: dict[str, Responder] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the receiver is not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def answer(self, path: str, *replies: Responder) -> None:
        """Answer the next requests to `path` (without query), or below it, with these, in order, once each."""
        with self._lock:
            self._queued[path].extend(replies)

    def serve(self, path: str, reply: Responder) -> None:
        """Answer requests to `path`, or below it, with this once its one-shot answers are used up."""
        with self._lock:
            self._standing[path] = reply

    def to(self, path: str) -> list[Received]:
        """The requests received for `path` (without query), in order."""
        with self._lock:
            return [r for r in self.received if urlsplit(r.path).path == path]

    def start(self) -> Receiver:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _reply(self, received: Received) -> Reply:
        path = urlsplit(received.path).path
        with self._lock:
            self.received.append(received)
            queued = self._queued[self._registered(path, self._queued)]
            standing = self._standing.get(self._registered(path, self._standing), Reply())
            responder = queued.popleft() if queued else standing
        return responder if isinstance(responder, Reply) else responder(received)


    @staticmethod
    def _registered(path: str, paths: dict) -> str:
        """The longest registered path that is `path` or a parent of it (/fhir/ClaimResponse answers
        /fhir/ClaimResponse/c1 too)."""
        while path and path not in paths:
            path = path.rpartition("/")[0]
        return path


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.allow_reuse_address = True
        super().__init__(("127.0.0.1", receiver.wanted_port), _Handler)

    def finish_request(self, request, client_address) -> None:
        if self.receiver.tls is None:
            return super().finish_request(request, client_address)
        # The handshake runs in the connection's thread, so a stalled client cannot block accept();
        # a refused one is recorded before the socket closes, so the client cannot outrun the record.
        with self.receiver.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False) as secured:
            try:
                secured.do_handshake()
            except OSError as refused:
                self.receiver.errors.append(refused)
                return
            super().finish_request(secured, client_address)

    def handle_error(self, request, client_address) -> None:
        self.receiver.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as partners' servers do
    server: _Server

    def _receive(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        peer_cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        received = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                            self.client_address[1], peer_cert)
        receiver = self.server.receiver
        reply = receiver._reply(received)
        if reply.delay and receiver._stopping.wait(reply.delay):
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _receive

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests read `received`, not stderr
