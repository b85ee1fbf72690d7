"""ClaimResponse search over real HTTP: _count, _summary=count, _total, Bundle.link self and next,
paging on DynamoDB's own pagination (issue 9, items 1 and 2)."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from functions.bootstrap import services
from tests import factories as f
from tests.integration.conftest import Api
from tests.integration.test_fhir_api import outcome

PAGED = 5  # cases under one claim identifier


@pytest.fixture(scope="module")
def paged(stack):
    """PAGED cases of partner alpha under claim identifier PAGE-1 (a trace number senders reuse) and
    Claim/page-claim, newest last."""
    client = Api.of(stack.base_url, "alpha")
    ids = [client.submit(f.pas_bundle(f.claim("PAGE-1", id="page-claim"), identifier=f"PAGE-B{n}")).json()["entry"][0]["resource"]["id"]
           for n in range(PAGED)]
    return client, ids


def search(client, headers: dict | None = None, **params) -> requests.Response:
    return requests.get(f"{client.base}/fhir/ClaimResponse", params=params, headers={**client.headers, **(headers or {})},
                        timeout=30)


def links(bundle: dict) -> dict[str, dict[str, str]]:
    """Each link's query, by relation."""
    return {link["relation"]: dict(parse_qsl(urlsplit(link["url"]).query)) for link in bundle["link"]}


def ids_of(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_count_pages_through_every_case_newest_first_by_next_links(paged):
    client, ids = paged
    first = search(client, identifier="PAGE-1", _count="2")
    assert first.status_code == 200, first.text
    bundle = first.json()
    assert (bundle["type"], bundle["total"], ids_of(bundle)) == ("searchset", PAGED, ids[::-1][:2])
    assert links(bundle)["self"] == {"identifier": "PAGE-1", "_count": "2"}
    seen, pages = ids_of(bundle), 1
    while "next" in links(bundle):
        url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
        assert url.startswith(f"{client.base}/fhir/ClaimResponse?")
        bundle = requests.get(url, headers=client.headers, timeout=30).json()
        assert bundle["total"] == PAGED and 1 <= len(ids_of(bundle)) <= 2
        assert links(bundle)["self"]["_page_token"] and links(bundle)["self"]["_count"] == "2"
        seen, pages = seen + ids_of(bundle), pages + 1
    assert seen == ids[::-1] and pages == 3  # 2 + 2 + 1, and no empty page after the last


def test_every_searchset_has_a_self_link_and_the_last_page_no_next(paged):
    client, ids = paged
    whole = search(client, identifier="PAGE-1").json()
    assert ids_of(whole) == ids[::-1] and whole["total"] == PAGED
    assert links(whole) == {"self": {"identifier": "PAGE-1", "_count": "25"}}
    none = search(client, identifier="NO-SUCH-CLAIM").json()
    assert (none["total"], "entry" in none, links(none)["self"]["identifier"]) == (0, False, "NO-SUCH-CLAIM")
    by_request = search(client, request="Claim/page-claim", _count="3").json()
    assert ids_of(by_request) == ids[::-1][:3] and by_request["total"] == PAGED
    assert links(by_request)["self"] == {"request": "Claim/page-claim", "_count": "3"} and "next" in links(by_request)


def test_paging_is_dynamodb_pagination_with_limit_and_exclusive_start_key(paged):
    client, ids = paged
    store = services().store.client
    queries: list[dict] = []
    record = lambda params, **_: queries.append(dict(params))  # noqa: E731
    store.meta.events.register("provide-client-params.dynamodb.Query", record)
    try:
        first = search(client, identifier="PAGE-1", _count="2", _total="none").json()
        url = next(link["url"] for link in first["link"] if link["relation"] == "next")
        requests.get(url, headers=client.headers, timeout=30)
    finally:
        store.meta.events.unregister("provide-client-params.dynamodb.Query", record)
    lookups = [q for q in queries if q["ExpressionAttributeValues"][":pk"]["S"].startswith("LOOKUP#")]
    assert [q["Limit"] for q in lookups] == [3, 3]  # a page and one more, to know whether another follows
    assert "ExclusiveStartKey" not in lookups[0]
    assert lookups[1]["ExclusiveStartKey"]["SK"] == {"S": f"CASE#{ids[-2]}"}  # after the first page's last case


def test_summary_count_and_count_zero_answer_the_total_alone(paged):
    client, _ = paged
    for params, used in (({"_summary": "count"}, {"_summary": "count"}), ({"_count": "0"}, {"_count": "0"})):
        bundle = search(client, identifier="PAGE-1", **params).json()
        assert (bundle["total"], "entry" in bundle) == (PAGED, False), params
        assert links(bundle) == {"self": {"identifier": "PAGE-1", **used}}


def test_total_is_given_unless_total_none(paged):
    client, _ = paged
    for total in ("estimate", "accurate"):
        bundle = search(client, identifier="PAGE-1", _count="1", _total=total).json()
        assert bundle["total"] == PAGED and links(bundle)["self"]["_total"] == total
    bundle = search(client, identifier="PAGE-1", _count="1", _total="none").json()
    assert "total" not in bundle and len(ids_of(bundle)) == 1 and links(bundle)["self"]["_total"] == "none"


def test_count_above_the_maximum_is_lowered_and_the_self_link_says_so(paged):
    client, _ = paged
    bundle = search(client, identifier="PAGE-1", _count="1000").json()
    assert len(ids_of(bundle)) == PAGED and links(bundle)["self"]["_count"] == "100"


@pytest.mark.parametrize("name, value", [("_count", "two"), ("_count", "-1"), ("_count", "1.5"), ("_total", "exact"),
                                         ("_summary", "everything")])
def test_a_bad_result_parameter_value_is_400_naming_it(paged, name, value):
    client, _ = paged
    outcome(search(client, identifier="PAGE-1", **{name: value}), 400, "invalid", name)


def test_unknown_result_parameters_are_ignored_and_left_out_of_the_self_link(paged):
    client, _ = paged
    resp = search(client, identifier="PAGE-1", _count="1", _elements="id", _sort="-_lastUpdated", _summary="true",
                  _totalMethod="count")
    assert resp.status_code == 200, resp.text
    assert links(resp.json())["self"] == {"identifier": "PAGE-1", "_count": "1"}


def test_prefer_handling_strict_refuses_and_lenient_ignores_unused_parameters(paged):
    client, _ = paged
    strict = search(client, {"Prefer": "handling=strict"}, identifier="PAGE-1", _elements="id")
    outcome(strict, 422, "not-supported", "_elements")
    outcome(search(client, identifier="PAGE-1", patient="Patient/x"), 422, "not-supported", "patient")
    lenient = search(client, {"Prefer": "return=minimal, handling=lenient"}, identifier="PAGE-1", patient="Patient/x")
    assert lenient.status_code == 200 and links(lenient.json())["self"] == {"identifier": "PAGE-1", "_count": "25"}
    assert search(client, {"Prefer": "handling=strict"}, identifier="PAGE-1", _count="1").status_code == 200


def test_request_and_identifier_together_are_refused(paged):
    client, _ = paged
    outcome(search(client, request="Claim/page-claim", identifier="PAGE-1"), 422, "not-supported", "identifier")


def test_a_page_token_from_elsewhere_is_400_naming_it(paged, api):
    client, _ = paged
    first = search(client, identifier="PAGE-1", _count="1").json()
    token = links(first)["next"]["_page_token"]
    outcome(search(client, identifier="PAGE-1", _page_token="not-a-token"), 400, "invalid", "_page_token")
    outcome(search(client, identifier="PAGE-1", _page_token=token[:-3]), 400, "invalid", "_page_token")
    outcome(search(client, identifier="OTHER-1", _page_token=token), 400, "invalid", "_page_token")  # another search
    other_partner = api("beta")
    outcome(search(other_partner, identifier="PAGE-1", _page_token=token), 400, "invalid", "_page_token")
    assert search(client, identifier="PAGE-1", _page_token=token).status_code == 200
