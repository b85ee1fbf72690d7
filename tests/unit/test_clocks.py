"""Regulatory clocks (review/clocks.py, review/clocks.yaml): pure, no I/O.

Expected due times are written out by hand, never recomputed with the code under test."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from review.clocks import (
    DEFAULT_TIME_ZONE,
    LINES_OF_BUSINESS,
    ClockRow,
    ClockTable,
    Service,
    check_extension,
    service_of,
)
from review.errors import Invalid
from review.model import Kind, Priority

UTC = timezone.utc
PA, PD, CL, AP = Kind.PRIOR_AUTH, Kind.PREDETERMINATION, Kind.CLAIM, Kind.APPEAL
EXP, STD = Priority.EXPEDITED, Priority.STANDARD
PRE, POST = Service.PRE_SERVICE, Service.POST_SERVICE
CONTRACT = "contract 2026-04 §3"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


TABLE = ClockTable.default()

# Received Monday 2026-06-01 10:00 in New York (EDT): no DST change within 60 days.
RECEIVED = utc("2026-06-01T14:00:00+00:00")

# line, kind, priority, service, timeframe, extension days, due (UTC)
EXPECTED = [
    ("medicare-advantage", PA, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("medicare-advantage", PA, STD, PRE, "7 calendar days", 14, "2026-06-08T14:00Z"),
    ("medicare-advantage", PD, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("medicare-advantage", PD, STD, PRE, "7 calendar days", 14, "2026-06-08T14:00Z"),
    ("medicare-advantage", CL, EXP, POST, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("medicare-advantage", CL, STD, POST, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("medicare-advantage", AP, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("medicare-advantage", AP, EXP, POST, "60 calendar days", 0, "2026-07-31T14:00Z"),
    ("medicare-advantage", AP, STD, PRE, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("medicare-advantage", AP, STD, POST, "60 calendar days", 0, "2026-07-31T14:00Z"),
    ("medicaid", PA, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("medicaid", PA, STD, PRE, "7 calendar days", 14, "2026-06-08T14:00Z"),
    ("medicaid", PD, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("medicaid", PD, STD, PRE, "7 calendar days", 14, "2026-06-08T14:00Z"),
    ("medicaid", CL, EXP, POST, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("medicaid", CL, STD, POST, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("medicaid", AP, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("medicaid", AP, EXP, POST, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("medicaid", AP, STD, PRE, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("medicaid", AP, STD, POST, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("chip", PA, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("chip", PA, STD, PRE, "7 calendar days", 14, "2026-06-08T14:00Z"),
    ("chip", PD, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("chip", PD, STD, PRE, "7 calendar days", 14, "2026-06-08T14:00Z"),
    ("chip", CL, EXP, POST, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("chip", CL, STD, POST, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("chip", AP, EXP, PRE, "72 hours", 14, "2026-06-04T14:00Z"),
    ("chip", AP, EXP, POST, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("chip", AP, STD, PRE, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("chip", AP, STD, POST, "30 calendar days", 14, "2026-07-01T14:00Z"),
    ("qhp-exchange", PA, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("qhp-exchange", PA, STD, PRE, "7 calendar days", 15, "2026-06-08T14:00Z"),
    ("qhp-exchange", PD, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("qhp-exchange", PD, STD, PRE, "7 calendar days", 15, "2026-06-08T14:00Z"),
    ("qhp-exchange", CL, EXP, POST, "30 calendar days", 15, "2026-07-01T14:00Z"),
    ("qhp-exchange", CL, STD, POST, "30 calendar days", 15, "2026-07-01T14:00Z"),
    ("qhp-exchange", AP, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("qhp-exchange", AP, EXP, POST, "60 calendar days", 0, "2026-07-31T14:00Z"),
    ("qhp-exchange", AP, STD, PRE, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("qhp-exchange", AP, STD, POST, "60 calendar days", 0, "2026-07-31T14:00Z"),
    ("commercial-erisa", PA, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("commercial-erisa", PA, STD, PRE, "15 calendar days", 15, "2026-06-16T14:00Z"),
    ("commercial-erisa", PD, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("commercial-erisa", PD, STD, PRE, "15 calendar days", 15, "2026-06-16T14:00Z"),
    ("commercial-erisa", CL, EXP, POST, "30 calendar days", 15, "2026-07-01T14:00Z"),
    ("commercial-erisa", CL, STD, POST, "30 calendar days", 15, "2026-07-01T14:00Z"),
    ("commercial-erisa", AP, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("commercial-erisa", AP, EXP, POST, "60 calendar days", 0, "2026-07-31T14:00Z"),
    ("commercial-erisa", AP, STD, PRE, "30 calendar days", 0, "2026-07-01T14:00Z"),
    ("commercial-erisa", AP, STD, POST, "60 calendar days", 0, "2026-07-31T14:00Z"),
    ("external-review", PA, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("external-review", PA, STD, PRE, "45 calendar days", 0, "2026-07-16T14:00Z"),
    ("external-review", PD, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("external-review", PD, STD, PRE, "45 calendar days", 0, "2026-07-16T14:00Z"),
    ("external-review", CL, EXP, POST, "72 hours", 0, "2026-06-04T14:00Z"),
    ("external-review", CL, STD, POST, "45 calendar days", 0, "2026-07-16T14:00Z"),
    ("external-review", AP, EXP, PRE, "72 hours", 0, "2026-06-04T14:00Z"),
    ("external-review", AP, EXP, POST, "72 hours", 0, "2026-06-04T14:00Z"),
    ("external-review", AP, STD, PRE, "45 calendar days", 0, "2026-07-16T14:00Z"),
    ("external-review", AP, STD, POST, "45 calendar days", 0, "2026-07-16T14:00Z"),
]


# --- the default table, row by row -------------------------------------------------------------

@pytest.mark.parametrize("line, kind, priority, service, timeframe, extension_days, due", EXPECTED)
def test_each_default_row_is_due_when_its_rule_says(line, kind, priority, service, timeframe, extension_days, due):
    row = TABLE.row(line, kind, priority, service)
    assert (row.line_of_business, row.kind, row.priority, row.service) == (line, kind, priority, service)
    assert row.timeframe == timeframe
    assert row.extension_days == extension_days
    assert row.source.strip()
    assert (row.extension_source is not None) == (extension_days > 0)
    assert row.due_at(RECEIVED) == utc(due.replace("Z", "+00:00"))


def test_the_expected_table_covers_every_default_row():
    assert sorted((r.line_of_business, r.kind, r.priority, r.service) for r in TABLE.rows()) == \
        sorted(e[:4] for e in EXPECTED)


def test_every_combination_a_case_can_have_resolves_to_a_row():
    for line in LINES_OF_BUSINESS:
        for kind in Kind:
            for priority in Priority:
                for service in Service:
                    row = TABLE.row(line, kind, priority, service)
                    assert row.kind is kind and row.priority is priority
                    # a claim is post-service, a prior-auth pre-service, whatever the caller passed
                    assert row.service is (service_of(kind) or service)


def test_lines_of_business():
    assert LINES_OF_BUSINESS == ("medicare-advantage", "medicaid", "chip", "qhp-exchange",
                                 "commercial-erisa", "external-review")


def test_service_of_kind():
    assert service_of(PA) is PRE and service_of(PD) is PRE
    assert service_of(CL) is POST
    assert service_of(AP) is None  # inherited from what is appealed


def test_unknown_line_of_business_is_not_supported():
    with pytest.raises(Invalid) as raised:
        TABLE.row("workers-comp", PA, STD, PRE)
    assert raised.value.code == "not-supported" and raised.value.expression is None
    assert "medicare-advantage" in raised.value.message


def test_default_table_is_loaded_once():
    assert ClockTable.default() is ClockTable.default()


# --- the review findings this table fixes -------------------------------------------------------

def test_an_expedited_payment_appeal_gets_sixty_days_not_seventy_two_hours():
    row = TABLE.row("medicare-advantage", AP, EXP, POST)
    assert (row.hours, row.days, row.extension_days) == (None, 60, 0)
    assert "422.584" in row.source and "never expedited" in row.note.lower()
    assert row.due_at(utc("2026-01-05T15:00:00+00:00")) == utc("2026-03-06T15:00:00+00:00")


@pytest.mark.parametrize("line", LINES_OF_BUSINESS)
@pytest.mark.parametrize("priority", list(Priority))
def test_predetermination_has_rows_of_its_own_on_the_prior_auth_clock(line, priority):
    own = TABLE.row(line, PD, priority, PRE)
    prior_auth = TABLE.row(line, PA, priority, PRE)
    assert own is not prior_auth and own.kind is PD
    assert (own.hours, own.days, own.extension_days) == (prior_auth.hours, prior_auth.days, prior_auth.extension_days)


def test_qhp_prior_auth_runs_the_stricter_cms_0057_f_clock_within_erisa():
    row = TABLE.row("qhp-exchange", PA, STD, PRE)
    assert row.days == 7 and "CMS-0057-F" in row.source and "2560.503-1(f)(2)(iii)(A)" in row.source


# --- calendar days on the partner's wall clock --------------------------------------------------

MA_PA_STANDARD = TABLE.row("medicare-advantage", PA, STD, PRE)  # 7 calendar days
MA_PA_EXPEDITED = TABLE.row("medicare-advantage", PA, EXP, PRE)  # 72 hours


@pytest.mark.parametrize("received, zone, due", [
    # spring forward (8 March 2026): 10:00 EST -> 10:00 EDT, one hour earlier than +168 h
    ("2026-03-05T10:00:00-05:00", "America/New_York", "2026-03-12T14:00:00+00:00"),
    # fall back (1 November 2026): 10:00 EDT -> 10:00 EST, one hour later than +168 h
    ("2026-10-29T10:00:00-04:00", "America/New_York", "2026-11-05T15:00:00+00:00"),
    # month end
    ("2026-01-28T10:00:00-05:00", "America/New_York", "2026-02-04T15:00:00+00:00"),
    # leap year: February has 29 days in 2028
    ("2028-02-25T09:00:00-05:00", "America/New_York", "2028-03-03T14:00:00+00:00"),
    ("2028-02-22T09:00:00-05:00", "America/New_York", "2028-02-29T14:00:00+00:00"),
    # Los Angeles: spring forward too, 10:00 PST -> 10:00 PDT
    ("2026-03-05T10:00:00-08:00", "America/Los_Angeles", "2026-03-12T17:00:00+00:00"),
    # Honolulu keeps no DST: exactly 168 h
    ("2026-03-05T10:00:00-10:00", "Pacific/Honolulu", "2026-03-12T20:00:00+00:00"),
    # late evening in New York is already the next day in UTC; the days follow New York
    ("2026-06-01T23:30:00-04:00", "America/New_York", "2026-06-09T03:30:00+00:00"),
    # the wall time does not exist on 8 March 2026 (02:00-03:00): it moves forward past the gap
    ("2026-03-01T02:30:00-05:00", "America/New_York", "2026-03-08T07:30:00+00:00"),
    # the wall time occurs twice on 1 November 2026: the first occurrence (EDT)
    ("2026-10-25T01:30:00-04:00", "America/New_York", "2026-11-01T05:30:00+00:00"),
])
def test_calendar_days_keep_the_local_wall_clock(received, zone, due):
    assert MA_PA_STANDARD.due_at(datetime.fromisoformat(received), zone) == datetime.fromisoformat(due)


def test_spring_forward_due_is_an_hour_short_of_168_hours():
    received = utc("2026-03-05T15:00:00+00:00")
    assert MA_PA_STANDARD.due_at(received) == received + timedelta(hours=167)


def test_the_default_time_zone_is_new_york():
    assert DEFAULT_TIME_ZONE == "America/New_York"
    received = utc("2026-03-05T15:00:00+00:00")
    assert MA_PA_STANDARD.due_at(received) == MA_PA_STANDARD.due_at(received, "America/New_York")


def test_the_received_instant_matters_not_its_offset():
    in_utc = utc("2026-03-05T15:00:00+00:00")
    in_paris = datetime.fromisoformat("2026-03-05T16:00:00+01:00")
    assert MA_PA_STANDARD.due_at(in_paris) == MA_PA_STANDARD.due_at(in_utc) == utc("2026-03-12T14:00:00+00:00")


def test_due_at_is_utc():
    due = MA_PA_STANDARD.due_at(datetime.fromisoformat("2026-03-05T10:00:00-08:00"), "America/Los_Angeles")
    assert due.utcoffset() == timedelta(0)


@pytest.mark.parametrize("received, due", [
    ("2026-03-06T17:00:00+00:00", "2026-03-09T17:00:00+00:00"),  # across spring forward
    ("2026-10-30T16:00:00+00:00", "2026-11-02T16:00:00+00:00"),  # across fall back
])
def test_hours_are_exact_elapsed_hours_across_dst(received, due):
    assert MA_PA_EXPEDITED.due_at(utc(received)) == utc(due)
    assert MA_PA_EXPEDITED.due_at(utc(received), "Pacific/Honolulu") == utc(due)


def test_extension_days_are_calendar_days_on_top_of_a_days_clock():
    # 7 + 14 days, across spring forward: 10:00 EST on 1 March -> 10:00 EDT on 22 March
    assert MA_PA_STANDARD.due_at(utc("2026-03-01T15:00:00+00:00"), extension_days=14) == \
        utc("2026-03-22T14:00:00+00:00")


def test_extension_days_are_calendar_days_on_top_of_an_hours_clock():
    # 72 h to 10:00 EST on 4 March, then 14 calendar days to 10:00 EDT on 18 March
    assert MA_PA_EXPEDITED.due_at(utc("2026-03-01T15:00:00+00:00"), extension_days=14) == \
        utc("2026-03-18T14:00:00+00:00")


def test_due_at_refuses_a_naive_received_at():
    with pytest.raises(ValueError, match="timezone-aware"):
        MA_PA_STANDARD.due_at(datetime(2026, 3, 5, 10, 0))


def test_due_at_refuses_a_negative_extension():
    with pytest.raises(ValueError, match="extension_days"):
        MA_PA_STANDARD.due_at(RECEIVED, extension_days=-1)


def test_due_at_refuses_an_unknown_time_zone():
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        MA_PA_STANDARD.due_at(RECEIVED, "Mars/Olympus_Mons")


def test_timeframe_wording():
    def clock(hours=None, days=None):
        return ClockRow("medicaid", PA, STD, PRE, hours, days, 0, "a rule")

    assert clock(hours=72).timeframe == "72 hours"
    assert clock(hours=1).timeframe == "1 hour"
    assert clock(days=7).timeframe == "7 calendar days"
    assert clock(days=1).timeframe == "1 calendar day"


@pytest.mark.parametrize("hours, days, kind, service, source, message", [
    (72, 7, PA, PRE, "a rule", "exactly one"),
    (None, None, PA, PRE, "a rule", "exactly one"),
    (None, 0, PA, PRE, "a rule", "at least"),
    (None, 7, PA, PRE, " ", "source"),
    (None, 7, CL, PRE, "a rule", "always post-service"),
    (None, 7, PA, POST, "a rule", "always pre-service"),
])
def test_a_row_is_checked_when_built(hours, days, kind, service, source, message):
    with pytest.raises(ValueError, match=message):
        ClockRow("medicaid", kind, STD, service, hours, days, 0, source)


# --- per-partner overrides -----------------------------------------------------------------------

def test_an_override_replaces_exactly_the_row_it_names_in_every_line():
    table = TABLE.with_overrides([{"kind": "prior-auth", "priority": "standard", "service": "pre-service",
                                   "days": 5, "source": CONTRACT}])
    for before in TABLE.rows():
        after = table.row(before.line_of_business, before.kind, before.priority, before.service)
        if (before.kind, before.priority) == (PA, STD):
            assert (after.days, after.hours, after.source) == (5, None, CONTRACT)
            # no extension_days given: the regulatory extension stays
            assert (after.extension_days, after.extension_source) == (before.extension_days, before.extension_source)
            assert before.source in after.note
        else:
            assert after == before
    assert table.row("medicare-advantage", PA, STD, PRE).due_at(RECEIVED) == utc("2026-06-06T14:00:00+00:00")
    assert TABLE.row("medicare-advantage", PA, STD, PRE).days == 7  # the default is untouched


def test_an_override_may_set_hours_and_its_own_extension():
    table = TABLE.with_overrides([{"kind": "appeal", "priority": "expedited", "service": "post-service",
                                   "hours": 48, "extension_days": 3, "source": CONTRACT, "note": "contract SLA"}])
    row = table.row("medicare-advantage", AP, EXP, POST)
    assert (row.hours, row.days, row.extension_days, row.extension_source, row.note) == \
        (48, None, 3, CONTRACT, "contract SLA")
    assert table.row("medicare-advantage", AP, EXP, PRE) == TABLE.row("medicare-advantage", AP, EXP, PRE)


def test_an_override_may_take_the_extension_away():
    table = TABLE.with_overrides([{"kind": "prior-auth", "priority": "expedited", "service": "pre-service",
                                   "hours": 48, "extension_days": 0, "source": CONTRACT}])
    row = table.row("medicaid", PA, EXP, PRE)
    assert (row.extension_days, row.extension_source) == (0, None)
    with pytest.raises(Invalid, match=CONTRACT):
        check_extension(row, 0, 1)


def test_an_override_may_leave_out_a_service_the_kind_implies():
    table = TABLE.with_overrides([{"kind": "claim", "priority": "standard", "days": 20, "source": CONTRACT}])
    assert table.row("medicaid", CL, STD, POST).days == 20


def test_no_overrides_is_the_same_table():
    assert TABLE.with_overrides([]) == TABLE


GOOD = {"kind": "prior-auth", "priority": "standard", "service": "pre-service", "days": 5, "source": CONTRACT}


@pytest.mark.parametrize("override, message", [
    ({**GOOD, "line_of_business": "medicaid"}, "unknown key.*line_of_business"),
    ({**GOOD, "hourz": 5}, "unknown key.*hourz"),
    ({**GOOD, "kind": "referral"}, "kind 'referral' is not one of"),
    ({**GOOD, "priority": "urgent"}, "priority 'urgent' is not one of"),
    ({**GOOD, "service": "concurrent"}, "service 'concurrent' is not one of"),
    ({**GOOD, "service": "post-service"}, "prior-auth is always pre-service"),
    ({**GOOD, "hours": 48}, "exactly one of hours and days"),
    ({k: v for k, v in GOOD.items() if k != "days"}, "exactly one of hours and days"),
    ({**GOOD, "days": 0}, "days must be a whole number of at least 1"),
    ({**GOOD, "days": "7"}, "days must be a whole number"),
    ({**GOOD, "days": True}, "days must be a whole number"),
    ({**GOOD, "extension_days": -1}, "extension_days must be a whole number of at least 0"),
    ({**GOOD, "extension_source": "contract §4"}, "extension_source given without extension_days"),
    ({**GOOD, "extension_days": 0, "extension_source": "contract §4"}, "no extension"),
    ({k: v for k, v in GOOD.items() if k != "source"}, "source is required"),
    ({**GOOD, "source": "  "}, "source must be non-empty"),
    ({**GOOD, "kind": "appeal", "service": None}, "service is required for an appeal"),
    ("prior-auth standard 5 days", "expected a mapping"),
])
def test_a_bad_override_is_refused_with_a_clear_message(override, message):
    with pytest.raises(ValueError, match=message) as raised:
        TABLE.with_overrides([GOOD, override])
    assert "clock override 1" in str(raised.value)


def test_two_overrides_of_one_row_are_refused():
    with pytest.raises(ValueError, match="second override"):
        TABLE.with_overrides([GOOD, {**GOOD, "days": 6}])


def test_overrides_must_be_a_list():
    with pytest.raises(ValueError, match="list"):
        TABLE.with_overrides(GOOD)  # type: ignore[arg-type]


# --- extensions ----------------------------------------------------------------------------------

def test_an_extension_within_the_rows_limit_is_allowed():
    check_extension(MA_PA_STANDARD, 0, 14)
    check_extension(MA_PA_STANDARD, 0, 1)


def test_extensions_are_cumulative():
    check_extension(MA_PA_STANDARD, 0, 7)
    check_extension(MA_PA_STANDARD, 7, 7)  # 14 in total: the limit
    with pytest.raises(Invalid) as raised:
        check_extension(MA_PA_STANDARD, 10, 5)
    assert (raised.value.code, raised.value.expression) == ("business-rule", "days")
    assert "42 CFR 422.568(b)(1)(i)" in raised.value.message and "4 days left" in raised.value.message


def test_an_extension_beyond_the_limit_is_refused_naming_the_rule():
    with pytest.raises(Invalid, match=r"438\.408\(c\)\(1\).*14 days") as raised:
        check_extension(TABLE.row("medicaid", AP, STD, PRE), 0, 15)
    assert raised.value.code == "business-rule"


@pytest.mark.parametrize("line, kind, priority, service, rule", [
    ("medicare-advantage", AP, STD, POST, "42 CFR 422.590(b)"),  # payment reconsideration
    ("commercial-erisa", PA, EXP, PRE, "29 CFR 2560.503-1(f)(2)(i)"),  # urgent care
    ("external-review", AP, STD, PRE, "45 CFR 147.136"),
])
def test_an_extension_is_refused_where_the_row_forbids_it(line, kind, priority, service, rule):
    with pytest.raises(Invalid) as raised:
        check_extension(TABLE.row(line, kind, priority, service), 0, 1)
    assert (raised.value.code, raised.value.expression) == ("business-rule", "days")
    assert rule in raised.value.message and "no extension" in raised.value.message


@pytest.mark.parametrize("days", [0, -3])
def test_an_extension_is_at_least_one_day(days):
    with pytest.raises(Invalid) as raised:
        check_extension(MA_PA_STANDARD, 0, days)
    assert raised.value.expression == "days"


# --- the table as data ---------------------------------------------------------------------------

def _document(table: ClockTable) -> dict:
    document: dict = {}
    for r in table.rows():
        entry = {"kind": r.kind.value, "priority": r.priority.value, "service": r.service.value,
                 "extension_days": r.extension_days, "source": r.source}
        entry |= {"hours": r.hours} if r.hours else {"days": r.days}
        if r.extension_source:
            entry["extension_source"] = r.extension_source
        document.setdefault(r.line_of_business, []).append(entry)
    return document


def test_the_table_round_trips_through_yaml():
    assert ClockTable.from_yaml(yaml.safe_dump(_document(TABLE))).rows() == \
        [ClockRow(**{**r.__dict__, "note": None}) for r in TABLE.rows()]


def test_a_table_with_a_row_missing_is_refused():
    document = _document(TABLE)
    del document["chip"][3]
    with pytest.raises(ValueError, match="no clock row for chip / predetermination / standard / pre-service"):
        ClockTable.from_yaml(yaml.safe_dump(document))


def test_a_table_with_a_row_doubled_is_refused():
    document = _document(TABLE)
    document["medicaid"].append(dict(document["medicaid"][0]))
    with pytest.raises(ValueError, match="two clock rows for medicaid / prior-auth"):
        ClockTable.from_yaml(yaml.safe_dump(document))


def test_a_yaml_row_must_state_its_extension():
    document = _document(TABLE)
    del document["medicaid"][0]["extension_days"]
    with pytest.raises(ValueError, match=r"medicaid\[0\]: extension_days is required"):
        ClockTable.from_yaml(yaml.safe_dump(document))


def test_a_table_with_an_unknown_line_of_business_is_refused():
    document = _document(TABLE) | {"tricare": []}
    with pytest.raises(ValueError, match="tricare"):
        ClockTable.from_yaml(yaml.safe_dump(document))


def test_markdown_is_the_readme_table():
    text = TABLE.markdown()
    lines = text.splitlines()
    assert lines[0] == "| Line of business | Kind | Priority | Service | Timeframe | Extension | Source |"
    assert len(lines) == 2 + len(EXPECTED)
    assert ("| medicare-advantage | appeal | expedited | post-service | 60 calendar days | none | "
            "42 CFR 422.590(b); 422.584(a) |") in lines
    assert ("| medicare-advantage | prior-auth | standard | pre-service | 7 calendar days | "
            "14 days (42 CFR 422.568(b)(1)(i)) | 42 CFR 422.568(b)(1); CMS-0057-F |") in lines


def test_the_readme_shows_the_clock_table_the_code_runs():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    shown = readme.split("<!-- clocks:start -->\n")[1].split("\n<!-- clocks:end -->")[0].strip()
    assert shown == TABLE.markdown().strip()
