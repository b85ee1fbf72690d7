"""Reviewer profiles: roles, NPI, specialty and conflicts of interest (supervisors keep them)."""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field

from functions import http
from functions.bootstrap import services
from review import services as review
from review.commands import Body as Strict
from review.model import Conflicts, Reviewer, Role

router = Router()


class Profile(Strict):
    roles: list[Role] = Field(min_length=1)
    npi: Annotated[str, Field(pattern=r"^\d{10}$")] | None = None
    specialty: Annotated[str, Field(max_length=64)] | None = None
    conflicts: Conflicts = Conflicts()


@router.get("/reviewers", summary="Every reviewer profile")
def all_reviewers() -> list[Reviewer]:
    return review.reviewers(services().review, http.caller(router))


@router.get("/reviewers/<reviewer_id>", summary="One profile; `me` is the caller's own")
def one(reviewer_id: str) -> Reviewer:
    return review.reviewer(services().review, http.caller(router), reviewer_id)


@router.put("/reviewers/<reviewer_id>", summary="Create or replace a profile (supervisors)")
def put(reviewer_id: str, profile: Annotated[Profile, Body()]) -> Reviewer:
    return review.put_reviewer(services().review, http.caller(router),
                               Reviewer(id=reviewer_id, **profile.model_dump()))
