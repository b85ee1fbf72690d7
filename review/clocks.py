"""Regulatory clocks: when a case is due, and how far its clock may be extended.

The table is data, review/clocks.yaml: a row for every line of business, kind, priority and
pre- or post-service, each naming the rule that sets it and the rule that permits an extension.
This module loads and checks that table, lays a partner's contract overrides over it and turns
a row into a due time. Pure: no I/O beyond reading the packaged table.

Counting. Hours are exact elapsed hours: 72 hours are 72 hours whatever the clocks on the wall
do. Calendar days are counted on the partner's wall clock (an IANA time zone): the received
instant is read as local wall time, N calendar days are added keeping that wall time, and the
result is turned back into an instant, so a deadline across a DST change or a month end falls
at the same local hour. Extension days are calendar days, added on top of the clock.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .errors import Invalid
from .model import Kind, Priority


class Service(StrEnum):
    PRE_SERVICE = "pre-service"
    POST_SERVICE = "post-service"


LINES_OF_BUSINESS: tuple[str, ...] = (
    "medicare-advantage",
    "medicaid",
    "chip",
    "qhp-exchange",
    "commercial-erisa",
    "external-review",
)
DEFAULT_TIME_ZONE = "America/New_York"

_SERVICE_OF_KIND = {
    Kind.PRIOR_AUTH: Service.PRE_SERVICE,
    Kind.PREDETERMINATION: Service.PRE_SERVICE,
    Kind.CLAIM: Service.POST_SERVICE,
}


def service_of(kind: Kind) -> Service | None:
    """The service a kind of case is about; None for an appeal, which inherits it from what is appealed."""
    return _SERVICE_OF_KIND.get(Kind(kind))


def parse_time_zone(name: str) -> ZoneInfo:
    """The IANA zone by name; ValueError naming it when there is none (for validating a partners file)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as {DEFAULT_TIME_ZONE}") from None


def add_calendar_days(instant: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`days` calendar days after `instant` at the same wall-clock time in `zone`, as UTC.

    Where that wall time does not exist (the spring-forward gap) it moves forward by the length of
    the gap, 02:30 becoming 03:30; where it occurs twice (fall back) the first occurrence is taken.
    Both follow from fold=0 (PEP 495), the same rule java.time and RFC 5545 use.
    """
    local = instant.astimezone(zone).replace(tzinfo=None)
    return (local + timedelta(days=days)).replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


@dataclass(frozen=True)
class ClockRow:
    line_of_business: str
    kind: Kind
    priority: Priority
    service: Service
    hours: int | None
    days: int | None  # exactly one of hours and days is set
    extension_days: int  # in total; 0 = the rule permits none
    source: str
    extension_source: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.hours is None) == (self.days is None):
            raise ValueError("a clock row sets exactly one of hours and days")
        for name in ("hours", "days", "extension_days"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a whole number, not negative")
        if not (self.hours or self.days):
            raise ValueError("a clock must be at least 1 hour or 1 day")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("a clock row names its source")
        fixed = service_of(self.kind)
        if fixed is not None and fixed is not self.service:
            raise ValueError(f"a {self.kind.value} is always {fixed.value}")

    @property
    def timeframe(self) -> str:
        """How the rule states the clock: "72 hours", "7 calendar days"."""
        if self.hours is not None:
            return _plural(self.hours, "hour")
        return _plural(self.days, "calendar day")

    def due_at(self, received_at: datetime, time_zone: str = DEFAULT_TIME_ZONE, extension_days: int = 0) -> datetime:
        """When a case received at `received_at` (timezone-aware) is due, in UTC: the clock, then
        `extension_days` calendar days on top, counted as the module docstring says."""
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")
        if isinstance(extension_days, bool) or not isinstance(extension_days, int) or extension_days < 0:
            raise ValueError("extension_days must be a whole number, not negative")
        zone = parse_time_zone(time_zone)
        start = received_at.astimezone(timezone.utc)
        if self.hours is not None:
            start, days = start + timedelta(hours=self.hours), extension_days
        else:
            days = self.days + extension_days
        return add_calendar_days(start, days, zone) if days else start


# Every (kind, priority, service) a case can have: the kind fixes the service, except an appeal's.
_COMBINATIONS: tuple[tuple[Kind, Priority, Service], ...] = tuple(
    (kind, priority, service)
    for kind in Kind
    for priority in Priority
    for service in Service
    if service_of(kind) in (None, service)
)

# An override has the same fields as a row; it names no line of business, as it applies to all.
_ROW_KEYS = {"kind", "priority", "service", "hours", "days", "extension_days", "source", "extension_source", "note"}


def _enum(enum: type[StrEnum], value: Any, where: str, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"{where}: {name} {value!r} is not one of {allowed}") from None


def _whole(value: Any, where: str, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {name} must be a whole number of at least {minimum}, not {value!r}")
    return value


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {name} must be non-empty text")
    return value.strip()


def _fields(entry: Any, where: str, *, override: bool = False) -> dict[str, Any]:
    """Check one row as written (in clocks.yaml, or a partner's override) and return ClockRow fields
    other than line_of_business. An override may leave extension_days out (None: keep the row's)."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a mapping of clock fields")
    unknown = sorted(set(entry) - _ROW_KEYS, key=str)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(sorted(_ROW_KEYS))}")
    for name in ("kind", "priority", "source"):
        if entry.get(name) is None:
            raise ValueError(f"{where}: {name} is required")
    kind = _enum(Kind, entry["kind"], where, "kind")
    priority = _enum(Priority, entry["priority"], where, "priority")
    fixed = service_of(kind)
    if entry.get("service") is None:
        if fixed is None:
            raise ValueError(f"{where}: service is required for an appeal (pre-service or post-service)")
        service = fixed
    else:
        service = _enum(Service, entry["service"], where, "service")
        if fixed is not None and service is not fixed:
            raise ValueError(f"{where}: a {kind.value} is always {fixed.value}, not {service.value}")
    has_hours, has_days = entry.get("hours") is not None, entry.get("days") is not None
    if has_hours == has_days:
        raise ValueError(f"{where}: give exactly one of hours and days")
    hours = _whole(entry["hours"], where, "hours", 1) if has_hours else None
    days = _whole(entry["days"], where, "days", 1) if has_days else None
    source = _text(entry["source"], where, "source")
    note = _text(entry["note"], where, "note") if entry.get("note") is not None else None
    extension_days = extension_source = None
    if entry.get("extension_days") is None:
        if not override:
            raise ValueError(f"{where}: extension_days is required (0 when the rule permits none)")
        if entry.get("extension_source") is not None:
            raise ValueError(f"{where}: extension_source given without extension_days")
    else:
        extension_days = _whole(entry["extension_days"], where, "extension_days", 0)
        if entry.get("extension_source") is not None:
            if not extension_days:
                raise ValueError(f"{where}: extension_source given for a clock with no extension")
            extension_source = _text(entry["extension_source"], where, "extension_source")
        elif extension_days and override:
            extension_source = source  # the contract that sets the clock permits its extension
        elif extension_days:
            raise ValueError(f"{where}: extension_source is required when extension_days is not 0")
    return dict(kind=kind, priority=priority, service=service, hours=hours, days=days,
                extension_days=extension_days, source=source, extension_source=extension_source, note=note)


class ClockTable:
    """Every clock row, keyed by line of business, kind, priority and service. Immutable: overrides
    make a new table. Refuses to exist with a row missing or doubled."""

    def __init__(self, rows: Iterable[ClockRow]):
        by_key: dict[tuple[str, Kind, Priority, Service], ClockRow] = {}
        for row in rows:
            if row.line_of_business not in LINES_OF_BUSINESS:
                raise ValueError(f"unknown line of business {row.line_of_business!r}")
            key = (row.line_of_business, row.kind, row.priority, row.service)
            if key in by_key:
                raise ValueError(f"two clock rows for {' / '.join(key)}")
            by_key[key] = row
        missing = [(line, *c) for line in LINES_OF_BUSINESS for c in _COMBINATIONS if (line, *c) not in by_key]
        if missing:
            raise ValueError("no clock row for " + "; ".join(" / ".join(k) for k in missing))
        self._rows = by_key

    @classmethod
    def from_yaml(cls, text: str, where: str = "clocks.yaml") -> ClockTable:
        document = yaml.safe_load(text)
        if not isinstance(document, Mapping):
            raise ValueError(f"{where}: expected a mapping of line of business to rows")
        unknown = sorted(set(document) - set(LINES_OF_BUSINESS), key=str)
        if unknown:
            raise ValueError(f"{where}: unknown line(s) of business {', '.join(map(repr, unknown))}")
        rows = []
        for line, entries in document.items():
            if not isinstance(entries, list):
                raise ValueError(f"{where}: {line} must be a list of rows")
            rows += [ClockRow(line, **_fields(e, f"{where}: {line}[{n}]")) for n, e in enumerate(entries)]
        return cls(rows)

    @classmethod
    def default(cls) -> ClockTable:
        """The regulatory table, review/clocks.yaml, loaded once."""
        return _default_table()

    def row(self, line_of_business: str, kind: Kind, priority: Priority, service: Service) -> ClockRow:
        """The clock for a case. Where the kind fixes the service (service_of) that service is used
        and the argument ignored, so a claim is post-service whatever a caller's default says."""
        if line_of_business not in LINES_OF_BUSINESS:
            raise Invalid(f"the line of business is not supported; supported: {', '.join(LINES_OF_BUSINESS)}",
                          None, "not-supported")
        kind = Kind(kind)
        return self._rows[(line_of_business, kind, Priority(priority), service_of(kind) or Service(service))]

    def with_overrides(self, overrides: list[dict]) -> ClockTable:
        """This table with a partner's contract clocks laid over it. Each override names kind,
        priority, service (implied by the kind except for an appeal), exactly one of hours or days,
        and its source (the contract clause); optionally extension_days with extension_source, and
        a note. It replaces that row in every line of business. Left out, extension_days keeps the
        replaced row's regulatory extension; given without extension_source, the override's source
        permits it. Unknown keys or values, or two overrides of one row: ValueError."""
        if not isinstance(overrides, list):
            raise ValueError("clock overrides must be a list")
        rows = dict(self._rows)
        seen: set[tuple[Kind, Priority, Service]] = set()
        for n, entry in enumerate(overrides):
            where = f"clock override {n}"
            fields = _fields(entry, where, override=True)
            combination = (fields["kind"], fields["priority"], fields["service"])
            if combination in seen:
                raise ValueError(f"{where}: a second override of {' / '.join(combination)}")
            seen.add(combination)
            for line in LINES_OF_BUSINESS:
                replaced = rows[(line, *combination)]
                changes = dict(fields)
                if changes["extension_days"] is None:
                    changes.update(extension_days=replaced.extension_days, extension_source=replaced.extension_source)
                if changes["note"] is None:
                    changes["note"] = f"Partner override of {replaced.timeframe} ({replaced.source})."
                rows[(line, *combination)] = ClockRow(line, **changes)
        return ClockTable(rows.values())

    def rows(self) -> list[ClockRow]:
        """Every row, by line of business, kind, priority and service in declaration order."""
        def position(r: ClockRow) -> tuple[int, ...]:
            return (LINES_OF_BUSINESS.index(r.line_of_business), list(Kind).index(r.kind),
                    list(Priority).index(r.priority), list(Service).index(r.service))

        return sorted(self._rows.values(), key=position)

    def markdown(self) -> str:
        """The README's clock table."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        lines = ["| Line of business | Kind | Priority | Service | Timeframe | Extension | Source |",
                 "|---|---|---|---|---|---|---|"]
        for r in self.rows():
            extension = f"{_plural(r.extension_days, 'day')} ({r.extension_source})" if r.extension_days else "none"
            lines.append(f"| {r.line_of_business} | {r.kind.value} | {r.priority.value} | {r.service.value} | "
                         f"{r.timeframe} | {cell(extension)} | {cell(r.source)} |")
        return "\n".join(lines) + "\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClockTable) and self._rows == other._rows

    def __hash__(self) -> int:
        return hash(frozenset(self._rows.items()))


@functools.cache
def _default_table() -> ClockTable:
    return ClockTable.from_yaml(resources.files(__package__).joinpath("clocks.yaml").read_text(encoding="utf-8"))


def check_extension(row: ClockRow, already_days: int, days: int) -> None:
    """Refuse an extension of `days` on a clock already extended by `already_days` when the row's
    rule permits none, or not that many in total."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise Invalid("an extension is a whole number of days, at least 1", "days", "invalid")
    if already_days < 0:
        raise ValueError("already_days must not be negative")
    if not row.extension_days:
        raise Invalid(f"this clock ({row.timeframe}, {row.source}) permits no extension", "days", "business-rule")
    if already_days + days > row.extension_days:
        left = max(row.extension_days - already_days, 0)
        raise Invalid(f"{row.extension_source} permits at most {_plural(row.extension_days, 'day')} of extension in "
                      f"total; {_plural(left, 'day')} left", "days", "business-rule")
