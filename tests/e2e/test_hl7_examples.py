"""The HL7 v2 files in examples/: each is accepted (AA) by `claimbridge serve` for the demo partner,
sent with `claimbridge send` over MLLP and over HTTP, as the README shows."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.hl7v2 import wire
from tests.e2e.test_serve import ROOT, start_serve, stop

CLI = str(Path(sys.executable).with_name("claimbridge"))
EXAMPLES = sorted((ROOT / "examples").glob("*.hl7"))
MESSAGES = sum(len(wire.split(path.read_bytes()).messages) for path in EXAMPLES)


@pytest.fixture(scope="module")
def served():
    base, proc = start_serve()
    yield base, proc
    stop(proc)


def mllp_port(proc) -> int:
    for _ in range(20):
        if found := re.search(r"HL7 v2 over MLLP on [\d.]+:(\d+)", proc.stdout.readline()):
            return int(found.group(1))
    pytest.fail("claimbridge serve printed no MLLP port")


def test_the_examples_are_the_ones_the_readme_promises():
    names = {path.name for path in EXAMPLES}
    assert {"rqa-i08-v2.4.hl7", "rqa-i08-v2.5.1.hl7", "ref-i12-v2.5.1.hl7", "ehc-e20-v2.6.hl7",
            "batch-rqa-i08-v2.5.1.hl7"} <= names
    for path in EXAMPLES:
        batch = wire.split(path.read_bytes())
        assert all("|DEMOPAYER|" in m.split("\r")[0] for m in batch.messages), path.name  # MSH-4: the demo partner


def test_every_example_is_accepted_over_mllp_and_over_http(served):
    base, proc = served
    files = [str(path.relative_to(ROOT)) for path in EXAMPLES]
    port = mllp_port(proc)
    for target in (["--mllp", f"127.0.0.1:{port}"], ["--http", base, "--token", "demo-token"]):
        run = subprocess.run([CLI, "send", *target, *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.fullmatch(rf"sent {MESSAGES} messages from {len(files)} files in \d+\.\d s: "
                            rf"{MESSAGES} AA, 0 AE, 0 AR, 0 without answer", run.stdout.strip()), run.stdout
