"""HTTP for practice interviews: sessions, their turns, completion, and AI feedback."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.dependencies import CurrentCaller, DbSession, WritingCaller
from backend.errors import problem_responses
from backend.features.interviews import service
from backend.features.interviews.models import InterviewSession
from backend.features.interviews.schemas import (
    FeedbackOut,
    SessionCreate,
    SessionLinks,
    SessionOut,
    TurnCreate,
    TurnOut,
)
from backend.operations.http import accepted, accepted_responses
from backend.operations.idempotency import Idempotent, remember
from backend.operations.schemas import OperationOut
from backend.urls import url_for

router = APIRouter(prefix="/sessions", tags=["interviews"])

NOT_FOUND = (
    "SESSION_NOT_FOUND: no session with this id is yours (another principal's is never shown)."
)


def _problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """Problem answers, with what each status means on this endpoint (``e404="…"``)."""
    responses = problem_responses(*statuses)
    for key, description in described.items():
        responses[int(key.removeprefix("e"))]["description"] = description
    return responses


async def _session_out(
    request: Request, db: AsyncSession, interview: InterviewSession
) -> SessionOut:
    url = url_for(request, "get_session", session_id=interview.id)
    return SessionOut(
        id=interview.id,
        role=interview.role,
        seniority=interview.seniority,
        topic=interview.topic,
        status=interview.state,
        turns=[TurnOut.model_validate(t) for t in await service.turns_of(db, interview.id)],
        has_feedback=await service.has_feedback(db, interview.id),
        created_at=interview.created_at,
        completed_at=interview.completed_at,
        links=SessionLinks(
            self=url,
            turns=url + "/turns",
            complete=url + "/complete",
            generate_feedback=url + "/generate-feedback",
            feedback=url + "/feedback",
        ),
    )


def _json(request: Request, body: Any, status_code: int, **headers: str) -> JSONResponse:
    """An answer that an Idempotency-Key of the request replays."""
    response = JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)
    remember(request, response)
    return response


@router.post(
    "",
    name="create_session",
    summary="Start a practice session",
    status_code=201,
    response_model=SessionOut,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}},
        **_problems(401, 403, 422),
    },
)
async def create_session(
    body: SessionCreate,
    request: Request,
    db: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """A new session in progress, owned by the API key's principal: only it sees the
    session. Add turns, then complete it."""
    interview = await service.create_session(db, caller, body)
    out = await _session_out(request, db, interview)
    return _json(request, out, 201, Location=out.links.self)


@router.get(
    "/{session_id}",
    name="get_session",
    summary="Get a practice session",
    response_model=SessionOut,
    responses=_problems(401, 404, 422, e404=NOT_FOUND),
)
async def get_session(
    session_id: uuid.UUID, request: Request, db: DbSession, caller: CurrentCaller
) -> SessionOut:
    """The session with its turns in order, its status, and whether feedback exists."""
    interview = await service.caller_session(db, caller, session_id)
    return await _session_out(request, db, interview)


@router.post(
    "/{session_id}/turns",
    name="add_session_turn",
    summary="Add a question and its answer",
    status_code=201,
    response_model=TurnOut,
    responses=_problems(
        401,
        403,
        404,
        409,
        422,
        e404=NOT_FOUND,
        e409="SESSION_ALREADY_COMPLETED: a completed session takes no more turns; "
        "TURN_LIMIT_REACHED: the session holds the most turns it may.",
    ),
)
async def add_session_turn(
    session_id: uuid.UUID,
    body: TurnCreate,
    request: Request,
    db: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """Appends a turn to a session in progress; turns are numbered from 1 in the order
    they are added."""
    turn = await service.add_turn(db, caller, session_id, body)
    return _json(request, TurnOut.model_validate(turn), 201)


@router.post(
    "/{session_id}/complete",
    name="complete_session",
    summary="Complete a practice session",
    response_model=SessionOut,
    responses=_problems(
        400,
        401,
        403,
        404,
        409,
        422,
        e400="SESSION_HAS_NO_TURNS: add at least one turn first.",
        e404=NOT_FOUND,
        e409="SESSION_ALREADY_COMPLETED: the session was completed before.",
    ),
)
async def complete_session(
    session_id: uuid.UUID,
    request: Request,
    db: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """Closes the session: it takes no more turns, and feedback may be asked for."""
    interview = await service.complete_session(db, caller, session_id)
    return _json(request, await _session_out(request, db, interview), 200)


@router.post(
    "/{session_id}/generate-feedback",
    name="generate_session_feedback",
    summary="Ask for AI feedback on a completed session",
    status_code=202,
    response_model=OperationOut,
    responses={
        **accepted_responses(),
        **_problems(
            400,
            401,
            403,
            404,
            409,
            422,
            e400="SESSION_NOT_COMPLETED: complete the session first.",
            e404=NOT_FOUND,
            e409="FEEDBACK_ALREADY_EXISTS: read it at the session's /feedback.",
        ),
    },
)
async def generate_session_feedback(
    session_id: uuid.UUID,
    request: Request,
    db: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """Answers 202 at once with an `interview.feedback` operation; follow it (poll,
    `Prefer: wait=N`, `/wait`, events or webhooks) until it is `completed` with the
    feedback as its result, or `failed` with an `error`. While one is pending or
    processing for the session, asking again answers that same operation."""
    target = url_for(request, "get_session_feedback", session_id=session_id)
    op = await service.request_feedback(
        db, request.app.state.registry, caller, session_id, target=target
    )
    return accepted(request, op)


@router.get(
    "/{session_id}/feedback",
    name="get_session_feedback",
    summary="Get the feedback on a session",
    response_model=FeedbackOut,
    responses=_problems(
        401,
        404,
        422,
        e404=NOT_FOUND + " FEEDBACK_NOT_FOUND: no feedback has been generated yet.",
    ),
)
async def get_session_feedback(
    session_id: uuid.UUID, db: DbSession, caller: CurrentCaller
) -> FeedbackOut:
    """The overall score (0–100), summary, strengths, areas to improve, and feedback on
    each question with a score and a concrete suggestion; with the operation that
    produced it and the provider, model and prompt version that wrote it."""
    return await service.get_feedback(db, caller, session_id)
