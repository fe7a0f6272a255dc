"""The engine's hot SQL: claim, heartbeat, finish, retry, release, progress.

The maintenance leader's statements (rescue, prune) are in ``maintenance``.

Every transition after the claim is fenced by ``status = 'processing' AND
lease_owner = :owner AND attempt = :attempt``: when another actor (a rescue, a
cancel, a newer attempt) owns the outcome, zero rows match and the late result is
discarded. Each statement names the index that serves it.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Executor = AsyncConnection | AsyncSession

CHANNEL_PENDING = "opsapi_pending"  # payload: queue name; wakes workers
CHANNEL_CHANGED = "opsapi_changed"  # payload: comma-separated ids; wakes waiters
CHANNEL_CANCEL = "opsapi_cancel"  # payload: id; stops a running handler at once

# NOTIFY payloads are limited to 8000 bytes: 36-character ids plus a comma each.
MAX_IDS_PER_NOTIFY = 200

# The errors written by the engine itself, in the shape clients see.
WORKER_LOST = {
    "code": "WORKER_LOST",
    "message": "The worker running this operation stopped responding and no attempts are left.",
    "retryable": False,
}

CANCELLED_ERROR = {
    "code": "CANCELLED",
    "message": "The operation was cancelled at the caller's request.",
    "retryable": False,
}


@dataclass(frozen=True)
class ClaimedOperation:
    id: uuid.UUID
    tenant_id: uuid.UUID
    principal_id: uuid.UUID | None
    kind: str
    queue: str
    target: str | None
    params: dict[str, Any]
    attempt: int
    max_attempts: int


@dataclass(frozen=True)
class Outcome:
    """A fenced final write for one attempt."""

    id: uuid.UUID
    attempt: int
    status: str  # completed | failed | cancelled
    result: Any = None
    error: dict[str, Any] | None = None


# Both claims mark their rows processing the same way and answer the same columns.
_CLAIMED = """
    UPDATE operations AS o
    SET status = 'processing',
        attempt = o.attempt + 1,
        lease_owner = :owner,
        lease_expires_at = now() + make_interval(secs => :lease),
        started_at = coalesce(o.started_at, now()),
        version = o.version + 1,
        updated_at = now()
    FROM next
    WHERE o.id = next.id{extra}
    RETURNING o.id, o.tenant_id, o.principal_id, o.kind, o.queue, o.target, o.params,
              o.attempt, o.max_attempts
"""

# A worker of one queue (the usual case) names it with "=": ix_operations_pending is
# then walked in claim order and the walk stops at the LIMIT. With "= ANY" (several
# queues) PostgreSQL sorts every ready row of those queues first.
_ONE_QUEUE = "queue = :queue"
_QUEUES = "queue = ANY(CAST(:queues AS text[]))"

# Served by ix_operations_pending (partial: status = 'pending'). SKIP LOCKED lets
# racing workers take disjoint rows without waiting on each other; the claim
# commits at once, so no lock is held while the handler runs. Operations with a
# concurrency key are left to the keyed claim below: they take up places in the
# window, so a worker that gets fewer rows than it asked for runs the keyed claim.
_CLAIM = """
    WITH next AS (
        SELECT id, concurrency_key IS NOT NULL AS keyed FROM operations
        WHERE status = 'pending' AND run_after <= now() AND {queues}
          AND kind = ANY(CAST(:kinds AS text[]))
        ORDER BY priority, run_after, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )""" + _CLAIMED.format(extra=" AND NOT next.keyed")

# pg_advisory_xact_lock key serialising keyed claims ("opsapk" in ASCII).
KEYED_CLAIM_LOCK = 0x6F707361706B

# Run only after taking KEYED_CLAIM_LOCK in the same transaction: this statement's
# snapshot is then taken after every earlier keyed claim committed, so its count of
# processing operations per key is exact and racing workers never exceed a limit.
# Walks ix_operations_pending in claim order, skipping keys already at their limit
# (counted through ix_operations_processing_key), so held-back rows never block the
# rows behind them; lets at most the free places of each key through; then locks the
# chosen rows by primary key with SKIP LOCKED (a row a request is joining stays
# locked until that request commits). Unkeyed rows may be taken here too.
_CLAIM_KEYED = """
    WITH ready AS (
        SELECT o.id, o.tenant_id, o.concurrency_key, o.priority, o.run_after,
               o.concurrency_limit - busy.running AS room
        FROM operations AS o
        CROSS JOIN LATERAL (
            SELECT count(*) AS running FROM operations AS p
            WHERE p.concurrency_key IS NOT NULL AND p.status = 'processing'
              AND p.tenant_id = o.tenant_id AND p.concurrency_key = o.concurrency_key
        ) AS busy
        WHERE o.status = 'pending' AND o.run_after <= now() AND o.{queues}
          AND o.kind = ANY(CAST(:kinds AS text[]))
          AND (o.concurrency_key IS NULL OR o.concurrency_limit > busy.running)
        ORDER BY o.priority, o.run_after, o.id
        LIMIT :scan
    ), fitting AS (
        SELECT id FROM (
            SELECT id, concurrency_key, room, row_number() OVER (
                PARTITION BY tenant_id, concurrency_key ORDER BY priority, run_after, id
            ) AS place
            FROM ready
        ) AS ranked
        WHERE concurrency_key IS NULL OR place <= room
    ), next AS (
        SELECT id FROM operations
        WHERE id = ANY(ARRAY(SELECT id FROM fitting)) AND status = 'pending'
        ORDER BY priority, run_after, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )""" + _CLAIMED.format(extra="")


@functools.cache
def _claim_statement(template: str, one_queue: bool) -> TextClause:
    return text(template.replace("{queues}", _ONE_QUEUE if one_queue else _QUEUES))


async def claim_batch(
    conn: Executor,
    *,
    owner: str,
    queues: Sequence[str],
    kinds: Sequence[str],
    limit: int,
    lease_seconds: float,
) -> list[ClaimedOperation]:
    """Claim up to ``limit`` pending operations without a concurrency key (lock-free)."""
    params = _claim_params(owner, queues, kinds, limit, lease_seconds)
    statement = _claim_statement(_CLAIM, len(queues) == 1)
    return await _claimed(conn, (await conn.execute(statement, params)).all())


async def claim_keyed(
    conn: Executor,
    *,
    owner: str,
    queues: Sequence[str],
    kinds: Sequence[str],
    limit: int,
    lease_seconds: float,
) -> list[ClaimedOperation]:
    """Claim up to ``limit`` pending operations, keyed ones within their limits.

    Takes a transaction-level advisory lock first, so ``conn`` must be in a
    transaction of its own that commits right after.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEYED_CLAIM_LOCK})
    params = _claim_params(owner, queues, kinds, limit, lease_seconds)
    # Room to look past rows of one key that exceed its free places.
    params["scan"] = max(limit * 4, 50)
    statement = _claim_statement(_CLAIM_KEYED, len(queues) == 1)
    return await _claimed(conn, (await conn.execute(statement, params)).all())


def _claim_params(
    owner: str, queues: Sequence[str], kinds: Sequence[str], limit: int, lease_seconds: float
) -> dict[str, Any]:
    return {
        "owner": owner,
        "queue": queues[0] if len(queues) == 1 else None,
        "queues": list(queues),
        "kinds": list(kinds),
        "limit": limit,
        "lease": lease_seconds,
    }


async def _claimed(conn: Executor, rows: Sequence[Any]) -> list[ClaimedOperation]:
    claimed = [
        ClaimedOperation(
            id=r.id,
            tenant_id=r.tenant_id,
            principal_id=r.principal_id,
            kind=r.kind,
            queue=r.queue,
            target=r.target,
            params=r.params,
            attempt=r.attempt,
            max_attempts=r.max_attempts,
        )
        for r in rows
    ]
    await notify_changed(conn, [c.id for c in claimed])
    return claimed


# By primary key; fenced per (id, attempt). A row missing from the answer means the
# lease was lost (rescued, finished elsewhere): the worker stops that handler.
_EXTEND_LEASES = text(
    """
    UPDATE operations AS o
    SET lease_expires_at = now() + make_interval(secs => :lease)
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[])) AS h(id, attempt)
    WHERE o.id = h.id AND o.attempt = h.attempt
      AND o.status = 'processing' AND o.lease_owner = :owner
    RETURNING o.id, o.cancel_requested
    """
)


async def extend_leases(
    conn: Executor,
    *,
    owner: str,
    held: Sequence[tuple[uuid.UUID, int]],
    lease_seconds: float,
) -> dict[uuid.UUID, bool]:
    """Extend the leases of all held operations; answer id → cancel_requested."""
    if not held:
        return {}
    rows = (
        await conn.execute(
            _EXTEND_LEASES,
            {
                "owner": owner,
                "ids": [h[0] for h in held],
                "attempts": [h[1] for h in held],
                "lease": lease_seconds,
            },
        )
    ).all()
    return {r.id: r.cancel_requested for r in rows}


# By primary key; fenced per (id, attempt). One statement finishes a whole batch. A
# kind's own retention (o.retention) wins over the configured default.
_FINISH = text(
    """
    UPDATE operations AS o
    SET status = f.status,
        result = f.result,
        error = f.error,
        finished_at = now(),
        expires_at = now() + coalesce(o.retention, make_interval(secs => :retention)),
        lease_owner = NULL,
        lease_expires_at = NULL,
        version = o.version + 1,
        updated_at = now()
    FROM jsonb_to_recordset(CAST(:outcomes AS jsonb))
         AS f(id uuid, attempt int, status text, result jsonb, error jsonb)
    WHERE o.id = f.id AND o.attempt = f.attempt
      AND o.status = 'processing' AND o.lease_owner = :owner
    RETURNING o.id, o.queue, o.concurrency_key IS NOT NULL AS keyed
    """
)


async def finish_batch(
    conn: Executor, *, owner: str, outcomes: Sequence[Outcome], retention_seconds: float
) -> set[uuid.UUID]:
    """Write final outcomes; answer the ids whose write won (the rest were fenced off)."""
    if not outcomes:
        return set()
    payload = json.dumps(
        [
            {
                "id": str(o.id),
                "attempt": o.attempt,
                "status": o.status,
                "result": o.result,
                "error": o.error,
            }
            for o in outcomes
        ],
        default=str,
    )
    rows = (
        await conn.execute(
            _FINISH, {"owner": owner, "outcomes": payload, "retention": retention_seconds}
        )
    ).all()
    finished = {r.id for r in rows}
    await notify_changed(conn, list(finished))
    # A finished keyed operation frees a place: wake workers for what it held back.
    for queue in {r.queue for r in rows if r.keyed}:
        await notify_pending(conn, queue)
    return finished


# By primary key, fenced. ``refund`` = 1 gives the attempt back (a Retry-After
# deferral or a shutdown release), so it does not count against max_attempts. A
# cancel requested meanwhile is honoured here: the operation ends cancelled instead
# of running again.
_RESCHEDULE = text(
    """
    UPDATE operations
    SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END,
        run_after = now() + make_interval(secs => :delay),
        error = CASE WHEN cancel_requested THEN CAST(:cancelled AS jsonb)
                     ELSE CAST(:error AS jsonb) END,
        attempt = CASE WHEN cancel_requested THEN attempt ELSE attempt - :refund END,
        finished_at = CASE WHEN cancel_requested THEN now() END,
        expires_at = CASE WHEN cancel_requested
                          THEN now() + coalesce(retention, make_interval(secs => :retention))
                          END,
        lease_owner = NULL,
        lease_expires_at = NULL,
        version = version + 1,
        updated_at = now()
    WHERE id = :id AND attempt = :attempt AND status = 'processing' AND lease_owner = :owner
    RETURNING queue, status
    """
)


async def reschedule(
    conn: Executor,
    *,
    owner: str,
    id: uuid.UUID,
    attempt: int,
    delay: float,
    error: dict[str, Any] | None,
    refund: bool,
    retention_seconds: float,
) -> str | None:
    """Put a processing operation back to pending after ``delay`` seconds (fenced).

    Answers the new status (``cancelled`` when a cancel was requested meanwhile), or
    None when the write was fenced off.
    """
    row = (
        await conn.execute(
            _RESCHEDULE,
            {
                "owner": owner,
                "id": id,
                "attempt": attempt,
                "delay": delay,
                "error": json.dumps(error) if error is not None else None,
                "cancelled": json.dumps(CANCELLED_ERROR),
                "refund": 1 if refund else 0,
                "retention": retention_seconds,
            },
        )
    ).first()
    if row is None:
        return None
    await notify_changed(conn, [id])
    if row.status == "pending" and delay <= 0:
        await notify_pending(conn, row.queue)
    status: str = row.status
    return status


_SET_PROGRESS = text(
    """
    UPDATE operations
    SET progress = CAST(:progress AS jsonb), version = version + 1, updated_at = now()
    WHERE id = :id AND attempt = :attempt AND status = 'processing' AND lease_owner = :owner
    """
)


async def set_progress(
    conn: Executor, *, owner: str, id: uuid.UUID, attempt: int, progress: dict[str, Any]
) -> bool:
    result = await conn.execute(
        _SET_PROGRESS,
        {"owner": owner, "id": id, "attempt": attempt, "progress": json.dumps(progress)},
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return False
    await notify_changed(conn, [id])
    return True


def brief(exc: BaseException) -> str:
    """The first line of a database error, for logs: its cause without the statement
    text and parameters SQLAlchemy appends."""
    message = str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


async def notify_changed(conn: Executor, ids: Sequence[uuid.UUID]) -> None:
    """Announce changed operations to waiters; delivered when the transaction commits."""
    for start in range(0, len(ids), MAX_IDS_PER_NOTIFY):
        chunk = ",".join(str(i) for i in ids[start : start + MAX_IDS_PER_NOTIFY])
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL_CHANGED, "payload": chunk},
        )


async def notify_pending(conn: Executor, queue: str) -> None:
    """Wake idle workers of a queue; delivered when the transaction commits."""
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL_PENDING, "payload": queue},
    )


async def notify_cancel(conn: Executor, id: uuid.UUID) -> None:
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL_CANCEL, "payload": str(id)},
    )
