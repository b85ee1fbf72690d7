"""A stand-in for `functions.hl7v2.intake.handle_message` and small HL7 v2 message factories.

The stub answers each message with an ACK whose MSA-1 the test chooses through the message's
MSH-10: `AE-…`, `AR-…`, `CA-…` answer with that code, `NONE-…` gets no answer, `TWO-…` two answers,
anything else AA. Like the real intake it never answers an ACK, nor a message whose MSH-15/16 are
both NE, and answers ER/ER only on error. It records every raw frame it was handed.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager


def message(control_id: str, *, trigger: str = "RQA^I08", member: str = "M123", ack_types: str = "") -> str:
    """`ack_types`: MSH-15 and MSH-16 as 'NE|NE'; empty is original mode."""
    enhanced = f"|||{ack_types}" if ack_types else ""
    return "\r".join([
        f"MSH|^~\\&|PAYER|ACMEHLTH|CLAIMBRIDGE|IMR|20240101120000||{trigger}|{control_id}|P|2.5{enhanced}",
        f"PID|1||{member}^^^ACME^MB||Doe^Jane||19800101|F",
    ])


def batch(*control_ids: str) -> str:
    return "\r".join(["FHS|^~\\&|PAYER|ACMEHLTH", "BHS|^~\\&|PAYER|ACMEHLTH",
                      *(message(cid) for cid in control_ids), f"BTS|{len(control_ids)}", "FTS|1"])


def ack(control_id: str, code: str = "AA") -> bytes:
    return (f"MSH|^~\\&|CLAIMBRIDGE|IMR|PAYER|ACMEHLTH|20240101120001||ACK^I08|ACK{control_id}|P|2.5\r"
            f"MSA|{code}|{control_id}").encode()


def msh(raw: bytes, number: int) -> str:
    fields = raw.split(b"\r")[0].split(b"|")
    return fields[number - 1].decode() if len(fields) >= number else ""


def control_id(raw: bytes) -> str:
    return msh(raw, 10)


class StubIntake:
    def __init__(self):
        self.frames: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, raw: bytes, token_partner: str | None = None) -> list[bytes]:
        with self._lock:
            self.frames.append(raw)
        cid = control_id(raw)
        kind = cid.split("-")[0]
        code = kind if kind in ("AE", "AR", "CA", "CE", "CR") else "AA"
        conditions = {msh(raw, 15), msh(raw, 16)}
        if kind == "NONE" or msh(raw, 9).startswith("ACK") or conditions == {"NE"} \
                or (conditions == {"ER"} and code == "AA"):
            return []
        if kind == "TWO":
            return [ack(cid, "CA"), ack(cid, "AA")]
        return [ack(cid, code)]

    @property
    def control_ids(self) -> list[str]:
        return [control_id(frame) for frame in self.frames]


@contextmanager
def launched_container(tmp_path, environment: dict[str, str] | None = None):
    """infra/mllp's container entry point in a process of its own, the intake stood in for by the stub
    (the entry point imports it lazily, by name). Yields (process, port); kills it if still running at the end."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    launcher = tmp_path / "launch.py"
    launcher.write_text("\n".join([
        "import sys, types",
        "from tests.stub_intake import StubIntake",
        "for name in ('functions.hl7v2', 'functions.hl7v2.intake', 'functions.hl7v2.senders'):",
        "    sys.modules[name] = types.ModuleType(name)",
        "sys.modules['functions.hl7v2.intake'].handle_message = intake = StubIntake()",
        "sys.modules['functions.hl7v2.senders'].mllp_handle = lambda peer: intake",
        "from infra.mllp.__main__ import main",
        "sys.exit(main())",
    ]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, str(launcher)], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "MLLP_PORT": str(port),
                                    "MLLP_HOST": "127.0.0.1", **(environment or {})})
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()


def stopped(service) -> bytes:
    """SIGTERM to the launched container, which must exit 0; what it printed."""
    import signal

    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0
    return service.stdout.read()


def when_listening(service, connect, seconds: float = 30):
    """`connect()` once the launched container listens: retried while refused, failing with the
    container's output if it exits or the time runs out."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            return connect()
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and service.poll() is None, service.stdout.read()
            time.sleep(0.1)
