"""`claimbridge serve` as a user runs it, driven by real clients: the README's curl session."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(extra_env: dict[str, str] | None = None, *args: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLAIMBRIDGE_", "CASES_TABLE", "ARCHIVE_", "PUBLIC_BASE_URL"))}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("claimbridge")), "serve", "--port", str(port),
                             "--mllp-port", str(free_port()), *args],
                            cwd=ROOT, env={**env, **(extra_env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                return base, proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("claimbridge serve did not become ready: " + proc.stdout.read())


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(timeout=20) == 0


@pytest.fixture(scope="module")
def served():
    base, proc = start_serve()
    yield base, proc
    stop(proc)


def test_serve_prints_base_url_and_demo_token(served):
    base, proc = served
    lines = []
    while not any("demo partner token" in line for line in lines) and len(lines) < 20:
        lines.append(proc.stdout.readline())
    assert any(base in line for line in lines) and any("demo-token" in line for line in lines)
    assert any("MLLP on 127.0.0.1:" in line for line in lines)


def test_readme_curl_session_works_as_written(served):
    base, _ = served
    readme = (ROOT / "README.md").read_text()
    session = re.search(r"<!-- session:start -->\s*```bash\n(.*?)```", readme, re.S).group(1)
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", session], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "B": base})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert '"code":"A4"' in out  # submitted: pended
    assert '"status":"decided"' in out
    assert '"code":"A1"' in out and '"preAuthRef"' in out and '"preAuthPeriod"' in out


def test_refuses_demo_partners_off_loopback():
    run = subprocess.run([str(Path(sys.executable).with_name("claimbridge")), "serve", "--host", "0.0.0.0",
                          "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "loopback" in run.stderr


def test_claimbridge_dynamodb_endpoint_points_the_stack_elsewhere():
    """Another DynamoDB-compatible endpoint (here a separate moto server standing in for DynamoDB Local)."""
    import boto3
    from moto.server import ThreadedMotoServer

    other = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    other.start()
    endpoint = "http://%s:%d" % other.get_host_and_port()
    try:
        base, proc = start_serve({"CLAIMBRIDGE_DYNAMODB_ENDPOINT": endpoint})
        try:
            body = (ROOT / "examples" / "pas-request.json").read_bytes()
            resp = requests.post(f"{base}/fhir/Claim/$submit", data=body, timeout=30, headers={
                "Authorization": "Bearer demo-token", "Content-Type": "application/fhir+json"})
            assert resp.status_code == 200
            case_id = resp.json()["entry"][0]["resource"]["id"]
        finally:
            stop(proc)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id="x", aws_secret_access_key="x")
        item = dynamodb.get_item(TableName="claimbridge-CasesTable",
                                 Key={"PK": {"S": f"CASE#{case_id}"}, "SK": {"S": "CASE"}})
        assert item["Item"]["partner"]["S"] == "demo-payer"
    finally:
        other.stop()
