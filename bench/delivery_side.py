"""Benchmark figure 11: delivery throughput of one worker, beside the receiver's own rate.

The receiver stands in for a payer's FHIR server: it answers each PUT after `SERVICE_MS` of work
(a FHIR server validating and storing a resource), on a thread per connection, keep-alive.
- Its own rate: a client PUTs the same ClaimResponses one after another over one kept-alive
  connection, nothing in between (the rate a payer's server gives one caller).
- One worker: `count` decided cases whose outbox records are owed, fed to the delivery queue as the
  Pipe feeds them; the local stack's one consumer of the queue (one Lambda invocation at a time,
  batches of 10) delivers them all: read record and case, render, PUT, record the attempt, settle
  the case. Deliveries per second from the first message to the last record delivered.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE_MS = 20.0  # a FHIR server validating and storing a resource (HAPI FHIR's PUTs take 20-50 ms)
NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.service_ms / 1000)
        with self.server.puts.get_lock():
            self.server.puts.value += 1
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _serve(port, puts, ready, service_ms) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.puts, server.service_ms = puts, service_ms
    port.value = server.server_address[1]
    ready.set()
    server.serve_forever()


class FhirServer:
    """The receiver, in a process of its own (as a payer's server is): it does not share the
    stack's interpreter lock. `count` is how many PUTs it has answered."""

    def __init__(self, service_ms: float = SERVICE_MS) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._puts, port, ready = context.Value("i", 0), context.Value("i", 0), context.Event()
        self._process = context.Process(target=_serve, args=(port, self._puts, ready, service_ms), daemon=True)
        self._process.start()
        ready.wait(30)
        self.port = port.value

    @property
    def count(self) -> int:
        return self._puts.value

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def shutdown(self) -> None:
        self._process.terminate()
        self._process.join()


def direct_rate(server: FhirServer, body: bytes, count: int) -> float:
    import httpx

    with httpx.Client() as client:
        started = time.perf_counter()
        for n in range(count):
            client.put(f"{server.url}/ClaimResponse/direct{n}", content=body,
                       headers={"Content-Type": "application/fhir+json"})
        return count / (time.perf_counter() - started)


def seed(client, table: str, partner: str, count: int) -> list[tuple[str, str]]:
    """`count` decided cases, each with its determination's outbox record owed (as a decision writes them)."""
    from adapters import dynamo_keys as keys
    from fhir_mappings.claim_to_case import submission_from_fhir
    from review.model import Case, Decision, Determination, Status
    from review.outbox import FHIR, DeliveryState, Notice, OutboxRecord

    draft = submission_from_fhir(json.loads((ROOT / "examples" / "pas-request.json").read_text())).draft
    decided = [i.model_copy(update={"determination": Determination(decision=Decision.APPROVED, decided_at=NOW)})
               for i in draft.items]
    template = Case(**{**dict(draft), "items": decided}, id="x", partner_id=partner, received_at=NOW, due_at=NOW,
                    status=Status.DECIDED, decided_at=NOW, version=4)
    refs, batch = [], []
    for n in range(count):
        case = template.model_copy(update={"id": f"deliver{n:08d}"})
        # Owed and tried once before (retrying), so that the stream's Pipe leaves it to the messages
        # the benchmark sends: the figure is the worker's alone.
        record = OutboxRecord(case_id=case.id, case_version=4, target=FHIR, notice=Notice.DETERMINATION,
                              created_at=NOW, state=DeliveryState.RETRYING)
        batch += [{"PutRequest": {"Item": keys.case_item(case)}}, {"PutRequest": {"Item": keys.outbox_item(record)}}]
        refs.append((keys.case_pk(case.id), f"OUTBOX#{record.key}"))
        if len(batch) == 24:
            client.batch_write_item(RequestItems={table: batch})
            batch = []
    if batch:
        client.batch_write_item(RequestItems={table: batch})
    return refs


def throughput(count: int = 400, service_ms: float = SERVICE_MS) -> dict:
    import boto3

    from adapters.partners import token_hash
    from fhir_mappings.case_to_claimresponse import claim_response
    from infra.local.stack import LocalStack

    server = FhirServer(service_ms)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"claimbridge-bench-{os.getpid()}"
    workdir.mkdir(exist_ok=True)
    partners = workdir / "partners.yaml"
    partners.write_text(json.dumps({"partners": [{"id": "bench", "token_sha256": [token_hash("bench")],
                                                  "delivery": {"fhir": {"base_url": server.url}}}]}))
    stack = LocalStack("127.0.0.1", 0, str(partners), signing_key=str(workdir / "key.pem")).start()
    try:
        dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
        sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint)
        refs = seed(dynamodb, os.environ["CASES_TABLE"], "bench", count)
        from adapters.case_store import DynamoCaseRepository

        store = DynamoCaseRepository(dynamodb, os.environ["CASES_TABLE"])
        body = json.dumps(claim_response(store.get("deliver00000000"))).encode()
        direct = direct_rate(server, body, count)
        assert server.count == count, "only the direct client has sent"
        before = server.count
        started = time.perf_counter()
        for first in range(0, len(refs), 10):
            sqs.send_message_batch(QueueUrl=os.environ["DELIVERY_QUEUE_URL"], Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"PK": pk, "SK": sk})}
                for n, (pk, sk) in enumerate(refs[first:first + 10])])
        deadline = time.monotonic() + 300
        while server.count - before < count and time.monotonic() < deadline:
            time.sleep(0.01)
        worker = count / (time.perf_counter() - started)
        time.sleep(0.5)
        last = store.get(f"deliver{count - 1:08d}")
    finally:
        stack.stop()
        server.shutdown()
    return {"count": count, "direct": direct, "worker": worker, "settled": last.status.value if last else None}


if __name__ == "__main__":
    print(throughput())
