"""The composition root: builds the store, archive, clock and partner registry once per cold start.

Settings come from the environment (template.yaml Globals on AWS; `claimbridge serve` locally).
Tests and the benchmark hand fakes to `override()`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from adapters.partners import PartnerRegistry, registry_from_environment
from review.services import Archive, CaseStore, Clock


@dataclass
class Services:
    store: CaseStore
    archive: Archive
    clock: Clock
    # A function, not a value: the registry is re-read when its source changes (cached meanwhile).
    partners: Callable[[], PartnerRegistry] = registry_from_environment


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def aws_client(service: str, endpoint_env: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=os.environ.get(endpoint_env) or None)


def bootstrap() -> Services:
    from adapters.archive import S3Archive
    from adapters.case_store import DynamoCaseStore

    return Services(
        store=DynamoCaseStore(aws_client("dynamodb", "CLAIMBRIDGE_DYNAMODB_ENDPOINT"), os.environ["CASES_TABLE"]),
        archive=S3Archive(aws_client("s3", "CLAIMBRIDGE_S3_ENDPOINT"), os.environ["ARCHIVE_BUCKET"]),
        clock=utc_now,
    )


_services: Services | None = None
_factory: Callable[[], Services] = bootstrap


def services() -> Services:
    global _services
    if _services is None:
        _services = _factory()
    return _services


def override(factory: Callable[[], Services] | None) -> None:
    """Swap the factory (tests, benchmark); None restores the real one. Drops what was built."""
    global _services, _factory
    _services, _factory = None, factory or bootstrap
