"""Trading-partner registry: who a bearer token (or, later, an HL7 facility) belongs to.

The registry document is YAML (or JSON) with tokens stored only as SHA-256 hashes:

    partners:
      - id: demo-payer
        token_sha256: [<hex digest of the token>]
        hl7_facilities: [DEMOPAYER]
        line_of_business: medicare-advantage   # which clock rows its cases run on (review/clocks.yaml)
        time_zone: America/New_York            # calendar days are counted here
        clock_overrides:                       # optional: replaces rows of the default table
          - {kind: prior-auth, priority: standard, service: pre-service, days: 5, source: "contract 2026 s.4"}

Tokens are long random secrets, so an unsalted SHA-256 is enough to keep them out of the file.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from review.clocks import DEFAULT_TIME_ZONE, LINES_OF_BUSINESS, ClockTable
from review.rules import ReviewPolicy


@dataclass(frozen=True)
class Partner:
    id: str
    name: str = ""
    hl7_facilities: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = field(default=())
    policy: ReviewPolicy = field(default_factory=ReviewPolicy)


def _policy(entry: dict) -> ReviewPolicy:
    """The partner's line of business, time zone and clock overrides, checked at load: a typo in
    the file must not silently put a partner's cases on the wrong clock."""
    lob = entry.get("line_of_business", "medicare-advantage")
    if lob not in LINES_OF_BUSINESS:
        raise ValueError(f"partner {entry['id']}: line_of_business must be one of {', '.join(LINES_OF_BUSINESS)}")
    zone = entry.get("time_zone", DEFAULT_TIME_ZONE)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"partner {entry['id']}: time_zone must be an IANA time zone name") from None
    clocks = ClockTable.default()
    if overrides := entry.get("clock_overrides"):
        clocks = clocks.with_overrides(overrides)
    return ReviewPolicy(line_of_business=lob, time_zone=zone, clocks=clocks)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PartnerRegistry:
    def __init__(self, partners: list[Partner], hashes: dict[str, str]):
        self.partners = {p.id: p for p in partners}
        self._by_hash = hashes  # token hash -> partner id
        self._by_facility = {f.upper(): p for p in partners for f in p.hl7_facilities}

    @classmethod
    def from_document(cls, text: str) -> PartnerRegistry:
        doc = yaml.safe_load(text) or {}
        partners, hashes = [], {}
        for entry in doc.get("partners", []):
            partners.append(Partner(id=entry["id"], name=entry.get("name", ""),
                                    hl7_facilities=tuple(entry.get("hl7_facilities", [])),
                                    endpoints=tuple(entry.get("endpoints", [])), policy=_policy(entry)))
            hashes.update({h.lower(): entry["id"] for h in entry.get("token_sha256", [])})
        return cls(partners, hashes)

    def policy(self, partner_id: str) -> ReviewPolicy:
        """A partner's review policy; the defaults for one no longer in the registry."""
        partner = self.partners.get(partner_id)
        return partner.policy if partner else ReviewPolicy()

    def by_facility(self, facility: str) -> Partner | None:
        """The partner whose HL7 sending facility (MSH-4 namespace id) this is."""
        return self._by_facility.get(facility.upper()) if facility else None

    def authenticate(self, token: str | None) -> Partner | None:
        if not token:
            return None
        partner_id = self._by_hash.get(token_hash(token))
        return self.partners.get(partner_id) if partner_id else None


def registry_from_environment() -> PartnerRegistry:
    """PARTNERS_FILE locally; the PARTNERS_SECRET Secrets Manager secret on AWS (cached five minutes,
    so a changed registry takes effect without a deploy)."""
    if path := os.environ.get("PARTNERS_FILE"):
        return _read(path, os.stat(path).st_mtime_ns)
    from aws_lambda_powertools.utilities.parameters import get_secret

    return _parse(get_secret(os.environ["PARTNERS_SECRET"], max_age=300))


@lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int) -> PartnerRegistry:
    return _parse(Path(path).read_text())


@lru_cache(maxsize=4)
def _parse(text: str) -> PartnerRegistry:
    return PartnerRegistry.from_document(text)
