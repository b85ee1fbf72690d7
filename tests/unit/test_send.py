"""`claimbridge send` against the MLLP listener with a stub intake, and against a tiny local HTTP stub."""
from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.hl7v2 import wire
from adapters.hl7v2.mllp import MllpListener
from infra.local.cli import main
from tests.stub_intake import StubIntake, batch, control_id, message

TOKEN = "partner-token"


@pytest.fixture
def intake():
    return StubIntake()


@pytest.fixture
def listener(intake):
    with MllpListener("127.0.0.1", 0, intake) as running:
        yield running


@pytest.fixture
def files(tmp_path):
    def write(**contents: str):
        paths = []
        for name, text in contents.items():
            path = tmp_path / f"{name}.hl7"
            path.write_bytes(text.encode())
            paths.append(str(path))
        return paths
    return write


def send(capsys, *args: str) -> tuple[int, str]:
    status = main(["send", *args])
    return status, capsys.readouterr().out.strip()


def test_mllp_sends_each_message_of_each_file_and_tallies_the_answers(listener, intake, files, capsys):
    paths = files(single=message("A-1"),
                  batch=batch("AE-1", "AR-1", "CA-1", "B-2"),
                  crlf=(message("NONE-1") + "\r" + message("C-3")).replace("\r", "\r\n"))

    status, out = send(capsys, *paths, "--mllp", f"127.0.0.1:{listener.port}", "--timeout", "0.5")

    assert status == 1  # NONE-1 got no answer
    assert re.fullmatch(r"sent 7 messages from 3 files in \d+\.\d s: "
                        r"3 AA, 1 AE, 1 AR, 1 CA, 1 without answer", out), out
    # one frame per message, envelope dropped, CR between segments
    assert intake.control_ids == ["A-1", "AE-1", "AR-1", "CA-1", "B-2", "NONE-1", "C-3"]
    assert intake.frames[5] == message("NONE-1").encode()


def test_mllp_exit_status_is_zero_when_every_message_is_answered(listener, files, capsys):
    status, out = send(capsys, *files(one=batch("X-1", "X-2")), "--mllp", f"127.0.0.1:{listener.port}")
    assert status == 0
    assert out.endswith(": 2 AA, 0 AE, 0 AR, 0 without answer"), out


def test_an_extra_or_late_answer_is_not_counted_for_the_next_message(intake, files, capsys):
    def handle(raw: bytes) -> list[bytes]:
        if control_id(raw).startswith("SLOW"):
            time.sleep(1.3)
        return intake(raw)

    paths = files(one=batch("TWO-1", "N-1", "SLOW-1", "N-2"))
    with MllpListener("127.0.0.1", 0, handle) as listener:
        status, out = send(capsys, *paths, "--mllp", f"127.0.0.1:{listener.port}", "--timeout", "1.0")

    # TWO-1 is answered CA then AA; SLOW-1's answer comes after the sender stopped waiting
    assert out.endswith(": 2 AA, 0 AE, 0 AR, 1 CA, 1 without answer"), out
    assert status == 1


def test_mllp_sends_in_the_character_set_msh18_declares(listener, intake, files, capsys):
    latin = message("L-1").replace("|P|2.5", "|P|2.5||||||8859/1").replace("Jane", "Zoé")
    path = files(latin="")[0]
    with open(path, "wb") as out:
        out.write(latin.encode("latin-1"))

    status, _ = send(capsys, path, "--mllp", f"127.0.0.1:{listener.port}")

    assert status == 0
    assert b"Zo\xe9" in intake.frames[0] and wire.decode(intake.frames[0]) == latin


NEEDING_NONE = "\r".join([
    message("K-1", trigger="ACK^I08"),  # an ACK is never answered
    message("N-1", ack_types="NE|NE"),
    message("E-1", ack_types="ER|ER"),  # answered only on error: this one succeeds
    message("AE-2", ack_types="ER|ER"),
    message("A-3", ack_types="AL|NE"),
])


def test_mllp_does_not_wait_where_no_answer_can_come_nor_fail_where_none_is_owed(listener, files, capsys):
    started = time.monotonic()
    status, out = send(capsys, *files(enhanced=NEEDING_NONE), "--mllp", f"127.0.0.1:{listener.port}",
                       "--timeout", "1.0")

    assert out.endswith(": 1 AA, 1 AE, 0 AR, 0 without answer, 3 needing no answer"), out
    assert status == 0
    assert time.monotonic() - started < 2.5  # only E-1, whose answer depends on the outcome, was waited for


def test_http_counts_messages_needing_no_answer_the_same_way(http_intake, files, capsys):
    url, _ = http_intake
    status, out = send(capsys, *files(enhanced=NEEDING_NONE), "--http", url, "--token", TOKEN)
    assert out.endswith(": 1 AA, 1 AE, 0 AR, 0 without answer, 3 needing no answer"), out
    assert status == 0


def test_mllp_connection_refused_is_a_transport_error(files, capsys):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    status, out = send(capsys, *files(one=batch("R-1", "R-2")), "--mllp", f"127.0.0.1:{port}")
    assert status == 1
    assert out.endswith(": 0 AA, 0 AE, 0 AR, 2 without answer, 2 transport errors"), out


class _HttpIntake(BaseHTTPRequestHandler):
    """POST /hl7v2: the stub intake's answers for every message of the body, as one CR-separated body."""
    intake: StubIntake
    requests: list

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append((self.path, dict(self.headers), body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, b'{"message":"Unauthorized"}', "application/json")
        answers = [a for m in wire.split(body).messages for a in self.intake(m.encode())]
        self._answer(200, b"\r".join(answers), "x-application/hl7-v2+er7")

    def _answer(self, status: int, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_intake(intake):
    handler = type("Handler", (_HttpIntake,), {"intake": intake, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    server.shutdown()
    server.server_close()


def test_http_posts_each_file_whole_and_tallies_the_answers(http_intake, files, capsys):
    url, requests = http_intake
    raw_batch = batch("H-1", "AE-2", "NONE-3", "CR-4").replace("\r", "\n")
    paths = files(batch=raw_batch, single=message("H-5"))

    status, out = send(capsys, *paths, "--http", url + "/", "--token", TOKEN)

    assert status == 1
    assert re.fullmatch(r"sent 5 messages from 2 files in \d+\.\d s: "
                        r"2 AA, 1 AE, 0 AR, 1 CR, 1 without answer", out), out
    assert [r[0] for r in requests] == ["/hl7v2", "/hl7v2"]
    path, headers, body = requests[0]
    assert body == raw_batch.encode()  # whole and unchanged: the endpoint splits the batch
    assert headers["Content-Type"] == "x-application/hl7-v2+er7"


def test_http_token_from_the_environment(http_intake, files, capsys, monkeypatch):
    url, _ = http_intake
    monkeypatch.setenv("CLAIMBRIDGE_TOKEN", TOKEN)
    status, out = send(capsys, *files(one=message("E-1")), "--http", url)
    assert status == 0 and out.endswith(": 1 AA, 0 AE, 0 AR, 0 without answer"), out


@pytest.mark.parametrize("token", [["--token", "wrong"], []])
def test_http_without_a_good_token_says_401_and_how_to_give_one(http_intake, files, capsys, monkeypatch, token):
    url, _ = http_intake
    monkeypatch.delenv("CLAIMBRIDGE_TOKEN", raising=False)
    status, out = send(capsys, *files(one=batch("U-1", "U-2")), "--http", url, *token)
    assert status == 1
    assert out.endswith(": 0 AA, 0 AE, 0 AR, 2 without answer, "
                        "1 request refused: 401 Unauthorized: check --token or $CLAIMBRIDGE_TOKEN"), out
    assert "transport" not in out


def test_http_connection_refused_is_one_transport_error_in_the_singular(files, capsys):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    status, out = send(capsys, *files(one=message("S-1")), "--http", f"http://127.0.0.1:{port}", "--token", TOKEN)
    assert status == 1
    assert re.fullmatch(r"sent 1 message from 1 file in \d+\.\d s: 0 AA, 0 AE, 0 AR, 1 without answer, "
                        r"1 transport error", out), out


def test_the_progress_bar_has_a_width_on_a_terminal_that_reports_none(listener, files, monkeypatch):
    """A pseudo-terminal as made has 0 columns and 0 rows: tqdm drew nothing there but a blank line."""
    import io
    import os
    import pty

    from infra.local.send import send_mllp

    master, secondary = pty.openpty()
    assert os.get_terminal_size(secondary).columns == 0
    terminal = io.TextIOWrapper(os.fdopen(secondary, "wb", buffering=0), write_through=True)
    monkeypatch.setattr("sys.stderr", terminal)
    try:
        tally = send_mllp([Path(p) for p in files(one=batch("P-1", "P-2", "P-3"))], "127.0.0.1", listener.port)
        terminal.flush()
        drawn = os.read(master, 65536).decode()
    finally:
        terminal.close()
        os.close(master)
    assert tally.codes["AA"] == 3
    last = drawn.replace("\r\n", "\n").split("\r")[-1].strip()
    assert "3/3" in last and "100%" in last and len(last) <= 80, repr(drawn)


def test_a_missing_file_is_a_usage_error(capsys, tmp_path):
    assert main(["send", str(tmp_path / "absent.hl7")]) == 2
    assert "no such file" in capsys.readouterr().err
