"""SLA monitor (scheduled every 5 minutes; locally on a timer): marks open cases due soon and
overdue once per threshold, publishes one SNS alert per newly overdue case (case id, partner,
due_at; no PHI), and emits open / due-soon / overdue counts per partner and priority as metrics."""
from __future__ import annotations


from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.bootstrap import due_soon_window, services
from functions.observability import SERVICE, entry_point, logger, metrics_on
from review import sla
from review.model import Actor, Event, Role, instant

MONITOR = Actor(id="sla-monitor", role=Role.SYSTEM)
METRIC_NAMES = {"open": "OpenCases", sla.DUE_SOON: "DueSoonCases", sla.OVERDUE: "OverdueCases"}


@entry_point
def lambda_handler(event, context) -> dict:
    svc = services()
    now = svc.clock()
    window = due_soon_window()
    found = sla.assess(svc.views.open_counts(), svc.views.due_by(now + window), now, window)
    alerts = []
    for summary, mark in found.to_mark:
        history = Event(at=now, type=f"sla-{mark}", actor=MONITOR, from_status=summary.status,
                        to_status=summary.status, detail={"due_at": instant(summary.due_at)})
        if not svc.views.mark_sla(summary.id, summary.due_at, mark, history) or mark != sla.OVERDUE:
            continue
        alert = {"case_id": summary.id, "partner": summary.partner, "due_at": instant(summary.due_at)}
        try:
            svc.alerts.publish(alert)
        except Exception as err:  # unmarked, so that the next run alerts again
            svc.views.unmark_sla(summary.id, summary.due_at, mark)
            logger.error("overdue alert not published", extra={"case_id": summary.id, "error_type": type(err).__name__})
            continue
        logger.warning("case overdue", extra=alert)
        alerts.append(alert)
    for (partner, priority, measure), value in (sorted(found.counts.items()) if metrics_on() else ()):
        with single_metric(name=METRIC_NAMES[measure], unit=MetricUnit.Count, value=value, namespace=SERVICE,
                           default_dimensions={"partner": partner, "priority": priority}):
            pass
    totals = {m: sum(v for (_, _, k), v in found.counts.items() if k == m) for m in METRIC_NAMES}
    logger.info("sla monitor run", extra={**totals, "marked": len(found.to_mark), "alerted": len(alerts)})
    return {**totals, "marked": len(found.to_mark), "alerts": alerts}
