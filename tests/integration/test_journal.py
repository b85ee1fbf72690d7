"""The embedded store's write-ahead journal (infra/local/embedded.py), replayed into a recording app."""
from __future__ import annotations

import pytest

from infra.local.embedded import Journal

SIGNED = ("AWS4-HMAC-SHA256 Credential=AKIAREALKEYID/20261124/us-east-1/dynamodb/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef")


def write(journal: Journal, path: str, body: bytes) -> None:
    journal.append({"REQUEST_METHOD": "PUT", "PATH_INFO": path, "QUERY_STRING": "x-id=PutObject",
                    "CONTENT_TYPE": "application/octet-stream", "HTTP_HOST": "127.0.0.1:1",
                    "HTTP_AUTHORIZATION": SIGNED, "HTTP_X_AMZ_SECURITY_TOKEN": "session-secret"}, body)


def replayed(journal: Journal) -> list[dict]:
    seen = []

    def app(environ, start_response):
        seen.append({**environ, "body": environ["wsgi.input"].read()})
        start_response("200 OK", [])
        return [b""]

    journal.replay_into(app)
    return seen


def test_what_was_written_is_replayed_as_it_came(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    write(journal, "/bucket/a%41/k?y", b"\x00\xffbytes")
    write(journal, "/bucket/second", b"two")
    journal.close()
    first, second = replayed(Journal(tmp_path / "journal.jsonl"))
    assert first["PATH_INFO"] == "/bucket/a%41/k?y" and first["QUERY_STRING"] == "x-id=PutObject"
    assert first["body"] == b"\x00\xffbytes" and second["body"] == b"two"
    assert first["REQUEST_METHOD"] == "PUT" and first["HTTP_HOST"] == "127.0.0.1:1"


def journal_of(path, *parts: str | bytes) -> Journal:
    """A journal file of these parts in order: a str is a record written to that path, bytes are appended raw."""
    for part in parts:
        if isinstance(part, bytes):
            with open(path, "ab") as f:
                f.write(part)
        else:
            journal = Journal(path)
            write(journal, part, b"x")
            journal.close()
    return Journal(path)


def test_the_journal_keeps_no_credentials(tmp_path):
    journal_of(tmp_path / "journal.jsonl", "/b/k")
    text = (tmp_path / "journal.jsonl").read_text()
    assert "AKIAREALKEYID" not in text and "session-secret" not in text and "0123456789abcdef" not in text
    assert "/us-east-1/dynamodb/aws4_request" in text  # the scope moto routes by


def test_a_torn_last_record_is_cut_off(tmp_path):
    journal = journal_of(tmp_path / "journal.jsonl", "/b/whole", b'{"method":"PUT","path":"/b/torn"')
    assert [r["PATH_INFO"] for r in replayed(journal)] == ["/b/whole"]
    assert (tmp_path / "journal.jsonl").read_bytes().endswith(b"\n")


def test_damage_before_the_end_refuses_to_start(tmp_path):
    journal = journal_of(tmp_path / "journal.jsonl", "/b/one", b"garbage\n", "/b/acknowledged-after")
    with pytest.raises(RuntimeError, match="damaged"):
        replayed(journal)
