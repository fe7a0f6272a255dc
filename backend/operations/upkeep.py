"""One round of the maintenance leader's upkeep: rescue expired leases, prune expired
operations, delivery's upkeep, and failed-authentication counters past their window.

Each step runs in bounded batches (backend.operations.maintenance holds the SQL), so a
round never holds locks for long.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth import failures
from backend.config import Settings
from backend.operations import delivery, maintenance
from backend.operations.registry import Registry

log = logging.getLogger(__name__)

RESCUE_BATCH = 500


async def run_round(engine: AsyncEngine, registry: Registry, settings: Settings) -> None:
    """One round of upkeep, in batches until each step has nothing left."""
    retention = settings.operations.retention_seconds
    batch = settings.operations.prune_batch_size
    while True:
        async with engine.begin() as conn:
            rescued = await maintenance.rescue_expired(
                conn, limit=RESCUE_BATCH, retention_seconds=retention
            )
        for op_id, status in rescued:
            log.warning("lease expired", extra={"operation_id": str(op_id), "now": status})
        if len(rescued) < RESCUE_BATCH:
            break
    while True:
        async with engine.begin() as conn:
            pruned = await maintenance.prune_expired(conn, limit=batch)
        if pruned.operations < batch:
            break
    # Webhook scheduling, pruning of idempotency keys and delivery logs.
    await delivery.maintain(engine, registry, batch_size=batch)
    window = settings.auth.failure_window_seconds
    while await failures.prune(engine, window_seconds=window, limit=batch) == batch:
        pass
