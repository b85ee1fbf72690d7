"""The CapabilityStatement says what is true (issue 9, item 5)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from fhir_mappings.capability import capability_statement
from functions import http

ROOT = Path(__file__).resolve().parents[2]


def test_partners_tokens_are_not_advertised_as_oauth_or_smart():
    security = capability_statement("https://iro.example/fhir", "1.0", "2026-11-25")["rest"][0]["security"]
    assert "service" not in security  # static bearer tokens are none of restful-security-service's codes
    assert "Bearer" in security["description"] and "not OAuth" in security["description"]


def test_version_and_date_come_from_the_package_and_the_build():
    statement = capability_statement("https://iro.example/fhir", http.VERSION, http.built_on())
    CapabilityStatement.model_validate(statement)
    assert statement["software"]["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    built = Path(http.__file__).stat().st_mtime
    from datetime import datetime, timezone
    assert statement["date"] == datetime.fromtimestamp(built, timezone.utc).date().isoformat()
