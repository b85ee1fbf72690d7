"""Every command the README shows, run as written: `make run` is the stack (on the README's ports,
8080 and 2575), and every other ```bash block runs against it in a shell, in the project directory.

Blocks preceded by `<!-- readme: aws -->` need an AWS account (sam, docker, aws) and are only
checked to be marked so; `make test` is dry-run (this test runs inside it). A README placeholder in
angle brackets that names something the session made (`<case id>`) is filled in; any other
placeholder fails the test, so that a new block is either runnable or marked.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8080"
BLOCK = re.compile(r"(<!-- readme: (\w+) -->\s*)?```bash\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[str | None, str]]:
    return [(m.group(2), m.group(3)) for m in BLOCK.finditer((ROOT / "README.md").read_text())]


def busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`make run`, as the README's first command, with its data kept apart from the user's own."""
    if busy(8080) or busy(2575):
        pytest.skip("LOUD SKIP: ports 8080 or 2575 are in use, and the README's commands name them; "
                    "stop whatever holds them (a `make run`?) to run the README's commands")
    home = tmp_path_factory.mktemp("home")
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env={**_clean_env(), "HOME": str(home)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{BASE}/fhir/metadata", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("make run did not serve the stack: " + (proc.stdout.read() if proc.stdout else ""))
    yield {**_clean_env(), "HOME": str(home)}
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CLAIMBRIDGE_", "CASES_TABLE", "ARCHIVE_", "PUBLIC_BASE_URL", "PARTNERS_FILE"))}


def run(block: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def test_every_bash_block_is_run_here_or_marked_as_needing_aws():
    blocks = readme_blocks()
    assert len(blocks) >= 6
    for mark, block in blocks:
        assert mark in (None, "aws"), mark
        if mark == "aws":
            assert re.search(r"\b(sam|aws|docker)\b", block), "a block marked aws that needs none of it"


def test_readme_commands_run_as_written(make_run):
    env = make_run
    case_id = None
    for mark, block in readme_blocks():
        if mark == "aws":
            continue
        if block.lstrip().startswith("make run"):
            dry = run("make -n test", env)  # this test runs inside `make test`
            assert dry.returncode == 0 and "pytest" in dry.stdout, dry.stderr
            continue
        if case_id:
            block = block.replace("<case id>", case_id)
        assert not re.search(r"<[a-z][a-z ]*>", block), f"a placeholder this test cannot fill:\n{block}"
        done = run(block, env)
        assert done.returncode == 0, f"README block failed:\n{block}\n--- stderr\n{done.stderr[-3000:]}"
        if "/hl7v2" in block:  # curl succeeds whatever it was answered: the answer is an ACK
            assert re.search(r"MSA\|AA\|", done.stdout), f"not accepted:\n{block}\n{done.stdout[-2000:]}"
        if "/fhir/Claim/\\$submit" in block:  # the curl session: the case the later blocks name
            case_id = re.search(r'"ClaimResponse","id":"([^"]+)"', done.stdout).group(1)
    assert case_id, "the curl session ran"
