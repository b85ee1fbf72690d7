"""The SLA monitor's rule: which open cases are due soon or overdue, which of them crossed a
threshold since they were last marked, and the counts the metrics report. Pure: the function that
runs it reads the worklist index and writes the marks."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

from .views import CaseSummary

DUE_SOON, OVERDUE = "due-soon", "overdue"
THRESHOLDS = (DUE_SOON, OVERDUE)  # in the order a case crosses them


@dataclass
class Assessment:
    counts: Counter = field(default_factory=Counter)  # (partner, priority, "open"|"due-soon"|"overdue") -> n
    to_mark: list[tuple[CaseSummary, str]] = field(default_factory=list)


def threshold(summary: CaseSummary, now: datetime, window: timedelta) -> str | None:
    if summary.due_at <= now:
        return OVERDUE
    return DUE_SOON if summary.due_at <= now + window else None


def assess(cases: Iterable[tuple[CaseSummary, str | None]], now: datetime, window: timedelta) -> Assessment:
    """`cases`: every open case with the threshold it is already marked at for its current deadline
    (None when unmarked, or marked for a deadline since moved). A case is marked once per threshold
    and deadline; one that skipped due-soon (a short clock, or the monitor was down) is marked overdue."""
    out = Assessment()
    for summary, marked in cases:
        key = (summary.partner, summary.priority.value)
        out.counts[(*key, "open")] += 1
        reached = threshold(summary, now, window)
        if reached is None:
            continue
        out.counts[(*key, reached)] += 1
        if marked is None or THRESHOLDS.index(marked) < THRESHOLDS.index(reached):
            out.to_mark.append((summary, reached))
    return out
