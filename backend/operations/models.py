"""The operations table (the resource clients follow and the queue workers claim from)
and the batches that group operations created together."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Interval,
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

# Predicates of the partial indexes that the scheduling statements name as ON CONFLICT
# arbiters: a statement must repeat the predicate exactly for PostgreSQL to infer the
# index, so both sides use these constants.
DEDUP_ACTIVE = "dedup_key IS NOT NULL AND status IN ('pending', 'processing')"
COALESCE_OPEN = "coalesce_key IS NOT NULL AND status = 'pending' AND started_at IS NULL"

KEY_LENGTH = 200


class OperationBatch(Base):
    """Operations created together by one request (e.g. a summary per student of an
    evaluation). Its counts are read from its operations; it is deleted with the last
    of them."""

    __tablename__ = "operation_batches"
    __table_args__ = (Index("ix_operation_batches_tenant_id", "tenant_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    target: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Operation(Base):
    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("attempt >= 0 AND attempt <= max_attempts", name="attempt"),
        CheckConstraint(
            "(concurrency_key IS NULL) = (concurrency_limit IS NULL) "
            "AND (concurrency_limit IS NULL OR concurrency_limit >= 1)",
            name="concurrency_limit",
        ),
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
        # One active operation per deduplication key: the arbiter of the dedup insert.
        Index(
            "uq_operations_dedup",
            "tenant_id",
            "dedup_key",
            unique=True,
            postgresql_where=text(DEDUP_ACTIVE),
        ),
        # One not-yet-started operation per coalescing key: the one new requests join.
        Index(
            "uq_operations_coalesce",
            "tenant_id",
            "coalesce_key",
            unique=True,
            postgresql_where=text(COALESCE_OPEN),
        ),
        # Serves the claim's count of processing operations per concurrency key.
        Index(
            "ix_operations_processing_key",
            "tenant_id",
            "concurrency_key",
            postgresql_where=text("concurrency_key IS NOT NULL AND status = 'processing'"),
        ),
        # Serves listing a batch's operations, and a chain's children (also the foreign
        # key's ON DELETE SET NULL when a parent is pruned).
        Index(
            "ix_operations_batch_id",
            "batch_id",
            "id",
            postgresql_where=text("batch_id IS NOT NULL"),
        ),
        Index(
            "ix_operations_parent_id",
            "parent_id",
            "id",
            postgresql_where=text("parent_id IS NOT NULL"),
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
    # Scheduling controls (see docs/scheduling.md). A coalescing key is also the
    # operation's concurrency key, with a limit of one.
    dedup_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    coalesce_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    concurrency_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL")
    )
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operation_batches.id", ondelete="SET NULL")
    )
    # The kind's retention when it has its own; null: the configured default.
    retention: Mapped[timedelta | None] = mapped_column(Interval)

    @property
    def state(self) -> Status:
        return Status(self.status)
