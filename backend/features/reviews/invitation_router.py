"""HTTP for reviewers: their private link opens the invitation and takes one review.
No API key: the unguessable token in the path is the only credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from backend.auth import failures
from backend.auth.dependencies import DbSession, attempt_of, refuse_credential
from backend.auth.exceptions import TooManyAuthFailures
from backend.errors import problem_responses
from backend.features.reviews import invitations
from backend.features.reviews.exceptions import InvitationNotFound
from backend.features.reviews.models import Relationship
from backend.features.reviews.schemas import (
    InvitationOut,
    Questions,
    RatingScale,
    ReviewReceipt,
    ReviewSubmit,
)
from backend.urls import url_for

router = APIRouter(prefix="/reviews", tags=["reviews"])

# OpenAPI: these routes take no credentials.
PUBLIC: dict[str, Any] = {"security": []}

TokenInPath = Annotated[
    str, Path(min_length=1, max_length=200, description="The token of the invitation link.")
]


async def _guarded_token(request: Request, token: TokenInPath) -> AsyncIterator[str]:
    """The path's token, once the client is not blocked for guessing tokens; a wrong
    token counts as a failed authentication (backend.auth.failures), like a wrong key."""
    attempt = attempt_of(request, "token", token)
    retry_after = await failures.blocked_for(request.app.state.engine, attempt)
    if retry_after is not None:
        raise TooManyAuthFailures(retry_after)
    try:
        yield token
    except InvitationNotFound as exc:
        await refuse_credential(request, attempt, exc)


Token = Annotated[str, Depends(_guarded_token, scope="function")]

_TOKEN_ERRORS = problem_responses(404, 410, 422, 429)
_TOKEN_ERRORS[404]["description"] = "INVITATION_NOT_FOUND: no invitation has this token."
_TOKEN_ERRORS[429]["description"] = (
    "TOO_MANY_AUTH_FAILURES: too many wrong links from this client; wait Retry-After."
)
_TOKEN_ERRORS[410]["description"] = (
    "INVITATION_REVOKED: the link was withdrawn; INVITATION_EXPIRED: the cycle has closed."
)


def invitation_url(request: Request, token: str) -> str:
    """The link a reviewer is sent: the configured template, or this API's own URL."""
    template = request.app.state.settings.feedback.invitation_url
    if template:
        return str(template).replace("{token}", token)
    return url_for(request, "get_invitation", token=token)


@router.get(
    "/{token}",
    name="get_invitation",
    summary="Open a review invitation",
    response_model=InvitationOut,
    responses=_TOKEN_ERRORS,
    openapi_extra=PUBLIC,
)
async def get_invitation(token: Token, session: DbSession) -> InvitationOut:
    """What the reviewer is asked: the cycle, its subject, and the questions.
    `submitted_at` is set once the review was sent."""
    found = await invitations.open_invitation(session, token)
    cycle = found.cycle
    return InvitationOut(
        cycle_title=cycle.title,
        subject=found.subject,
        reviewer_name=found.reviewer.name,
        relationship=Relationship(found.reviewer.relationship),
        closes_at=cycle.closes_at,
        questions=Questions(
            competencies=cycle.competencies,
            rating_scale=RatingScale(),
            strengths=f"What does {found.subject} do well?",
            improvements=f"What could {found.subject} do better?",
        ),
        submitted_at=found.submitted_at,
    )


@router.post(
    "/{token}",
    name="submit_review",
    summary="Submit a review",
    status_code=201,
    response_model=ReviewReceipt,
    responses={
        **_TOKEN_ERRORS,
        **problem_responses(409),
    },
    openapi_extra=PUBLIC,
)
async def submit_review(
    token: Token, body: ReviewSubmit, request: Request, session: DbSession
) -> JSONResponse:
    """Sends the review: 201 at once, whatever the state of the model. Once per link
    (409 REVIEW_ALREADY_SUBMITTED); 422 INVALID_RATINGS unless every competency of the
    cycle is rated 1 to 5. From the second review of a cycle on, the summary is
    regenerated in the background."""
    settings = request.app.state.settings.feedback
    debounce = settings.summary_debounce_seconds
    review, cycle = await invitations.submit_review(
        session,
        request.app.state.registry,
        token,
        body,
        summary_url=lambda cycle_id: url_for(request, "get_cycle_summary", cycle_id=cycle_id),
        debounce=timedelta(seconds=debounce) if debounce > 0 else None,
    )
    receipt = ReviewReceipt(id=review.id, cycle_title=cycle.title, submitted_at=review.submitted_at)
    return JSONResponse(receipt.model_dump(mode="json"), status_code=201)
