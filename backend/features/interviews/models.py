"""Practice interview sessions, their turns (a question and its answer), and the AI
feedback on a completed session."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class SessionStatus(enum.StrEnum):
    in_progress = "in_progress"
    completed = "completed"


_STATUSES = ", ".join(f"'{s.value}'" for s in SessionStatus)


class InterviewSession(Base):
    """A practice interview of one principal: turns are added while it is in progress;
    once completed it is fixed, and feedback may be asked for."""

    __tablename__ = "interview_sessions"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL)", name="completed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    # The owner: only this principal ever sees the session.
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(200))
    seniority: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=SessionStatus.in_progress.value)
    turn_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    completed_at: Mapped[datetime | None]

    @property
    def state(self) -> SessionStatus:
        return SessionStatus(self.status)


class InterviewTurn(Base):
    """One question of a session and the candidate's answer, numbered from 1."""

    __tablename__ = "interview_turns"
    __table_args__ = (
        # Serves reading a session's turns in order, and keeps their numbers unique.
        UniqueConstraint("session_id", "position"),
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="duration_seconds"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class InterviewFeedback(Base):
    """The feedback on a completed session (at most one), with the operation that
    produced it and which provider, model and prompt version wrote it."""

    __tablename__ = "interview_feedback"
    __table_args__ = (CheckConstraint("overall_score BETWEEN 0 AND 100", name="overall_score"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), unique=True
    )
    # The operation is pruned after its retention; the feedback stays.
    operation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL"), index=True
    )
    overall_score: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    strengths: Mapped[list[str]] = mapped_column(JSONB)
    areas_to_improve: Mapped[list[str]] = mapped_column(JSONB)
    # One object per turn, in order: {position, score, feedback, suggestion}.
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    prompt_name: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[int] = mapped_column(Integer)
    prompt_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
