"""Third-party FHIR clients nobody here wrote, driving the local stack over HTTP: fhirpy (PyPI) through
first, get, count and fetch_all over several pages; fhir-kit-client (npm) through nextPage, from a
Node script (tests/clients/), where node is present (`make test` installs it and runs `npm ci`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, ResourceNotFound

from tests import factories as f
from tests.integration.conftest import Api

CLIENTS = Path(__file__).parent.parent / "clients"
SEEDED = 5  # cases under claim identifier CLIENT-1: with _count 2, three pages


@pytest.fixture(scope="module")
def seeded(stack):
    """Partner alpha's cases: SEEDED under CLIENT-1 (newest first, as search answers), one under CLIENT-SOLO."""
    client = Api.of(stack.base_url, "alpha")

    def submit(claim_id: str, bundle_id: str) -> str:
        resp = client.submit(f.pas_bundle(f.claim(claim_id), identifier=bundle_id))
        assert resp.status_code == 200, resp.text
        return resp.json()["entry"][0]["resource"]["id"]

    ids = [submit("CLIENT-1", f"CLIENT-B{n}") for n in range(SEEDED)][::-1]
    return client, ids, submit("CLIENT-SOLO", "CLIENT-SOLO-B")


@pytest.fixture
def fhirpy(seeded) -> SyncFHIRClient:
    client, _, _ = seeded
    return SyncFHIRClient(f"{client.base}/fhir", authorization=f"Bearer {client.token}")


def test_fhirpy_first_get_count_and_fetch_all_over_pages(fhirpy, seeded):
    _, ids, solo = seeded
    found = fhirpy.resources("ClaimResponse").search(identifier="CLIENT-1")
    assert found.first().id == ids[0]  # _count=1
    assert found.count() == SEEDED  # _count=0&_totalMethod=count: the total alone, _totalMethod ignored
    assert [r.id for r in found.limit(2).fetch()] == ids[:2]  # one page
    assert [r.id for r in found.limit(2).fetch_all()] == ids  # three pages, by the Bundle's next links
    assert fhirpy.resources("ClaimResponse").search(identifier="CLIENT-SOLO").get().id == solo  # _count=2
    with pytest.raises(MultipleResourcesFound):
        found.get()
    with pytest.raises(ResourceNotFound):
        fhirpy.resources("ClaimResponse").search(identifier="CLIENT-NONE").get()
    assert fhirpy.resources("ClaimResponse").search(identifier="CLIENT-NONE").count() == 0


def test_fhir_kit_client_next_page(seeded):
    client, ids, _ = seeded
    reason = _node_missing()
    if reason:
        warnings.warn(f"fhir-kit-client NOT TESTED: {reason}", stacklevel=1)
        pytest.skip(f"fhir-kit-client NOT TESTED: {reason}")
    run = subprocess.run(["node", "fhir_kit_paging.mjs", f"{client.base}/fhir", client.token, "CLIENT-1", "2"],
                         cwd=CLIENTS, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer == {"total": SEEDED, "pages": [ids[:2], ids[2:4], ids[4:]]}


def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (`make test` installs nodejs and npm from Debian where it can)"
    if not (CLIENTS / "node_modules" / "fhir-kit-client").is_dir():
        return "tests/clients has no node_modules: run `make node` (npm ci --prefix tests/clients)"
    return None
