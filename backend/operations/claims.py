"""Claiming: the statements that hand pending operations to a worker.

Each claim marks its rows processing under a fresh lease and announces them to
waiters in the same statement, so on a connection outside a transaction (the
worker's claim connection) a claim is one round trip that commits on its own. The
worker runs them on a dedicated connection with ``synchronous_commit = off`` (see
``Worker`` and docs/architecture.md); they run as well on SQLAlchemy connections,
inside the caller's transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from backend.operations.repository import (
    ANNOUNCE,
    ClaimedOperation,
    Connection,
    fetch,
)

# Both claims mark their rows processing the same way, answer the same columns, and
# announce the claimed ids to waiters. $1 owner, $2 queue(s), $3 kinds, $4 limit,
# $5 lease seconds.
_CLAIMED = (
    """, claimed AS (
        UPDATE operations AS o
        SET status = 'processing',
            attempt = o.attempt + 1,
            lease_owner = $1,
            lease_expires_at = now() + make_interval(secs => $5),
            started_at = coalesce(o.started_at, now()),
            version = o.version + 1,
            updated_at = now()
        FROM next
        WHERE o.id = next.id{extra}
        RETURNING o.id, o.tenant_id, o.principal_id, o.kind, o.queue, o.target, o.params,
                  o.attempt, o.max_attempts
    ), announced AS ("""
    + ANNOUNCE.format(rows="claimed")
    + """
    )
    SELECT claimed.* FROM claimed, (SELECT count(*) FROM announced) AS sent
"""
)

# A worker of one queue (the usual case) names it with "=": ix_operations_pending is
# then walked in claim order and the walk stops at the LIMIT. With "= ANY" (several
# queues) PostgreSQL sorts every ready row of those queues first.
_ONE_QUEUE = "queue = $2"
_QUEUES = "queue = ANY($2::text[])"

# Served by ix_operations_pending (partial: status = 'pending'). SKIP LOCKED lets
# racing workers take disjoint rows without waiting on each other; the claim
# commits at once, so no lock is held while the handler runs. Operations with a
# concurrency key are left to the keyed claim below: they take up places in the
# window, so a worker that gets fewer rows than it asked for runs the keyed claim.
_CLAIM = """
    WITH next AS (
        SELECT id, concurrency_key IS NOT NULL AS keyed FROM operations
        WHERE status = 'pending' AND run_after <= now() AND {queues}
          AND kind = ANY($3::text[])
        ORDER BY priority, run_after, id
        LIMIT $4
        FOR UPDATE SKIP LOCKED
    )""" + _CLAIMED.replace("{extra}", " AND NOT next.keyed")

# pg_advisory_xact_lock key serialising keyed claims ("opsapk" in ASCII).
KEYED_CLAIM_LOCK = 0x6F707361706B

# Run only after taking KEYED_CLAIM_LOCK in the same transaction: this statement's
# snapshot is then taken after every earlier keyed claim committed, so its count of
# processing operations per key is exact and racing workers never exceed a limit.
# Walks ix_operations_pending in claim order, skipping keys already at their limit
# (counted through ix_operations_processing_key), so held-back rows never block the
# rows behind them; lets at most the free places of each key through; then locks the
# chosen rows by primary key with SKIP LOCKED (a row a request is joining stays
# locked until that request commits). Unkeyed rows may be taken here too. $6 is how
# many ready rows to look at.
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
          AND o.kind = ANY($3::text[])
          AND (o.concurrency_key IS NULL OR o.concurrency_limit > busy.running)
        ORDER BY o.priority, o.run_after, o.id
        LIMIT $6
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
        LIMIT $4
        FOR UPDATE SKIP LOCKED
    )""" + _CLAIMED.replace("{extra}", "")

_LOCK_KEYED = "SELECT pg_advisory_xact_lock($1)"


@functools.cache
def _statement(template: str, one_queue: bool) -> str:
    return template.replace("{queues}", _ONE_QUEUE if one_queue else _QUEUES)


async def claim_batch(
    conn: Connection,
    *,
    owner: str,
    queues: Sequence[str],
    kinds: Sequence[str],
    limit: int,
    lease_seconds: float,
) -> list[ClaimedOperation]:
    """Claim up to ``limit`` pending operations without a concurrency key (lock-free)."""
    statement = _statement(_CLAIM, len(queues) == 1)
    rows = await fetch(conn, statement, *_args(owner, queues, kinds, limit, lease_seconds))
    return _claimed(rows)


async def claim_keyed(
    conn: Connection,
    *,
    owner: str,
    queues: Sequence[str],
    kinds: Sequence[str],
    limit: int,
    lease_seconds: float,
) -> list[ClaimedOperation]:
    """Claim up to ``limit`` pending operations, keyed ones within their limits.

    Takes a transaction-level advisory lock first: on a plain asyncpg connection
    this opens its own transaction; a SQLAlchemy connection must be in a
    transaction of its own that commits right after.
    """
    statement = _statement(_CLAIM_KEYED, len(queues) == 1)
    # Room to look past rows of one key that exceed its free places.
    args = (*_args(owner, queues, kinds, limit, lease_seconds), max(limit * 4, 50))
    if isinstance(conn, asyncpg.Connection):
        async with conn.transaction():
            await conn.execute(_LOCK_KEYED, KEYED_CLAIM_LOCK)
            return _claimed(await fetch(conn, statement, *args))
    await fetch(conn, _LOCK_KEYED, KEYED_CLAIM_LOCK)
    return _claimed(await fetch(conn, statement, *args))


def _args(
    owner: str, queues: Sequence[str], kinds: Sequence[str], limit: int, lease_seconds: float
) -> tuple[object, ...]:
    queue: object = queues[0] if len(queues) == 1 else list(queues)
    return (owner, queue, list(kinds), limit, float(lease_seconds))


def _claimed(rows: Sequence[Mapping[str, Any]]) -> list[ClaimedOperation]:
    return [
        ClaimedOperation(
            id=r["id"],
            tenant_id=r["tenant_id"],
            principal_id=r["principal_id"],
            kind=r["kind"],
            queue=r["queue"],
            target=r["target"],
            params=r["params"],
            attempt=r["attempt"],
            max_attempts=r["max_attempts"],
        )
        for r in rows
    ]
