"""CMS-0057-F prior-authorization figures: pure. Expected numbers are worked out by hand in comments."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from review.metrics import CSV_COLUMNS, DecisionRecord, metrics_csv, outcome_of, prior_authorization_metrics
from review.model import Decision, Kind, Priority
from tests import factories as f

FROM = datetime(2026, 1, 1, tzinfo=timezone.utc)
TO = datetime(2026, 2, 1, tzinfo=timezone.utc)
MID = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
STANDARD, EXPEDITED = Priority.STANDARD, Priority.EXPEDITED


def record(case_id: str, outcome: str = "approved", took: timedelta = timedelta(hours=1), *,
           kind: Kind = Kind.PRIOR_AUTH, appealed_kind: Kind | None = None, priority: Priority = STANDARD,
           partner: str = "acme", line: str = "medicare-advantage", extended: bool = False,
           decided_at: datetime = MID) -> DecisionRecord:
    return DecisionRecord(case_id=case_id, partner=partner, line_of_business=line, kind=kind,
                          appealed_kind=appealed_kind, priority=priority, outcome=outcome,
                          received_at=decided_at - took, decided_at=decided_at, extended=extended)


def appeal(case_id: str, outcome: str, appealed_kind: Kind | None, **extra) -> DecisionRecord:
    return record(case_id, outcome, kind=Kind.APPEAL, appealed_kind=appealed_kind, **extra)


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


SEEDED = [
    # acme / medicare-advantage: 6 standard, 4 expedited requests, 3 counted appeals
    record("s1", "approved", h(24), decided_at=FROM),  # the period's first instant counts
    record("s2", "approved", h(48)),
    record("s3", "denied", h(72)),
    record("s4", "partial", h(12), extended=True),
    record("s5", "approved", h(120), kind=Kind.PREDETERMINATION, extended=True),
    record("s6", "denied", timedelta(hours=30, minutes=6)),
    record("e1", "approved", h(6), priority=EXPEDITED),
    record("e2", "approved", h(10), priority=EXPEDITED),
    record("e3", "denied", h(70), priority=EXPEDITED, extended=True),
    record("e4", "approved", timedelta(hours=2, minutes=30), priority=EXPEDITED),
    appeal("a1", "approved", Kind.PRIOR_AUTH),
    appeal("a2", "denied", Kind.PRIOR_AUTH),
    appeal("a3", "partial", Kind.PREDETERMINATION, priority=EXPEDITED),
    appeal("a4", "approved", Kind.CLAIM),  # not about prior authorization
    record("c1", "approved", h(5), kind=Kind.CLAIM),
    record("s7", "denied", h(1), decided_at=TO),  # the period's end is outside it
    record("s8", "approved", h(1), decided_at=FROM - timedelta(minutes=1)),
    # acme / medicaid
    record("m1", "approved", h(168), line="medicaid"),
    record("m2", "denied", h(1), line="medicaid", priority=EXPEDITED),
    # blue / medicare-advantage: no standard request, no appeal
    record("b1", "partial", h(3), partner="blue", priority=EXPEDITED),
    appeal("b2", "denied", Kind.CLAIM, partner="blue"),
    # blue / commercial: claims only, so no row
    record("c2", "denied", h(4), partner="blue", line="commercial", kind=Kind.CLAIM),
]

ACME_MEDICAID = {
    "partner": "acme", "line_of_business": "medicaid", "requests_decided": 2,
    "standard_decided": 1, "standard_approved": 1, "standard_denied": 0, "standard_partially_approved": 0,
    "standard_percent_approved": 100.0, "standard_percent_denied": 0.0, "standard_percent_partially_approved": 0.0,
    "expedited_decided": 1, "expedited_approved": 0, "expedited_denied": 1, "expedited_partially_approved": 0,
    "expedited_percent_approved": 0.0, "expedited_percent_denied": 100.0, "expedited_percent_partially_approved": 0.0,
    "extended_decided": 0, "extended_approved": 0,
    "percent_extended_and_approved": 0.0,  # 0 of 2 requests
    "percent_of_extended_approved": None,  # none extended
    "appeals_decided": 0, "appeals_approved": 0, "appeals_partially_approved": 0,
    "percent_approved_after_appeal": None, "percent_partially_approved_after_appeal": None,
    "standard_average_hours": 168.0, "standard_median_hours": 168.0,
    "expedited_average_hours": 1.0, "expedited_median_hours": 1.0,
}
ACME_MA = {
    "partner": "acme", "line_of_business": "medicare-advantage", "requests_decided": 10,
    # standard s1-s6: approved s1 s2 s5, denied s3 s6, partial s4 -> 3/6, 2/6, 1/6
    "standard_decided": 6, "standard_approved": 3, "standard_denied": 2, "standard_partially_approved": 1,
    "standard_percent_approved": 50.0, "standard_percent_denied": 33.3, "standard_percent_partially_approved": 16.7,
    # expedited e1-e4: approved e1 e2 e4, denied e3
    "expedited_decided": 4, "expedited_approved": 3, "expedited_denied": 1, "expedited_partially_approved": 0,
    "expedited_percent_approved": 75.0, "expedited_percent_denied": 25.0, "expedited_percent_partially_approved": 0.0,
    # extended s4 (partial), s5 (approved), e3 (denied): 1 of 10 requests, 1 of 3 extended
    "extended_decided": 3, "extended_approved": 1,
    "percent_extended_and_approved": 10.0, "percent_of_extended_approved": 33.3,
    # appeals a1 (approved), a2 (denied), a3 (partial); a4 appeals a claim
    "appeals_decided": 3, "appeals_approved": 1, "appeals_partially_approved": 1,
    "percent_approved_after_appeal": 33.3, "percent_partially_approved_after_appeal": 33.3,
    # standard hours 24 48 72 12 120 30.1: sum 306.1 / 6 = 51.016; sorted 12 24 30.1 48 72 120,
    # median (30.1 + 48) / 2 = 39.05, half up to 39.1
    "standard_average_hours": 51.0, "standard_median_hours": 39.1,
    # expedited hours 6 10 70 2.5: sum 88.5 / 4 = 22.125 -> 22.1; median (6 + 10) / 2 = 8
    "expedited_average_hours": 22.1, "expedited_median_hours": 8.0,
}
BLUE_MA = {
    "partner": "blue", "line_of_business": "medicare-advantage", "requests_decided": 1,
    "standard_decided": 0, "standard_approved": 0, "standard_denied": 0, "standard_partially_approved": 0,
    "standard_percent_approved": None, "standard_percent_denied": None, "standard_percent_partially_approved": None,
    "expedited_decided": 1, "expedited_approved": 0, "expedited_denied": 0, "expedited_partially_approved": 1,
    "expedited_percent_approved": 0.0, "expedited_percent_denied": 0.0, "expedited_percent_partially_approved": 100.0,
    "extended_decided": 0, "extended_approved": 0,
    "percent_extended_and_approved": 0.0, "percent_of_extended_approved": None,
    "appeals_decided": 0, "appeals_approved": 0, "appeals_partially_approved": 0,
    "percent_approved_after_appeal": None, "percent_partially_approved_after_appeal": None,
    "standard_average_hours": None, "standard_median_hours": None,
    "expedited_average_hours": 3.0, "expedited_median_hours": 3.0,
}



def test_seeded_records_give_the_figures_worked_out_by_hand():
    rows = prior_authorization_metrics((r for r in SEEDED), decided_from=FROM, decided_to=TO)  # read once
    assert rows == [ACME_MEDICAID, ACME_MA, BLUE_MA]


def test_rows_are_flat_json_with_keys_in_column_order():
    rows = prior_authorization_metrics(SEEDED, decided_from=FROM, decided_to=TO)
    assert all(list(row) == list(CSV_COLUMNS) for row in rows)
    assert json.loads(json.dumps(rows)) == rows
    assert {type(v) for row in rows for v in row.values()} == {str, int, float, type(None)}


def test_csv_text():
    rows = prior_authorization_metrics(SEEDED, decided_from=FROM, decided_to=TO)
    assert metrics_csv(rows) == f.METRICS_CSV_HEADER + (
        "acme,medicaid,2,1,1,0,0,100.0,0.0,0.0,1,0,1,0,0.0,100.0,0.0,0,0,0.0,,0,0,0,,,168.0,168.0,1.0,1.0\r\n"
        "acme,medicare-advantage,10,6,3,2,1,50.0,33.3,16.7,4,3,1,0,75.0,25.0,0.0,3,1,10.0,33.3,3,1,1,33.3,33.3,"
        "51.0,39.1,22.1,8.0\r\n"
        "blue,medicare-advantage,1,0,0,0,0,,,,1,0,0,1,0.0,0.0,100.0,0,0,0.0,,0,0,0,,,,,3.0,3.0\r\n"
    )


def test_csv_quotes_a_field_with_a_comma_or_quote():
    rows = prior_authorization_metrics([record("1", partner='Acme, "North"', took=h(2))])
    assert metrics_csv(rows).splitlines()[1] == (
        '"Acme, ""North""",medicare-advantage,1,1,1,0,0,100.0,0.0,0.0,0,0,0,0,,,,0,0,0.0,,0,0,0,,,2.0,2.0,,'
    )


def test_no_records():
    assert prior_authorization_metrics([]) == []
    assert metrics_csv([]) == f.METRICS_CSV_HEADER


def test_without_a_period_every_record_counts():
    rows = prior_authorization_metrics(SEEDED)
    acme_ma = rows[1]
    # s7 (denied) and s8 (approved) join the 6 standard requests
    assert (acme_ma["standard_decided"], acme_ma["standard_approved"], acme_ma["standard_denied"]) == (8, 4, 3)


def test_appeals_only_line_has_no_request_figures():
    [row] = prior_authorization_metrics([
        appeal("a", "approved", Kind.PRIOR_AUTH),
        appeal("b", "denied", Kind.PRIOR_AUTH),
    ])
    assert row["requests_decided"] == 0
    assert row["percent_extended_and_approved"] is None and row["standard_percent_approved"] is None
    assert row["expedited_average_hours"] is None and row["standard_median_hours"] is None
    assert (row["appeals_decided"], row["percent_approved_after_appeal"]) == (2, 50.0)


def test_appeal_of_a_claim_or_of_an_unknown_kind_is_left_out():
    assert prior_authorization_metrics([
        appeal("a", "approved", Kind.CLAIM),
        appeal("b", "approved", None),
        record("c", kind=Kind.CLAIM),
    ]) == []


def test_partners_and_lines_are_kept_apart():
    rows = prior_authorization_metrics([
        record("1", "approved", partner="b", line="x"),
        record("2", "denied", partner="a", line="y"),
        record("3", "denied", partner="a", line="x"),
        record("4", "approved", partner="a", line="x"),
    ])
    figures = [(r["partner"], r["line_of_business"], r["standard_decided"], r["standard_percent_approved"])
               for r in rows]
    assert figures == [("a", "x", 2, 50.0), ("a", "y", 1, 0.0), ("b", "x", 1, 100.0)]


def test_percentages_round_half_up_from_the_exact_value():
    # 5 of 16 = 31.25 -> 31.3 and 11 of 16 = 68.75 -> 68.8 (round() gives 31.2 and 68.8)
    records = [record(str(n), "approved" if n < 5 else "denied") for n in range(16)]
    [row] = prior_authorization_metrics(records)
    assert (row["standard_percent_approved"], row["standard_percent_denied"]) == (31.3, 68.8)


def test_hours_count_seconds():
    # 1 h 3 min 1 s = 1.0503 h -> 1.1; 59 min 59 s = 0.9997 h; their mean and median 3690 s = 1.025 h -> 1.0
    [row] = prior_authorization_metrics([
        record("1", took=timedelta(hours=1, minutes=3, seconds=1)),
        record("2", took=timedelta(minutes=59, seconds=59)),
    ])
    assert (row["standard_average_hours"], row["standard_median_hours"]) == (1.0, 1.0)
    [row] = prior_authorization_metrics([record("1", took=timedelta(hours=1, minutes=3, seconds=1))])
    assert row["standard_median_hours"] == 1.1


@pytest.mark.parametrize("decisions, expected", [
    ([Decision.APPROVED], "approved"),
    ([Decision.APPROVED, Decision.APPROVED], "approved"),
    ([Decision.DENIED, Decision.DENIED], "denied"),
    ([Decision.APPROVED, Decision.DENIED], "partial"),
    ([Decision.PARTIAL], "partial"),
    ([Decision.MODIFIED], "partial"),
    ([Decision.APPROVED, Decision.MODIFIED], "partial"),
    ([Decision.DENIED, Decision.PARTIAL], "partial"),
    ([Decision.APPROVED, Decision.PENDED], "approved"),
    ([Decision.PENDED, Decision.DENIED], "denied"),
    (["approved", "denied"], "partial"),
])
def test_outcome_of(decisions, expected):
    assert outcome_of(decisions) == expected


@pytest.mark.parametrize("decisions", [[], [Decision.PENDED]])
def test_outcome_of_needs_a_final_decision(decisions):
    with pytest.raises(ValueError):
        outcome_of(decisions)


@pytest.mark.parametrize("change", [
    {"outcome": "modified"},
    {"received_at": datetime(2026, 1, 1), "decided_at": datetime(2026, 1, 2)},
    {"received_at": MID + timedelta(seconds=1)},
    {"appealed_kind": Kind.PRIOR_AUTH},
])
def test_record_refuses_what_the_figures_cannot_use(change):
    fields = dict(case_id="1", partner="p", line_of_business="l", kind=Kind.PRIOR_AUTH, appealed_kind=None,
                  priority=STANDARD, outcome="approved", received_at=MID - h(1), decided_at=MID, extended=False)
    with pytest.raises(ValueError):
        DecisionRecord(**{**fields, **change})
