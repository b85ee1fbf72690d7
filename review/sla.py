"""The SLA monitor's rule: which open cases are due soon or overdue, which of them crossed a
threshold since they were last marked, and the counts the metrics report. Pure: the function that
runs it reads the worklist index (the open counts, and the cases due by the window's far edge) and
writes the marks."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

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


def assess(open_counts: Mapping[tuple[str, str], int], due: Iterable[tuple[CaseSummary, str | None]],
           now: datetime, window: timedelta) -> Assessment:
    """`open_counts`: open cases per (partner, priority). `due`: the open cases due by `now + window`,
    each with the threshold it is already marked at for its current deadline (None when unmarked,
    or marked for a deadline since moved). A case is marked once per threshold and deadline; one that
    skipped due-soon (a short clock, or the monitor was down) is marked overdue."""
    out = Assessment()
    for (partner, priority), count in open_counts.items():
        out.counts[(partner, priority, "open")] += count
    for summary, marked in due:
        reached = threshold(summary, now, window)
        if reached is None:
            continue
        out.counts[(summary.partner, summary.priority.value, reached)] += 1
        if marked is None or THRESHOLDS.index(marked) < THRESHOLDS.index(reached):
            out.to_mark.append((summary, reached))
    return out
