"""Benchmark figures of the review side (bench/bench.py 9 and 10), against a fresh embedded store
holding 10,000 open cases (written straight to the table: the figure is the read, not the intake).

9.  First worklist page (limit 50, no filter) vs a GetItem of one case, interleaved, medians.
10. One SLA monitor run over those cases (counts all 10,000 from two projected attributes, reads
    the summaries of the cases due within its window, marks the 100 overdue ones once and publishes
    their alerts), and a second run (counts and reads again, marks nothing).
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)


class CountingAlerts:
    def __init__(self) -> None:
        self.sent = 0

    def publish(self, message: dict) -> None:
        self.sent += 1


def seed(client, table: str, count: int, overdue: int) -> str:
    """`count` open cases, due from 2 to 30 days ahead, the first `overdue` of them already due."""
    from adapters import dynamo_keys as keys
    from fhir_mappings.claim_to_case import submission_from_fhir
    from review.model import Case
    import json

    draft = submission_from_fhir(json.loads((ROOT / "examples" / "pas-request.json").read_text())).draft
    template = Case(**dict(draft), id="x", partner_id="bench", received_at=NOW, due_at=NOW)
    batch = []
    for n in range(count):
        due = NOW - timedelta(hours=1 + n) if n < overdue else NOW + timedelta(days=2, minutes=n * 4)
        case = template.model_copy(update={"id": f"bench{n:08d}", "due_at": due,
                                           "partner_id": f"partner{n % 5}"})
        batch.append({"PutRequest": {"Item": keys.case_item(case)}})
        if len(batch) == 25:
            client.batch_write_item(RequestItems={table: batch})
            batch = []
    if batch:
        client.batch_write_item(RequestItems={table: batch})
    return "bench00005000"


def worklist_and_monitor(count: int = 10_000, overdue: int = 100, rounds: int = 200) -> dict:
    import boto3

    from adapters.case_views import DynamoCaseViews
    from adapters import dynamo_keys as keys
    from functions import bootstrap
    from infra.local.embedded import EmbeddedAws
    from infra.local.topology import Topology
    from review.views import WorklistQuery

    aws = EmbeddedAws()
    endpoint = aws.start()
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "POWERTOOLS_METRICS_DISABLED": "true",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"})
    try:
        client = boto3.client("dynamodb", endpoint_url=endpoint)
        table = "bench-cases"
        client.create_table(TableName=table, **Topology.load().tables["CasesTable"])
        some_case = seed(client, table, count, overdue)
        views = DynamoCaseViews(client, table)
        query = WorklistQuery(limit=50)
        first = views.worklist(query)
        assert len(first.cases) == 50 and first.next

        get_ms, page_ms = [], []
        for _ in range(rounds):  # interleaved, so that drift hits both alike
            t = time.perf_counter()
            client.get_item(TableName=table, Key=keys.case_key(some_case), ConsistentRead=True)
            get_ms.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            views.worklist(query)
            page_ms.append((time.perf_counter() - t) * 1e3)

        alerts = CountingAlerts()
        bootstrap.override(lambda: bootstrap.Services(store=None, archive=None, clock=lambda: NOW, views=views,
                                                      alerts=alerts))
        from functions.monitor.app import lambda_handler

        t = time.perf_counter()
        result = lambda_handler({}, None)
        first_run = time.perf_counter() - t
        t = time.perf_counter()
        again = lambda_handler({}, None)
        second_run = time.perf_counter() - t
        bootstrap.override(None)
        assert result["open"] == count and alerts.sent == overdue and again["marked"] == 0
        return {"cases": count, "get_ms": statistics.median(get_ms), "page_ms": statistics.median(page_ms),
                "monitor_s": first_run, "monitor_again_s": second_run, "marked": result["marked"],
                "alerts": alerts.sent}
    finally:
        aws.stop()
