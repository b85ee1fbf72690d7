"""`claimbridge serve --mllp-tls-cert/--mllp-tls-key/--mllp-client-ca`: MLLP over TLS with client
certificates, each mapped to the partner that lists its fingerprint (certificates made here)."""
from __future__ import annotations

import json
import ssl

import pytest

from adapters.hl7v2.mllp import exchange
from adapters.partners import token_hash
from tests import hl7_factories as h
from tests.certs import make_pki
from infra.local.topology import Topology
from tests.e2e.test_serve import free_port, start_serve, stop


def test_serve_takes_mllp_over_tls_from_the_partner_its_certificate_names(tmp_path, monkeypatch):
    for variable in Topology.load().environment_refs().values():  # a stack of this process's own, if any
        monkeypatch.delenv(variable, raising=False)
    pki = make_pki(tmp_path / "pki")
    engine = pki.issue_client("demo-engine")
    partners = tmp_path / "partners.json"
    partners.write_text(json.dumps({"partners": [
        {"id": "demo-payer", "token_sha256": [token_hash("tls-token")], "hl7_facilities": ["DEMOPAYER"],
         "mllp": {"client_certs": [engine.fingerprint]}},
        {"id": "other", "hl7_facilities": ["OTHERPAY"], "mllp": {"client_certs": ["00" * 32]}}]}))
    mllp_port = free_port()
    base, proc = start_serve(None, "--partners", str(partners), "--mllp-port", str(mllp_port),
                             "--mllp-tls-cert", str(pki.server_cert), "--mllp-tls-key", str(pki.server_key),
                             "--mllp-client-ca", str(pki.ca_file))
    try:
        context = pki.client_context(engine)
        answer = exchange("127.0.0.1", mllp_port, h.rqa(facility="DEMOPAYER", control_id="E2E-TLS").encode(),
                          context=context).decode()
        assert "MSA|AA|E2E-TLS" in answer
        answer = exchange("127.0.0.1", mllp_port, h.rqa(facility="OTHERPAY", control_id="E2E-AS").encode(),
                          context=context).decode()
        assert "MSA|AR|E2E-AS" in answer  # the certificate is demo-payer's
        bare = pki.client_context(None)
        bare.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):
            exchange("127.0.0.1", mllp_port, h.rqa(facility="DEMOPAYER").encode(), context=bare)
    finally:
        stop(proc)


def test_serve_wants_all_three_tls_files(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    pki = make_pki(tmp_path / "pki")
    run = subprocess.run([str(Path(sys.executable).with_name("claimbridge")), "serve", "--port", str(free_port()),
                          "--mllp-tls-cert", str(pki.server_cert)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "--mllp-tls-cert, --mllp-tls-key and --mllp-client-ca" in run.stderr
