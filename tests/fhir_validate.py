"""../shared/tools/fhir-validate over resources a test produced: base R4, and ClaimResponses against
the PAS profile. Skips only where the tool (or node) is absent; tests assert the structure too."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CORPUS

VALIDATOR = CORPUS.parent / "tools" / "fhir-validate"


def validate(tmp_path: Path, resources: dict[str, dict]) -> None:
    """Every resource through fhir-validate, which must find no error in any."""
    if not VALIDATOR.exists() or shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("fhir-validate or node is not available")
    files = []
    for name, resource in resources.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(resource))
        files.append(str(path))
    run = subprocess.run([str(VALIDATOR), *files], capture_output=True, text=True, timeout=600)
    if run.returncode == 2 and "npm install failed" in run.stderr:
        pytest.skip("fhir-validate could not install its packages")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(line.split()[1] for line in run.stdout.splitlines() if line.startswith("OK ")) == sorted(files)
