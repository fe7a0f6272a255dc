"""The engine's hot SQL: heartbeat, finish, retry, release, progress.

The claims are in ``claims``; the maintenance leader's statements (rescue, prune)
are in ``maintenance``.

Every transition after the claim is fenced by ``status = 'processing' AND
lease_owner = :owner AND attempt = :attempt``: when another actor (a rescue, a
cancel, a newer attempt) owns the outcome, zero rows match and the late result is
discarded. Each statement names the index that serves it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from backend.db import notify

Executor = AsyncConnection | AsyncSession
# The hot statements (claim, finish) also run on a worker's own asyncpg connections.
Connection: TypeAlias = "asyncpg.Connection | AsyncConnection | AsyncSession"

CHANNEL_PENDING = "opsapi_pending"  # payload: queue name; wakes workers
CHANNEL_CHANGED = "opsapi_changed"  # payload: comma-separated ids; wakes waiters
CHANNEL_CANCEL = "opsapi_cancel"  # payload: id; stops a running handler at once

# NOTIFY payloads are limited to 8000 bytes: 36-character ids plus a comma each.
MAX_IDS_PER_NOTIFY = 200

# Announces the ids of a data-modifying CTE's rows to waiters, in chunks of
# MAX_IDS_PER_NOTIFY, inside the statement that changed them. A statement selects
# from it (``(SELECT count(*) FROM announced)``) because PostgreSQL evaluates a
# SELECT in WITH only when something reads it.
ANNOUNCE = f"""
        SELECT pg_notify('{CHANNEL_CHANGED}', string_agg(id::text, ','))
        FROM (SELECT id, (row_number() OVER () - 1) / {MAX_IDS_PER_NOTIFY} AS part
              FROM {{rows}}) AS parts
        GROUP BY part"""


async def fetch(conn: Connection, statement: str, *args: Any) -> Sequence[Mapping[str, Any]]:
    """Run a statement written with $1, $2, … placeholders on a plain asyncpg
    connection or on SQLAlchemy's (whose asyncpg dialect takes the same style);
    answer its rows as mappings."""
    if isinstance(conn, asyncpg.Connection):
        return cast(Sequence[Mapping[str, Any]], await conn.fetch(statement, *args))
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    result = await conn.exec_driver_sql(statement, args)
    return list(result.mappings())


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


# By primary key; fenced per (id, attempt). One statement finishes a whole batch and
# announces it: the finished ids to waiters and, when a finished operation had a
# concurrency key (it frees a place), its queue to idle workers. Events are written
# by the operations_record_event trigger, so the new states, their events and the
# notifications commit together. A kind's own retention (o.retention) wins over the
# configured default.
_FINISH = f"""
    WITH finished AS (
        UPDATE operations AS o
        SET status = f.status,
            result = f.result,
            error = f.error,
            finished_at = now(),
            expires_at = now() + coalesce(o.retention, make_interval(secs => $3)),
            lease_owner = NULL,
            lease_expires_at = NULL,
            version = o.version + 1,
            updated_at = now()
        FROM jsonb_to_recordset($2::jsonb)
             AS f(id uuid, attempt int, status text, result jsonb, error jsonb)
        WHERE o.id = f.id AND o.attempt = f.attempt
          AND o.status = 'processing' AND o.lease_owner = $1
        RETURNING o.id, o.queue, o.concurrency_key IS NOT NULL AS keyed
    ), announced AS ({ANNOUNCE.format(rows="finished")}
        UNION ALL
        SELECT pg_notify('{CHANNEL_PENDING}', queue)
        FROM (SELECT DISTINCT queue FROM finished WHERE keyed) AS freed
    )
    SELECT finished.id FROM finished, (SELECT count(*) FROM announced) AS sent
"""


async def finish_batch(
    conn: Connection, *, owner: str, outcomes: Sequence[Outcome], retention_seconds: float
) -> set[uuid.UUID]:
    """Write final outcomes; answer the ids whose write won (the rest were fenced off).

    On a connection outside a transaction the statement commits on its own; on a
    session it joins the session's transaction (the handler's domain writes).
    """
    if not outcomes:
        return set()
    rows = await fetch(conn, _FINISH, owner, outcomes_json(outcomes), float(retention_seconds))
    return {r["id"] for r in rows}


def outcomes_json(outcomes: Sequence[Outcome]) -> str:
    return json.dumps(
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
        await notify(conn, CHANNEL_CHANGED, chunk)


async def notify_pending(conn: Executor, queue: str) -> None:
    """Wake idle workers of a queue; delivered when the transaction commits."""
    await notify(conn, CHANNEL_PENDING, queue)


async def notify_cancel(conn: Executor, id: uuid.UUID) -> None:
    await notify(conn, CHANNEL_CANCEL, str(id))
