"""The embedded AWS endpoint of the local stack: moto's server (DynamoDB, S3) on a loopback port.

- moto_fixes.apply() first: without it cost per request and memory grow with the table.
- One request at a time: moto checks a transaction's conditions and applies it without a lock, so
  two concurrent transactions could both pass `attribute_not_exists`; DynamoDB serialises
  conflicting transactions, and so does this endpoint (connections still each get a thread).
- With a data directory, every write moto accepts is appended to a journal and fsync'd before it
  is answered, so nothing acknowledged is lost if the process is killed; at start the journal is
  replayed into moto before the port opens. A torn last record (killed mid-append) is cut off: its
  request never got an answer, so its sender resends it. If the journal cannot be written (a full
  disk), the process stops at once: a write it cannot keep must not be answered, and the journal
  then still holds exactly what was. Damage anywhere but the end refuses the start.
- Every FREEZE_EVERY writes, what is alive moves to the garbage collector's permanent generation
  (gc.freeze, after a collection, which walks only what came since the last freeze). The tables are some 150 small objects per case, alive
  until overwritten and free of reference cycles; left in the oldest generation, every full
  collection walked all of them while every thread of the stack waited (200 ms at 5,000 cases,
  and growing). Frozen objects are still freed by reference counting when an item is replaced.
"""
from __future__ import annotations

import base64
import gc
import io
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from . import moto_fixes

JOURNAL = "journal.jsonl"
# Requests that change nothing, by operation name prefix (JSON and query protocols) or HTTP method (REST).
READ_PREFIXES = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KEPT_HEADERS = ("HTTP_", "CONTENT_TYPE")
DROPPED_HEADERS = frozenset({"HTTP_TRANSFER_ENCODING", "HTTP_X_AMZ_SECURITY_TOKEN"})
# moto reads the service from the signature's credential scope and checks no signature: the journal
# keeps the scope, never the caller's access key id or signature.
SIGNER = re.compile(r"Credential=[^/]*/|Signature=[0-9a-f]+")
FREEZE_EVERY = 500
# Queues are not kept: at start the stack re-creates them and owes again what the table says is
# undelivered (infra/local/stack.py); journaling every poll would grow the journal by the second.
UNJOURNALED = ("AmazonSQS.",)

logger = logging.getLogger("claimbridge.embedded")


class EmbeddedAws:
    """`start()` returns the endpoint URL; `stop()` closes it. `data_dir` makes the store persistent."""

    def __init__(self, data_dir: str | Path | None = None):
        self.journal = Journal(Path(data_dir) / JOURNAL) if data_dir else None
        self._server: Any = None
        self.replayed = 0

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        moto_fixes.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
        moto = DomainDispatcherApplication(create_backend_app)
        if self.journal:
            self.replayed = self.journal.replay_into(moto)
        app = Serialised(moto, self.journal)

        class Handler(MotoRequestHandler):
            disable_nagle_algorithm = True  # else each answer waits for the client's delayed ACK (40 ms)

        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="claimbridge-aws").start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self.journal:
            self.journal.close()


class Serialised:
    """WSGI middleware: one request at a time; successful writes journaled before they are answered."""

    def __init__(self, app: Callable, journal: Journal | None):
        self.app = app
        self.journal = journal
        self.lock = threading.Lock()
        self.writes = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[str] = []

        def recording(status_line: str, headers: list, exc_info: Any = None) -> Callable:
            status.append(status_line)
            return start_response(status_line, headers, exc_info)

        with self.lock:
            out = list(self.app(environ, recording))
            if status and status[0][:1] == "2" and is_write(environ, body):
                if self.journal:
                    try:
                        self.journal.append(environ, body)
                    except OSError as err:
                        logger.critical("journal cannot be written (%s): stopping before this write is answered",
                                        type(err).__name__)
                        os._exit(75)
                self.writes += 1
                if self.writes % FREEZE_EVERY == 0:
                    gc.collect()  # garbage in reference cycles would be frozen too: never freed
                    gc.freeze()
        return out


def _read_body(environ: dict) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("CONTENT_LENGTH"):
        return stream.read(int(environ["CONTENT_LENGTH"]))
    return stream.read() if environ.get("wsgi.input_terminated") else b""


def is_write(environ: dict, body: bytes) -> bool:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith(UNJOURNALED):
        return False
    if target:  # JSON protocol: Service_Version.Operation
        return not target.rpartition(".")[2].startswith(READ_PREFIXES)
    if environ["REQUEST_METHOD"] in READ_METHODS:
        return False
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):  # query protocol
        from urllib.parse import parse_qs

        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        return not action.startswith(READ_PREFIXES)
    return True


class Journal:
    """Append-only JSON lines, one request each: method, path, query, headers, body (base64)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: io.BufferedWriter | None = None

    def append(self, environ: dict, body: bytes) -> None:
        headers = {k: v for k, v in environ.items()
                   if k.startswith(KEPT_HEADERS) and k not in DROPPED_HEADERS and isinstance(v, str)}
        if "HTTP_AUTHORIZATION" in headers:
            headers["HTTP_AUTHORIZATION"] = SIGNER.sub(
                lambda m: "Credential=local/" if m.group().startswith("C") else "Signature=0", headers["HTTP_AUTHORIZATION"])
        record = {"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO", "/"),
                  "query": environ.get("QUERY_STRING", ""), "headers": headers,
                  "body": base64.b64encode(body).decode()}
        if self._file is None:
            self._file = open(self.path, "ab")
        end = self._file.tell()
        try:
            self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            self._file.truncate(end)  # no partial record before later ones (best effort)
            raise

    def replay_into(self, app: Callable) -> int:
        """Apply every whole record to `app`; cut off a torn tail. Returns how many were applied."""
        if not self.path.exists():
            return 0
        from werkzeug.test import EnvironBuilder

        applied, good_bytes, size = 0, 0, self.path.stat().st_size
        with open(self.path, "rb") as f:
            for line in f:
                try:
                    record = json.loads(line) if line.endswith(b"\n") else None
                except ValueError:
                    record = None
                if record is None:
                    if good_bytes + len(line) < size:
                        raise RuntimeError(f"{self.path} is damaged at byte {good_bytes}, before its end; "
                                           "refusing to start on a partial store")
                    break
                good_bytes += len(line)
                environ = EnvironBuilder(method=record["method"], data=base64.b64decode(record["body"])).get_environ()
                environ |= {"PATH_INFO": record["path"], "QUERY_STRING": record["query"], **record["headers"]}
                statuses: list[str] = []
                for _ in app(environ, lambda status, *_: statuses.append(status)):
                    pass
                if statuses[0][:1] != "2":  # answered with success once, so it should be again
                    logger.warning("journal: a replayed write was refused (%s)", statuses[0])
                applied += 1
        if good_bytes < size:
            logger.warning("journal: torn last record cut off (its write was never answered)")
            with open(self.path, "r+b") as f:
                f.truncate(good_bytes)
        return applied

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None
