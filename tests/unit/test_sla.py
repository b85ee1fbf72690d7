"""The SLA monitor's rule, sla.assess: thresholds, one mark per threshold and deadline, counts."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from adapters import dynamo_keys as keys
from review import sla
from review.views import CaseSummary

NOW = datetime(2026, 3, 12, 14, 0, tzinfo=timezone.utc)
WINDOW = timedelta(hours=24)


def summary(due_in: timedelta, id: str = "c1", partner: str = "alpha", priority: str = "standard") -> CaseSummary:
    return CaseSummary(id=id, partner=partner, kind="prior-auth", priority=priority, status="received",
                       due_at=NOW + due_in, received_at=NOW - timedelta(days=7), version=1)


def marks(cases: list[tuple[CaseSummary, str | None]], now: datetime = NOW) -> list[tuple[str, str]]:
    return [(case.id, mark) for case, mark in sla.assess({}, cases, now, WINDOW).to_mark]


@pytest.mark.parametrize("due_in, reached", [
    (WINDOW + timedelta(seconds=1), None),
    (WINDOW, sla.DUE_SOON),  # the window's far edge is inside it
    (timedelta(seconds=1), sla.DUE_SOON),
    (timedelta(0), sla.OVERDUE),  # due now is overdue
    (-timedelta(days=3), sla.OVERDUE),
])
def test_threshold_by_time_left(due_in, reached):
    assert sla.threshold(summary(due_in), NOW, WINDOW) == reached
    assert marks([(summary(due_in), None)]) == ([("c1", reached)] if reached else [])


def test_a_case_is_marked_once_per_threshold():
    due_soon, overdue = summary(timedelta(hours=3)), summary(-timedelta(hours=1))
    assert marks([(due_soon, sla.DUE_SOON)]) == []
    assert marks([(overdue, sla.OVERDUE)]) == []
    assert marks([(overdue, sla.DUE_SOON)]) == [("c1", sla.OVERDUE)]  # the next threshold is marked
    # A mark further on than the time says (the window was narrowed since) is never taken back.
    assert marks([(due_soon, sla.OVERDUE)]) == []


def test_a_case_that_skipped_due_soon_is_marked_overdue_only():
    """A short clock, or a monitor that was down for the whole window: one mark, one alert."""
    assert marks([(summary(-timedelta(minutes=5)), None)]) == [("c1", sla.OVERDUE)]


def test_a_moved_deadline_marks_again():
    """The view hands over the mark only for the case's current deadline (keys.sla_marked), so a case
    whose deadline moved (an extension, a priority change) and then passes again is marked again."""
    old_due, new_due = NOW - timedelta(hours=1), NOW + timedelta(days=14)
    stored = f"{sla.OVERDUE}@{keys.instant(old_due)}"
    assert keys.sla_marked(stored, old_due) == sla.OVERDUE
    assert keys.sla_marked(stored, new_due) is None
    assert keys.sla_marked(None, new_due) is None
    extended = summary(new_due - NOW)
    assert marks([(extended, keys.sla_marked(stored, new_due))]) == []  # not due soon yet
    later = new_due + timedelta(minutes=1)
    assert marks([(extended, keys.sla_marked(stored, new_due))], now=later) == [("c1", sla.OVERDUE)]


def test_counts_per_partner_and_priority():
    cases = [
        (summary(timedelta(days=5), "a1"), None),
        (summary(timedelta(hours=2), "a2"), sla.DUE_SOON),
        (summary(-timedelta(hours=2), "a3"), sla.OVERDUE),
        (summary(-timedelta(days=1), "a4"), None),
        (summary(timedelta(hours=1), "a5", priority="expedited"), None),
        (summary(timedelta(days=2), "b1", partner="beta", priority="expedited"), None),
    ]
    open_counts = Counter((case.partner, case.priority.value) for case, _ in cases)
    found = sla.assess(open_counts, [(c, m) for c, m in cases if c.due_at <= NOW + WINDOW], NOW, WINDOW)
    assert dict(found.counts) == {
        ("alpha", "standard", "open"): 4, ("alpha", "standard", sla.DUE_SOON): 1, ("alpha", "standard", sla.OVERDUE): 2,
        ("alpha", "expedited", "open"): 1, ("alpha", "expedited", sla.DUE_SOON): 1,
        ("beta", "expedited", "open"): 1,
    }
    # Overdue cases are not counted as due soon too: each open case is in at most one of the two.
    assert [(c.id, m) for c, m in found.to_mark] == [("a4", sla.OVERDUE), ("a5", sla.DUE_SOON)]


def test_nothing_open_is_nothing_counted():
    found = sla.assess({}, [], NOW, WINDOW)
    assert not found.counts and found.to_mark == []
