"""The operations table: the resource clients follow and the queue workers claim from."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id
from backend.operations.states import Status

_STATUSES = ", ".join(f"'{s.value}'" for s in Status)


class Operation(Base):
    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("attempt >= 0 AND attempt <= max_attempts", name="attempt"),
        # Serves the claim: only pending rows are in it, in claim order.
        Index(
            "ix_operations_pending",
            "queue",
            "priority",
            "run_after",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        # Serves the rescue of expired leases: only processing rows are in it.
        Index(
            "ix_operations_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'processing'"),
        ),
        # Serves tenant-scoped listing (keyset on the time-ordered id).
        Index("ix_operations_tenant_id", "tenant_id", "id"),
        # Serves pruning of expired finished operations.
        Index(
            "ix_operations_expires_at",
            "expires_at",
            postgresql_where=text("expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100), server_default="default")
    status: Mapped[str] = mapped_column(String(20), server_default=Status.pending.value)
    target: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempt: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="3")
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    run_after: Mapped[datetime] = mapped_column(server_default=func.now())
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    # Bumped by every change; the ETag of the representation.
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    @property
    def state(self) -> Status:
        return Status(self.status)
