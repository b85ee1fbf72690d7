"""What the stack emits, checked by ../shared/tools/fhir-validate (base R4 + PAS ClaimResponse profile).
Skips cleanly where the shared tool or node is absent; the other tests assert the structure themselves."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import requests

from tests import factories as f
from tests import hl7_factories as h
from tests.conftest import CORPUS, PAS_DIR

VALIDATOR = CORPUS.parent / "tools" / "fhir-validate"


def test_emitted_claimresponses_validate(api, base_url, tmp_path, corpus_json):
    if not VALIDATOR.exists() or shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("fhir-validate or node is not available")
    client = api("gamma")
    emitted = {"pended-bundle": client.submit(corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json")).json()}
    for n, decision in enumerate(["approved", "denied", "partial", "modified", "pended"]):
        cr = client.submit(f.pas_bundle(f.claim(f"VAL-{n}"), identifier=f"VAL-B{n}")).json()["entry"][0]["resource"]
        assert client.decide(cr["id"], 1, {"itemSequence": 1, "decision": decision, "reasonCode": "0U",
                                           "reasonText": "per policy"}).status_code == 200
        emitted[decision] = client.get(f"/fhir/ClaimResponse/{cr['id']}").json()
    emitted["queued-claim"] = client.submit(f.claim("VAL-BARE", use="claim")).json()
    hl7 = requests.post(f"{base_url}/hl7v2", data=h.rqa(control_id="VAL-HL7", ref="valhl7", facility="GAMMA"), timeout=30,
                        headers={"Authorization": "Bearer token-gamma", "Content-Type": "x-application/hl7-v2+er7"})
    assert "MSA|AA|" in hl7.text
    emitted["from-hl7v2"] = client.get("/fhir/ClaimResponse", identifier="REF-valhl7").json()["entry"][0]["resource"]
    emitted["inquiry"] = client.submit(corpus_json(PAS_DIR / "Bundle-PASClaimInquiryBundleExample.json"),
                                       operation="$inquire").json()
    files = []
    for name, resource in emitted.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(resource))
        files.append(str(path))
    run = subprocess.run([str(VALIDATOR), *files], capture_output=True, text=True, timeout=600)
    if run.returncode == 2 and "npm install failed" in run.stderr:
        pytest.skip("fhir-validate could not install its packages")
    assert run.returncode == 0, run.stdout + run.stderr
