"""Evaluations, their students, peer feedback, each student's summary, and which
operations belong to which evaluation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.features.feedback.provenance import GeneratedColumns
from backend.ids import new_id


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_tenant_id", "tenant_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    criteria: Mapped[list[str]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EvaluationStudent(Base):
    """A person taking part in an evaluation (its id is the path's ``student_id``)."""

    __tablename__ = "evaluation_students"
    __table_args__ = (UniqueConstraint("evaluation_id", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PeerFeedback(Base):
    """What one student said about a peer; once per pair (the unique constraint)."""

    __tablename__ = "peer_feedback"
    __table_args__ = (
        UniqueConstraint("from_student_id", "to_student_id"),
        CheckConstraint("from_student_id <> to_student_id", name="not_self"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    from_student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluation_students.id", ondelete="CASCADE")
    )
    to_student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluation_students.id", ondelete="CASCADE"), index=True
    )
    scores: Mapped[dict[str, int]] = mapped_column(JSONB)
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StudentSummary(GeneratedColumns, Base):
    """A student's current summary and exactly which feedback it covers."""

    __tablename__ = "student_summaries"

    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluation_students.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    scores: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    feedback_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    feedback_count: Mapped[int]
    operation_id: Mapped[uuid.UUID]


class EvaluationOperation(Base):
    """An operation generating a summary of the evaluation: lists an evaluation's
    operations without scanning the tenant's. Goes when the operation is pruned."""

    __tablename__ = "evaluation_operations"
    __table_args__ = (
        Index("ix_evaluation_operations_evaluation_id", "evaluation_id", "operation_id"),
    )

    operation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True
    )
    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluation_students.id", ondelete="CASCADE"), index=True
    )
