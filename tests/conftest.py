from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# The in-process stacks' workers print EMF lines from their own threads while pytest swaps the
# captured stdout between tests (a CPython segfault was seen there once); nothing here reads them.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PAS_DIR = CORPUS / "fhir" / "davinci-pas"
R4_DIR = CORPUS / "fhir" / "r4-spec"


def corpus_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def is_request_bundle(path: Path) -> bool:
    doc = json.loads(path.read_bytes())
    return doc.get("resourceType") == "Bundle" and "pas-request-bundle" in json.dumps(doc.get("meta", {}))


def or_skipped(paths: list[Path]) -> list:
    """Parameters for a corpus test: the files, or one visible skip where ../shared is absent."""
    return paths or [pytest.param(None, marks=pytest.mark.skip(reason="../shared/corpus is not present"))]


PAS_REQUEST_BUNDLES = or_skipped([p for p in corpus_files(PAS_DIR, "Bundle-*.json") if is_request_bundle(p)])
R4_CLAIMS = or_skipped(corpus_files(R4_DIR, "Claim-*.json"))


@pytest.fixture
def corpus_json():
    def load(path: Path) -> dict:
        if not path.exists():
            pytest.skip("../shared/corpus is not present")
        return json.loads(path.read_bytes())
    return load
