"""The local stack's HTTP listener against hostile and clumsy clients, on real sockets."""
from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from infra.local.stack import LocalStack, Turns

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


@pytest.mark.parametrize("length", ["abc", "-1", "12, 13", "0x10"])
def test_a_malformed_content_length_is_refused_at_once(base_url, length):
    started = time.monotonic()
    answer = raw_exchange(base_url, f"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                                    "Authorization: Bearer token-alpha\r\n\r\n{}".encode())
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


def test_the_client_cannot_choose_the_forwarded_protocol_or_host(api):
    hostile = {"Host": "evil.example.com", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example.com"}
    capability = requests.get(f"{api().base}/fhir/metadata", headers=hostile, timeout=30).json()
    assert capability["implementation"]["url"] == f"{api().base}/fhir"


def test_readiness_goes_ahead_of_queued_work():
    turns, order = Turns(), []
    holder_in, release = threading.Event(), threading.Event()

    def hold():
        with turns.turn():
            holder_in.set()
            release.wait()

    def take(name: str, urgent: bool):
        with turns.turn(urgent=urgent):
            order.append(name)

    threads = [threading.Thread(target=hold)]
    threads[0].start()
    holder_in.wait()
    for name, urgent in [("write-1", False), ("write-2", False), ("healthz", True), ("write-3", False)]:
        threads.append(threading.Thread(target=take, args=(name, urgent)))
        threads[-1].start()
        time.sleep(0.05)  # queue them in this order
    release.set()
    for t in threads:
        t.join(5)
    assert order == ["healthz", "write-1", "write-2", "write-3"]
