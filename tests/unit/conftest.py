"""Hypothesis profiles for the property-based tests (tests/unit/test_fuzz_*.py).

"ci", the default: a fixed seed and a few hundred examples per test, so `make test` is bounded and
repeatable. "fuzz": a long random campaign, `HYPOTHESIS_PROFILE=fuzz`.
"""
from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, settings

from functions import bootstrap

BOTH = {"deadline": None, "database": None, "print_blob": True,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]}

settings.register_profile("ci", max_examples=300, derandomize=True, **BOTH)
settings.register_profile("fuzz", max_examples=20_000, derandomize=False, **BOTH)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class ErrorsLogged(logging.Handler):
    """The last error the claimbridge logger wrote (type and code locations, never content): why a
    fuzzed request got a 500, or a message an internal-error ACK."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = f"{record.getMessage()}: {getattr(record, 'error_type', '?')} at {getattr(record, 'at', '?')}"


@pytest.fixture(scope="module")
def errors_logged():
    """Thousands of requests, one log line each: only errors are kept, and the last one is at hand."""
    logger, handler = logging.getLogger("claimbridge"), ErrorsLogged()
    level = logger.level
    logger.setLevel(logging.ERROR)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    bootstrap.override(None)
