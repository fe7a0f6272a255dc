"""HTTP for managers: cycles, reviewers, and the cycle's summary."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.auth.dependencies import CurrentCaller, DbSession, WritingCaller
from backend.errors import problem_responses
from backend.features.feedback.operations import operation_ref
from backend.features.reviews import service, summaries
from backend.features.reviews.invitation_router import invitation_url
from backend.features.reviews.models import Relationship
from backend.features.reviews.schemas import (
    CycleCreate,
    CycleLinks,
    CycleOut,
    CycleSummaryOut,
    PersonRef,
    ReviewerCreate,
    ReviewerInvited,
    ReviewerOut,
    SummaryLinks,
)
from backend.features.reviews.service import CycleView, ReviewerView
from backend.features.reviews.summaries import SummaryView
from backend.features.reviews.weighting import Weighting
from backend.llm.tasks import FeedbackSummary
from backend.operations.http import accepted, accepted_responses
from backend.operations.idempotency import Idempotent, remember
from backend.operations.schemas import OperationOut
from backend.urls import url_for

router = APIRouter(prefix="/cycles", tags=["reviews"])

LOCATION = {"Location": {"schema": {"type": "string", "format": "uri"}}}


def summary_url(request: Request, cycle_id: uuid.UUID) -> str:
    return url_for(request, "get_cycle_summary", cycle_id=cycle_id)


def reviewer_out(view: ReviewerView) -> ReviewerOut:
    r = view.reviewer
    return ReviewerOut(
        id=r.id,
        name=r.name,
        relationship=Relationship(r.relationship),
        status=view.status,
        created_at=r.created_at,
        submitted_at=view.submitted_at,
        revoked_at=r.revoked_at,
    )


def cycle_out(request: Request, view: CycleView) -> CycleOut:
    cycle = view.cycle
    return CycleOut(
        id=cycle.id,
        person=PersonRef(id=view.person.id, name=view.person.name),
        title=cycle.title,
        competencies=cycle.competencies,
        closes_at=cycle.closes_at,
        open=cycle.closes_at > datetime.now(UTC),
        reviewers=[reviewer_out(r) for r in view.reviewers],
        reviews_submitted=view.reviews_submitted,
        summary_operation=operation_ref(request, view.summary_operation),
        created_at=cycle.created_at,
        links=CycleLinks(
            self=url_for(request, "get_cycle", cycle_id=cycle.id),
            summary=summary_url(request, cycle.id),
        ),
    )


def summary_out(request: Request, view: SummaryView) -> CycleSummaryOut:
    s = view.summary
    return CycleSummaryOut(
        cycle_id=s.cycle_id,
        content=FeedbackSummary.model_validate(s.content),
        weighting=Weighting.model_validate(s.weighting),
        review_count=s.review_count,
        reviews_submitted=view.reviews_submitted,
        stale=view.stale,
        finalised=s.finalised_at is not None,
        finalised_at=s.finalised_at,
        generated_by=s.generated_by,
        generated_at=s.generated_at,
        operation=operation_ref(request, view.operation),
        links=SummaryLinks(
            self=summary_url(request, s.cycle_id),
            cycle=url_for(request, "get_cycle", cycle_id=s.cycle_id),
        ),
    )


@router.post(
    "",
    name="create_cycle",
    summary="Create a review cycle",
    status_code=201,
    response_model=CycleOut,
    responses={201: {"headers": LOCATION}, **problem_responses(401, 403, 404, 422)},
)
async def create_cycle(
    body: CycleCreate,
    request: Request,
    session: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """A round of 360 feedback about a person, open until `closes_at`. You manage the
    cycles you create; tenant admins manage all of them."""
    days = request.app.state.settings.feedback.cycle_days
    cycle = await service.create_cycle(session, caller, body, default_days=days)
    view = await service.cycle_view(session, caller, cycle.id)
    response = JSONResponse(
        cycle_out(request, view).model_dump(mode="json"),
        status_code=201,
        headers={"Location": url_for(request, "get_cycle", cycle_id=cycle.id)},
    )
    remember(request, response)
    return response


@router.get(
    "/{cycle_id}",
    name="get_cycle",
    summary="Get a review cycle",
    response_model=CycleOut,
    responses=problem_responses(401, 404, 422),
)
async def get_cycle(
    cycle_id: uuid.UUID, request: Request, session: DbSession, caller: CurrentCaller
) -> CycleOut:
    """The cycle, its reviewers (never their links) and whether each has submitted."""
    return cycle_out(request, await service.cycle_view(session, caller, cycle_id))


@router.post(
    "/{cycle_id}/reviewers",
    name="invite_reviewer",
    summary="Invite a reviewer",
    status_code=201,
    response_model=ReviewerInvited,
    responses={201: {"headers": LOCATION}, **problem_responses(401, 403, 404, 409, 422)},
)
async def invite_reviewer(
    cycle_id: uuid.UUID,
    body: ReviewerCreate,
    request: Request,
    session: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """A private link for one reviewer. The token is shown only in this answer (it is
    stored hashed); the link closes with the cycle and can be revoked. 409 CYCLE_CLOSED
    once the cycle has closed."""
    reviewer, token = await service.invite_reviewer(session, caller, cycle_id, body)
    cycle = await service.get_cycle(session, caller, cycle_id)
    invited = ReviewerInvited(
        **reviewer_out(ReviewerView(reviewer, None)).model_dump(),
        token=token,
        invitation_url=invitation_url(request, token),
        expires_at=cycle.closes_at,
    )
    response = JSONResponse(
        invited.model_dump(mode="json"),
        status_code=201,
        headers={"Location": url_for(request, "get_cycle", cycle_id=cycle_id)},
    )
    remember(request, response)
    return response


@router.post(
    "/{cycle_id}/reviewers/{reviewer_id}/revoke",
    name="revoke_reviewer",
    summary="Revoke a reviewer's link",
    response_model=ReviewerOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_reviewer(
    cycle_id: uuid.UUID, reviewer_id: uuid.UUID, session: DbSession, caller: WritingCaller
) -> ReviewerOut:
    """The link answers 410 INVITATION_REVOKED from now on. A review already submitted
    with it stays."""
    return reviewer_out(await service.revoke_reviewer(session, caller, cycle_id, reviewer_id))


@router.get(
    "/{cycle_id}/summary",
    name="get_cycle_summary",
    summary="Get the cycle's summary",
    response_model=CycleSummaryOut,
    responses=problem_responses(401, 404, 422),
)
async def get_cycle_summary(
    cycle_id: uuid.UUID, request: Request, session: DbSession, caller: CurrentCaller
) -> CycleSummaryOut:
    """The current summary with its weighting and provenance. `stale` is true when
    reviews arrived after it was generated; `operation` then links the generation that
    will cover them (or the one that failed to). 404 SUMMARY_NOT_FOUND before the first
    one, with `operation_id` when there is a generation to follow."""
    return summary_out(request, await summaries.summary_view(session, caller, cycle_id))


@router.post(
    "/{cycle_id}/summary/generate",
    name="generate_cycle_summary",
    summary="Generate the cycle's summary",
    status_code=202,
    response_model=OperationOut,
    responses={**accepted_responses(), **problem_responses(401, 403, 404, 409, 422)},
)
async def generate_cycle_summary(
    cycle_id: uuid.UUID,
    request: Request,
    session: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """202 with the generation, which joins the one already queued if any. 422
    NOT_ENOUGH_REVIEWS below two reviews; 409 SUMMARY_FINALISED until reopened.
    `Prefer: wait=N` holds the answer until it is done."""
    op = await summaries.request_generation(
        session,
        request.app.state.registry,
        caller,
        cycle_id,
        target=summary_url(request, cycle_id),
    )
    return accepted(request, op)


@router.post(
    "/{cycle_id}/summary/finalise",
    name="finalise_cycle_summary",
    summary="Finalise the cycle's summary",
    response_model=CycleSummaryOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def finalise_cycle_summary(
    cycle_id: uuid.UUID, request: Request, session: DbSession, caller: WritingCaller
) -> CycleSummaryOut:
    """Freeze the summary as it is: later reviews no longer regenerate it, and a
    generation already under way does not replace it."""
    return summary_out(request, await summaries.finalise(session, caller, cycle_id))


@router.post(
    "/{cycle_id}/summary/reopen",
    name="reopen_cycle_summary",
    summary="Reopen the cycle's summary",
    response_model=CycleSummaryOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def reopen_cycle_summary(
    cycle_id: uuid.UUID, request: Request, session: DbSession, caller: WritingCaller
) -> CycleSummaryOut:
    """Undo a finalise: the next review, or a manual generation, replaces it again."""
    return summary_out(request, await summaries.reopen(session, caller, cycle_id))
