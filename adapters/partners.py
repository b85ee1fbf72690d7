"""Trading-partner registry: who a bearer token, an HL7 facility or an MLLP connection belongs to.

The registry document is YAML (or JSON) with tokens stored only as SHA-256 hashes:

    partners:
      - id: demo-payer
        token_sha256: [<hex digest of the token>]
        hl7_facilities: [DEMOPAYER]
        line_of_business: medicare-advantage   # which clock rows its cases run on (review/clocks.yaml)
        time_zone: America/New_York            # calendar days are counted here
        clock_overrides:                       # optional: replaces rows of the default table
          - {kind: prior-auth, priority: standard, service: pre-service, days: 5, source: "contract 2026 s.4"}
        org_identifiers: ["http://hl7.org/fhir/sid/us-npi|1234567893"]  # organizations it speaks for
        strict_transaction_ids: false          # true: a Bundle.identifier reused for other content is 409
        pas_version: 2.2.1                     # 2.0.1: $inquire answers a bare Bundle (PAS 2.0.1)
        delivery:                              # where its determinations are pushed (see Delivery)
          fhir: {base_url: https://fhir.example/r4, auth: {type: bearer, token_file: secrets/acme.token}}
          hl7v2: {mllp: engine.example:6661, tls: false}
          max_attempts: 8
        mllp:                                  # what its MLLP connections prove (see MllpSender)
          client_certs: [<SHA-256 fingerprint of its engine's client certificate>]
          source_cidrs: [203.0.113.0/28]

Tokens are long random secrets, so an unsalted SHA-256 is enough to keep them out of the file.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from review.clocks import DEFAULT_TIME_ZONE, LINES_OF_BUSINESS, ClockTable, parse_time_zone
from review.rules import ReviewPolicy


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # a misspelt key is refused at load


class BearerAuth(_Config):
    """A static bearer token, read from `token_file` (on AWS: the name of a Secrets Manager secret)."""
    type: Literal["bearer"]
    token_file: str


class SmartBackendAuth(_Config):
    """SMART Backend Services: a private_key_jwt client assertion signed with `key_file`'s key; the
    token endpoint is discovered from {base_url}/.well-known/smart-configuration unless given."""
    type: Literal["smart-backend"]
    client_id: str
    key_file: str
    alg: Literal["RS384", "ES384"] = "RS384"
    kid: str | None = None
    scope: str = "system/ClaimResponse.write"
    token_url: str | None = None


class MtlsAuth(_Config):
    """Mutual TLS with a client certificate; `ca_file` pins the server's CA (else the system's)."""
    type: Literal["mtls"]
    cert_file: str
    key_file: str
    ca_file: str | None = None


class FhirTarget(_Config):
    """PUT {base_url}/ClaimResponse/{case id} with the PAS ClaimResponse."""
    base_url: str
    auth: Annotated[BearerAuth | SmartBackendAuth | MtlsAuth, Field(discriminator="type")] | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/")


class Hl7Target(_Config):
    """HL7 v2 application responses, over MLLP (`host:port`) or HTTP(S) (a URL); one of the two."""
    mllp: str | None = None
    http: str | None = None
    tls: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Hl7Target:
        if (self.mllp is None) == (self.http is None):
            raise ValueError("give exactly one of mllp (host:port) and http (a URL)")
        if self.mllp is not None:
            host, _, port = self.mllp.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("mllp must be host:port")
        if self.http is not None and not self.http.startswith(("https://", "http://")):
            raise ValueError("http must be an http(s) URL")
        return self


class MllpSender(_Config):
    """What binds a partner's MLLP connections to it, so that MSH-4 alone never names the sender:
    the SHA-256 fingerprints of its engines' client certificates (the listener terminates TLS and
    requires a certificate its CA signed), the networks its engines connect from, or both. A partner
    that lists certificates is recognised by certificate only, its networks (if any) then limiting
    where that certificate may connect from; one that lists only networks, by source address."""
    client_certs: tuple[str, ...] = ()
    source_cidrs: tuple[str, ...] = ()

    @field_validator("client_certs")
    @classmethod
    def _fingerprints(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        found = tuple(v.replace(":", "").lower() for v in values)
        if any(len(f) != 64 or f.strip("0123456789abcdef") for f in found):
            raise ValueError("each is a certificate's SHA-256 fingerprint: 64 hex digits, colons allowed")
        return found

    @field_validator("source_cidrs")
    @classmethod
    def _networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                ipaddress.ip_network(value)  # strict: an address with host bits set is a typo, not a network
            except ValueError:
                raise ValueError("each is a network: address/prefix length, no host bits set") from None
        return values

    @model_validator(mode="after")
    def _binds(self) -> MllpSender:
        if not self.client_certs and not self.source_cidrs:
            raise ValueError("give client_certs, source_cidrs or both")
        return self

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.source_cidrs)

    def admits(self, address: str) -> bool:
        """Whether `address` is in its networks (every address, when it lists none)."""
        if not self.source_cidrs:
            return True
        ip = ipaddress.ip_address(address)
        ip = getattr(ip, "ipv4_mapped", None) or ip  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(ip in network for network in self.networks)


class SenderRefused(Exception):
    """An MLLP connection no partner's certificate or network vouches for; the message says why,
    naming no partner."""


class Delivery(_Config):
    """Where a partner's determinations go, and how often a failing delivery is tried."""
    fhir: FhirTarget | None = None
    hl7v2: Hl7Target | None = None
    max_attempts: int = Field(8, ge=1, le=50)


@dataclass(frozen=True)
class Partner:
    id: str
    name: str = ""
    hl7_facilities: tuple[str, ...] = ()
    org_identifiers: tuple[str, ...] = ()  # system|value of the organizations it speaks for (subscriptions)
    delivery: Delivery = field(default_factory=Delivery)
    policy: ReviewPolicy = field(default_factory=ReviewPolicy)
    mllp: MllpSender | None = None  # None: its MLLP traffic is bound to nothing (see PartnerRegistry.mllp_sender)
    pas_version: str = "2.2.1"  # the PAS version its FHIR clients speak: 2.0.1 differs in $inquire and subscriptions


PAS_VERSIONS = ("2.2.1", "2.0.1")
ENTRY_KEYS = frozenset({"id", "name", "token_sha256", "hl7_facilities", "line_of_business", "time_zone",
                        "clock_overrides", "org_identifiers", "strict_transaction_ids", "pas_version", "delivery",
                        "mllp"})


def _pas_version(entry: dict) -> str:
    version = str(entry.get("pas_version", "2.2.1"))
    if version not in PAS_VERSIONS:
        raise ValueError(f"partner {entry['id']}: pas_version must be one of {', '.join(PAS_VERSIONS)}")
    return version


def _known_keys(entry: dict) -> None:
    if unknown := sorted(set(entry) - ENTRY_KEYS):
        raise ValueError(f"partner {entry.get('id')}: unknown field {unknown[0]}")


def _checked(entry: dict, key: str, model: type[_Config]) -> _Config | None:
    """A block of the partner's entry, checked at load. The message names the field, never its value."""
    if entry.get(key) is None:
        return None
    try:
        return model.model_validate(entry[key])
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        where = "".join(f".{part}" for part in first["loc"])
        raise ValueError(f"partner {entry['id']}: {key}{where}: {first['msg'].removeprefix('Value error, ')}") from None


def _delivery(entry: dict) -> Delivery:
    return _checked(entry, "delivery", Delivery) or Delivery()


def _org_identifiers(entry: dict) -> tuple[str, ...]:
    found = tuple(entry.get("org_identifiers", []))
    if any(not isinstance(i, str) or "|" not in i or not i.split("|", 1)[1] for i in found):
        raise ValueError(f"partner {entry['id']}: org_identifiers are system|value strings")
    return found


def _policy(entry: dict, delivery: Delivery) -> ReviewPolicy:
    """The partner's line of business, time zone and clock overrides, checked at load: a typo in
    the file must not silently put a partner's cases on the wrong clock."""
    lob = entry.get("line_of_business", "medicare-advantage")
    if lob not in LINES_OF_BUSINESS:
        raise ValueError(f"partner {entry['id']}: line_of_business must be one of {', '.join(LINES_OF_BUSINESS)}")
    zone = entry.get("time_zone", DEFAULT_TIME_ZONE)
    try:
        parse_time_zone(zone)
    except ValueError:
        raise ValueError(f"partner {entry['id']}: time_zone must be an IANA time zone name") from None
    clocks = ClockTable.default()
    if overrides := entry.get("clock_overrides"):
        clocks = clocks.with_overrides(overrides)
    delivers_to = frozenset(kind for kind in ("fhir", "hl7v2") if getattr(delivery, kind) is not None)
    strict = entry.get("strict_transaction_ids", False)
    if not isinstance(strict, bool):
        raise ValueError(f"partner {entry['id']}: strict_transaction_ids is true or false")
    return ReviewPolicy(line_of_business=lob, time_zone=zone, clocks=clocks, delivers_to=delivers_to,
                        max_attempts=delivery.max_attempts, strict_transaction_ids=strict)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PartnerRegistry:
    def __init__(self, partners: list[Partner], hashes: dict[str, str]):
        self.partners = {p.id: p for p in partners}
        self._by_hash = hashes  # token hash -> partner id
        self._by_facility = {f.upper(): p for p in partners for f in p.hl7_facilities}
        self._by_cert: dict[str, Partner] = {}  # client certificate fingerprint -> partner
        for partner in partners:
            for fingerprint in partner.mllp.client_certs if partner.mllp else ():
                if (other := self._by_cert.setdefault(fingerprint, partner)) is not partner:
                    raise ValueError(f"partners {other.id} and {partner.id}: mllp.client_certs: "
                                     "a certificate can name one partner only")
        # Partners known by address alone: an address may lie in the networks of one of them only.
        self._by_address = [p for p in partners if p.mllp and not p.mllp.client_certs]
        for n, partner in enumerate(self._by_address):
            for other in self._by_address[:n]:
                if any(a.overlaps(b) for a in partner.mllp.networks for b in other.mllp.networks):
                    raise ValueError(f"partners {other.id} and {partner.id}: mllp.source_cidrs overlap: an address "
                                     "must name one partner (tell them apart with client_certs)")

    @classmethod
    def from_document(cls, text: str) -> PartnerRegistry:
        doc = yaml.safe_load(text) or {}
        partners, hashes = [], {}
        for entry in doc.get("partners", []):
            _known_keys(entry)
            delivery = _delivery(entry)
            partners.append(Partner(id=entry["id"], name=entry.get("name", ""),
                                    hl7_facilities=tuple(entry.get("hl7_facilities", [])),
                                    org_identifiers=_org_identifiers(entry), delivery=delivery,
                                    policy=_policy(entry, delivery), mllp=_checked(entry, "mllp", MllpSender),
                                    pas_version=_pas_version(entry)))
            hashes.update({h.lower(): entry["id"] for h in entry.get("token_sha256", [])})
        if any(p.org_identifiers for p in partners):  # someone may subscribe: every change may notify
            partners = [replace(p, policy=replace(p.policy, delivers_to=p.policy.delivers_to | {"subscriptions"}))
                        for p in partners]
        return cls(partners, hashes)

    def policy(self, partner_id: str) -> ReviewPolicy:
        """A partner's review policy; the defaults for one no longer in the registry."""
        partner = self.partners.get(partner_id)
        return partner.policy if partner else ReviewPolicy()

    def pas_version(self, partner_id: str) -> str:
        partner = self.partners.get(partner_id)
        return partner.pas_version if partner else "2.2.1"

    def by_facility(self, facility: str) -> Partner | None:
        """The partner whose HL7 sending facility (MSH-4 namespace id) this is."""
        return self._by_facility.get(facility.upper()) if facility else None

    def mllp_sender(self, address: str, fingerprint: str | None) -> Partner | None:
        """The partner an MLLP connection speaks for: the one listing its client certificate's
        SHA-256 fingerprint (TLS), else the address-only partner whose source_cidrs hold its address.
        Raises SenderRefused when neither vouches for it, or the certificate's partner does not take
        connections from there. None only while no partner has an `mllp` block: MSH-4 alone then
        names the sender, as it did before bindings existed."""
        if fingerprint is not None:
            partner = self._by_cert.get(fingerprint.lower())
            if partner is None:
                raise SenderRefused("the client certificate is no partner's")
            if not partner.mllp.admits(address):
                raise SenderRefused("the client certificate's partner does not connect from this address")
            return partner
        if found := next((p for p in self._by_address if p.mllp.admits(address)), None):
            return found
        if self._by_cert or self._by_address:
            raise SenderRefused("no partner's client certificate or source network")
        return None

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
