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
from dataclasses import dataclass, field

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

    def authenticate(self, token: str | None) -> Partner | None:
        if not token:
            return None
        partner_id = self._by_hash.get(token_hash(token))
        return self.partners.get(partner_id) if partner_id else None
