"""The ``interview.feedback`` operation: the model reads a completed session and its
feedback is stored in the transaction that completes the operation."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import AppError
from backend.features.interviews import service
from backend.features.interviews.exceptions import FeedbackAlreadyExists, SessionNotCompleted
from backend.features.interviews.models import InterviewSession, InterviewTurn, SessionStatus
from backend.features.interviews.schemas import FeedbackAnswer, FeedbackOut, FeedbackParams
from backend.operations.context import OperationContext
from backend.operations.exceptions import PermanentFailure, RetryableFailure
from backend.operations.registry import Registry

PROMPT = "interview_session_feedback"


async def generate_feedback(ctx: OperationContext, params: FeedbackParams) -> FeedbackOut:
    """Read the session, ask the model (no transaction open meanwhile), then store the
    feedback through ``ctx.session`` so it commits with the operation's completion."""
    async with ctx.sessionmaker() as db:
        interview, turns = await _transcript(db, ctx, params)
    await ctx.progress(stage="analysing", message="Reading the answers.")
    answer, usage = await ctx.llm.generate(
        PROMPT,
        {
            "role": interview.role,
            "seniority": interview.seniority,
            "topic": interview.topic,
            "questions": [turn.question for turn in turns],
            "answers": [turn.answer for turn in turns],
        },
        schema=FeedbackAnswer,
    )
    questions = per_question(answer, turns)
    # Locked again, now in the completion transaction: a request for feedback waits
    # until the feedback and the operation's completion are committed together.
    interview = await _checked(ctx.session, ctx, params, lock=True)
    feedback = await service.save_feedback(
        ctx.session,
        interview,
        answer=answer,
        questions=questions,
        usage=usage,
        operation_id=ctx.operation_id,
    )
    return service.feedback_out(feedback, turns)


async def _transcript(
    db: AsyncSession, ctx: OperationContext, params: FeedbackParams
) -> tuple[InterviewSession, list[InterviewTurn]]:
    interview = await _checked(db, ctx, params, lock=False)
    return interview, await service.turns_of(db, interview.id)


async def _checked(
    db: AsyncSession, ctx: OperationContext, params: FeedbackParams, *, lock: bool
) -> InterviewSession:
    """The session, checked again as the request checked it: still the principal's
    own, completed, and without feedback. Failing that, the operation fails for good."""
    try:
        interview = await service.owned_session(
            db,
            tenant_id=ctx.tenant_id,
            principal_id=ctx.principal_id,
            session_id=params.session_id,
            lock=lock,
        )
        if interview.state is not SessionStatus.completed:
            raise SessionNotCompleted()
        if await service.has_feedback(db, interview.id):
            raise FeedbackAlreadyExists()
    except AppError as error:
        raise PermanentFailure(error.code, error.detail) from error
    return interview


def per_question(answer: FeedbackAnswer, turns: list[InterviewTurn]) -> list[dict[str, Any]]:
    """The model's feedback per question, one entry per turn in order; an answer that
    skips or repeats a question is asked for again (a retryable failure)."""
    numbers = sorted(entry.question_number for entry in answer.questions)
    if numbers != [turn.position for turn in turns]:
        raise RetryableFailure(
            "FEEDBACK_INCOMPLETE",
            "The language model did not give feedback on each question exactly once.",
        )
    return [
        {
            "position": entry.question_number,
            "score": entry.score,
            "feedback": entry.feedback,
            "suggestion": entry.suggestion,
        }
        for entry in sorted(answer.questions, key=lambda entry: entry.question_number)
    ]


def register_interviews(registry: Registry) -> None:
    """The kinds of practice interviews."""
    registry.register(
        service.FEEDBACK_KIND,
        generate_feedback,
        params=FeedbackParams,
        result=FeedbackOut,
        max_attempts=3,
        poll_after=2,
        # The result is the session's feedback, which only the session's owner reads.
        private=True,
    )
