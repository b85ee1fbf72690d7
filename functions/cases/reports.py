"""Reports: the CMS-0057-F prior authorization metrics, as JSON or CSV; the open cases per partner
(open, due soon, overdue) for the operations page."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from functions import http
from functions.bootstrap import due_soon_hours, due_soon_window, services
from review import services as review
from review.errors import NotFound
from review.model import instant
from review.metrics import metrics_csv

router = Router()


@router.get("/reports/<report>", summary="prior-authorization-metrics: the figures CMS-0057-F has payers publish; "
                                         "open-cases: open, due-soon and overdue cases per partner")
def report(
    report: str,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    partner: Annotated[str | None, Query(max_length=128)] = None,
) -> Any:
    caller = http.caller(router)  # first: strangers learn nothing, not even which reports exist
    if report == "open-cases":
        svc = services()
        rows = review.open_case_counts(svc.review, caller, due_soon_window())
        return http.json_response({"report": report, "at": instant(svc.clock()), "due_soon_hours": due_soon_hours(),
                                   "rows": rows})
    if report != "prior-authorization-metrics":
        raise NotFound("no such report")
    svc = services()
    partners = [partner] if partner else sorted(svc.partners().partners)
    rows = review.prior_authorization_report(svc.review, caller, partners, start, end)
    if "text/csv" in router.current_event.headers.get("accept", ""):  # Powertools' headers ignore case
        return Response(200, "text/csv; charset=utf-8", metrics_csv(rows["rows"]))
    return http.json_response(rows)
