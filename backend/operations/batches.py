"""Batches: many operations created by one request, followed as one resource.

Features create them with ``service.create_batch`` (re-exported from here) and answer
with ``batch_router.accepted``; clients follow ``/api/v1/batches/{id}`` and list the
operations with ``GET /operations?batch_id=…``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.ids import new_id
from backend.operations import repository, scheduling
from backend.operations.exceptions import BatchExpired, BatchNotFound
from backend.operations.models import Operation, OperationBatch
from backend.operations.registry import Registry
from backend.operations.scheduling import NewItem, NewOperation
from backend.operations.states import Status

# Operations one batch may create; a feature endpoint validates its input against it.
MAX_BATCH_SIZE = 1000


@dataclass(frozen=True)
class BatchItem:
    """One operation of a batch: its parameters, and optionally target and key."""

    params: BaseModel | dict[str, Any]
    target: str | None = None
    concurrency_key: str | None = None


@dataclass(frozen=True)
class BatchView:
    """A batch with the status of each of its operations still kept (oldest first)."""

    batch: OperationBatch
    statuses: list[tuple[uuid.UUID, Status]]

    @property
    def counts(self) -> dict[Status, int]:
        counts = dict.fromkeys(Status, 0)
        for _, status in self.statuses:
            counts[status] += 1
        return counts

    @property
    def done(self) -> bool:
        return all(status.done for _, status in self.statuses)


async def create_batch(
    session: AsyncSession,
    registry: Registry,
    *,
    tenant_id: uuid.UUID,
    principal_id: uuid.UUID | None,
    kind: str,
    items: list[BatchItem],
    target: str | None = None,
    priority: int = 0,
    delay: timedelta | None = None,
) -> BatchView:
    """Create a batch and one operation of ``kind`` per item in the caller's
    transaction, all operations with one INSERT; answer 202 with the batch.

    Every item is validated before anything is written. 1 to MAX_BATCH_SIZE items.
    """
    spec = registry.get(kind)
    if not 0 < len(items) <= MAX_BATCH_SIZE:
        raise ValueError(f"A batch has 1 to {MAX_BATCH_SIZE} operations, not {len(items)}.")
    validated = [
        i.params if isinstance(i.params, spec.params) else spec.params.model_validate(i.params)
        for i in items
    ]
    for item in items:
        scheduling.check_keys(None, None, item.concurrency_key)
    batch = OperationBatch(
        id=new_id(), tenant_id=tenant_id, principal_id=principal_id, target=target
    )
    session.add(batch)
    await session.flush()
    new_items = [
        NewItem(
            id=new_id(),
            target=item.target,
            params=params.model_dump(mode="json"),
            concurrency_key=item.concurrency_key,
        )
        for item, params in zip(items, validated, strict=True)
    ]
    template = NewOperation(
        id=batch.id,
        tenant_id=tenant_id,
        principal_id=principal_id,
        kind=kind,
        queue=spec.queue,
        target=None,
        params="{}",
        max_attempts=spec.max_attempts,
        priority=priority,
        delay=max(delay.total_seconds(), 0.0) if delay else 0.0,
        concurrency_limit=spec.concurrency_limit,
        batch_id=batch.id,
        retention=spec.retention,
    )
    await scheduling.insert_many(session, template, new_items)
    await repository.notify_pending(session, spec.queue)
    await session.refresh(batch)
    return BatchView(batch, [(i.id, Status.pending) for i in new_items])


async def get_batch(session: AsyncSession, tenant_id: uuid.UUID, batch_id: uuid.UUID) -> BatchView:
    """The tenant's batch with its operations' statuses. A batch whose operations have
    all expired (or were deleted) is gone for clients: BATCH_EXPIRED."""
    batch = await session.scalar(
        select(OperationBatch).where(
            OperationBatch.id == batch_id, OperationBatch.tenant_id == tenant_id
        )
    )
    if batch is None:
        raise BatchNotFound()
    # Served by ix_operations_batch_id.
    rows = (
        await session.execute(
            select(Operation.id, Operation.status, scheduling.expired())
            .where(Operation.batch_id == batch_id)
            .order_by(Operation.id)
        )
    ).all()
    if all(r.expired for r in rows):
        raise BatchExpired()
    return BatchView(batch, [(r.id, Status(r.status)) for r in rows])
