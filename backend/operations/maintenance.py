"""The maintenance leader's SQL: rescue of expired leases and pruning of expired rows.

Only the worker holding the maintenance advisory lock runs these, in bounded batches
so that one round never holds locks for long.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import text

from backend.operations.repository import (
    CANCELLED_ERROR,
    WORKER_LOST,
    Executor,
    notify_changed,
    notify_pending,
)

# Served by ix_operations_lease (partial: status = 'processing'). The next status is
# computed from the row as locked (FOR UPDATE re-reads a row changed since the
# snapshot): a requested cancel ends it cancelled, spent attempts fail it with
# WORKER_LOST, the rest go back to pending for another worker.
_RESCUE = text(
    """
    WITH expired AS (
        SELECT id,
               CASE WHEN cancel_requested THEN 'cancelled'
                    WHEN attempt >= max_attempts THEN 'failed'
                    ELSE 'pending' END AS next_status
        FROM operations
        WHERE status = 'processing' AND lease_expires_at < now()
        ORDER BY lease_expires_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE operations AS o
    SET status = e.next_status,
        error = CASE e.next_status WHEN 'cancelled' THEN CAST(:cancelled AS jsonb)
                                   WHEN 'failed' THEN CAST(:lost AS jsonb)
                                   ELSE o.error END,
        finished_at = CASE WHEN e.next_status <> 'pending' THEN now() END,
        expires_at = CASE WHEN e.next_status <> 'pending'
                          THEN now() + coalesce(o.retention, make_interval(secs => :retention))
                          END,
        run_after = now(),
        lease_owner = NULL,
        lease_expires_at = NULL,
        version = o.version + 1,
        updated_at = now()
    FROM expired e
    WHERE o.id = e.id
    RETURNING o.id, o.status, o.queue
    """
)


async def rescue_expired(
    conn: Executor, *, limit: int, retention_seconds: float
) -> list[tuple[uuid.UUID, str]]:
    """Take back operations whose lease expired; answer (id, new status) for each."""
    rows = (
        await conn.execute(
            _RESCUE,
            {
                "limit": limit,
                "lost": json.dumps(WORKER_LOST),
                "cancelled": json.dumps(CANCELLED_ERROR),
                "retention": retention_seconds,
            },
        )
    ).all()
    await notify_changed(conn, [r.id for r in rows])
    for queue in {r.queue for r in rows if r.status == "pending"}:
        await notify_pending(conn, queue)
    return [(r.id, r.status) for r in rows]


# Served by ix_operations_expires_at (oldest first). A batch goes with the last of its
# operations: the other parts of a statement do not see its own deletions, so "none
# left" excludes the rows this statement deletes. Events and children follow by their
# foreign keys (ON DELETE CASCADE and SET NULL, served by their indexes).
_PRUNE = text(
    """
    WITH expired AS (
        SELECT id FROM operations
        WHERE expires_at < now()
        ORDER BY expires_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), pruned AS (
        DELETE FROM operations AS o USING expired AS e
        WHERE o.id = e.id
        RETURNING o.id, o.batch_id
    ), emptied AS (
        DELETE FROM operation_batches AS b
        WHERE b.id IN (SELECT batch_id FROM pruned)
          AND NOT EXISTS (
              SELECT FROM operations AS o
              WHERE o.batch_id = b.id AND o.id NOT IN (SELECT id FROM pruned)
          )
        RETURNING b.id
    )
    SELECT (SELECT count(*) FROM pruned) AS operations,
           (SELECT count(*) FROM emptied) AS batches
    """
)


@dataclass(frozen=True)
class Pruned:
    operations: int
    batches: int


async def prune_expired(conn: Executor, *, limit: int) -> Pruned:
    """Delete up to ``limit`` expired operations, and the batches they emptied."""
    row = (await conn.execute(_PRUNE, {"limit": limit})).one()
    return Pruned(operations=row.operations, batches=row.batches)
