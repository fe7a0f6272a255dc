"""Tables of the LLM layer: tokens used per call, and the shared per-minute token budget."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class LlmUsage(Base):
    """One model call of an operation, written with the operation's completion.

    The operation is pruned after its retention; its usage stays (operation_id is then
    NULL), so the tenant's totals do not shrink.
    """

    __tablename__ = "llm_usage"
    __table_args__ = (
        # Serves GET /usage: one tenant's calls in a time range.
        Index("ix_llm_usage_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    operation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    prompt_name: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[int] = mapped_column(Integer)
    prompt_digest: Mapped[str] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LlmTokenBucket(Base):
    """Tokens reserved for one model in one minute, by every process together."""

    __tablename__ = "llm_token_buckets"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    tokens: Mapped[int] = mapped_column(Integer)
