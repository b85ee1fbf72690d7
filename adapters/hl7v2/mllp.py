"""MLLP listener: HL7 v2 frames in over TCP, each handed to `handle`, its answers framed back in order.

A frame is 0x0B <message> 0x1C 0x0D. One connection carries many messages, one at a time: the next
frame is read once the answers to the previous one are written (interface engines wait for the ACK
anyway). `handle` does blocking AWS I/O, so it runs in a thread pool and the event loop keeps serving
other connections meanwhile.

Built on python-hl7's asyncio server (`hl7.mllp.start_hl7_server`, its stream reader and
`writeblock`). Frames are read with `readuntil` rather than `readblock`: `readblock` consumes a frame
that is preceded by stray bytes and then raises InvalidBlockError, losing the message; here bytes
outside a frame are skipped and the frame after them is kept.

Nothing a sender does hangs or stops the listener: stray bytes are skipped, an oversize frame is
answered by `reject` (or the connection closed), a connection that sends no frame for `idle_timeout`
seconds or stalls inside one for `frame_timeout` seconds is closed, and an error in `handle` closes
only its own connection. Logs carry connection ids, sizes and outcomes; never message content (PHI).

Who is sending: with `tls` (see `server_tls`) the listener terminates TLS itself and requires a client
certificate its CA signed; a connection without one is refused in the handshake. `admit`, when given,
is then asked once per connection, with the peer's address and certificate, for the handle of that
connection's frames (the intake bound to the partner the certificate or address proves), or raises
NotAdmitted to refuse the connection before any frame is read.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import ssl
import threading
import time
from asyncio import IncompleteReadError, LimitOverrunError, StreamReader, StreamWriter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from aws_lambda_powertools import Logger
from hl7.mllp import start_hl7_server

logger = Logger(service="claimbridge")

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
MAX_FRAME = 10 * 1024 * 1024

Handle = Callable[[bytes], list[bytes]]
Reject = Callable[[str], bytes]


@dataclass(frozen=True)
class Peer:
    """The other end of a connection, as far as the network and TLS can vouch for it."""
    address: str  # source IP address
    certificate: bytes | None = None  # DER of the client certificate TLS verified; None without TLS

    @property
    def fingerprint(self) -> str | None:
        """The certificate's SHA-256 fingerprint, lowercase hex (what partners list in mllp.client_certs)."""
        return hashlib.sha256(self.certificate).hexdigest() if self.certificate else None


class NotAdmitted(Exception):
    """`admit` refuses a connection; the message (no PHI) says why, for the log."""


Admit = Callable[[Peer], Handle]


def server_tls(cert_file: str, key_file: str, client_ca_file: str | None = None, *,
               client_ca_pem: str | None = None) -> ssl.SSLContext:
    """The listener's TLS: its certificate and key, and a client certificate required, signed by the
    CA in `client_ca_file` (or the PEM text `client_ca_pem`). TLS 1.2 or later."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file, cadata=client_ca_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def generic_reject(reason: str) -> bytes:
    """An oversize frame cannot be read, so it is answered as bytes with no usable MSH are."""
    from .ack import generic_reject as ar

    return ar().encode()


class FrameTooLarge(Exception):
    """A frame longer than the listener's limit; its bytes were discarded."""


class HandlerFailed(Exception):
    """`handle` or `reject` raised; carries only the exception's type name, as its message may quote PHI."""


class MllpListener:
    """`start()`/`stop()` run it on a daemon thread (the local stack, tests); `await serve_forever()`
    runs it on the caller's event loop (the container entry point). Port 0 picks a free port.
    Frames go to `handle`, or to the handle `admit` chooses for their connection."""

    def __init__(self, host: str, port: int, handle: Handle, reject: Reject | None = generic_reject, *,
                 tls: ssl.SSLContext | None = None, admit: Admit | None = None,
                 max_frame: int = MAX_FRAME, idle_timeout: float = 300.0, frame_timeout: float = 60.0,
                 workers: int = 8, shutdown_grace: float = 20.0):
        self.host = host
        self.handle = handle
        self.reject = reject
        self.tls = tls
        self.admit = admit
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.workers = workers
        self.shutdown_grace = shutdown_grace
        self._port = port
        self._ids = itertools.count(1)
        self._listening = threading.Event()
        self._stop_requested = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None
        # connection task -> True while its frame is being handled (finished on shutdown, not cut)
        self._connections: dict[asyncio.Task, bool] = {}
        self._executor: ThreadPoolExecutor | None = None

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> MllpListener:
        """Run on a daemon thread; return once the socket is listening (raises if it cannot bind)."""
        self._thread = threading.Thread(target=self._run, name="mllp-listener", daemon=True)
        self._thread.start()
        self._listening.wait()
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Stop accepting, let frames being handled finish (up to `shutdown_grace`), close the rest.
        Safe from any thread, from signal handlers on the listener's own loop, and before it listens."""
        self._stop_requested.set()
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.shutdown_grace + 5)

    def __enter__(self) -> MllpListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve_forever(self) -> None:
        """Listen until `stop()` (or cancellation), then shut down as `stop()` describes."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._stop_requested.is_set():  # stop() came before there was a loop to tell
            self._stopping.set()
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="mllp-handle")
        try:
            server = await start_hl7_server(self._serve_connection, self.host, self._port, limit=self.max_frame)
        except BaseException as err:
            self._startup_error = err
            self._listening.set()
            self._executor.shutdown(wait=False)
            raise
        self._port = server.sockets[0].getsockname()[1]
        logger.info("mllp listening", extra={"port": self._port, "max_frame": self.max_frame,
                                             "tls": self.tls is not None})
        self._listening.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            await self._close_connections()
            self._executor.shutdown(wait=False, cancel_futures=True)
            logger.info("mllp stopped", extra={"port": self._port})

    def _run(self) -> None:
        try:
            asyncio.run(self.serve_forever())
        except BaseException as err:
            if self._listening.is_set() and self._startup_error is None:
                logger.error("mllp listener failed", extra={"error": type(err).__name__})
            self._listening.set()  # start() re-raises a bind error

    async def _close_connections(self) -> None:
        idle = [task for task, busy in self._connections.items() if not busy]
        for task in idle:
            task.cancel()
        busy = [task for task, is_busy in self._connections.items() if is_busy]
        if busy:
            _, late = await asyncio.wait(busy, timeout=self.shutdown_grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*idle, *busy, return_exceptions=True)

    async def _serve_connection(self, reader: StreamReader, writer: StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections[task] = False
        connection = next(self._ids)
        frames, outcome = 0, "closed by peer"
        logger.debug("mllp connection opened", extra={"connection": connection})
        try:
            handle = await self._open(writer, connection)
            if handle is None:
                outcome = "refused"
                return
            while not self._stopping.is_set():
                self._connections[task] = False
                try:
                    frame = await self._read_frame(reader, connection)
                except FrameTooLarge as err:
                    if self.reject is None:
                        outcome = "oversize frame"
                        return
                    self._connections[task] = True
                    answers = await self._answers(self._rejection, str(err))
                    logger.warning("mllp frame rejected", extra={"connection": connection, "reason": "oversize"})
                else:
                    self._connections[task] = True
                    started = time.monotonic()
                    answers = await self._answers(handle, frame)
                    logger.info("mllp frame handled", extra={
                        "connection": connection, "bytes": len(frame), "answers": len(answers),
                        "ms": round((time.monotonic() - started) * 1000, 1)})
                for answer in answers:
                    writer.writeblock(answer)
                async with asyncio.timeout(self.frame_timeout):
                    await writer.drain()  # a peer that stops reading its ACKs is dropped, not waited on
                frames += 1
            outcome = "listener stopping"
        except IncompleteReadError as err:
            outcome = "closed mid-frame" if err.partial else "closed by peer"
        except TimeoutError:  # before OSError, of which it is a subclass
            outcome = "timed out"
        except OSError:
            outcome = "connection lost"
        except HandlerFailed as err:
            outcome = "handler error"
            logger.error("mllp handler failed", extra={"connection": connection, "error": str(err)})
        except asyncio.CancelledError:
            outcome = "listener stopping"
            raise
        finally:
            self._connections.pop(task, None)
            writer.close()
            # Load-balancer and container health checks connect and hang up all day: debug, not info.
            quiet = not frames and outcome == "closed by peer"
            (logger.debug if quiet else logger.info)(
                "mllp connection closed", extra={"connection": connection, "frames": frames, "outcome": outcome})

    async def _open(self, writer: StreamWriter, connection: int) -> Handle | None:
        """The TLS handshake (when the listener has TLS), then the handle `admit` chooses for the
        peer; None, logged, when either refuses the connection."""
        address = (writer.get_extra_info("peername") or ("",))[0]
        certificate = None
        if self.tls is not None:
            try:
                # Here rather than in create_server, so a refused handshake is this connection's to log.
                await writer.start_tls(self.tls, ssl_handshake_timeout=self.frame_timeout)
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
                raise IncompleteReadError(b"", None) from None  # gone mid-handshake: a health check, a port scan
            except ssl.SSLError as err:
                logger.warning("mllp tls handshake refused", extra={
                    "connection": connection, "address": address, "reason": err.reason or type(err).__name__})
                return None
            certificate = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        if self.admit is None:
            return self.handle
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.admit,
                                                                    Peer(address, certificate))
        except NotAdmitted as err:
            logger.warning("mllp connection refused", extra={"connection": connection, "address": address,
                                                             "reason": str(err)})
            return None
        except Exception as err:
            raise HandlerFailed(type(err).__name__) from None

    async def _read_frame(self, reader: StreamReader, connection: int) -> bytes:
        """The next frame's bytes between start byte and trailer. Waits `idle_timeout` for a start
        byte, then `frame_timeout` for the rest; raises IncompleteReadError when the peer closes."""
        async with asyncio.timeout(self.idle_timeout):
            skipped = await _discard_through(reader, START_BLOCK)
        if skipped:
            logger.warning("mllp bytes outside a frame skipped", extra={"connection": connection, "bytes": skipped})
        async with asyncio.timeout(self.frame_timeout):
            try:
                block = await reader.readuntil(END_BLOCK)
            except LimitOverrunError:
                if self.reject is not None:  # the sender keeps the connection: drop the rest of the frame
                    await _discard_through(reader, END_BLOCK)
                raise FrameTooLarge(f"frame exceeds {self.max_frame} bytes") from None
        body = block[:-len(END_BLOCK)]
        # A sender that abandoned a frame and began again left an earlier start byte; the last one
        # begins the frame (0x0B never occurs inside HL7 text).
        return body[body.rfind(START_BLOCK) + 1:]

    def _rejection(self, reason: str) -> list[bytes]:
        return [self.reject(reason)]

    async def _answers(self, fn: Callable, arg: object) -> list[bytes]:
        """`fn(arg)` in the thread pool, its answers checked to be a list of messages as bytes."""
        try:
            answers = list(await asyncio.get_running_loop().run_in_executor(self._executor, fn, arg))
            if not all(isinstance(answer, bytes) for answer in answers):
                raise TypeError("answers must be bytes")
        except Exception as err:
            raise HandlerFailed(type(err).__name__) from None
        return answers


async def _discard_through(reader: StreamReader, separator: bytes) -> int:
    """Consume bytes up to and including `separator`; return how many came before it. Memory stays
    within the reader's limit however much arrives first."""
    discarded = 0
    while True:
        try:
            return discarded + len(await reader.readuntil(separator)) - len(separator)
        except LimitOverrunError as err:
            discarded += len(await reader.readexactly(err.consumed))


def exchange(host: str, port: int, message: bytes, *, tls: bool = False, timeout: float = 30.0,
             context: ssl.SSLContext | None = None) -> bytes | None:
    """Sends one framed message and returns the first frame answered (the ACK), or None when the
    peer closes or stays silent for `timeout` seconds. Connection errors raise OSError (a refused
    TLS handshake ssl.SSLError). `context` (a client certificate, the CA trusted) implies TLS."""
    import socket

    with socket.create_connection((host, port), timeout=timeout) as raw:
        if tls or context is not None:
            conn = (context or ssl.create_default_context()).wrap_socket(raw, server_hostname=host)
        else:
            conn = raw
        conn.sendall(START_BLOCK + message + END_BLOCK)
        data, deadline = b"", time.monotonic() + timeout
        while True:
            start = data.find(START_BLOCK)
            end = data.find(END_BLOCK, start + 1) if start >= 0 else -1
            if end >= 0:
                return data[start + 1:end]
            conn.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                return None
            if not chunk or len(data) > MAX_FRAME:
                return None
            data += chunk
