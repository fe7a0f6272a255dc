"""Review cycles, their reviewers (invitations), reviews, and the cycle's summary."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.features.feedback.provenance import GeneratedColumns
from backend.ids import new_id


class Relationship(enum.StrEnum):
    manager = "manager"
    peer = "peer"
    direct_report = "direct_report"
    self = "self"
    other = "other"


_RELATIONSHIPS = ", ".join(f"'{r.value}'" for r in Relationship)


class ReviewCycle(Base):
    """A round of 360 feedback about one person, open until ``closes_at``."""

    __tablename__ = "review_cycles"
    __table_args__ = (Index("ix_review_cycles_tenant_id", "tenant_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    # The manager who created it: members see only their own cycles, admins all.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    competencies: Mapped[list[str]] = mapped_column(JSONB)
    closes_at: Mapped[datetime]
    # The newest summary operation created for the cycle (not a foreign key: operations
    # are pruned, and a missing one simply is not linked).
    summary_operation_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Reviewer(Base):
    """An invitation: its token is shown once and kept only as a SHA-256 hash."""

    __tablename__ = "reviewers"
    __table_args__ = (CheckConstraint(f"relationship IN ({_RELATIONSHIPS})", name="relationship"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cycle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_cycles.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class Review(Base):
    """What one reviewer said; at most one per reviewer (the unique reviewer_id)."""

    __tablename__ = "reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cycle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_cycles.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), unique=True
    )
    ratings: Mapped[dict[str, int]] = mapped_column(JSONB)
    strengths: Mapped[str] = mapped_column(Text)
    improvements: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CycleSummary(GeneratedColumns, Base):
    """The cycle's current summary and exactly which reviews it covers."""

    __tablename__ = "review_summaries"

    cycle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_cycles.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    weighting: Mapped[dict[str, Any]] = mapped_column(JSONB)
    review_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    review_count: Mapped[int]
    operation_id: Mapped[uuid.UUID]
    finalised_at: Mapped[datetime | None]
    finalised_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
