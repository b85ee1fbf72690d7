"""Property: whatever a partner POSTs to Claim/$submit or Claim/$inquire, the answer is a 200 or a 4xx
OperationOutcome that quotes nothing it was sent, a 4xx changes nothing stored, and every stored case
reads back from its JSON (as the DynamoDB store reads it).

Inputs are valid requests (tests/factories.py, examples/pas-request.json) mutated at random JSON paths.
Every string a mutation inserts carries the example's marker, so an echo of input is easy to spot.
`HYPOTHESIS_PROFILE=fuzz` runs a long campaign (tests/unit/conftest.py).
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from string import ascii_uppercase

import hypothesis
import pytest
from hypothesis import given, note, strategies as st

from adapters.partners import PartnerRegistry
from adapters.memory import MemoryArchive, MemoryCaseStore
from functions import bootstrap
from functions.fhir import app as fhir_app
from review.model import Case
from tests import factories as f
from tests.gateway import call, event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pas-request.json"
SEEDS = [
    f.pas_bundle(),
    json.loads(EXAMPLE.read_text()),
    f.pas_bundle(f.claim("CLM-2", related="CLM-1"), identifier="BND-2"),  # an update of the stored case
    f.claim("CLM-3"),
    f.parameters(f.claim("CLM-4")),
]
STORED = f.pas_bundle(identifier="BND-0")  # in the store before each request: updates and inquiries find it
RESOURCE_TYPES = ["Claim", "Patient", "Coverage", "Organization", "Practitioner", "PractitionerRole", "Bundle",
                  "Parameters", "QuestionnaireResponse", "Observation", "OperationOutcome"]


# --- JSON paths -----------------------------------------------------------------------------------

def paths(doc, here: tuple = ()) -> list[tuple]:
    """Every path in a JSON document, the root () included."""
    out = [here]
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out += paths(value, (*here, key))
    return out


def at(doc, path: tuple):
    for key in path:
        doc = doc[key]
    return doc


def put(doc, path: tuple, value):
    """`doc` with the value at `path` replaced (the root itself when the path is empty)."""
    if not path:
        return value
    at(doc, path[:-1])[path[-1]] = value
    return doc


def nested(depth: int, marker: str) -> dict:
    """An extension holding extensions, `depth` deep."""
    value = {"url": f"urn:{marker}", "valueString": marker}
    for _ in range(depth):
        value = {"url": f"urn:{marker}", "extension": [value]}
    return value


# --- mutations ------------------------------------------------------------------------------------

def other_values(marker: str):
    return st.sampled_from([{}, [], "", 0, -1, 10 ** 320, -(10 ** 320), 2 ** 63, 1.5, 1e308, -0.0, True, False,
                            marker, marker + "x" * 50_000, f"{marker}  {marker}", f" {marker}", f"{marker}\u0000",
                            f"{marker}\ud7ff\u202e", "9" * 400, [[[[[[[[[[marker]]]]]]]]]]])


def numbers():
    return st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                     st.sampled_from([0, -1, 2 ** 31, 10 ** 320, 1e308]))


def delete(draw, doc, path, marker):
    del at(doc, path[:-1])[path[-1]]
    return doc


def duplicate(draw, doc, path, marker):
    items = at(doc, path)
    items.insert(draw(st.integers(0, len(items))), copy.deepcopy(draw(st.sampled_from(items))))
    return doc


def swap(draw, doc, path, marker):  # the Claim need not stay first
    items = at(doc, path)
    i, j = draw(st.integers(0, len(items) - 1)), draw(st.integers(0, len(items) - 1))
    items[i], items[j] = items[j], items[i]
    return doc


def unknown_key(draw, doc, path, marker):
    at(doc, path)[draw(st.sampled_from([marker, "_" + marker, "resourceType"]))] = marker
    return doc


def extension_chain(draw, doc, path, marker):  # where FHIR takes it: nearly every element may carry extensions
    at(doc, path)["extension"] = [nested(draw(st.integers(1, 150)), marker)]
    return doc


def retarget(draw, doc, path, marker):  # at another resource of the Bundle, or nowhere
    urls = [e.get("fullUrl") for e in doc.get("entry") or [] if isinstance(e, dict)] if isinstance(doc, dict) else []
    targets = [u for u in urls if isinstance(u, str)] + ["Patient/member-1", "Claim/req-claim", f"Claim/{marker}", "#"]
    return put(doc, path, draw(st.sampled_from(targets)))


def replace(new):
    """A mutation putting a value drawn from `new(marker, old value)` at the path."""
    return lambda draw, doc, path, marker: put(doc, path, draw(new(marker, at(doc, path))))


def anywhere(path, value):
    return True


def below_root(path, value):
    return path != ()


def array(path, value):
    return isinstance(value, list) and len(value) > 0


def pair_or_more(path, value):
    return isinstance(value, list) and len(value) > 1


def json_object(path, value):
    return isinstance(value, dict)


def string(path, value):
    return isinstance(value, str)


def number(path, value):
    return type(value) in (int, float)


def named(key):
    return lambda path, value: path[-1:] == (key,)


def marked(marker, old):
    """A random string with the marker: for codes, systems, ids, dates, references..."""
    return st.text(max_size=12).flatmap(lambda junk: st.sampled_from([marker, marker + junk, junk + marker]))


MUTATIONS = {  # kind: (the paths it applies to, what it does there)
    "delete": (below_root, delete),
    "null": (below_root, replace(lambda marker, old: st.none())),
    "retype": (anywhere, replace(lambda marker, old: other_values(marker).map(copy.deepcopy))),
    "wrap": (anywhere, replace(lambda marker, old: st.just([old]))),
    "unwrap": (array, replace(lambda marker, old: st.just(old[0]))),
    "duplicate": (array, duplicate),
    "swap": (pair_or_more, swap),
    "resourceType": (named("resourceType"), replace(lambda marker, old: st.sampled_from(RESOURCE_TYPES + [marker]))),
    "unknown key": (json_object, unknown_key),
    "string": (string, replace(marked)),
    "reference": (named("reference"), retarget),
    "number": (number, replace(lambda marker, old: numbers())),
    "nesting": (json_object, extension_chain),
}
# Those that tend to keep a request valid R4 come more often: they reach the mapping and the store.
KINDS = ["delete", "string", "reference", "duplicate", "swap", "number"] * 3 + [
    "null", "retype", "wrap", "unwrap", "resourceType", "unknown key", "nesting"]


@st.composite
def mutation(draw, doc, marker: str):
    kind = draw(st.sampled_from(KINDS))
    note(kind)
    applies, mutate = MUTATIONS[kind]
    where = [p for p in paths(doc) if applies(p, at(doc, p))]
    return mutate(draw, doc, draw(st.sampled_from(where)), marker) if where else doc


@st.composite
def requests(draw):
    marker = "ZQX" + draw(st.text(ascii_uppercase, min_size=5, max_size=5))
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        doc = draw(mutation(doc, marker))
    return marker, doc


# --- the property ---------------------------------------------------------------------------------

def fresh_store() -> MemoryCaseStore:
    store = MemoryCaseStore()
    services = bootstrap.Services(store, MemoryArchive(), lambda: datetime(2026, 11, 23, tzinfo=timezone.utc),
                                  partners=lambda: PartnerRegistry([], {}))
    bootstrap.override(lambda: services)
    assert call(fhir_app.lambda_handler, event("POST", "/fhir/Claim/$submit", STORED))[0] == 200
    return store


@given(requests())
def test_any_request_gets_a_200_or_a_4xx_that_echoes_nothing_and_stores_nothing(errors_logged, request):
    marker, body = request
    text = json.dumps(body)
    for operation in ("$submit", "$inquire"):
        store = fresh_store()
        before = (store.writes, dict(store.cases))
        status, outcome = call(fhir_app.lambda_handler, event("POST", f"/fhir/Claim/{operation}", text))
        hypothesis.event(f"{operation} {status}")  # the spread of outcomes, in --hypothesis-show-statistics
        assert status < 500, f"{operation}: {status}, {errors_logged.last}"
        assert all(Case.model_validate_json(c.model_dump_json()) == c for c in store.cases.values())  # as stored
        if status >= 400:
            assert outcome["resourceType"] == "OperationOutcome"
            assert marker not in json.dumps(outcome)
            assert (store.writes, store.cases) == before, f"{operation}: {status} but stored"
