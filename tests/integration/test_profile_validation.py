"""What the stack emits, checked by ../shared/tools/fhir-validate (base R4 + PAS ClaimResponse profile).
Skips cleanly where the shared tool or node is absent; the other tests assert the structure themselves.

fhir-validate checks a ClaimResponse's own elements against the PAS profile, but neither what is inside
a PAS extension nor a CommunicationRequest against its PAS profile: `pas_extension_problems` and
`profile_problems` read those StructureDefinitions in place and check what the mapping relies on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from fhir_mappings import codes
from fhir_mappings.case_to_claimresponse import claim_response, response_bundle
from review.model import Code, Period
from tests import factories as f
from tests import hl7_factories as h
from tests.conftest import CORPUS, PAS_DIR
from tests.fhir_validate import validate

PROFILES = CORPUS / "fhir" / "davinci-pas-profiles"
BASE = "https://iro.example/fhir"


DECISIONS = {
    "approved": {},
    "denied": {"reason_code": "0U", "reason_text": "per policy"},
    "partial": {"reason_code": "0U", "authorized_quantity": 1, "authorized_period": {"start": "2026-12-01", "end": "2026-12-31"}},
    "modified": {"reason_code": "0U", "authorized_code": {"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}},
}


def test_emitted_claimresponses_validate(api, reviewer, base_url, tmp_path, corpus_json):
    client, dr = api("gamma"), reviewer()
    emitted = {"pended-bundle": client.submit(corpus_json(PAS_DIR / "Bundle-ReferralAuthorizationBundleExample.json")).json()}
    for n, (decision, detail) in enumerate(DECISIONS.items()):
        cr = client.submit(f.pas_bundle(f.claim(f"VAL-{n}"), identifier=f"VAL-B{n}")).json()["entry"][0]["resource"]
        resp = dr.decide(cr["id"], {"item_sequence": 1, "decision": decision, **detail})
        assert resp.status_code == 200, resp.text
        emitted[decision] = client.get(f"/fhir/ClaimResponse/{cr['id']}").json()
    cr = client.submit(f.pas_bundle(f.claim("VAL-INFO"), identifier="VAL-BINFO")).json()["entry"][0]["resource"]
    dr.decide(cr["id"])  # assigned and started; nothing decided (422)
    assert dr.command(cr["id"], "information-request", due_by="2099-01-01", items=[
        {"code": {"code": "18657-7"}, "text": "operative note"}]).status_code == 200
    emitted["information-requested"] = client.get(f"/fhir/ClaimResponse/{cr['id']}").json()
    emitted["queued-claim"] = client.submit(f.claim("VAL-BARE", use="claim")).json()
    hl7 = requests.post(f"{base_url}/hl7v2", data=h.rqa(control_id="VAL-HL7", ref="valhl7", facility="GAMMA"), timeout=30,
                        headers={"Authorization": "Bearer token-gamma", "Content-Type": "x-application/hl7-v2+er7"})
    assert "MSA|AA|" in hl7.text
    emitted["from-hl7v2"] = client.get("/fhir/ClaimResponse", identifier="REF-valhl7").json()["entry"][0]["resource"]
    emitted["inquiry"] = client.submit(corpus_json(PAS_DIR / "Bundle-PASClaimInquiryBundleExample.json"),
                                       operation="$inquire").json()
    validate(tmp_path, emitted)


# Review outcomes, rendered straight from cases (no stack): what PAS 2.2.1 says each fact looks like


def review_outcomes() -> dict[str, dict]:
    partial = f.decided(f.case(), {1: f.determination(
        "partial", reason_code="0U", reason_text="Two visits, not four", authorization_number="AUTH-P",
        authorized_quantity=2, authorized_period=Period(start="2026-12-01", end="2026-12-31"),
        reviewer=f.physician())})
    modified = f.decided(f.case(), {1: f.determination(
        "modified", reason_code="0U", authorization_number="AUTH-M",
        authorized_service=Code(system=f.CPT, code="99212"), reviewer=f.physician())})
    denied = f.decided(f.case(), {1: f.determination(
        "denied", reason_code="0U", reason_text="Not medically necessary", reviewer=f.physician("1987654321"))})
    asking = f.asking(f.case(f.pas_bundle(f.claim(items=2))), f.information_request(
        f.wanted("History and physical", "34117-2"), f.wanted("Why conservative therapy was not tried")))
    bundle = response_bundle(asking, BASE)
    return {
        "partial": response_bundle(partial, BASE),
        "modified": response_bundle(modified, BASE),
        "denied-with-reviewer": response_bundle(denied, BASE),
        "denied-with-reviewer-claimresponse": claim_response(denied),
        "information-requested": bundle,
        "information-requested-claimresponse": claim_response(asking),
        "communicationrequest-loinc": bundle["entry"][1]["resource"],
        "communicationrequest-text": bundle["entry"][2]["resource"],
    }


def test_review_outcomes_validate_and_have_the_pas_structure(tmp_path):
    if not PROFILES.is_dir():
        pytest.skip("../shared/corpus is not present")
    emitted = review_outcomes()
    for name, resource in emitted.items():
        assert pas_extension_problems(resource) == [], name
    validate(tmp_path, emitted)

    def item(name: str) -> dict:
        resp = emitted[name]["entry"][0]["resource"] if emitted[name]["resourceType"] == "Bundle" else emitted[name]
        [only] = resp["item"]
        return only

    assert sub(item("partial"), codes.EXT_ITEM_AUTHORIZED_DETAIL) == {"quantity": {"valueQuantity": {
        "value": 2, "unit": "Units", "system": codes.X12_QUANTITY_QUALIFIER, "code": "FL"}}}  # PAS prof-2, prof-3
    assert ext(item("partial"), codes.EXT_ITEM_PREAUTH_PERIOD) == {
        "valuePeriod": {"start": "2026-12-01", "end": "2026-12-31"}}
    assert action(item("partial")) == {"code": "A2", "number": "AUTH-P", "reasonCode": "0U"}
    assert sub(item("modified"), codes.EXT_ITEM_AUTHORIZED_DETAIL) == {
        "productOrServiceCode": {"valueCodeableConcept": {"coding": [{"system": f.CPT, "code": "99212"}]}}}
    assert action(item("modified")) == {"code": "A6", "number": "AUTH-M", "reasonCode": "0U"}
    assert action(item("denied-with-reviewer")) == {"code": "A3", "reasonCode": "0U"}
    denied = emitted["denied-with-reviewer"]["entry"][0]["resource"]
    assert sub(denied, codes.EXT_CLAIMRESPONSE_REVIEWER) == {
        "wasHumanReviewedFlag": {"valueBoolean": True},
        "reviewerNPI": {"valueIdentifier": {"system": codes.NPI, "value": "1987654321"}}}
    assert denied["processNote"] == [{"number": 1, "type": "display", "text": "Not medically necessary"}]

    bundle = emitted["information-requested"]
    resp, *rest = [e["resource"] for e in bundle["entry"]]
    asks = [r for r in rest if r["resourceType"] == "CommunicationRequest"]
    assert [r["reference"] for r in resp["communicationRequest"]] == [
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CommunicationRequest"]
    assert [a.get("payload") for a in asks] == [[{"contentString": "34117-2"}], None]
    bare = emitted["information-requested-claimresponse"]
    assert [r["reference"] for r in bare["communicationRequest"]] == ["#" + c["id"] for c in bare["contained"]]
    assert [c["id"] for c in bare["contained"]] == [a["id"] for a in asks]

    profile = json.loads((PROFILES / "StructureDefinition-profile-communicationrequest.json").read_bytes())
    urls = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
    for ask in asks + bare["contained"]:
        assert profile_problems(ask, profile, urls) == [], ask["id"]
        assert ask["identifier"], "IdentifierUnlessVO: no medium given, so an identifier is required"


# PAS StructureDefinitions, read in place


def structure(url: str) -> dict:
    name = url.split("|")[0].rsplit("/", 1)[1]
    return json.loads((PROFILES / f"StructureDefinition-{name}.json").read_bytes())


def pas_extension_problems(node, path: str = "") -> list[str]:
    """Each PAS extension under `node` where its definition allows it, with the sub-extensions its slices
    name (counted against their cardinality) and the value types they allow."""
    if isinstance(node, list):
        return [p for n in node for p in pas_extension_problems(n, path)]
    if not isinstance(node, dict):
        return []
    path = node.get("resourceType", path)  # a resource (an entry, a contained one) starts its own paths
    problems = []
    for e in node.get("extension", []):
        if e["url"].startswith(codes.PAS):
            sd = structure(e["url"])
            contexts = [c["expression"] for c in sd.get("context", [])]
            if path not in contexts:
                problems.append(f"{e['url']} at {path}, allowed at {contexts}")
            problems += [f"{path}: {p}" for p in extension_problems(e, sd)]
    for key, value in node.items():
        if key != "extension":
            problems += pas_extension_problems(value, f"{path}.{key}")
    return problems


def extension_problems(e: dict, sd: dict) -> list[str]:
    elements = {el["id"]: el for el in sd["differential"]["element"]}
    problems = value_problems(e, elements, "Extension")
    slices = {}
    for id_, el in elements.items():
        if id_.startswith("Extension.extension:") and id_.count(".") == 1:
            name = id_.split(":", 1)[1]
            profile = next((p for t in el.get("type", []) for p in t.get("profile", [])), None)
            url = profile.split("|")[0] if profile else elements[f"{id_}.url"]["fixedUri"]
            slices[url] = (name, el, profile)
    parts = e.get("extension", [])
    if parts and elements.get("Extension.extension", {}).get("max") == "0":
        problems.append(f"{e['url']}: no sub-extensions allowed")
    for part in parts:
        if part["url"] not in slices:
            problems.append(f"{e['url']}: unknown sub-extension {part['url']}")
        else:
            name, _, profile = slices[part["url"]]
            problems += (extension_problems(part, structure(profile)) if profile
                         else value_problems(part, elements, f"Extension.extension:{name}"))
    for url, (name, el, _) in slices.items():
        count = sum(p["url"] == url for p in parts)
        if count < el.get("min", 0) or (el.get("max", "*") != "*" and count > int(el["max"])):
            problems.append(f"{e['url']}: {count} {name}, allowed {el.get('min', 0)}..{el.get('max', '*')}")
    return problems


def value_problems(e: dict, elements: dict, at: str) -> list[str]:
    value = elements.get(f"{at}.value[x]", {})
    given = [k for k in e if k.startswith("value")]
    if value.get("max") == "0" or not value:
        return [f"{e['url']}: no value allowed, has {given}"] if given and value.get("max") == "0" else []
    allowed = ["value" + t["code"][0].upper() + t["code"][1:] for t in value["type"]]
    return [] if len(given) == 1 and given[0] in allowed else [f"{e['url']}: value {given}, allowed {allowed}"]


def profile_problems(resource: dict, sd: dict, urls: dict[str, str]) -> list[str]:
    """The differential's cardinalities, fixed codes, choice types and reference targets for the
    resource's elements (slices and invariants aside)."""
    problems = []
    for el in sd["differential"]["element"]:
        steps = el["id"].split(".")[1:]
        if not steps or ":" in el["id"]:
            continue
        parents = [resource]
        for step in steps[:-1]:
            parents = [c for p in parents for c in as_list(p.get(step))]
        last = steps[-1]
        for parent in parents:
            if last.endswith("[x]"):
                keys = [k for k in parent if k.startswith(last[:-3])]
                allowed = [last[:-3] + t["code"][0].upper() + t["code"][1:] for t in el.get("type", [])]
                problems += [f"{el['id']}: {k}, allowed {allowed}" for k in keys if allowed and k not in allowed]
                values = [parent[k] for k in keys]
            else:
                values = as_list(parent.get(last))
            if len(values) < el.get("min", 0) or (el.get("max", "*") != "*" and len(values) > int(el["max"])):
                problems.append(f"{el['id']}: {len(values)}, allowed {el.get('min', 0)}..{el.get('max', '*')}")
            if "fixedCode" in el and any(v != el["fixedCode"] for v in values):
                problems.append(f"{el['id']}: {values}, fixed {el['fixedCode']}")
            targets = [structure(p)["type"] if p.startswith(codes.PAS) else p.split("|")[0].rsplit("/", 1)[1]
                       for t in el.get("type", []) for p in t.get("targetProfile", [])]
            for v in values:
                if targets and "reference" in v:
                    kind = urls.get(v["reference"]) or v["reference"].split("/")[-2]
                    if kind not in targets:
                        problems.append(f"{el['id']}: a {kind}, allowed {targets}")
    return problems


def as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def ext(element: dict, url: str) -> dict:
    [found] = [e for e in element.get("extension", []) if e["url"] == url]
    return {k: v for k, v in found.items() if k != "url"}


def sub(element: dict, url: str) -> dict:
    return {p["url"]: {k: v for k, v in p.items() if k != "url"} for p in ext(element, url)["extension"]}


def action(item: dict) -> dict:
    """An item's reviewAction as {slice: code or value}."""
    [adjudication] = item["adjudication"]
    parts = sub(adjudication, codes.EXT_REVIEW_ACTION)
    out = {"code": parts.pop(codes.EXT_REVIEW_ACTION_CODE)["valueCodeableConcept"]["coding"][0]["code"]}
    for name, value in parts.items():
        out[name] = value.get("valueString") or value["valueCodeableConcept"]["coding"][0]["code"]
    return out
