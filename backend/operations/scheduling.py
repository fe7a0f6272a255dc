"""The SQL of the scheduling controls at creation time, and of cancelling a chain.

Each create is one statement whatever the control: a plain insert; a deduplicated
insert that answers the active operation with the same key instead; or a coalesced
insert that joins the pending operation with the same key instead. The unique
partial indexes ``uq_operations_dedup`` and ``uq_operations_coalesce`` make them
atomic: two racing creates cannot both insert. The loser's insert does nothing, and
its statement, whose snapshot predates the winner's commit, answers no row either;
it simply runs again and then sees the winner's row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.operations.models import (
    COALESCE_OPEN,
    DEDUP_ACTIVE,
    KEY_LENGTH,
    Operation,
    OperationBatch,
)
from backend.operations.repository import CANCELLED_ERROR, CHANNEL_PENDING, Executor

# Key of session.info naming the operations that got children in the session: the
# worker checks them for a cancel requested while their completion was being written.
NEW_CHILDREN = "opsapi.new_children"

# A create that lost a race runs again; the second run sees the winner's row. More
# than a few rounds would mean the winner keeps vanishing (finishing at once).
MAX_ROUNDS = 5


@dataclass(frozen=True)
class NewOperation:
    """The column values of an operation to insert."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    principal_id: uuid.UUID | None
    kind: str
    queue: str
    target: str | None
    params: str  # JSON text
    max_attempts: int
    priority: int
    delay: float  # seconds from now until run_after
    dedup_key: str | None = None
    coalesce_key: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    parent_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    retention: timedelta | None = None


def check_keys(
    dedup_key: str | None, coalesce_key: str | None, concurrency_key: str | None
) -> None:
    """Refuse key combinations that have no meaning (programming errors)."""
    for key in (dedup_key, coalesce_key, concurrency_key):
        if key is not None and not 0 < len(key) <= KEY_LENGTH:
            raise ValueError(f"A scheduling key must have 1 to {KEY_LENGTH} characters.")
    if dedup_key is not None and coalesce_key is not None:
        raise ValueError("Give dedup_key or coalesce_key, not both.")
    if coalesce_key is not None and concurrency_key not in (None, coalesce_key):
        raise ValueError("A coalesced operation's concurrency key is its coalesce_key.")


def debounce_seconds(
    coalesce_key: str | None, debounce: timedelta | None, max_delay: timedelta | None
) -> tuple[float | None, float | None]:
    """Debounce and maximum delay in seconds; the maximum defaults to ten debounces."""
    if debounce is None:
        if max_delay is not None:
            raise ValueError("max_delay needs a debounce.")
        return None, None
    if coalesce_key is None:
        raise ValueError("debounce needs a coalesce_key.")
    seconds = debounce.total_seconds()
    limit = max_delay.total_seconds() if max_delay is not None else 10 * seconds
    if seconds <= 0 or limit < seconds:
        raise ValueError("debounce must be positive and max_delay at least the debounce.")
    return seconds, limit


async def check_links(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    batch_id: uuid.UUID | None,
) -> None:
    """A parent and a batch must be the tenant's own (their foreign keys check only
    that they exist)."""
    if parent_id is not None:
        owner = await session.scalar(select(Operation.tenant_id).where(Operation.id == parent_id))
        if owner != tenant_id:
            raise ValueError(f"Operation {parent_id} is not the tenant's.")
    if batch_id is not None:
        owner = await session.scalar(
            select(OperationBatch.tenant_id).where(OperationBatch.id == batch_id)
        )
        if owner != tenant_id:
            raise ValueError(f"Batch {batch_id} is not the tenant's.")


def expired() -> ColumnElement[bool]:
    """Whether an operation's retention has passed, labelled ``expired``. The
    database's clock decides, as it does for pruning."""
    return func.coalesce(Operation.expires_at < func.now(), False).label("expired")


_INSERT = """
    INSERT INTO operations (
        id, tenant_id, principal_id, kind, queue, target, params, max_attempts, priority,
        run_after, dedup_key, coalesce_key, concurrency_key, concurrency_limit, parent_id,
        batch_id, retention
    )
    SELECT CAST(:id AS uuid), CAST(:tenant_id AS uuid), CAST(:principal_id AS uuid),
           :kind, :queue, :target, CAST(:params AS jsonb), :max_attempts, :priority,
           now() + make_interval(secs => :delay), :dedup_key, :coalesce_key,
           :concurrency_key, :concurrency_limit, CAST(:parent_id AS uuid),
           CAST(:batch_id AS uuid), CAST(:retention AS interval)
"""

# Every statement that answers the created (or joined) operation also wakes the queue's
# idle workers: the NOTIFY is delivered when the transaction commits. A joined
# operation may have been skipped by a claim while the request held it, so joining
# wakes them too. One statement instead of two: a round trip less per create.
_WAKE = "CROSS JOIN (SELECT pg_notify(:wake_channel, :queue)) AS wake"

_PLAIN = text(f"WITH created AS ({_INSERT} RETURNING *) SELECT created.* FROM created {_WAKE}")

# Served by uq_operations_dedup: the active operation with the key, or a new one.
_DEDUPLICATED = text(
    f"""
    WITH active AS (
        SELECT * FROM operations
        WHERE tenant_id = :tenant_id AND dedup_key = :dedup_key
          AND status IN ('pending', 'processing')
    ), created AS (
        {_INSERT}
        WHERE NOT EXISTS (SELECT FROM active)
        ON CONFLICT (tenant_id, dedup_key) WHERE {DEDUP_ACTIVE} DO NOTHING
        RETURNING *
    )
    SELECT r.* FROM (SELECT * FROM created UNION ALL SELECT * FROM active) AS r {_WAKE}
    """
)

# Served by uq_operations_coalesce. Joining locks the pending row until the joining
# request commits: the claim skips locked rows, so the joined operation cannot start
# before the input that came with this request is committed and visible to it. With
# a debounce, joining also pushes its start back, but never past created_at +
# max_delay.
_JOIN_OPEN = """
    SELECT * FROM operations
    WHERE tenant_id = :tenant_id AND coalesce_key = :coalesce_key
      AND status = 'pending' AND started_at IS NULL
    FOR SHARE
"""
_JOIN_OPEN_DEBOUNCED = """
    UPDATE operations
    SET run_after = greatest(run_after, least(now() + make_interval(secs => :debounce),
                                              created_at + make_interval(secs => :max_delay))),
        version = version + 1,
        updated_at = now()
    WHERE tenant_id = :tenant_id AND coalesce_key = :coalesce_key
      AND status = 'pending' AND started_at IS NULL
    RETURNING *
"""
_COALESCED = """
    WITH joined AS ({join}), created AS (
        {insert}
        WHERE NOT EXISTS (SELECT FROM joined)
        ON CONFLICT (tenant_id, coalesce_key) WHERE {arbiter} DO NOTHING
        RETURNING *
    )
    SELECT r.* FROM (SELECT * FROM created UNION ALL SELECT * FROM joined) AS r {wake}
"""
_COALESCED_PLAIN = text(
    _COALESCED.format(join=_JOIN_OPEN, insert=_INSERT, arbiter=COALESCE_OPEN, wake=_WAKE)
)
_COALESCED_DEBOUNCED = text(
    _COALESCED.format(join=_JOIN_OPEN_DEBOUNCED, insert=_INSERT, arbiter=COALESCE_OPEN, wake=_WAKE)
)


async def insert_operation(
    session: AsyncSession,
    new: NewOperation,
    *,
    debounce: float | None = None,
    max_delay: float | None = None,
) -> Operation:
    """Insert ``new``, or answer the operation its dedup or coalesce key leads to; the
    queue's workers are woken when the transaction commits."""
    # Shallow: asdict() deep-copies every value, a tenth of a millisecond per create.
    params: dict[str, Any] = {**vars(new), "wake_channel": CHANNEL_PENDING}
    statement: TextClause
    if new.dedup_key is not None:
        statement = _DEDUPLICATED
    elif new.coalesce_key is not None and debounce is not None:
        statement = _COALESCED_DEBOUNCED
        params.update(debounce=debounce, max_delay=max_delay)
    elif new.coalesce_key is not None:
        statement = _COALESCED_PLAIN
    else:
        statement = _PLAIN
    query = _QUERIES[statement]
    for _ in range(MAX_ROUNDS):
        op: Operation | None = (await session.scalars(query, params)).first()
        if op is not None:
            return op
    raise RuntimeError(f"Could not create or find the operation for {new.kind} after racing.")


# The ORM queries over those statements, built once: a statement object executed again
# keeps its cache key instead of having it computed on every create.
_QUERIES = {
    statement: select(Operation).from_statement(statement).execution_options(populate_existing=True)
    for statement in (_PLAIN, _DEDUPLICATED, _COALESCED_PLAIN, _COALESCED_DEBOUNCED)
}


_INSERT_MANY = text(
    """
    INSERT INTO operations (
        id, tenant_id, principal_id, kind, queue, target, params, max_attempts, priority,
        run_after, concurrency_key, concurrency_limit, batch_id, retention
    )
    SELECT i.id, CAST(:tenant_id AS uuid), CAST(:principal_id AS uuid), :kind, :queue,
           i.target, i.params, :max_attempts, :priority,
           now() + make_interval(secs => :delay), i.concurrency_key,
           CASE WHEN i.concurrency_key IS NOT NULL THEN CAST(:concurrency_limit AS int) END,
           CAST(:batch_id AS uuid), CAST(:retention AS interval)
    FROM jsonb_to_recordset(CAST(:items AS jsonb))
         AS i(id uuid, target text, params jsonb, concurrency_key text)
    """
)


@dataclass(frozen=True)
class NewItem:
    id: uuid.UUID
    target: str | None
    params: dict[str, Any]
    concurrency_key: str | None


async def insert_many(
    session: AsyncSession, template: NewOperation, items: Sequence[NewItem]
) -> None:
    """Insert one operation per item in one statement; the rest of the columns come
    from ``template`` (its id, target, params and keys are ignored)."""
    payload = json.dumps(
        [
            {
                "id": str(i.id),
                "target": i.target,
                "params": i.params,
                "concurrency_key": i.concurrency_key,
            }
            for i in items
        ]
    )
    values = dict(vars(template))
    await session.execute(
        _INSERT_MANY,
        {
            key: values[key]
            for key in (
                "tenant_id",
                "principal_id",
                "kind",
                "queue",
                "max_attempts",
                "priority",
                "delay",
                "concurrency_limit",
                "batch_id",
                "retention",
            )
        }
        | {"items": payload},
    )


# Served by ix_operations_parent_id, level by level. Pending descendants are cancelled
# at once; processing ones get cancel_requested (the caller sends NOTIFY cancel), like
# a cancel of each. Finished ones are left alone, but their own children are reached.
_CANCEL_DESCENDANTS = text(
    """
    WITH RECURSIVE descendants AS (
        SELECT id FROM operations WHERE parent_id = :id AND tenant_id = :tenant_id
        UNION
        SELECT o.id FROM operations AS o JOIN descendants AS d ON o.parent_id = d.id
    )
    UPDATE operations AS o
    SET status = CASE WHEN o.status = 'pending' THEN 'cancelled' ELSE o.status END,
        cancel_requested = true,
        error = CASE WHEN o.status = 'pending' THEN CAST(:cancelled AS jsonb) ELSE o.error END,
        finished_at = CASE WHEN o.status = 'pending' THEN now() ELSE o.finished_at END,
        expires_at = CASE WHEN o.status = 'pending'
                          THEN now() + coalesce(o.retention, make_interval(secs => :retention))
                          ELSE o.expires_at END,
        version = o.version + 1,
        updated_at = now()
    FROM descendants AS d
    WHERE o.id = d.id
      AND (o.status = 'pending' OR (o.status = 'processing' AND NOT o.cancel_requested))
    RETURNING o.id, o.status
    """
)


async def cancel_descendants(
    conn: Executor, *, tenant_id: uuid.UUID, id: uuid.UUID, retention_seconds: float
) -> list[tuple[uuid.UUID, str]]:
    """Cancel the active operations a chain created after ``id``; answer (id, status)
    of each one changed (``processing``: a cancel was requested of its worker)."""
    rows = (
        await conn.execute(
            _CANCEL_DESCENDANTS,
            {
                "id": id,
                "tenant_id": tenant_id,
                "cancelled": json.dumps(CANCELLED_ERROR),
                "retention": retention_seconds,
            },
        )
    ).all()
    return [(r.id, r.status) for r in rows]


async def cancel_was_requested(conn: Executor, id: uuid.UUID) -> bool:
    """Whether a cancel was asked for the operation (read in a fresh snapshot)."""
    found = await conn.scalar(
        text("SELECT cancel_requested FROM operations WHERE id = :id"), {"id": id}
    )
    return bool(found)
