"""`claimbridge serve` (what `make run` runs) when a port it needs is taken: the message names that
port and the option that sets it."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_serve import ROOT, free_port

CLI = str(Path(sys.executable).with_name("claimbridge"))


@pytest.mark.parametrize("busy_option, free_option, what", [("--mllp-port", "--port", "MLLP"),
                                                             ("--port", "--mllp-port", "HTTP")])
def test_a_busy_port_is_named_with_the_option_that_sets_it(busy_option, free_option, what):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy, free = taken.getsockname()[1], free_port()
        run = subprocess.run([CLI, "serve", busy_option, str(busy), free_option, str(free)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    error = run.stderr.strip()
    assert error.startswith(f"claimbridge: cannot listen on 127.0.0.1:{busy} for {what}: address already in use")
    assert f"choose another port with {busy_option}" in error and str(free) not in error, error
