"""The SLA monitor against the embedded endpoint, on a fake clock: marks once per threshold and
deadline, one SNS alert per newly overdue case (read from an SQS queue subscribed to the topic),
history events, and EMF metrics on stdout.

The session stack's table is shared with other tests, and the monitor reads every open case in it:
alerts, results and metrics are looked at for this test's fresh partner only."""
from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from functions import bootstrap
from tests import factories as f

T0 = datetime(2026, 3, 5, 15, 0, tzinfo=timezone.utc)  # 10:00 EST; the 7 days run into EDT (March 8)
STANDARD_DUE = "2026-03-12T14:00:00Z"  # 10:00 EDT, seven calendar days on the partner's wall clock
EXPEDITED_DUE = "2026-03-08T15:00:00Z"  # 72 elapsed hours
EXTENDED_DUE = "2026-03-26T14:00:00Z"  # 7 + 14 calendar days


class FakeClock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def clock(stack):
    """The composition root with its real adapters, on a clock the test moves."""
    fake = FakeClock(T0)
    real = bootstrap.bootstrap()
    on_fake_time = dataclasses.replace(real, clock=fake)
    bootstrap.override(lambda: on_fake_time)
    yield fake
    bootstrap.override(None)


class AlertInbox:
    """An SQS queue subscribed to the SLA alerts topic (raw delivery: the body is the message)."""

    def __init__(self, endpoint: str, topic_arn: str, name: str):
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.sns = boto3.client("sns", endpoint_url=endpoint)
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subscription = self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn,
                                               Attributes={"RawMessageDelivery": "true"},
                                               ReturnSubscriptionArn=True)["SubscriptionArn"]

    def take(self, partner: str) -> list[dict]:
        """Every alert delivered since the last take, for this partner."""
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                                   WaitTimeSeconds=0).get("Messages", []):
            for m in messages:
                found.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return [a for a in found if a["partner"] == partner]

    def close(self) -> None:
        self.sns.unsubscribe(SubscriptionArn=self.subscription)
        self.sqs.delete_queue(QueueUrl=self.url)


@pytest.fixture
def inbox(stack, fresh_partner):
    box = AlertInbox(stack.aws_endpoint, os.environ["SLA_ALERTS_TOPIC"], f"sla-alerts-{fresh_partner}")
    yield box
    box.close()


@pytest.fixture
def metrics_on(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "claimbridge")


def run_monitor(stack, partner: str) -> dict:
    """One scheduled run, as EventBridge makes it; its result narrowed to this partner's alerts."""
    [result] = stack.run_scheduled()
    return {**result, "alerts": [a for a in result["alerts"] if a["partner"] == partner]}


def emf(out: str, partner: str) -> dict[tuple[str, str], float]:
    """(metric name, priority) -> value, from the EMF lines Powertools printed for this partner."""
    found = {}
    for line in out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc or doc.get("partner") != partner:
            continue
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "claimbridge"
        # Powertools adds the service (POWERTOOLS_SERVICE_NAME) to the monitor's own dimensions.
        assert [sorted(d) for d in directive["Dimensions"]] == [["partner", "priority", "service"]]
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            value = doc[metric["Name"]]
            found[(metric["Name"], doc["priority"])] = value[0] if isinstance(value, list) else value
    return found


def sla_events(dr, case_id: str) -> list[dict]:
    return [e for e in dr.get(f"/cases/{case_id}").json()["history"] if e["type"].startswith("sla-")]


def test_overdue_cases_alert_once_per_deadline(stack, api, reviewer, clock, inbox, fresh_partner, capfd, metrics_on):
    client, dr = api(fresh_partner), reviewer("dr-demo")

    def submit(name: str, priority: str = "normal") -> str:
        bundle = f.pas_bundle(f.claim(f"SLA-{name}", priority=priority), identifier=f"SLA-B-{name}")
        resp = client.submit(bundle)
        assert resp.status_code == 200, resp.text
        return resp.json()["entry"][0]["resource"]["id"]

    late, decided, extended, urgent = submit("late"), submit("decided"), submit("extended"), submit("urgent", "stat")
    due = {c: dr.get(f"/cases/{c}").json()["case"]["due_at"] for c in (late, decided, extended, urgent)}
    assert {c: datetime.fromisoformat(d.replace("Z", "+00:00")).isoformat().replace("+00:00", "Z") for c, d in due.items()} == {
        late: STANDARD_DUE, decided: STANDARD_DUE, extended: STANDARD_DUE, urgent: EXPEDITED_DUE}

    # A day in: nothing is within 24 hours of its deadline.
    clock.set(T0 + timedelta(days=1))
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    assert inbox.take(fresh_partner) == [] and sla_events(dr, urgent) == []

    # The expedited case is 23 hours from its deadline: marked due soon, no alert.
    clock.set(datetime(2026, 3, 7, 16, 0, tzinfo=timezone.utc))
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    assert inbox.take(fresh_partner) == []
    assert [e["type"] for e in sla_events(dr, urgent)] == ["sla-due-soon"]
    assert all(sla_events(dr, c) == [] for c in (late, decided, extended))

    # Its deadline: one alert, with the case id, partner and due time and nothing about the member.
    clock.set(datetime(2026, 3, 8, 15, 0, tzinfo=timezone.utc))
    capfd.readouterr()
    result = run_monitor(stack, fresh_partner)
    out = capfd.readouterr().out
    expected = {"case_id": urgent, "partner": fresh_partner, "due_at": EXPEDITED_DUE}
    assert result["alerts"] == [expected]
    assert inbox.take(fresh_partner) == [expected]
    overdue = sla_events(dr, urgent)[-1]
    assert overdue["type"] == "sla-overdue" and overdue["actor"] == {"id": "sla-monitor", "role": "system", "npi": None}
    assert overdue["detail"] == {"due_at": EXPEDITED_DUE} and overdue["from_status"] == overdue["to_status"] == "received"
    assert emf(out, fresh_partner) == {("OpenCases", "standard"): 3, ("OpenCases", "expedited"): 1,
                                       ("OverdueCases", "expedited"): 1}

    # Run again (and again, later): the case stays overdue, but it was alerted on already.
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    clock.set(datetime(2026, 3, 9, 15, 0, tzinfo=timezone.utc))
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    assert inbox.take(fresh_partner) == []
    assert [e["type"] for e in sla_events(dr, urgent)] == ["sla-due-soon", "sla-overdue"]

    # The standard cases come within the window: marked due soon. One is then decided; another
    # is extended by its assignee (Medicare Advantage allows 14 days), which moves its deadline.
    clock.set(datetime(2026, 3, 11, 15, 0, tzinfo=timezone.utc))
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    assert [e["type"] for c in (late, decided, extended) for e in sla_events(dr, c)] == ["sla-due-soon"] * 3
    assert dr.decide(decided, {"item_sequence": 1, "decision": "approved"}).status_code == 200
    assert dr.command(extended, "assignment", reviewer="dr-demo").status_code == 200
    capfd.readouterr()
    resp = dr.command(extended, "extension", days=14, reason="waiting on the treating physician's records")
    assert resp.status_code == 200, resp.text
    counted = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"ClockExtensions"' in line]
    assert [(m["partner"], m["ClockExtensions"]) for m in counted] in ([(fresh_partner, 1.0)], [(fresh_partner, [1.0])])
    assert datetime.fromisoformat(resp.json()["due_at"].replace("Z", "+00:00")).isoformat().replace("+00:00", "Z") == EXTENDED_DUE

    # The old deadline passes: only the case still running on it alerts.
    clock.set(datetime(2026, 3, 12, 14, 0, tzinfo=timezone.utc))
    capfd.readouterr()
    result = run_monitor(stack, fresh_partner)
    out = capfd.readouterr().out
    expected = {"case_id": late, "partner": fresh_partner, "due_at": STANDARD_DUE}
    assert result["alerts"] == [expected] and inbox.take(fresh_partner) == [expected]
    assert emf(out, fresh_partner) == {("OpenCases", "standard"): 2, ("OpenCases", "expedited"): 1,
                                       ("OverdueCases", "standard"): 1, ("OverdueCases", "expedited"): 1}
    assert [e["type"] for e in sla_events(dr, decided)] == ["sla-due-soon"]
    assert [e["type"] for e in sla_events(dr, extended)] == ["sla-due-soon"]

    # The new deadline: due soon again, then overdue, alerted once with the new due time.
    clock.set(datetime(2026, 3, 25, 15, 0, tzinfo=timezone.utc))
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    clock.set(datetime(2026, 3, 26, 14, 0, tzinfo=timezone.utc))
    expected = {"case_id": extended, "partner": fresh_partner, "due_at": EXTENDED_DUE}
    assert run_monitor(stack, fresh_partner)["alerts"] == [expected]
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    assert inbox.take(fresh_partner) == [expected]
    marks = [(e["type"], e["detail"]["due_at"]) for e in sla_events(dr, extended)]
    assert marks == [("sla-due-soon", STANDARD_DUE), ("sla-due-soon", EXTENDED_DUE), ("sla-overdue", EXTENDED_DUE)]

    # Leave nothing open: a later monitor run on the real clock must not find these cases overdue.
    lead = reviewer("lead-demo")
    for case_id in (late, extended, urgent):
        assert lead.command(case_id, "withdrawal", reason="test cleanup").status_code == 200


class DownTopic:
    def publish(self, message: dict) -> None:
        raise ConnectionError("sns unreachable")


def test_an_alert_that_could_not_be_published_is_sent_by_the_next_run(stack, api, reviewer, clock, inbox,
                                                                     fresh_partner):
    client = api(fresh_partner)
    resp = client.submit(f.pas_bundle(f.claim("SLA-down", priority="stat"), identifier="SLA-B-down"))
    case_id = resp.json()["entry"][0]["resource"]["id"]
    clock.set(T0 + timedelta(hours=72))
    services = bootstrap.services()
    working, services.alerts = services.alerts, DownTopic()
    try:
        assert run_monitor(stack, fresh_partner)["alerts"] == []
    finally:
        services.alerts = working
    expected = {"case_id": case_id, "partner": fresh_partner, "due_at": EXPEDITED_DUE}
    assert run_monitor(stack, fresh_partner)["alerts"] == [expected]
    assert run_monitor(stack, fresh_partner)["alerts"] == []
    assert inbox.take(fresh_partner) == [expected]
    assert reviewer("lead-demo").command(case_id, "withdrawal", reason="test cleanup").status_code == 200
