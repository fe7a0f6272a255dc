"""Practice sessions and their feedback: create, add turns, complete, ask for feedback,
read it. Services never commit: the request (or the operation's completion) does.

Every change of a session, asking for its feedback, and storing that feedback lock
the session's row (``FOR NO KEY UPDATE``) first. That orders them: a turn cannot slip
into a session being completed, and a request for feedback either sees the feedback
committed together with its operation's completion (409), or sees that operation
still active and is answered with it (202), never neither.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import Caller
from backend.features.interviews.exceptions import (
    FeedbackAlreadyExists,
    FeedbackNotFound,
    SessionAlreadyCompleted,
    SessionHasNoTurns,
    SessionNotCompleted,
    SessionNotFound,
    TurnLimitReached,
)
from backend.features.interviews.models import (
    InterviewFeedback,
    InterviewSession,
    InterviewTurn,
    SessionStatus,
)
from backend.features.interviews.schemas import (
    MAX_TURNS,
    FeedbackAnswer,
    FeedbackOut,
    FeedbackParams,
    GeneratedBy,
    QuestionFeedback,
    SessionCreate,
    TurnCreate,
)
from backend.llm import Usage
from backend.operations import service as operations
from backend.operations.models import Operation
from backend.operations.registry import Registry

FEEDBACK_KIND = "interview.feedback"


def feedback_dedup_key(session_id: uuid.UUID) -> str:
    """One feedback operation at a time per session: a repeated request gets it back."""
    return f"interview-feedback:{session_id}"


async def create_session(db: AsyncSession, caller: Caller, body: SessionCreate) -> InterviewSession:
    interview = InterviewSession(
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        role=body.role,
        seniority=body.seniority,
        topic=body.topic,
        status=SessionStatus.in_progress.value,
        turn_count=0,
    )
    db.add(interview)
    await db.flush()
    await db.refresh(interview)
    return interview


async def owned_session(
    db: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    principal_id: uuid.UUID | None,
    session_id: uuid.UUID,
    lock: bool = False,
) -> InterviewSession:
    """The principal's session; anyone else's (same tenant or not) is not found."""
    if principal_id is None:
        raise SessionNotFound()
    query = select(InterviewSession).where(_owned(tenant_id, principal_id, session_id))
    if lock:
        query = query.with_for_update(key_share=True)
    interview = await db.scalar(query)
    if interview is None:
        raise SessionNotFound()
    return interview


_Id = uuid.UUID | BindParameter[Any]


def _owned(tenant_id: _Id, principal_id: _Id, session_id: _Id) -> ColumnElement[bool]:
    return and_(
        InterviewSession.id == session_id,
        InterviewSession.tenant_id == tenant_id,
        InterviewSession.principal_id == principal_id,
    )


async def caller_session(
    db: AsyncSession, caller: Caller, session_id: uuid.UUID, *, lock: bool = False
) -> InterviewSession:
    return await owned_session(
        db,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        session_id=session_id,
        lock=lock,
    )


async def turns_of(db: AsyncSession, session_id: uuid.UUID) -> list[InterviewTurn]:
    """The session's turns in order (served by uq_interview_turns_session_id)."""
    query = (
        select(InterviewTurn)
        .where(InterviewTurn.session_id == session_id)
        .order_by(InterviewTurn.position)
    )
    return list((await db.scalars(query)).all())


async def has_feedback(db: AsyncSession, session_id: uuid.UUID) -> bool:
    query = select(InterviewFeedback.id).where(InterviewFeedback.session_id == session_id)
    return (await db.scalar(query)) is not None


async def add_turn(
    db: AsyncSession, caller: Caller, session_id: uuid.UUID, body: TurnCreate
) -> InterviewTurn:
    """Append a question and its answer to a session in progress."""
    interview = await caller_session(db, caller, session_id, lock=True)
    if interview.state is SessionStatus.completed:
        raise SessionAlreadyCompleted()
    if interview.turn_count >= MAX_TURNS:
        raise TurnLimitReached(MAX_TURNS)
    interview.turn_count += 1
    turn = InterviewTurn(
        session_id=interview.id,
        position=interview.turn_count,
        question=body.question,
        answer=body.answer,
        duration_seconds=body.duration_seconds,
    )
    db.add(turn)
    await db.flush()
    await db.refresh(turn)
    return turn


async def complete_session(
    db: AsyncSession, caller: Caller, session_id: uuid.UUID
) -> InterviewSession:
    """Close a session for good: it takes no more turns, and feedback may be asked for."""
    interview = await caller_session(db, caller, session_id, lock=True)
    if interview.state is SessionStatus.completed:
        raise SessionAlreadyCompleted()
    if interview.turn_count == 0:
        raise SessionHasNoTurns()
    interview.status = SessionStatus.completed.value
    interview.completed_at = func.now()
    await db.flush()
    await db.refresh(interview)
    return interview


# The caller's session, locked, and whether it has feedback: one round trip. Built once,
# so its cache key is not computed again on every request.
_FEEDBACK_TARGET = (
    select(
        InterviewSession,
        select(InterviewFeedback.id)
        .where(InterviewFeedback.session_id == InterviewSession.id)
        .exists()
        .label("has_feedback"),
    )
    .where(_owned(bindparam("tenant_id"), bindparam("principal_id"), bindparam("session_id")))
    .with_for_update(key_share=True, of=InterviewSession)
)


async def request_feedback(
    db: AsyncSession,
    registry: Registry,
    caller: Caller,
    session_id: uuid.UUID,
    *,
    target: str,
) -> Operation:
    """The ``interview.feedback`` operation for a completed session of the caller's: a
    new one, or the one already pending or processing for it."""
    params = {
        "session_id": session_id,
        "tenant_id": caller.tenant_id,
        "principal_id": caller.principal_id,
    }
    row = (await db.execute(_FEEDBACK_TARGET, params)).first()
    if row is None:
        raise SessionNotFound()
    interview: InterviewSession = row.InterviewSession
    if interview.state is not SessionStatus.completed:
        raise SessionNotCompleted()
    if row.has_feedback:
        raise FeedbackAlreadyExists()
    return await operations.create_operation(
        db,
        registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind=FEEDBACK_KIND,
        params=FeedbackParams(session_id=interview.id),
        target=target,
        dedup_key=feedback_dedup_key(interview.id),
    )


async def get_feedback(db: AsyncSession, caller: Caller, session_id: uuid.UUID) -> FeedbackOut:
    interview = await caller_session(db, caller, session_id)
    query = select(InterviewFeedback).where(InterviewFeedback.session_id == interview.id)
    feedback = await db.scalar(query)
    if feedback is None:
        raise FeedbackNotFound()
    return feedback_out(feedback, await turns_of(db, interview.id))


async def save_feedback(
    db: AsyncSession,
    interview: InterviewSession,
    *,
    answer: FeedbackAnswer,
    questions: list[dict[str, Any]],
    usage: Usage,
    operation_id: uuid.UUID,
) -> InterviewFeedback:
    """Store the feedback of a session (``questions``: one entry per turn, in order)."""
    feedback = InterviewFeedback(
        session_id=interview.id,
        operation_id=operation_id,
        overall_score=answer.overall_score,
        summary=answer.summary,
        strengths=answer.strengths,
        areas_to_improve=answer.areas_to_improve,
        questions=questions,
        provider=usage.provider,
        model=usage.model,
        prompt_name=usage.prompt,
        prompt_version=usage.prompt_version,
        prompt_digest=usage.prompt_digest,
    )
    db.add(feedback)
    await db.flush()
    await db.refresh(feedback)
    return feedback


def feedback_out(feedback: InterviewFeedback, turns: list[InterviewTurn]) -> FeedbackOut:
    questions = {turn.position: turn.question for turn in turns}
    return FeedbackOut(
        id=feedback.id,
        session_id=feedback.session_id,
        operation_id=feedback.operation_id,
        overall_score=feedback.overall_score,
        summary=feedback.summary,
        strengths=feedback.strengths,
        areas_to_improve=feedback.areas_to_improve,
        questions=[
            QuestionFeedback(question=questions.get(entry["position"], ""), **entry)
            for entry in feedback.questions
        ],
        generated_by=GeneratedBy(
            provider=feedback.provider,
            model=feedback.model,
            prompt=feedback.prompt_name,
            prompt_version=feedback.prompt_version,
            prompt_digest=feedback.prompt_digest,
        ),
        created_at=feedback.created_at,
    )
