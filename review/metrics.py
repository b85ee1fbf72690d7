"""The prior-authorization figures CMS-0057-F makes payers publish, per partner and line of business.

The rule (CMS Interoperability and Prior Authorization final rule, 89 FR 8758, Feb 8 2024; metrics at
89 FR 8889) has each impacted payer post every year, "aggregated for all items and services" and
excluding drugs: MA organizations under 42 CFR 422.122(c), Medicaid under 42 CFR 440.230 (FFS) and
438.210 (managed care), CHIP under the matching part 457 sections, QHP issuers on the FFEs under
45 CFR 156.223. The list is the same in each:

  (1) the items and services that need prior authorization        -- not computed here
  (2) percent of standard requests approved
  (3) percent of standard requests denied
  (4) percent of standard requests approved after appeal
  (5) percent of requests whose review timeframe was extended and that were approved
  (6) percent of expedited requests approved
  (7) percent of expedited requests denied
  (8) average and median time from submission to determination, standard requests
  (9) the same for expedited requests

How each is counted here. A "request" is a prior-auth or predetermination case decided in the
period (decided_at in [decided_from, decided_to)); claims never count, appeals only in (4). Its
outcome is whole-case, from outcome_of(): "approved" only when every item was approved, "denied"
only when every item was denied, "partial" otherwise. The rule names approved and denied but not
the cases in between, so those are reported as a third share rather than folded into either: the
three add to 100 (up to rounding; the counts beside them are exact).

  {priority}_decided                       requests of that priority
  {priority}_approved / _denied / _partially_approved
                                           of those, by outcome
  {priority}_percent_approved              {priority}_approved / {priority}_decided         (2), (6)
  {priority}_percent_denied                {priority}_denied / {priority}_decided           (3), (7)
  {priority}_percent_partially_approved    {priority}_partially_approved / {priority}_decided
  extended_decided                         requests whose timeframe was extended, any priority
  extended_approved                        of those, approved
  percent_extended_and_approved            extended_approved / requests_decided             (5)
      The rule's wording, "requests for which the timeframe was extended, and the request was
      approved", reads as a share of all requests, and payers publish it so (e.g. 0 of 990).
  percent_of_extended_approved             extended_approved / extended_decided
      The same numerator over extended requests only: how an extension tends to end.
  appeals_decided                          appeals of a prior-auth or predetermination decided in
                                           the period; an appeal of a claim, or of an unknown
                                           kind, is left out
  appeals_approved / _partially_approved   of those, by the appeal's outcome
  percent_approved_after_appeal            appeals_approved / appeals_decided               (4)
  percent_partially_approved_after_appeal  appeals_partially_approved / appeals_decided
      Published reports put decided appeals under this figure ("approved only after appeal",
      52 of 103 appeals), and one record per decided appeal gives exactly that. Only a fully
      approved appeal counts as approved, as for requests; a partial overturn is the figure
      beside it, for a reader whose program counts it as approved. The rule says "standard"
      requests, but a record carries the appeal's own priority, not the appealed request's, so
      appeals of expedited requests are in too.
  {priority}_average_hours / _median_hours received_at to decided_at, in hours          (8), (9)
      The median of an even count is the mean of the middle two.

Percentages and hours are rounded half up to one decimal, from exact values (31.25 -> 31.3);
a figure whose denominator is 0 is None. Predeterminations are counted as prior-auth requests.
Drug requests must not reach this module: the rule excludes them and a record cannot tell.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from .model import Decision, Kind, Priority

APPROVED, DENIED, PARTIAL = "approved", "denied", "partial"
OUTCOMES = frozenset({APPROVED, DENIED, PARTIAL})
PRIOR_AUTH_KINDS = frozenset({Kind.PRIOR_AUTH, Kind.PREDETERMINATION})

_MICROSECONDS_PER_HOUR = 3_600_000_000


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What the report needs of one decided case."""

    case_id: str
    partner: str
    line_of_business: str
    kind: Kind
    appealed_kind: Kind | None  # for an appeal: the kind of the case it appeals
    priority: Priority
    outcome: str  # outcome_of() the case's item decisions
    received_at: datetime
    decided_at: datetime
    extended: bool  # the decision timeframe was extended

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"case {self.case_id}: outcome {self.outcome!r} is not one of {sorted(OUTCOMES)}")
        if self.received_at.utcoffset() is None or self.decided_at.utcoffset() is None:
            raise ValueError(f"case {self.case_id}: received_at and decided_at must be timezone-aware")
        if self.decided_at < self.received_at:
            raise ValueError(f"case {self.case_id}: decided before it was received")
        if self.appealed_kind is not None and self.kind != Kind.APPEAL:
            raise ValueError(f"case {self.case_id}: only an appeal has an appealed kind")


def outcome_of(decisions: Iterable[Decision]) -> str:
    """A case's outcome from its items' decisions, pended ones left out: approved when every item
    was approved, denied when every item was denied, partial when anything else was granted."""
    final = {Decision(d) for d in decisions} - {Decision.PENDED}
    if not final:
        raise ValueError("no item has a final decision")
    if final == {Decision.APPROVED}:
        return APPROVED
    if final == {Decision.DENIED}:
        return DENIED
    return PARTIAL


CSV_COLUMNS: tuple[str, ...] = (
    "partner",
    "line_of_business",
    "requests_decided",
    *(f"{priority}_{name}" for priority in ("standard", "expedited") for name in (
        "decided", "approved", "denied", "partially_approved",
        "percent_approved", "percent_denied", "percent_partially_approved",
    )),
    "extended_decided",
    "extended_approved",
    "percent_extended_and_approved",
    "percent_of_extended_approved",
    "appeals_decided",
    "appeals_approved",
    "appeals_partially_approved",
    "percent_approved_after_appeal",
    "percent_partially_approved_after_appeal",
    "standard_average_hours",
    "standard_median_hours",
    "expedited_average_hours",
    "expedited_median_hours",
)


@dataclass(slots=True)
class _Outcomes:
    decided: int = 0
    approved: int = 0
    denied: int = 0
    partial: int = 0

    def add(self, outcome: str) -> None:
        self.decided += 1
        if outcome == APPROVED:
            self.approved += 1
        elif outcome == DENIED:
            self.denied += 1
        else:
            self.partial += 1


@dataclass(slots=True)
class _Priority:
    outcomes: _Outcomes = field(default_factory=_Outcomes)
    durations: list[int] = field(default_factory=list)  # microseconds, kept for the median


@dataclass(slots=True)
class _Tally:
    """Running counts for one (partner, line_of_business)."""

    standard: _Priority = field(default_factory=_Priority)
    expedited: _Priority = field(default_factory=_Priority)
    extended: _Outcomes = field(default_factory=_Outcomes)
    appeals: _Outcomes = field(default_factory=_Outcomes)


def prior_authorization_metrics(
    records: Iterable[DecisionRecord],
    *,
    decided_from: datetime | None = None,
    decided_to: datetime | None = None,
) -> list[dict]:
    """The figures in the module docstring, one dict per (partner, line_of_business) with any
    counted record, sorted by both; keys in CSV_COLUMNS order. The records are read once; records
    decided outside [decided_from, decided_to) (an open side when None) are skipped."""
    tallies: dict[tuple[str, str], _Tally] = {}
    for record in records:
        if decided_from is not None and record.decided_at < decided_from:
            continue
        if decided_to is not None and record.decided_at >= decided_to:
            continue
        if record.kind in PRIOR_AUTH_KINDS:
            tally = tallies.setdefault((record.partner, record.line_of_business), _Tally())
            by_priority = tally.expedited if record.priority == Priority.EXPEDITED else tally.standard
            by_priority.outcomes.add(record.outcome)
            by_priority.durations.append((record.decided_at - record.received_at) // timedelta(microseconds=1))
            if record.extended:
                tally.extended.add(record.outcome)
        elif record.kind == Kind.APPEAL and record.appealed_kind in PRIOR_AUTH_KINDS:
            tally = tallies.setdefault((record.partner, record.line_of_business), _Tally())
            tally.appeals.add(record.outcome)
    return [_row(partner, line, tallies[partner, line]) for partner, line in sorted(tallies)]


def _row(partner: str, line_of_business: str, tally: _Tally) -> dict:
    requests_decided = tally.standard.outcomes.decided + tally.expedited.outcomes.decided
    row: dict = {"partner": partner, "line_of_business": line_of_business, "requests_decided": requests_decided}
    for name, by_priority in (("standard", tally.standard), ("expedited", tally.expedited)):
        o = by_priority.outcomes
        row |= {
            f"{name}_decided": o.decided,
            f"{name}_approved": o.approved,
            f"{name}_denied": o.denied,
            f"{name}_partially_approved": o.partial,
            f"{name}_percent_approved": _percent(o.approved, o.decided),
            f"{name}_percent_denied": _percent(o.denied, o.decided),
            f"{name}_percent_partially_approved": _percent(o.partial, o.decided),
        }
    row |= {
        "extended_decided": tally.extended.decided,
        "extended_approved": tally.extended.approved,
        "percent_extended_and_approved": _percent(tally.extended.approved, requests_decided),
        "percent_of_extended_approved": _percent(tally.extended.approved, tally.extended.decided),
        "appeals_decided": tally.appeals.decided,
        "appeals_approved": tally.appeals.approved,
        "appeals_partially_approved": tally.appeals.partial,
        "percent_approved_after_appeal": _percent(tally.appeals.approved, tally.appeals.decided),
        "percent_partially_approved_after_appeal": _percent(tally.appeals.partial, tally.appeals.decided),
    }
    for name, by_priority in (("standard", tally.standard), ("expedited", tally.expedited)):
        durations = sorted(by_priority.durations)
        row[f"{name}_average_hours"] = _hours(Fraction(sum(durations), len(durations)) if durations else None)
        row[f"{name}_median_hours"] = _hours(_median(durations))
    return {column: row[column] for column in CSV_COLUMNS}


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else _tenths(Fraction(100 * part, whole))


def _median(ordered: list[int]) -> Fraction | None:
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Fraction(ordered[middle])
    return Fraction(ordered[middle - 1] + ordered[middle], 2)


def _hours(microseconds: Fraction | None) -> float | None:
    return None if microseconds is None else _tenths(microseconds / _MICROSECONDS_PER_HOUR)


def _tenths(value: Fraction) -> float:
    # Rounded from the exact value: float round() would take 39.05 (stored as 39.0499...) to 39.0.
    return math.floor(value * 10 + Fraction(1, 2)) / 10


def metrics_csv(rows: list[dict]) -> str:
    """rows as RFC 4180 CSV: the CSV_COLUMNS header, then one line per row; None is an empty cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
