"""The composition root: builds the repository, views, archive, clock and partner registry once per
cold start.

Settings come from the environment (template.yaml Globals on AWS; `claimbridge serve` locally).
Tests and the benchmark hand fakes to `override()`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from adapters.partners import PartnerRegistry, registry_from_environment
from review.delivery import Backoff, Sender
from review.services import Archive, CaseRepository, CaseViews, Clock, Review, ReviewerDirectory


class Alerts:
    """Where the SLA monitor sends an alert: an SNS topic (on AWS, and moto's locally). The client is
    made on first use, so functions that never alert do not pay for it at cold start."""

    def __init__(self, topic_arn: str | None):
        self.topic_arn = topic_arn
        self._client: Any = None

    def publish(self, message: dict) -> None:
        import json

        self._client = self._client or aws_client("sns", "CLAIMBRIDGE_SNS_ENDPOINT")
        self._client.publish(TopicArn=self.topic_arn, Message=json.dumps(message), Subject="claimbridge case overdue")


@dataclass
class Services:
    store: CaseRepository
    archive: Archive
    clock: Clock
    views: CaseViews | None = None
    reviewers: ReviewerDirectory | None = None
    alerts: Alerts | None = None
    send: Sender | None = None  # to a partner's targets (adapters/delivery.py)
    queue: Any = None  # the delivery queue and its dead letters (adapters/queue.py)
    backoff: Backoff = Backoff()
    subscriptions: Any = None  # PAS subscriptions (adapters/subscriptions.py)
    # A function, not a value: the registry is re-read when its source changes (cached meanwhile).
    partners: Callable[[], PartnerRegistry] = registry_from_environment

    @property
    def review(self) -> Review:
        return Review(cases=self.store, views=self.views, reviewers=self.reviewers, archive=self.archive,
                      clock=self.clock, policy_of=lambda partner_id: self.partners().policy(partner_id))


def due_soon_hours() -> float:
    """How near its deadline an open case counts as due soon: the SLA monitor marks it, the
    worklist colours it, the operations page counts it (DUE_SOON_HOURS, default 24)."""
    return float(os.environ.get("DUE_SOON_HOURS", "24"))


def due_soon_window() -> timedelta:
    return timedelta(hours=due_soon_hours())


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def aws_client(service: str, endpoint_env: str | None = None, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    options = {"config": Config(**config)} if config else {}
    return boto3.client(service, endpoint_url=os.environ.get(endpoint_env or "") or None, **options)


class Lazy:
    """An adapter built on first use: a function that never touches it (the authorizer, which needs
    only the partner registry) never pays for its AWS client at cold start."""

    def __init__(self, build: Callable[[], Any]):
        self._build, self._built = build, None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            self._built = self._build()
        return getattr(self._built, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # an adapter that is a function (the senders)
        return self.__getattr__("__call__")(*args, **kwargs)


def bootstrap() -> Services:
    from functools import cache

    @cache
    def dynamodb() -> Any:
        return aws_client("dynamodb", "CLAIMBRIDGE_DYNAMODB_ENDPOINT")

    def adapter(module: str, name: str, client: Callable[[], Any], setting: str) -> Lazy:
        def build() -> Any:
            from importlib import import_module

            return getattr(import_module(module), name)(client(), os.environ[setting])
        return Lazy(build)

    def s3() -> Any:  # SigV4 presigned URLs (documents): what every region takes
        return aws_client("s3", "CLAIMBRIDGE_S3_ENDPOINT", signature_version="s3v4")

    def senders() -> Any:
        from adapters.delivery import Senders
        from adapters.partners import registry_from_environment

        return Senders(registry_from_environment, archive, subscriptions)

    def queue() -> Any:
        from adapters.queue import DeliveryQueue

        return DeliveryQueue(aws_client("sqs", "CLAIMBRIDGE_SQS_ENDPOINT"), os.environ["DELIVERY_QUEUE_URL"],
                             os.environ["DELIVERY_DEAD_LETTERS_URL"])

    archive = adapter("adapters.archive", "S3Archive", s3, "ARCHIVE_BUCKET")
    subscriptions = adapter("adapters.subscriptions", "DynamoSubscriptions", dynamodb, "CASES_TABLE")
    return Services(
        store=adapter("adapters.case_store", "DynamoCaseRepository", dynamodb, "CASES_TABLE"),
        views=adapter("adapters.case_views", "DynamoCaseViews", dynamodb, "CASES_TABLE"),
        reviewers=adapter("adapters.reviewers", "DynamoReviewerDirectory", dynamodb, "CASES_TABLE"),
        subscriptions=subscriptions,
        archive=archive,
        alerts=Alerts(os.environ.get("SLA_ALERTS_TOPIC")),
        send=Lazy(senders),
        queue=Lazy(queue),
        backoff=Backoff(float(os.environ.get("DELIVERY_BACKOFF_BASE_SECONDS", "30")),
                        float(os.environ.get("DELIVERY_BACKOFF_CAP_SECONDS", "3600"))),
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
