"""Load against a running `claimbridge serve`: closed-loop clients over HTTP or MLLP, probes, RSS.

Used by bench.py (figures 5-8); runnable alone against a stack you started:
    python bench/load.py http://127.0.0.1:8080 [seconds] [clients]
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKEN = "demo-token"
HL7_FACILITY = "DEMOPAYER"  # the demo partner's, infra/local/partners.yaml


def pas_bundles(tag: str) -> Callable[[int], bytes]:
    """The README's PAS request Bundle, made distinct per request (Bundle, Claim and member ids)."""
    doc = json.loads((ROOT / "examples" / "pas-request.json").read_bytes())

    def nth(n: int) -> bytes:
        doc["identifier"] = {"system": "urn:bench", "value": f"{tag}-{n}"}
        doc["entry"][0]["resource"]["identifier"] = [{"system": "urn:bench:claim", "value": f"{tag}-{n}"}]
        return json.dumps(doc).encode()

    return nth


def rqa_messages(tag: str) -> Callable[[int], bytes]:
    from tests.hl7_factories import rqa

    return lambda n: rqa(ref=f"{tag}{n}", control_id=f"{tag}-{n}", facility=HL7_FACILITY).encode()


class HttpClient:
    def __init__(self, base: str):
        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def submit(self, body: bytes) -> bool:
        self.conn.request("POST", "/fhir/Claim/$submit", body, {
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"})
        resp = self.conn.getresponse()
        resp.read()
        return resp.status == 200

    def close(self) -> None:
        self.conn.close()


class MllpClient:
    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.buffer = b""

    def submit(self, message: bytes) -> bool:
        self.sock.sendall(b"\x0b" + message + b"\x1c\x0d")
        while b"\x1c\x0d" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buffer += chunk
        frame, _, self.buffer = self.buffer.partition(b"\x1c\x0d")
        return b"MSA|AA|" in frame or b"MSA|CA|" in frame

    def close(self) -> None:
        self.sock.close()


@dataclass
class Run:
    seconds: float
    done: list[tuple[float, float]] = field(default_factory=list)  # (finished at, latency), from start
    failures: int = 0

    @property
    def rate(self) -> float:
        return len(self.done) / self.seconds

    def percentile(self, p: float) -> float:
        latencies = sorted(lat for _, lat in self.done)
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    def rate_between(self, start: float, end: float) -> float:
        return sum(1 for t, _ in self.done if start <= t < end) / (end - start)

    @property
    def sustained(self) -> float:
        """The last 10 s as a fraction of the first 10 s."""
        return self.rate_between(self.seconds - 10, self.seconds) / self.rate_between(0, 10)


def closed_loop(connect: Callable[[], HttpClient | MllpClient], payload: Callable[[int], bytes],
                seconds: float, clients: int = 8) -> Run:
    """`clients` threads, each sending its next request as soon as the last is answered."""
    run, lock, counter = Run(seconds), threading.Lock(), iter(range(10**9))
    start = time.perf_counter()
    deadline = start + seconds

    def client() -> None:
        conn = connect()
        try:
            while time.perf_counter() < deadline:
                with lock:
                    n = next(counter)
                body = payload(n)
                t = time.perf_counter()
                ok = conn.submit(body)
                now = time.perf_counter()
                with lock:
                    if ok:
                        run.done.append((now - start, now - t))
                    else:
                        run.failures += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return run


class Probe:
    """GET /healthz and /fhir/metadata every `every` seconds while load runs; keeps the latencies."""

    def __init__(self, base: str, every: float = 0.25):
        self.base, self.every = base, every
        self.latencies: dict[str, list[float]] = {"/healthz": [], "/fhir/metadata": []}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        url = urlsplit(self.base)
        while not self._stop.wait(self.every):
            for path, seen in self.latencies.items():
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                t = time.perf_counter()
                conn.request("GET", path)
                ok = conn.getresponse().status == 200
                seen.append(time.perf_counter() - t if ok else float("inf"))
                conn.close()

    def worst(self) -> float:
        return max(max(v) for v in self.latencies.values())


def rss_mb(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def sequential(base: str, payload: Callable[[int], bytes], count: int) -> list[float]:
    client, latencies = HttpClient(base), []
    for n in range(count):
        t = time.perf_counter()
        assert client.submit(payload(n)), f"submission {n + 1} was not accepted"
        latencies.append(time.perf_counter() - t)
    client.close()
    return latencies


def describe(run: Run) -> str:
    return (f"{run.rate:6.1f} req/s  p50 {run.percentile(50) * 1e3:5.0f} ms  p95 {run.percentile(95) * 1e3:5.0f} ms"
            f"  p99 {run.percentile(99) * 1e3:5.0f} ms  last 10 s / first 10 s {run.sustained:.2f}"
            f"  ({len(run.done)} answered, {run.failures} failed)")


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    with Probe(base) as probe:
        result = closed_loop(lambda: HttpClient(base), pas_bundles(f"load{time.time_ns()}"), seconds,
                             int(sys.argv[3]) if len(sys.argv) > 3 else 8)
    print(describe(result), f" worst probe {probe.worst() * 1e3:.0f} ms", f"median {statistics.median(l for v in probe.latencies.values() for l in v) * 1e3:.0f} ms")
