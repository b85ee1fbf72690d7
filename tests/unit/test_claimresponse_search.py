"""ClaimResponse search without I/O: the lookup Query it builds, the in-memory store's pages (kept in
step with the table's), the search use case's total, and the searchset Bundle's links."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from adapters import dynamo_keys as keys
from adapters.memory import MemoryArchive, MemoryCaseStore
from fhir_mappings.case_to_claimresponse import searchset
from fhir_mappings.claim_to_case import submission_from_fhir
from review import services
from review.rules import ReviewPolicy
from tests import factories as f


class CountingStore(MemoryCaseStore):
    """Counts the reads a search makes of the total."""

    counted = 0

    def count(self, partner_id: str, key: str) -> int:
        self.counted += 1
        return super().count(partner_id, key)


@pytest.fixture
def store() -> CountingStore:
    """Partner p1's five cases under claim identifier CLM-1, a minute apart (ids sort by time), and p2's one."""
    store, archive, now = CountingStore(), MemoryArchive(), [f.T0]
    for n, partner in enumerate(["p1"] * 5 + ["p2"]):
        body = f.pas_bundle(f.claim("CLM-1"), identifier=f"BND-{n}")
        now[0] += timedelta(minutes=1)
        services.submit(store, archive, lambda: now[0], partner, ReviewPolicy(), submission_from_fhir(body),
                        json.dumps(body).encode(), "application/fhir+json")
    return store


def newest_first(store: MemoryCaseStore, partner: str = "p1") -> list[str]:
    return sorted((c.id for c in store.cases.values() if c.partner_id == partner), reverse=True)


def test_the_lookup_query_pages_with_limit_and_exclusive_start_key():
    assert "Limit" not in keys.lookup_query("t", "p1", "CLM-1")  # every page, for find_all
    page = keys.lookup_query("t", "p1", "CLM-1", limit=3, after="case9")
    assert page["Limit"] == 3 and page["ScanIndexForward"] is False
    assert page["ExclusiveStartKey"] == {"PK": {"S": keys.lookup_pk("p1", "CLM-1")}, "SK": {"S": keys.case_pk("case9")}}
    assert keys.lookup_query("t", "p1", "CLM-1", count=True)["Select"] == "COUNT"


def test_the_memory_store_pages_newest_first_after_a_case_as_the_table_does(store):
    ids = newest_first(store)
    first, more = store.find_page("p1", "CLM-1", 2)
    assert ([c.id for c in first], more) == (ids[:2], True)
    second, more = store.find_page("p1", "CLM-1", 2, after=ids[1])
    assert ([c.id for c in second], more) == (ids[2:4], True)
    last, more = store.find_page("p1", "CLM-1", 2, after=ids[3])
    assert ([c.id for c in last], more) == (ids[4:], False)
    assert store.count("p1", "CLM-1") == 5 and store.count("p1", "CLM-2") == 0


def test_a_search_page_counts_the_total_only_when_the_page_does_not_show_it(store):
    ids = newest_first(store)
    whole = services.search_cases(store, "p1", "CLM-1", 25)
    assert ([c.id for c in whole.cases], whole.next_after, whole.total, store.counted) == (ids, None, 5, 0)
    page = services.search_cases(store, "p1", "CLM-1", 2, after=ids[1])
    assert ([c.id for c in page.cases], page.next_after, page.total, store.counted) == (ids[2:4], ids[3], 5, 1)
    assert services.search_cases(store, "p1", "CLM-1", 2, total=False).total is None
    only = services.search_cases(store, "p1", "CLM-1", 0)
    assert (only.cases, only.next_after, only.total) == ([], None, 5)
    assert [c.id for c in services.search_cases(store, "p2", "CLM-1", 25).cases] == newest_first(store, "p2")


def test_the_searchset_links_self_and_next_and_omits_what_it_lacks(store):
    cases = [store.cases[i] for i in newest_first(store)[:2]]
    bundle = searchset(cases, "https://iro.example/fhir", {"request": "Claim/c 1", "_count": "2"},
                       {"request": "Claim/c 1", "_count": "2", "_page_token": "t0k"}, total=5)
    assert (bundle["type"], bundle["total"]) == ("searchset", 5)
    assert [link["relation"] for link in bundle["link"]] == ["self", "next"]
    self_url = urlsplit(bundle["link"][0]["url"])
    assert f"{self_url.scheme}://{self_url.netloc}{self_url.path}" == "https://iro.example/fhir/ClaimResponse"
    assert dict(parse_qsl(self_url.query)) == {"request": "Claim/c 1", "_count": "2"}
    assert dict(parse_qsl(urlsplit(bundle["link"][1]["url"]).query))["_page_token"] == "t0k"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [c.id for c in cases]
    empty = searchset([], "https://iro.example/fhir", {"identifier": "x"})
    assert "total" not in empty and "entry" not in empty and len(empty["link"]) == 1  # FHIR JSON: no empty arrays
