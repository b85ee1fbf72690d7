"""GET /reports/prior-authorization-metrics over a seeded set with answers worked out by hand.

A fresh partner's requests are received and decided through the partner and reviewer APIs on a
fake clock, so every duration is known to the second. April 2026 is the period asked for; two
requests decided just outside it must not count."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
import requests

from functions import bootstrap
from tests import factories as f
from tests.integration import conftest

REPORT = "/reports/prior-authorization-metrics"
APRIL = {"from": "2026-04-01", "to": "2026-04-30"}


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


APPROVED = {"item_sequence": 1, "decision": "approved"}
DENIED = {"item_sequence": 1, "decision": "denied", "reason_code": "A3", "reason_text": "not medically necessary"}
PARTIAL = {"item_sequence": 1, "decision": "partial", "reason_code": "A6", "authorized_quantity": 4}


@pytest.fixture(scope="module")
def april(stack, base_url):
    """Cases of one fresh partner, in time order (received -> decided, hours):

        out-early  standard  03-30 10:00 -> 03-31 23:59:59  approved   decided before the period
        s1         standard  03-31 10:00 -> 04-01 00:00     approved   14     (on the period's first instant)
        s2         standard  04-01 10:00 -> 04-03 16:00     denied     54
        s3         standard  04-02 09:00 -> 04-04 09:00     partial    48     (4 of the 10 units asked)
        s4         standard  04-03 12:00 -> 04-15 12:00     approved   288    (extended 14 days on 04-08)
        s5         standard  04-05 00:00 -> 04-05 06:30     approved   6.5
        s6         standard  04-06 08:00 -> 04-08 10:00     denied     50
        appeal     of s6     04-09 00:00 -> 04-20 00:00     approved   (an appeal, not a request)
        e1         stat      04-10 00:00 -> 04-10 12:00     approved   12
        e2         stat      04-10 00:00 -> 04-11 00:00     denied     24
        e3         stat      04-11 00:00 -> 04-11 03:00     approved   3
        e4         stat      04-12 00:00 -> 04-12 09:00     approved   9      (cancelled by the requester on 04-14)
        out-late   standard  04-29 00:00 -> 05-01 00:00     approved   decided after the period
    """
    # Seeded once for the module, which cannot take the function-scoped fixtures: the partner comes
    # from the same sequence fresh_partner draws on, the clients are built as api() and reviewer() build them.
    partner = f"corpus{next(conftest._fresh)}"
    client, dr = conftest.Api.of(base_url, partner), conftest.ReviewerApi(base_url, stack.user_pool.token("dr-demo"))
    fake = FakeClock(at(3, 30))
    on_fake_time = dataclasses.replace(bootstrap.bootstrap(), clock=fake)  # the real adapters, a clock moved here
    bootstrap.override(lambda: on_fake_time)
    cases: dict[str, str] = {}

    def receive(name: str, when: datetime, priority: str = "normal", **claim) -> None:
        fake.now = when
        body = f.claim(f"RPT-{name}", priority=priority, **claim)
        if name == "s3":
            body["item"][0]["quantity"] = {"value": 10}
        resp = client.submit(f.pas_bundle(body, identifier=f"RPT-B-{name}"))
        assert resp.status_code == 200, resp.text
        cases[name] = resp.json()["entry"][0]["resource"]["id"]

    def decide(name: str, when: datetime, decision: dict) -> None:
        fake.now = when
        resp = dr.decide(cases[name], decision)
        assert resp.status_code == 200, resp.text

    try:
        receive("out-early", at(3, 30, 10))
        receive("s1", at(3, 31, 10))
        decide("out-early", at(3, 31, 23, 59, 59), APPROVED)
        decide("s1", at(4, 1), APPROVED)
        receive("s2", at(4, 1, 10))
        receive("s3", at(4, 2, 9))
        receive("s4", at(4, 3, 12))
        decide("s2", at(4, 3, 16), DENIED)
        decide("s3", at(4, 4, 9), PARTIAL)
        receive("s5", at(4, 5))
        decide("s5", at(4, 5, 6, 30), APPROVED)
        receive("s6", at(4, 6, 8))
        decide("s6", at(4, 8, 10), DENIED)
        fake.now = at(4, 8, 12)
        assert dr.command(cases["s4"], "assignment", reviewer="dr-demo").status_code == 200
        resp = dr.command(cases["s4"], "extension", days=14, reason="records from the treating physician")
        assert resp.status_code == 200, resp.text
        receive("appeal", at(4, 9), related="RPT-s6", claim_cert="2")
        receive("e1", at(4, 10), "stat")
        receive("e2", at(4, 10), "stat")
        decide("e1", at(4, 10, 12), APPROVED)
        decide("e2", at(4, 11), DENIED)
        receive("e3", at(4, 11), "stat")
        decide("e3", at(4, 11, 3), APPROVED)
        receive("e4", at(4, 12), "stat")
        decide("e4", at(4, 12, 9), APPROVED)
        receive("e4-cancel", at(4, 14), related="RPT-e4", claim_cert="3")  # the requester's, after the decision
        decide("s4", at(4, 15, 12), APPROVED)
        decide("appeal", at(4, 20), APPROVED)
        receive("out-late", at(4, 29))
        decide("out-late", at(5, 1), APPROVED)
    finally:
        bootstrap.override(None)
    appeal = dr.get(f"/cases/{cases['appeal']}").json()["case"]
    assert appeal["kind"] == "appeal" and appeal["original_case_id"] == cases["s6"] and appeal["status"] == "decided"
    assert cases["e4-cancel"] == cases["e4"] and dr.get(f"/cases/{cases['e4']}").json()["case"]["status"] == "cancelled"
    return partner


ROW = {
    "line_of_business": "medicare-advantage",
    "requests_decided": 10,
    "standard_decided": 6, "standard_approved": 3, "standard_denied": 2, "standard_partially_approved": 1,
    "standard_percent_approved": 50.0, "standard_percent_denied": 33.3, "standard_percent_partially_approved": 16.7,
    "expedited_decided": 4, "expedited_approved": 3, "expedited_denied": 1, "expedited_partially_approved": 0,
    "expedited_percent_approved": 75.0, "expedited_percent_denied": 25.0, "expedited_percent_partially_approved": 0.0,
    "extended_decided": 1, "extended_approved": 1,
    "percent_extended_and_approved": 10.0,  # 1 of the 10 requests
    "percent_of_extended_approved": 100.0,
    "appeals_decided": 1, "appeals_approved": 1, "appeals_partially_approved": 0,
    "percent_approved_after_appeal": 100.0, "percent_partially_approved_after_appeal": 0.0,
    "standard_average_hours": 76.8,  # (14 + 54 + 48 + 288 + 6.5 + 50) / 6 = 76.75, rounded half up
    "standard_median_hours": 49.0,  # 6.5 14 48 | 50 54 288: the mean of 48 and 50
    "expedited_average_hours": 12.0,  # (12 + 24 + 3 + 9) / 4
    "expedited_median_hours": 10.5,  # 3 9 | 12 24
}


def test_april_figures_as_json(april, reviewer):
    resp = reviewer("lead-demo").get(REPORT, partner=april, **APRIL)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == {"report": "prior-authorization-metrics", "from": "2026-04-01", "to": "2026-04-30",
                           "rows": [{"partner": april, **ROW}]}


def test_april_figures_as_csv(april, reviewer):
    lead = reviewer("lead-demo")
    resp = requests.get(f"{lead.base}{REPORT}", params={"partner": april, **APRIL}, timeout=30,
                        headers={**lead.headers, "Accept": "text/csv"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.text == f.METRICS_CSV_HEADER + (
        f"{april},medicare-advantage,10,"
        "6,3,2,1,50.0,33.3,16.7,"
        "4,3,1,0,75.0,25.0,0.0,"
        "1,1,10.0,100.0,"
        "1,1,0,100.0,0.0,"
        "76.8,49.0,12.0,10.5\r\n")


def test_the_period_is_whole_days_by_decision_time(april, reviewer):
    lead = reviewer("lead-demo")
    # The day before: only the request decided a second before April.
    march_31 = lead.get(REPORT, partner=april, **{"from": "2026-03-31", "to": "2026-03-31"}).json()["rows"]
    assert [(r["requests_decided"], r["standard_approved"], r["standard_median_hours"]) for r in march_31] == \
        [(1, 1, 38.0)]  # 03-30 10:00 -> 03-31 23:59:59 is 37.99 hours
    # May 1: only the request decided at its first instant.
    may_1 = lead.get(REPORT, partner=april, **{"from": "2026-05-01", "to": "2026-05-01"}).json()["rows"]
    assert [(r["requests_decided"], r["standard_median_hours"]) for r in may_1] == [(1, 48.0)]
    # A day with no decision of this partner's: no row at all.
    assert lead.get(REPORT, partner=april, **{"from": "2026-04-30", "to": "2026-04-30"}).json()["rows"] == []


def test_only_supervisors_get_reports(april, reviewer, api):
    for user in ("nurse-demo", "dr-demo"):
        resp = reviewer(user).get(REPORT, partner=april, **APRIL)
        assert resp.status_code == 403 and resp.json()["issue"][0]["code"] == "forbidden"
    resp = api(april).get(REPORT, partner=april, **APRIL)  # a partner's token, not a reviewer's
    assert resp.status_code == 403 and resp.json()["issue"][0]["code"] == "forbidden"


def test_to_before_from_is_422(april, reviewer):
    resp = reviewer("lead-demo").get(REPORT, partner=april, **{"from": "2026-04-30", "to": "2026-04-01"})
    assert resp.status_code == 422
    assert resp.json()["issue"][0]["expression"] == ["to"]
