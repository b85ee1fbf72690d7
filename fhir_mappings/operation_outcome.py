"""OperationOutcome: the body of every FHIR 4xx."""
from __future__ import annotations

from typing import Any


def operation_outcome(code: str, diagnostics: str, expression: str | None = None,
                      severity: str = "error") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
