"""The MLLP listener over loopback sockets, driven by python-hl7's MLLPClient, its `mllp_send` tool and
raw sockets for what well-behaved clients never send. The intake is a stub (tests/stub_intake.py)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hl7.client import MLLPClient

from adapters.hl7v2.mllp import MllpListener
from tests.stub_intake import StubIntake, ack, control_id, launched_container, message, stopped, when_listening

VT, FS_CR = b"\x0b", b"\x1c\x0d"


def frame(text: str) -> bytes:
    return VT + text.encode() + FS_CR


def read_frames(sock: socket.socket, count: int, timeout: float = 5.0) -> list[bytes]:
    buffer, deadline = b"", time.monotonic() + timeout
    while buffer.count(FS_CR) < count:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer += chunk
    return [part[1:] for part in buffer.split(FS_CR) if part]


def closed_by_listener(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.fixture
def intake():
    return StubIntake()


@pytest.fixture
def listen(intake):
    started: list[MllpListener] = []

    def start(handle=None, **options) -> MllpListener:
        listener = MllpListener("127.0.0.1", 0, handle or intake, **options).start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def connect(listener: MllpListener) -> socket.socket:
    return socket.create_connection(("127.0.0.1", listener.port), timeout=5)


def test_many_messages_on_one_connection_each_get_their_ack_in_order(listen, intake):
    listener = listen()
    with MLLPClient("127.0.0.1", listener.port) as client:
        answers = [client.send_message(message(f"MSG-{n}")) for n in range(5)]

    assert answers == [VT + ack(f"MSG-{n}") + FS_CR for n in range(5)]
    # the frame's bytes exactly: start byte and trailer stripped, nothing else touched
    assert intake.frames == [message(f"MSG-{n}").encode() for n in range(5)]


def test_mllp_send_tool_gets_an_ack_for_every_message_in_a_file(listen, intake, tmp_path):
    listener = listen()
    hl7_file = tmp_path / "three.hl7"
    hl7_file.write_text("\n".join(message(f"FILE-{n}").replace("\r", "\n") for n in range(3)))
    tool = Path(sys.executable).with_name("mllp_send")

    done = subprocess.run([str(tool), "--port", str(listener.port), "--file", str(hl7_file), "--loose",
                           "127.0.0.1"], capture_output=True, timeout=30)

    assert done.returncode == 0, done.stderr
    assert [f"MSA|AA|FILE-{n}".encode() in done.stdout for n in range(3)] == [True] * 3
    assert intake.control_ids == ["FILE-0", "FILE-1", "FILE-2"]


def test_a_slow_message_does_not_hold_up_other_connections(listen, intake):
    release = threading.Event()

    def handle(raw: bytes) -> list[bytes]:
        if control_id(raw) == "SLOW":
            release.wait(10)
        return intake(raw)

    listener = listen(handle)
    with connect(listener) as slow, MLLPClient("127.0.0.1", listener.port) as fast:
        slow.sendall(frame(message("SLOW")))
        started = time.monotonic()
        assert fast.send_message(message("FAST")) == VT + ack("FAST") + FS_CR
        assert time.monotonic() - started < 2
        release.set()
        assert read_frames(slow, 1) == [ack("SLOW")]


def test_concurrent_connections_each_get_their_own_answers(listen, intake):
    listener = listen()

    def session(n: int) -> list[bytes]:
        with MLLPClient("127.0.0.1", listener.port) as client:
            return [client.send_message(message(f"C{n}-{m}")) for m in range(10)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(session, range(8)))

    assert results == [[VT + ack(f"C{n}-{m}") + FS_CR for m in range(10)] for n in range(8)]
    assert len(intake.frames) == 80


def test_bytes_outside_frames_are_skipped_and_the_frames_kept(listen, intake):
    listener = listen()
    with connect(listener) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n" + frame(message("ONE")) + b"\x00\x00\r\n junk"
                     + frame(message("TWO-2"))
                     # a frame the sender abandoned, then began again
                     + VT + b"MSH|^~\\&|PAYER|ACMEHLTH|trunc" + frame(message("THREE")))
        answers = read_frames(sock, 4)

    assert answers == [ack("ONE"), ack("TWO-2", "CA"), ack("TWO-2"), ack("THREE")]
    assert intake.frames == [message(cid).encode() for cid in ("ONE", "TWO-2", "THREE")]


def test_more_stray_bytes_than_the_frame_limit_are_skipped_too(listen, intake):
    listener = listen(max_frame=1000)
    with connect(listener) as sock:
        sock.sendall(b"x" * 5000 + frame(message("AFTER-NOISE")))
        assert read_frames(sock, 1) == [ack("AFTER-NOISE")]


def test_an_oversize_frame_is_rejected_and_the_connection_goes_on(listen, intake):
    reasons = []

    def reject(reason: str) -> bytes:
        reasons.append(reason)
        return ack("", "AR")

    listener = listen(reject=reject, max_frame=1000)
    with connect(listener) as sock:
        sock.sendall(frame(message("BIG") + "\rNTE|1||" + "x" * 5000) + frame(message("SMALL")))
        answers = read_frames(sock, 2)

    assert answers == [ack("", "AR"), ack("SMALL")]
    assert reasons == ["frame exceeds 1000 bytes"]
    assert intake.control_ids == ["SMALL"]


def test_an_oversize_frame_without_reject_closes_the_connection_only(listen, intake):
    listener = listen(reject=None, max_frame=1000)
    with connect(listener) as sock:
        sock.sendall(frame("MSH|" + "x" * 5000))
        assert closed_by_listener(sock, within=5)
    assert intake.frames == []
    with MLLPClient("127.0.0.1", listener.port) as client:
        assert client.send_message(message("NEXT")) == VT + ack("NEXT") + FS_CR


def test_a_frame_exactly_at_the_limit_is_accepted(listen, intake):
    text = message("EXACT")
    listener = listen(max_frame=len(text))
    with MLLPClient("127.0.0.1", listener.port) as client:
        assert client.send_message(text) == VT + ack("EXACT") + FS_CR


def test_an_idle_connection_is_closed(listen):
    listener = listen(idle_timeout=0.3)
    with connect(listener) as sock:
        started = time.monotonic()
        assert closed_by_listener(sock, within=5)
        assert 0.25 < time.monotonic() - started < 3


def test_an_idle_connection_is_kept_while_frames_keep_coming(listen):
    listener = listen(idle_timeout=0.5)
    with MLLPClient("127.0.0.1", listener.port) as client:
        for n in range(4):
            time.sleep(0.3)
            assert client.send_message(message(f"KEEP-{n}")) == VT + ack(f"KEEP-{n}") + FS_CR


def test_a_stalled_partial_frame_is_closed(listen, intake):
    listener = listen(frame_timeout=0.3)
    with connect(listener) as sock:
        sock.sendall(VT + b"MSH|^~\\&|PAYER|ACMEHLTH|")
        assert closed_by_listener(sock, within=5)
    assert intake.frames == []


def test_a_client_gone_mid_frame_leaves_the_listener_serving(listen, intake):
    listener = listen()
    for _ in range(3):
        with connect(listener) as sock:
            sock.sendall(VT + message("CUT").encode()[:20])
    with MLLPClient("127.0.0.1", listener.port) as client:
        assert client.send_message(message("WHOLE")) == VT + ack("WHOLE") + FS_CR
    assert intake.control_ids == ["WHOLE"]


def test_two_answers_are_two_frames_in_order_and_none_writes_nothing(listen, intake):
    listener = listen()
    with connect(listener) as sock:
        sock.sendall(frame(message("TWO-1")))
        assert read_frames(sock, 2) == [ack("TWO-1", "CA"), ack("TWO-1")]
        sock.sendall(frame(message("NONE-1")))
        assert read_frames(sock, 1, timeout=0.5) == []
        sock.sendall(frame(message("AFTER")))
        assert read_frames(sock, 1) == [ack("AFTER")]


def test_an_error_in_handle_closes_that_connection_and_logs_no_content(listen, caplog):
    def handle(raw: bytes) -> list[bytes]:
        raise ValueError(f"cannot read {raw.decode()}")

    listener = listen(handle)
    with connect(listener) as sock:
        sock.sendall(frame(message("BOOM", member="SECRET-MEMBER")))
        assert closed_by_listener(sock, within=5)
    with connect(listener) as sock:  # still listening
        sock.sendall(frame(message("BOOM-2")))
        assert closed_by_listener(sock, within=5)

    logs = " ".join(str(record.__dict__) for record in caplog.records)
    assert "ValueError" in logs and "handler error" in logs
    assert "SECRET-MEMBER" not in logs and "cannot read" not in logs


@pytest.mark.parametrize("answers", [None, ["MSH|text, not bytes"], b"one message, not a list"])
def test_answers_of_the_wrong_type_close_the_connection_only(listen, answers):
    listener = listen(lambda raw: answers)
    with connect(listener) as sock:
        sock.sendall(frame(message("ODD")))
        assert closed_by_listener(sock, within=5)
    with connect(listener) as sock:
        sock.sendall(frame(message("ODD-2")))
        assert closed_by_listener(sock, within=5)


def test_stop_finishes_the_message_being_handled(listen, intake):
    entered, release = threading.Event(), threading.Event()

    def handle(raw: bytes) -> list[bytes]:
        entered.set()
        release.wait(10)
        return intake(raw)

    listener = listen(handle)
    with connect(listener) as busy, connect(listener) as idle:
        busy.sendall(frame(message("IN-FLIGHT")))
        assert entered.wait(5)
        stopper = threading.Thread(target=listener.stop)
        stopper.start()
        assert closed_by_listener(idle, within=5)
        release.set()
        assert read_frames(busy, 1) == [ack("IN-FLIGHT")]
        assert closed_by_listener(busy, within=5)
        stopper.join(10)
    with pytest.raises(OSError):
        connect(listener)


def test_port_zero_picks_a_free_port_and_a_taken_port_fails_start(listen):
    listener = listen()
    assert listener.port > 0
    with pytest.raises(OSError):
        MllpListener("127.0.0.1", listener.port, StubIntake()).start()


def test_the_container_entry_point_serves_the_intake_and_stops_on_sigterm(tmp_path):
    with launched_container(tmp_path) as (service, port):
        client = when_listening(service, lambda: MLLPClient("127.0.0.1", port))
        with client:
            assert client.send_message(message("CONTAINER")) == VT + ack("CONTAINER") + FS_CR
        assert b'"outcome":"closed by peer"' in stopped(service)
