"""Trading-partner registry: who a bearer token (or, later, an HL7 facility) belongs to.

The registry document is YAML (or JSON) with tokens stored only as SHA-256 hashes:

    partners:
      - id: demo-payer
        token_sha256: [<hex digest of the token>]
        hl7_facilities: [DEMOPAYER]

Tokens are long random secrets, so an unsalted SHA-256 is enough to keep them out of the file.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Partner:
    id: str
    name: str = ""
    hl7_facilities: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = field(default=())


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
                                    endpoints=tuple(entry.get("endpoints", []))))
            hashes.update({h.lower(): entry["id"] for h in entry.get("token_sha256", [])})
        return cls(partners, hashes)

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
