"""The local stack's HTTP listener against hostile and clumsy clients, on real sockets."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from infra.local import stack as local
from infra.local.stack import Gateway, LocalStack, Turns
from infra.local.topology import Topology

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def impatient(stack):
    """A second gateway on the same embedded store, that gives up on stalled clients after 1 s."""
    local = LocalStack("127.0.0.1", 0, stack.partners_file, read_timeout=1.0).start()
    yield local
    local.stop()


def raw_exchange(base: str, data: bytes, wait: float = 5.0) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


@pytest.mark.parametrize("length", ["abc", "-1", "12, 13", "0x10", "\u00b2"])
def test_a_malformed_content_length_is_refused_at_once(base_url, length):
    started = time.monotonic()
    answer = raw_exchange(base_url, f"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                                    "Authorization: Bearer token-alpha\r\n\r\n{}".encode("latin-1"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head
    assert json.loads(body)["resourceType"] == "OperationOutcome"
    assert time.monotonic() - started < 2  # answered, not left to time out


@pytest.mark.parametrize("sent", [
    b"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nContent-Le",  # stalls mid-headers
    b"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"resourceType\"",  # mid-body
    b"",  # connects and says nothing
])
def test_a_stalled_connection_is_closed_after_the_timeout(impatient, sent):
    started = time.monotonic()
    answer = raw_exchange(impatient.base_url, sent, wait=10)
    assert answer == b"" and time.monotonic() - started < 5  # closed by the server (the timeout is 1 s)


def test_a_client_that_drips_bytes_is_cut_off_at_the_deadline(impatient):
    """One byte every 0.4 s never trips a per-read timeout of 1 s; the per-request deadline does."""
    host, port = impatient.base_url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            for byte in b"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.4)
                if time.monotonic() - started > 8:
                    break
            closed = sock.recv(100) == b""
        except ConnectionError:
            closed = True
    assert closed and time.monotonic() - started < 4


@pytest.mark.parametrize("length, status", [("abc", b"400"), (str(20 * 1024 * 1024), b"413")])
def test_expect_100_continue_is_refused_before_the_body(base_url, length, status):
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-alpha\r\n"
                     f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n".encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 " + status)  # no "100 Continue" first


def test_a_chunked_body_is_read(api, base_url):
    body = json.dumps({"resourceType": "Claim"}).encode()
    chunks = (f"{len(body[:10]):x}\r\n".encode() + body[:10] + b"\r\n" +
              f"{len(body[10:]):x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n")
    answer = raw_exchange(base_url, b"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                    b"Transfer-Encoding: chunked\r\nContent-Type: application/fhir+json\r\n"
                                    b"Authorization: Bearer token-alpha\r\n\r\n" + chunks)
    head, _, out = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 4")  # a Claim with nothing in it: refused, as the FHIR door refuses it
    assert json.loads(out)["issue"][0]["expression"]


def test_a_burst_of_clients_waits_in_the_listen_queue(impatient):
    """While the listener is busy (here: not accepting at all), a burst of 100 clients is queued by
    the kernel, each connected at once, and then answered; with socketserver's default backlog of 5
    all but six would hang in SYN retries, or be reset."""
    server = impatient._http
    server.shutdown()  # stops accepting; the listening socket stays open
    host, port = server.server_address[:2]
    burst = []
    try:
        for _ in range(100):
            burst.append(socket.create_connection((host, port), timeout=0.5))  # the handshake completes at once
    finally:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    for sock in burst:
        sock.settimeout(10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answers = [sock.recv(100) for sock in burst]
    for sock in burst:
        sock.close()
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers)


def test_the_client_cannot_choose_the_forwarded_protocol_or_host(monkeypatch):
    """The gateway hands the handler its own forwarding headers and domain, as API Gateway does."""
    seen = {}

    def handler(event, context):
        seen.update(event)
        return {"statusCode": 200, "body": ""}

    monkeypatch.setattr(local, "load_handler", lambda dotted: handler)
    gateway = Gateway(Topology.load(), domain="127.0.0.1:8080")
    gateway.handle("GET", "/fhir/metadata", {"Host": "evil.example.com", "X-Forwarded-Proto": "javascript",
                                            "X-Forwarded-Host": "evil.example.com", "x-forwarded-port": "1"},
                   b"", "10.0.0.9")
    forwarded = {k.lower(): v for k, v in seen["headers"].items() if k.lower().startswith("x-forwarded")}
    assert forwarded == {"x-forwarded-proto": "http", "x-forwarded-for": "10.0.0.9"}
    assert seen["requestContext"]["domainName"] == "127.0.0.1:8080"


def test_absolute_urls_name_the_stack_whatever_the_client_says(api):
    hostile = {"Host": "evil.example.com", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example.com"}
    capability = requests.get(f"{api().base}/fhir/metadata", headers=hostile, timeout=30).json()
    assert capability["implementation"]["url"] == f"{api().base}/fhir"


def queued(turns: Turns, name: str, urgent: bool, order: list) -> threading.Thread:
    """Start a thread that waits for its turn; return once it is in the queue."""
    waiting = len(turns._urgent) + len(turns._normal)

    def take():
        with turns.turn(urgent=urgent):
            order.append(name)

    thread = threading.Thread(target=take)
    thread.start()
    while len(turns._urgent) + len(turns._normal) == waiting:
        time.sleep(0.001)
    return thread


@pytest.mark.parametrize("arrivals, served", [
    ([("write-1", False), ("write-2", False), ("healthz", True), ("write-3", False)],
     ["healthz", "write-1", "write-2", "write-3"]),  # a probe goes ahead of queued writes
    ([("w1", False), ("p1", True), ("p2", True), ("p3", True), ("w2", False)],
     ["p1", "w1", "p2", "w2", "p3"]),  # probes and writes then take turns: a flood of probes starves nothing
])
def test_readiness_goes_ahead_of_queued_work(arrivals, served):
    turns, order = Turns(), []
    holder_in, release = threading.Event(), threading.Event()

    def hold():
        with turns.turn():
            holder_in.set()
            release.wait()

    threads = [threading.Thread(target=hold)]
    threads[0].start()
    holder_in.wait()
    threads += [queued(turns, name, urgent, order) for name, urgent in arrivals]
    release.set()
    for t in threads:
        t.join(5)
    assert order == served
