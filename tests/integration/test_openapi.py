"""The review API's description as served: a valid OpenAPI document naming every route template.yaml
gives the review function, with the command models as request bodies; and Swagger UI to read it."""
from __future__ import annotations

import pytest
import requests
from openapi_spec_validator import validate

from infra.local.topology import Topology
from review import commands as cmd

UNDESCRIBED = {("GET", "/openapi.json"), ("GET", "/swagger")}  # the description itself


@pytest.fixture(scope="module")
def document(base_url) -> dict:
    resp = requests.get(f"{base_url}/openapi.json", timeout=30)  # no token: the description is public
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json"), resp.text
    return resp.json()


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): op for path, item in document["paths"].items() for method, op in item.items()}


def test_the_document_is_valid_openapi(document):
    assert document["openapi"].startswith(("3.0.", "3.1."))
    validate(document)
    assert document["info"]["title"] == "claimbridge review API" and document["info"]["version"]
    assert document["components"]["securitySchemes"]["reviewerToken"]["scheme"].lower() == "bearer"
    assert document["security"] == [{"reviewerToken": []}]


def test_every_review_route_of_the_template_is_described_and_nothing_else(document):
    routes = [r for r in Topology.load().routes if r.function == "CasesFunction"]
    described = operations(document)
    assert {(r.method, r.path) for r in routes if not r.authorized} == UNDESCRIBED
    served = [r for r in routes if r.authorized]
    for method, path in described:  # each described path is one the gateway routes to the function
        [route] = [r for r in served if r.method == method and r.pattern.match(path)] or [None]
        assert route is not None, (method, path)
        if "{command}" not in route.path:
            assert path == route.path  # same parameter names as the template
    for route in served:  # and each route is described: the command route once per command
        assert any(m == route.method and route.pattern.match(p) for m, p in described), (route.method, route.path)
    commands = {p.rsplit("/", 1)[1] for m, p in described if m == "POST" and p.startswith("/cases/{case_id}/")}
    assert commands == {"assignment", "start", "information-request", "information", "determination", "extension",
                        "priority", "reopen", "closure", "withdrawal"}


def test_each_command_is_the_request_body_of_its_route(document):
    described = operations(document)

    def body(method: str, path: str) -> str:
        [only] = described[method, path]["requestBody"]["content"].values()
        return only["schema"]["$ref"].rsplit("/", 1)[1]

    bodies = {p.rsplit("/", 1)[1]: body("POST", p) for m, p in described if m == "POST" and p.startswith("/cases/")}
    assert bodies == {"assignment": "Assign", "start": "Start", "information-request": "RequestInformation",
                      "information": "ProvideInformation", "determination": "Decide", "extension": "Extend",
                      "priority": "ChangePriority", "reopen": "Reopen", "closure": "Close", "withdrawal": "Withdraw"}
    assert body("POST", "/deliveries/redrive") == "RedriveRequest"
    assert set(bodies.values()) == {c.__name__ for c in cmd.Command.__subclasses__()}  # every command has a route
    assert body("PUT", "/reviewers/{reviewer_id}") == "Profile"
    schemas = document["components"]["schemas"]
    for name in bodies.values():  # the optimistic lock is part of every command
        assert "version" in schemas[name]["required"] and schemas[name].get("additionalProperties") is False, name
    assert set(schemas["ReviewDecision"]["enum"]) == {"approved", "denied", "partial", "modified"}
    worklist = {p["name"] for p in described["GET", "/cases"]["parameters"]}
    assert worklist == {"status", "kind", "priority", "assignee", "partner", "due_before", "overdue", "limit", "cursor"}


def test_swagger_ui_serves_the_description(base_url):
    resp = requests.get(f"{base_url}/swagger", timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "<title>Swagger UI</title>" in resp.text and "SwaggerUIBundle" in resp.text
    assert "claimbridge review API" in resp.text
