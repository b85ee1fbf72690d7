"""`claimbridge send FILE...`: HL7 v2 files to an MLLP listener or the HTTP endpoint, acknowledgments tallied.

Over MLLP each message of a file (batches split by `wire.split`) goes as its own frame on one
connection, and the answer is read before the next is sent. Over HTTP each file is posted whole, as
the endpoint accepts a batch. Either way an answer is matched to the message whose MSH-10 its MSA-2
names (or it has no MSA-2, as a reject of an unreadable message has), so a late answer is never
counted for the next message. The exit status is 1 when any message that must be answered got no
answer, or a connection failed, or the endpoint refused a request unread (a 401 says which token to
check). Some need none: an ACK is never answered, and in enhanced mode MSH-15/16 may ask for no
acknowledgment (NE) or one only on error or success (ER/SU); those are counted apart, and over MLLP
the sender does not wait at all when nothing can come.

Sockets here are plain rather than python-hl7's MLLPClient: that client sends with one `send()` and
reads one `recv(4096)`, which cuts long messages and split or long acknowledgments.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from adapters.hl7v2 import ack, wire
from adapters.hl7v2.ack import Header
from adapters.hl7v2.mllp import END_BLOCK, START_BLOCK

DEFAULT_MLLP = "127.0.0.1:2575"
HL7_CONTENT_TYPE = wire.CONTENT_TYPE
ALWAYS_SHOWN = ("AA", "AE", "AR")
BAR_SIZE = os.terminal_size((80, 24))  # for a terminal that reports no size of its own
# What an HTTP refusal without acknowledgments means for the person sending, by status.
REFUSED = {401: "401 Unauthorized: check --token or $CLAIMBRIDGE_TOKEN"}


@dataclass
class Tally:
    files: int = 0
    messages: int = 0
    codes: Counter = field(default_factory=Counter)  # MSA-1 -> answers
    unanswered: int = 0
    needing_none: int = 0  # unanswered, and no answer was owed
    transport_errors: int = 0  # no connection, or it broke: nothing was said
    refusals: Counter = field(default_factory=Counter)  # HTTP answers without acknowledgments, by what they mean
    seconds: float = 0.0

    def count(self, answer: str | None, owed: bool | None = True) -> None:
        """`owed` as `_answer_owed` tells: True, False, or None when it depends on the outcome."""
        if answer is not None:
            self.codes[_field(answer, "MSA", 1) or "unreadable"] += 1
        elif owed:
            self.unanswered += 1
        else:
            self.needing_none += 1

    def refused(self, status: int) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "HTTP error"
        self.refusals[REFUSED.get(status, f"{status} {phrase}")] += 1

    @property
    def ok(self) -> bool:
        return not self.unanswered and not self.transport_errors and not self.refusals

    def summary(self) -> str:
        shown = list(ALWAYS_SHOWN) + sorted(set(self.codes) - set(ALWAYS_SHOWN))
        counts = ", ".join(f"{self.codes[code]} {code}" for code in shown)
        line = (f"sent {_count(self.messages, 'message')} from {_count(self.files, 'file')} in {self.seconds:.1f} s: "
                f"{counts}, {self.unanswered} without answer")
        line += f", {self.needing_none} needing no answer" if self.needing_none else ""
        line += f", {_count(self.transport_errors, 'transport error')}" if self.transport_errors else ""
        return line + "".join(f", {_count(n, 'request')} refused: {reason}" for reason, n in self.refusals.items())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def run(args: argparse.Namespace) -> int:
    """The `send` subcommand: prints the summary line, returns the exit status."""
    files = [Path(name) for name in args.files]
    unreadable = [str(path) for path in files if not path.is_file()]
    if unreadable:
        print(f"claimbridge send: no such file: {', '.join(unreadable)}", file=sys.stderr)
        return 2
    if args.http:
        tally = send_http(files, args.http, args.token or os.environ.get("CLAIMBRIDGE_TOKEN"), timeout=args.timeout)
    else:
        host, _, port = (args.mllp or DEFAULT_MLLP).rpartition(":")
        if not host or not port.isdigit():
            print("claimbridge send: --mllp takes HOST:PORT", file=sys.stderr)
            return 2
        tally = send_mllp(files, host.strip("[]"), int(port), timeout=args.timeout)
    print(tally.summary())
    return 0 if tally.ok else 1


def send_mllp(files: Iterable[Path], host: str, port: int, *, timeout: float = 30.0,
              progress: bool | None = None) -> Tally:
    """Every message of every file, one frame each, over one connection (reopened after a failure).
    `timeout` bounds the wait for each answer; `progress=None` shows a bar only on a terminal."""
    batches = [wire.split(path.read_bytes()) for path in files]
    tally = Tally(files=len(batches), messages=sum(len(batch.messages) for batch in batches))
    started = time.monotonic()
    connection: _MllpConnection | None = None
    with _bar(tally.messages, progress) as bar:
        for batch in batches:
            for message in batch.messages:
                owed = _answer_owed(message)
                try:
                    connection = connection or _MllpConnection(host, port, timeout)
                    answer = connection.exchange(_encode(message), _field(message, "MSH", 10), wait=owed is not False)
                except OSError:  # refused, reset, closed by the listener
                    tally.transport_errors += 1
                    answer = None
                    if connection:
                        connection.close()
                        connection = None
                tally.count(answer, owed)
                bar.update()
    if connection:
        connection.close()
    tally.seconds = time.monotonic() - started
    return tally


def send_http(files: Iterable[Path], url: str, token: str | None, *, timeout: float = 30.0,
              progress: bool | None = None) -> Tally:
    """Each file posted whole to `{url}/hl7v2`; the answers in each response body matched to its messages."""
    endpoint = url.rstrip("/") + "/hl7v2"
    headers = {"Content-Type": HL7_CONTENT_TYPE, **({"Authorization": f"Bearer {token}"} if token else {})}
    bodies = [path.read_bytes() for path in files]
    batches = [wire.split(body) for body in bodies]
    tally = Tally(files=len(bodies), messages=sum(len(batch.messages) for batch in batches))
    started = time.monotonic()
    with _bar(tally.messages, progress) as bar:
        for body, batch in zip(bodies, batches):
            status, answer_bytes = _post(endpoint, body, headers, timeout)
            answers = _acknowledgments(answer_bytes)
            if status is None:
                tally.transport_errors += 1
            elif status >= 400 and not answers:  # e.g. a missing or wrong token: the endpoint never read it
                tally.refused(status)
            for message in batch.messages:
                tally.count(_claim_answer(answers, _field(message, "MSH", 10)), _answer_owed(message))
            bar.update(len(batch.messages))
    tally.seconds = time.monotonic() - started
    return tally


class _MllpConnection:
    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""

    def exchange(self, message: bytes, control_id: str, wait: bool = True) -> str | None:
        """Send one frame; the answer that acknowledges it, or None when none came within the timeout
        (or `wait` is False: an answer arriving later is passed over, as it names another message)."""
        self.sock.sendall(START_BLOCK + message + END_BLOCK)
        if not wait:
            return None
        deadline = time.monotonic() + self.timeout
        while (frame := self._next_frame(deadline)) is not None:
            if (answer := _claim_answer(_acknowledgments(frame), control_id)) is not None:
                return answer
        return None

    def _next_frame(self, deadline: float) -> bytes | None:
        while END_BLOCK not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionResetError("listener closed the connection")
            self.buffer += chunk
        frame, _, self.buffer = self.buffer.partition(END_BLOCK)
        return frame[frame.rfind(START_BLOCK) + 1:]

    def close(self) -> None:
        self.sock.close()


def _post(endpoint: str, body: bytes, headers: dict, timeout: float) -> tuple[int | None, bytes]:
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:  # a 4xx may still carry HL7 rejects
        return err.code, err.read()
    except (urllib.error.URLError, OSError):
        return None, b""


def _answer_owed(message: str) -> bool | None:
    """Whether the receiver must answer: True; False for an ACK or MSH-15 and MSH-16 both NE; None
    when it answers only on error or success (ER/SU). Read with the intake's own header and rules."""
    header = Header.of(message)
    if header.message_type == "ACK":
        return False
    if not header.enhanced:
        return True
    on = {success: ack.wanted(header.accept_ack_type, success) or ack.wanted(header.application_ack_type, success)
          for success in (True, False)}
    return True if all(on.values()) else (None if any(on.values()) else False)


def _acknowledgments(raw: bytes) -> list[str]:
    """The messages in a frame or response body that acknowledge something (carry an MSA)."""
    return [m for m in wire.split(raw).messages if any(seg.startswith("MSA") for seg in m.split("\r"))]


def _claim_answer(answers: list[str], control_id: str) -> str | None:
    """Take (remove) the first answer acknowledging `control_id`, or one that names no message."""
    for index, answer in enumerate(answers):
        if _field(answer, "MSA", 2) in ("", control_id):
            return answers.pop(index)
    return None


def _encode(message: str) -> bytes:
    """The message in the character set its MSH-18 declares (the listener decodes by it), else UTF-8."""
    codec = wire.codec_of(message) or "utf-8"
    try:
        return message.encode(codec)
    except UnicodeEncodeError:
        return message.encode("utf-8")


def _field(message: str, segment: str, number: int) -> str:
    """Field `number` of the first `segment` in a CR-separated message; '' when absent. MSH counts
    its field separator as MSH-1, as the standard numbers it."""
    separator = message[3] if message.startswith("MSH") and len(message) > 3 else "|"
    index = number - 1 if segment == "MSH" else number
    for line in message.split("\r"):
        if line.startswith(segment + separator):
            fields = line.split(separator)
            return fields[index].strip() if len(fields) > index else ""
    return ""


def _bar(total: int, progress: bool | None) -> tqdm:
    """`progress=None`: a bar only on a terminal (tqdm's own test)."""
    return tqdm(total=total, unit="msg", disable=None if progress is None else not progress, **_terminal_size())


def _terminal_size() -> dict[str, int]:
    """tqdm sizes the bar to the terminal, and drew nothing but a blank line on one that reports no
    size (0 columns, 0 rows: a serial console, a pseudo-terminal nobody sized). There it gets a fixed
    size; elsewhere (a sized terminal, or none) tqdm decides."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # not a terminal, or no file behind stderr
        return {}
    if size.columns and size.lines:
        return {}
    return {"ncols": size.columns or BAR_SIZE.columns, "nrows": size.lines or BAR_SIZE.lines}
