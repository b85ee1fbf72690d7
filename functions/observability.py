"""One Logger, Tracer and Metrics for every function, and the wrapper each Lambda entry point wears:
a correlation id on every log line (the API request id, else the invocation's), a trace segment that
records neither responses nor errors (they may carry PHI). Metrics are EMF: the SLA monitor
flushes its own; one-off counts use `count()`."""
from __future__ import annotations

import functools
import os
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "claimbridge"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)


def entry_point(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    traced = tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        request = (event.get("requestContext") or {}).get("requestId") if isinstance(event, dict) else None
        logger.set_correlation_id(request or getattr(context, "aws_request_id", None))
        return traced(event, context)

    return run


def metrics_on() -> bool:
    """Powertools' own switch, POWERTOOLS_METRICS_DISABLED (its single_metric does not read it)."""
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true"


def count(name: str, **dimensions: str) -> None:
    """One metric data point, emitted at once (EMF on stdout), unless metrics are switched off."""
    if not metrics_on():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=SERVICE,
                       default_dimensions=dimensions) as metric:
        metric.add_dimension(name="service", value=SERVICE)
