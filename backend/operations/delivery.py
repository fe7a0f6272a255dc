"""Maintenance of delivery to clients, run by the worker that leads maintenance:
schedule webhook deliveries from the outbox, prune expired idempotency keys and old
delivery log entries. Every step works in bounded batches."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.operations import idempotency, webhooks
from backend.operations.registry import Registry


async def maintain(engine: AsyncEngine, registry: Registry, *, batch_size: int) -> None:
    """One round; each step repeats while it finds a full batch."""
    while await webhooks.schedule_deliveries(engine, registry, limit=batch_size) >= batch_size:
        pass
    while await idempotency.prune_expired(engine, limit=batch_size) >= batch_size:
        pass
    while await webhooks.prune_deliveries(engine, limit=batch_size) >= batch_size:
        pass
