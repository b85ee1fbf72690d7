"""A stand-in for `functions.hl7v2.intake.handle_message` and small HL7 v2 message factories.

The stub answers each message with an ACK whose MSA-1 the test chooses through the message's
MSH-10: `AE-…`, `AR-…`, `CA-…` answer with that code, `NONE-…` gets no answer, `TWO-…` two answers,
anything else AA. It records every raw frame it was handed.
"""
from __future__ import annotations

import threading


def message(control_id: str, *, trigger: str = "RQA^I08", member: str = "M123") -> str:
    return "\r".join([
        f"MSH|^~\\&|PAYER|ACMEHLTH|CLAIMBRIDGE|IMR|20240101120000||{trigger}|{control_id}|P|2.5",
        f"PID|1||{member}^^^ACME^MB||Doe^Jane||19800101|F",
    ])


def batch(*control_ids: str) -> str:
    return "\r".join(["FHS|^~\\&|PAYER|ACMEHLTH", "BHS|^~\\&|PAYER|ACMEHLTH",
                      *(message(cid) for cid in control_ids), f"BTS|{len(control_ids)}", "FTS|1"])


def ack(control_id: str, code: str = "AA") -> bytes:
    return (f"MSH|^~\\&|CLAIMBRIDGE|IMR|PAYER|ACMEHLTH|20240101120001||ACK^I08|ACK{control_id}|P|2.5\r"
            f"MSA|{code}|{control_id}").encode()


def control_id(raw: bytes) -> str:
    msh = raw.split(b"\r")[0].split(b"|")
    return msh[9].decode() if len(msh) > 9 else ""


class StubIntake:
    def __init__(self):
        self.frames: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, raw: bytes, token_partner: str | None = None) -> list[bytes]:
        with self._lock:
            self.frames.append(raw)
        cid = control_id(raw)
        kind = cid.split("-")[0]
        if kind == "NONE":
            return []
        if kind == "TWO":
            return [ack(cid, "CA"), ack(cid, "AA")]
        return [ack(cid, kind if kind in ("AE", "AR", "CA", "CE", "CR") else "AA")]

    @property
    def control_ids(self) -> list[str]:
        return [control_id(frame) for frame in self.frames]
