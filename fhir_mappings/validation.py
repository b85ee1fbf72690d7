"""Structural validation of inbound FHIR R4 JSON with fhir.resources' R4B models.

The models coerce (`"true"`, `1` and `"1"` pass as a boolean, `0` as a date) and take null as absent.
What FHIR JSON forbids is refused here in one walk over the body beside the validated model:
- null as a property value (allowed only inside an array of primitives that has its `_x` twin);
- a primitive of the wrong JSON type: booleans are true/false, integers and decimals are numbers,
  every other primitive is a string;
- in the resources the intake maps, a code outside its required binding (the models' `enum_values`);
- objects nested deeper than MAX_DEPTH: a case keeps the parties as sent, and a stored case must
  read back (pydantic's JSON parser stops at 200 levels).
Errors name the element (a FHIRPath-like expression) and never echo the input values.
"""
from __future__ import annotations

import importlib
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple, get_args

from pydantic_core.core_schema import ErrorType

from review.errors import Invalid

SUPPORTED = {"Bundle": "bundle", "Claim": "claim", "Parameters": "parameters", "Subscription": "subscription"}
PYDANTIC_MESSAGES = frozenset(get_args(ErrorType)) - {"value_error", "assertion_error"}
# Resources whose required-binding codes are checked: those the intake reads. Others pass through
# as sent; R4B (the models') and R4 value sets may differ there, and nothing here depends on them.
CODES_CHECKED_IN = frozenset(
    {"Bundle", "Parameters", "Claim", "Patient", "Coverage", "Organization", "Practitioner", "PractitionerRole"})


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
    if not isinstance(rtype, str) or rtype not in allowed:
        raise StructureError(f"resourceType must be one of: {', '.join(sorted(allowed))}", "resourceType",
                             "not-supported" if isinstance(rtype, str) else "structure")
    model = getattr(importlib.import_module(f"fhir.resources.R4B.{SUPPORTED[rtype]}"), rtype)
    try:
        fault = _fault(body, model.model_validate(body), True)
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        code = "required" if first["type"] == "missing" else "structure"
        raise StructureError(_message(first), expression(rtype, located(first)), code) from None
    except (KeyError, TypeError, ValueError, RecursionError):  # KeyError: fhir.resources on unknown resourceType
        raise StructureError("the resource is not valid FHIR R4", rtype) from None
    if fault:
        loc, code, message = fault
        raise StructureError(message, expression(rtype, loc), code)
    return rtype


Fault = tuple[tuple, str, str]  # location, issue code, message
NULL: Fault = ((), "structure", "null is not a FHIR JSON value: leave the element out")
MAX_DEPTH = 64  # objects within objects; FHIR resources, PAS questionnaires included, stay far below
TOO_DEEP: Fault = ((), "too-costly", f"elements are nested more than {MAX_DEPTH} objects deep")


class Element(NamedTuple):
    """What the walk needs of a model field."""

    name: str  # the attribute holding its validated value
    json_types: tuple[type, ...] = ()  # of a primitive's JSON value; () for a complex element
    codes: frozenset[str] = frozenset()  # of its required binding, where the model lists them


UNKNOWN = Element("")
JSON_NAMES = {(bool,): "boolean", (int,): "integer", (int, float): "number", (str,): "string"}


def _fault(value: Any, model: Any, coded: bool, element: Element = UNKNOWN, depth: int = 0) -> Fault | None:
    """The first thing FHIR JSON forbids in `value` (see the module's docstring); `model` is its
    validated form, `coded` whether the codes of the resource it sits in are checked."""
    if not isinstance(value, dict):
        if element.json_types and type(value) not in element.json_types:
            return (), "structure", f"the value must be a JSON {JSON_NAMES[element.json_types]}"
        if coded and element.codes and value not in element.codes:
            return (), "code-invalid", f"the code must be one of: {', '.join(sorted(element.codes))}"
        return None
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if isinstance(rtype := value.get("resourceType"), str):
        coded = rtype in CODES_CHECKED_IN
    fields = _elements(type(model))
    for key, item in value.items():
        element = fields.get(key, UNKNOWN)
        if isinstance(item, list):
            nulls_allowed = key[0] == "_" or f"_{key}" in value  # primitives beside their `_x` twin
            models = getattr(model, element.name, None)
            if not (isinstance(models, list) and len(models) == len(item)):
                models = [None] * len(item)
            for i, (each, each_model) in enumerate(zip(item, models)):
                fault = (None if nulls_allowed else NULL) if each is None else \
                    _fault(each, each_model, coded, element, depth + 1)
                if fault:
                    return _inside((key, i), fault)
        elif item is None:
            return _inside((key,), NULL)
        elif fault := _fault(item, getattr(model, element.name, None), coded, element, depth + 1):
            return _inside((key,), fault)
    return None


def _inside(where: tuple, fault: Fault) -> Fault:
    return (*where, *fault[0]), fault[1], fault[2]


@cache
def _elements(model: type) -> dict[str, Element]:
    """A model's fields by their JSON names."""
    return {info.alias or name: Element(name, _json_types(info.annotation),
                                        frozenset((info.json_schema_extra or {}).get("enum_values") or ()))
            for name, info in getattr(model, "model_fields", {}).items()}


def _json_types(annotation: Any) -> tuple[type, ...]:
    """The JSON types of a primitive element's value, from its annotation (`bool | None`,
    `Optional[List[Annotated[int, PositiveInt()]]]`...); () for a complex element (a model)."""
    while (args := get_args(annotation)) and not hasattr(annotation, "__metadata__"):
        annotation = args[0]  # Optional[X] / X | None / List[X] -> X
    base = getattr(annotation, "__origin__", annotation) if hasattr(annotation, "__metadata__") else annotation
    if base is bool or base is int:
        return (base,)
    if base is Decimal:
        return (int, float)
    return () if isinstance(base, type) and hasattr(base, "get_model_klass") else (str,)


def located(error: dict) -> tuple:
    """Where an error is. An unknown element is named by its parent: its own name is the sender's text."""
    return error["loc"][:-1] if error["type"] == "extra_forbidden" else error["loc"]


def _message(error: dict) -> str:
    if error["type"] == "missing":
        return "required element is missing"
    if error["type"] == "extra_forbidden":
        return "unknown element"
    # pydantic's own messages describe what was expected, not the value; messages of validators
    # (value_error) and of fhir_core's custom errors may quote it.
    msg = str(error.get("msg", ""))
    if error["type"] not in PYDANTIC_MESSAGES or any(q in msg for q in "'\"`"):
        return "invalid value"
    return msg.split(":")[0][:120]
