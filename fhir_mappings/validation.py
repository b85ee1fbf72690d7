"""Structural validation of inbound FHIR R4 JSON with fhir.resources' R4B models.

Errors name the element (a FHIRPath-like expression) and never echo the input values.
"""
from __future__ import annotations

import importlib
from typing import Any

from review.errors import Invalid

SUPPORTED = {"Bundle": "bundle", "Claim": "claim", "Parameters": "parameters"}


class StructureError(Invalid):
    """Fails basic FHIR R4 rules: the body is not a valid resource (HTTP 400)."""

    def __init__(self, message: str, expression: str | None = None, code: str = "structure"):
        super().__init__(message, expression, code)


def expression(root: str, loc: tuple) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").isalnum():
            path += "." + part
    return path


def validate(body: Any, allowed: frozenset[str]) -> str:
    """Check `body` is an R4 resource of an allowed type; return its resourceType."""
    from pydantic import ValidationError

    if not isinstance(body, dict):
        raise StructureError("the body must be a JSON object holding a FHIR resource")
    rtype = body.get("resourceType")
    if rtype not in allowed:
        raise StructureError(f"resourceType must be one of: {', '.join(sorted(allowed))}", "resourceType",
                             "not-supported" if isinstance(rtype, str) else "structure")
    model = getattr(importlib.import_module(f"fhir.resources.R4B.{SUPPORTED[rtype]}"), rtype)
    try:
        model.model_validate(body)
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        code = "required" if first["type"] == "missing" else "structure"
        raise StructureError(_message(first), expression(rtype, located(first)), code) from None
    except (KeyError, TypeError, ValueError, RecursionError):  # KeyError: fhir.resources on unknown resourceType
        raise StructureError("the resource is not valid FHIR R4", rtype) from None
    return rtype


def located(error: dict) -> tuple:
    """Where an error is. An unknown element is named by its parent: its own name is the sender's text."""
    return error["loc"][:-1] if error["type"] == "extra_forbidden" else error["loc"]


def _message(error: dict) -> str:
    if error["type"] == "missing":
        return "required element is missing"
    if error["type"] == "extra_forbidden":
        return "unknown element"
    # pydantic messages describe the expected type, not the value; fhir_core's sometimes quote it.
    msg = str(error.get("msg", "invalid value"))
    return msg.split(":")[0][:120] if "'" not in msg and '"' not in msg else "invalid value"
