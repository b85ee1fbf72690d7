"""ClaimResponse read and search: always rendered from the case, so it shows the latest determination.

Search (FHIR R4 search.html): by `request` or `identifier`, a page of `_count` (default 25, at most
100, 0 for the total alone), or `_summary=count`; `_total` none/estimate/accurate (the total is given
unless `none`: always exact). A parameter the search does not use is refused when it is a search
parameter (ignoring a filter would answer more than was asked), ignored when it is a `_` result
parameter; `Prefer: handling=strict` refuses both, `handling=lenient` ignores both. Bundle.link self
lists the parameters used; next carries an opaque `_page_token`, bound to the partner and the search."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from aws_lambda_powertools.event_handler.api_gateway import Router

from fhir_mappings.case_to_claimresponse import claim_response, searchset
from fhir_mappings.subscription import speaks_for
from fhir_mappings.validation import StructureError
from functions import http
from functions.bootstrap import services
from review import services as cases
from review.errors import Invalid

router = Router()

SEARCH_BY = ("request", "identifier")
PAGE_TOKEN = "_page_token"
DEFAULT_COUNT, MAX_COUNT = 25, 100
TOTALS = ("none", "estimate", "accurate")
SUMMARIES = ("true", "text", "data", "count", "false")  # all but count and false are not offered


@router.get("/fhir/ClaimResponse/<id>")
def read(id: str):
    """The partner's own case, or one whose requester is an organization the partner speaks for: the
    ClaimResponse an id-only subscription notification names."""
    svc, partner = services(), http.partner_id(router)
    known = svc.partners().partners.get(partner)
    case = cases.get_case(svc.store, partner, id,
                          also=lambda case: known is not None and speaks_for(known.org_identifiers, case))
    return http.fhir(200, claim_response(case))


@router.get("/fhir/ClaimResponse")
def search():
    partner = http.partner_id(router)
    event = router.current_event
    s = _search(event.query_string_parameters or {}, event.headers.get("prefer", ""), partner)
    page = cases.search_cases(services().store, partner, s.key, s.count, s.after, s.total)
    more = {**s.used, PAGE_TOKEN: _page_token(partner, s.key, page.next_after)} if page.next_after else None
    return http.fhir(200, searchset(page.cases, http.base_url(router), s.used, more, page.total))


@dataclass(frozen=True)
class Search:
    key: str  # the lookup key: Claim/<id>, or an identifier as [system|]value
    count: int
    after: str | None  # the case the page starts after
    total: bool
    used: dict[str, str]  # the parameters as used, in link self's order


def _search(params: dict[str, str], prefer: str, partner: str) -> Search:
    handling = _handling(prefer)
    if handling != "lenient":
        _refuse_unused(params, [p for p in params if p in SEARCH_BY or p.startswith("_")])
    by = [p for p in SEARCH_BY if p in params]
    if not by:
        raise Invalid("search by request or identifier", "request", "required")
    if len(by) > 1:
        raise Invalid("search by one of request or identifier", by[1], "not-supported")
    name = by[0]
    key = "Claim/" + params[name].rstrip("/").split("/")[-1] if name == "request" else params[name]
    summary = _one_of(params, "_summary", SUMMARIES)
    total = _one_of(params, "_total", TOTALS)
    count = 0 if summary == "count" else _count(params)
    used = {name: params[name]}
    used |= {"_summary": "count"} if summary == "count" else {"_count": str(count)}
    used |= {"_summary": summary} if summary == "false" else {}
    used |= {"_total": total} if total and summary != "count" else {}
    used |= {"_format": params["_format"]} if "_format" in params else {}  # answered by the format layer
    after = _after(params[PAGE_TOKEN], partner, key) if PAGE_TOKEN in params and count else None
    used |= {PAGE_TOKEN: params[PAGE_TOKEN]} if after else {}
    if handling == "strict":
        _refuse_unused(params, used)
    return Search(key, count, after, total != "none", used)


def _refuse_unused(params: dict[str, str], used) -> None:
    unused = next((p for p in params if p not in used), None)
    if unused is not None:
        raise Invalid(f"this search does not use the parameter; supported: {', '.join(SEARCH_BY)}, _count, "
                      "_summary=count, _total", unused, "not-supported")


def _handling(prefer: str) -> str | None:
    """Prefer: handling=strict|lenient (RFC 7240, as FHIR search uses it), if the client says."""
    for preference in prefer.replace(";", ",").split(","):
        name, _, value = preference.partition("=")
        if name.strip().lower() == "handling" and value.strip().strip('"').lower() in ("strict", "lenient"):
            return value.strip().strip('"').lower()
    return None


def _count(params: dict[str, str]) -> int:
    raw = params.get("_count", str(DEFAULT_COUNT))
    try:
        count = int(raw) if raw.isascii() and raw.isdigit() else -1
    except ValueError:  # thousands of digits
        count = -1
    if count < 0:
        raise StructureError("_count must be a whole number, 0 or more", "_count", "invalid")
    return min(count, MAX_COUNT)  # FHIR lets a server return fewer than asked for


def _one_of(params: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is not None and value not in allowed:
        raise StructureError(f"{name} must be one of: {', '.join(allowed)}", name, "invalid")
    return value


# A page token names the case the next page starts after, bound to the partner and the lookup key:
# a token from another search is refused. It needs no signature: DynamoDB reads only the lookup
# partition that the request itself names, so a changed token can only move the start within it.

def _page_token(partner: str, key: str, after: str) -> str:
    doc = json.dumps({"after": after, "search": _fingerprint(partner, key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")


def _after(token: str, partner: str, key: str) -> str:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = doc["after"]
        valid = doc["search"] == _fingerprint(partner, key) and isinstance(after, str) and 0 < len(after) <= 128
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise StructureError("the page token is not one this search returned", PAGE_TOKEN, "invalid")
    return after


def _fingerprint(partner: str, key: str) -> str:
    return hashlib.sha256(json.dumps([partner, key]).encode()).hexdigest()[:16]
