"""Review API function: the worklist and case lifecycle (cases.py), reviewer profiles
(reviewers.py), reports (reports.py), deliveries (deliveries.py) and the inbound message log (messages.py), for the review organization's own staff. Every route but
the API description takes a reviewer token (Cognito); partner tokens are refused with 403."""
from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from functions import http
from functions.cases import cases, deliveries, messages, reports, reviewers
from functions.observability import entry_point

app = http.create_app(identity=http.caller)
app.include_router(cases.router)
app.include_router(reviewers.router)
app.include_router(reports.router)
app.include_router(deliveries.router)
app.include_router(messages.router)

TITLE = "claimbridge review API"
DESCRIPTION = ("Worklist, case lifecycle, information requests, determinations, reviewer profiles and reports. "
               "Bearer: a Cognito ID token of the reviewer pool (locally: `claimbridge token USER`).")
SECURITY = {"reviewerToken": HTTPBearer(bearerFormat="JWT", description="Cognito ID token")}

app.configure_openapi(title=TITLE, description=DESCRIPTION, version=http.VERSION, security_schemes=SECURITY,
                      security=[{"reviewerToken": []}])
app.enable_swagger(path="/swagger")  # the document as configured above


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    """The OpenAPI document Powertools generates from the routes and their pydantic models."""
    return http.json_response(app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True))


@entry_point
def lambda_handler(event, context):
    return http.resolve(app, event, context, produces=frozenset({"text/csv", "text/html"}))  # report, swagger
