"""Usage accounting: a row per model call, written in the handler's completion
transaction, and a tenant's totals over a period."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.llm.base import Usage
from backend.llm.models import LlmUsage


class OperationScope(Protocol):
    """What usage is recorded against: the running operation (its handler context)."""

    @property
    def operation_id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def kind(self) -> str: ...

    @property
    def session(self) -> AsyncSession: ...


def record_usage(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    operation_id: uuid.UUID | None,
    kind: str,
    usages: Iterable[Usage],
) -> list[LlmUsage]:
    """Add a row per call to ``session``; it commits (or not) with whatever else it holds.

    Only adds: no statement runs until the session flushes, so calling this between
    model calls opens no transaction.
    """
    rows = [
        LlmUsage(
            tenant_id=tenant_id,
            operation_id=operation_id,
            kind=kind,
            provider=usage.provider,
            model=usage.model,
            prompt_name=usage.prompt,
            prompt_version=usage.prompt_version,
            prompt_digest=usage.prompt_digest,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        for usage in usages
    ]
    session.add_all(rows)
    return rows


def record_for_operation(scope: OperationScope, *usages: Usage) -> list[LlmUsage]:
    """Record ``usages`` in the operation's completion session (``ctx.session``), so they
    commit exactly when its result does."""
    return record_usage(
        scope.session,
        tenant_id=scope.tenant_id,
        operation_id=scope.operation_id,
        kind=scope.kind,
        usages=usages,
    )


@dataclass(frozen=True)
class UsageTotal:
    kind: str
    provider: str
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int


async def usage_totals(
    session: AsyncSession, tenant_id: uuid.UUID, start: datetime, end: datetime
) -> list[UsageTotal]:
    """The tenant's calls in [start, end) summed per kind, provider and model.

    Served by ix_llm_usage_tenant_id_created_at.
    """
    statement = (
        select(
            LlmUsage.kind,
            LlmUsage.provider,
            LlmUsage.model,
            func.count(),
            func.coalesce(func.sum(LlmUsage.prompt_tokens), 0),
            func.coalesce(func.sum(LlmUsage.completion_tokens), 0),
        )
        .where(
            LlmUsage.tenant_id == tenant_id,
            LlmUsage.created_at >= start,
            LlmUsage.created_at < end,
        )
        .group_by(LlmUsage.kind, LlmUsage.provider, LlmUsage.model)
        .order_by(LlmUsage.kind, LlmUsage.provider, LlmUsage.model)
    )
    rows = (await session.execute(statement)).all()
    return [UsageTotal(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]
