"""HL7 v2 over HTTP arrives byte for byte whatever content type it is posted with: every type the
handler accepts is a binary media type of template.yaml's API, so API Gateway hands the function the
body base64-encoded. The events here are built as API Gateway builds them, from the template."""
from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from adapters.memory import MemoryArchive, MemoryCaseStore
from functions import bootstrap
from functions.hl7v2 import app
from infra.local.stack import proxy_body
from infra.local.topology import Topology
from tests import hl7_factories as h
from tests.gateway import event

LATIN1 = h.rqa(charset="8859/1").replace("DOE^JANE", "MÜLLER^RENÉ").encode("latin-1")


@pytest.fixture
def store(tmp_path, monkeypatch):
    partners = tmp_path / "partners.yaml"
    partners.write_text("partners:\n  - id: acme\n    hl7_facilities: [ACMEHLTH]\n")
    monkeypatch.setenv("PARTNERS_FILE", str(partners))
    store, archive = MemoryCaseStore(), MemoryArchive()
    store.archive = archive
    bootstrap.override(lambda: bootstrap.Services(store, archive, lambda: datetime(2026, 11, 23, tzinfo=timezone.utc)))
    yield store
    bootstrap.override(None)


def test_every_accepted_hl7_content_type_is_a_binary_media_type():
    binary = Topology.load().binary_media_types
    for content_type in app.HL7_TYPES:
        assert proxy_body(b"MSH", content_type, binary)[1], f"{content_type} is not in BinaryMediaTypes"


@pytest.mark.parametrize("content_type", sorted(app.HL7_TYPES) + ["text/plain; charset=ISO-8859-1"])
def test_an_8859_1_message_arrives_byte_exact_with_every_accepted_content_type(store, content_type):
    ev = event("POST", "/hl7v2", LATIN1, partner="acme", content_type=content_type)
    assert ev["isBase64Encoded"] and base64.b64decode(ev["body"]) == LATIN1  # as API Gateway hands it over

    answer = app.lambda_handler(ev, None)

    assert answer["statusCode"] == 200 and "MSA|AA|" in answer["body"]
    [case] = store.cases.values()
    assert (case.member.family, case.member.given[0]) == ("MÜLLER", "RENÉ")
    assert store.archive.objects[case.raw.key] == LATIN1  # archived as sent


def test_a_type_missing_from_the_binary_media_types_would_mangle_the_message():
    """What the test above guards against: as text, the 8859/1 bytes do not survive."""
    text, encoded = proxy_body(LATIN1, "application/hl7-v2", ("x-application/hl7-v2+er7",))
    assert not encoded and text.encode() != LATIN1 and "MÜLLER" not in text
