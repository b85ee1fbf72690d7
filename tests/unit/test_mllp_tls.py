"""The MLLP listener terminating TLS itself, as the Fargate front service runs it: its certificate,
key and client CA from PEM text in the environment (what the task definition injects from Secrets
Manager), a client certificate required, and the peer handed to `admit`. The intake is a stub."""
from __future__ import annotations

import ssl

import pytest

from adapters.hl7v2.mllp import MllpListener, NotAdmitted, Peer, exchange
from infra.mllp.__main__ import TLS_VARIABLES, tls_from_environment
from tests.certs import make_pki
from tests.stub_intake import StubIntake, ack, launched_container, message, stopped, when_listening


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def pem_environment(pki) -> dict[str, str]:
    return {"MLLP_TLS_CERT": pki.server_cert.read_text(), "MLLP_TLS_KEY": pki.server_key.read_text(),
            "MLLP_TLS_CLIENT_CA": pki.ca_file.read_text()}


def test_tls_from_pem_text_requires_a_client_certificate_and_hands_admit_the_peer(pki):
    peers: list[Peer] = []
    intake = StubIntake()

    def admit(peer: Peer):
        peers.append(peer)
        return intake

    with MllpListener("127.0.0.1", 0, StubIntake(), tls=tls_from_environment(pem_environment(pki)),
                      admit=admit) as listener:
        client = pki.issue_client("engine")
        answer = exchange("127.0.0.1", listener.port, message("TLS-1").encode(), context=pki.client_context(client))
        assert answer == ack("TLS-1")
        assert peers == [Peer("127.0.0.1", peers[0].certificate)] and peers[0].fingerprint == client.fingerprint
        bare = pki.client_context(None)
        bare.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):  # refused in the handshake: admit never asked
            exchange("127.0.0.1", listener.port, message("TLS-2").encode(), context=bare)
    assert len(peers) == 1 and len(intake.frames) == 1


def test_a_connection_admit_refuses_is_closed_before_any_frame_is_handled(pki):
    intake = StubIntake()

    def admit(peer: Peer):
        raise NotAdmitted("no partner")

    with MllpListener("127.0.0.1", 0, intake, admit=admit) as listener:
        assert exchange("127.0.0.1", listener.port, message("NOPE").encode(), timeout=5) is None
    assert intake.frames == []


@pytest.mark.parametrize("missing", TLS_VARIABLES)
def test_the_tls_variables_come_all_together_or_not_at_all(pki, missing):
    partial = {k: v for k, v in pem_environment(pki).items() if k != missing}
    with pytest.raises(ValueError, match=f"missing: {missing}"):
        tls_from_environment(partial)
    assert tls_from_environment({}) is None


def test_the_container_entry_point_speaks_tls_when_the_task_gives_it_a_certificate(pki, tmp_path):
    with launched_container(tmp_path, pem_environment(pki)) as (service, port):
        context = pki.client_context(pki.issue_client("container"))
        answer = when_listening(service, lambda: exchange("127.0.0.1", port, message("CONTAINER-TLS").encode(),
                                                          context=context))
        assert answer == ack("CONTAINER-TLS")
        assert b'"tls":true' in stopped(service)
