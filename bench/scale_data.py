"""The scale benchmark's data: a large operations table made by single SQL statements.

Rows are generated in the database (``INSERT … SELECT generate_series``), never in
Python loops, with time-ordered UUIDv7 ids like the application's, so the indexes
look as they would after months of use.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import asyncpg_url, libpq_dsn
from backend.migrate import upgrade

KINDS = ("bench.summary", "bench.report", "bench.metadata", "bench.feedback")
BATCHES = 100  # every tenth finished operation belongs to one of them
PROTECTED = frozenset({"postgres", "template0", "template1"})

# A UUIDv7 for the moment ``{at}``: 48 bits of Unix milliseconds over a random UUID,
# with the version nibble set to 7.
_UUID7 = """
encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    placing substring(int8send(floor(extract(epoch FROM {at}) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
"""

# One statement: finished operations over the last 30 days, 95 % completed and 5 %
# failed, every tenth in a batch, kept for another week.
_FINISHED = f"""
WITH rows AS (
    SELECT g, now() - interval '30 days' + g * (interval '30 days' / :count) AS at
    FROM generate_series(1, :count) AS g
)
INSERT INTO operations (
    id, tenant_id, kind, queue, status, params, result, error, attempt, max_attempts,
    version, created_at, updated_at, run_after, started_at, finished_at, expires_at,
    batch_id
)
SELECT {_UUID7.format(at="at")}, :tenant, (CAST(:kinds AS text[]))[1 + g % 4], 'default',
       CASE WHEN g % 20 = 0 THEN 'failed' ELSE 'completed' END,
       jsonb_build_object('subject', 'subject-' || (g % 5000)),
       CASE WHEN g % 20 <> 0 THEN jsonb_build_object('summary', repeat('x', 200)) END,
       CASE WHEN g % 20 = 0 THEN
           '{{"code": "BOOM", "message": "It failed.", "retryable": false}}'::jsonb END,
       1, 3, 3, at, at + interval '5 seconds', at, at + interval '1 second',
       at + interval '5 seconds', now() + interval '7 days',
       CASE WHEN g % 10 = 0 THEN (CAST(:batches AS uuid[]))[1 + (g / 10) % {BATCHES}] END
FROM rows
"""

_PENDING = f"""
INSERT INTO operations (id, tenant_id, kind, queue, params, run_after)
SELECT {_UUID7.format(at="clock_timestamp()")}, :tenant, (CAST(:kinds AS text[]))[1 + g % 4],
       'default', jsonb_build_object('subject', 'subject-' || g), now() - interval '1 second'
FROM generate_series(1, :count) AS g
"""


async def recreate(url: str) -> None:
    """Drop the bench database if it exists, create it empty, and migrate it."""
    name = make_url(url).database
    if not name or name in PROTECTED:
        raise ValueError(f"The bench drops its database; name one of its own, not {name!r}.")
    admin = libpq_dsn(asyncpg_url(url).set(database="postgres").render_as_string(False))
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    # Alembic's environment runs its own event loop: keep it off this one.
    await asyncio.to_thread(upgrade, url)


def empty_table_url(url: str) -> str:
    """The database beside the bench's own where the claim runs on an empty table."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_empty").render_as_string(False)


async def drop(url: str) -> None:
    name = make_url(url).database
    admin = libpq_dsn(asyncpg_url(url).set(database="postgres").render_as_string(False))
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_tenant(engine: AsyncEngine) -> uuid.UUID:
    async with engine.begin() as conn:
        tenant: uuid.UUID = await conn.scalar(
            text("INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), 'bench') RETURNING id")
        )
    return tenant


async def insert_finished(engine: AsyncEngine, tenant: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``count`` finished operations in one statement; answers the batches' ids."""
    batches = [uuid.uuid4() for _ in range(BATCHES)]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO operation_batches (id, tenant_id)"
                " SELECT unnest(CAST(:ids AS uuid[])), :tenant"
            ),
            {"ids": batches, "tenant": tenant},
        )
        await conn.execute(
            text(_FINISHED),
            {"tenant": tenant, "count": count, "kinds": list(KINDS), "batches": batches},
        )
    return batches


async def insert_pending(engine: AsyncEngine, tenant: uuid.UUID, count: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(_PENDING), {"tenant": tenant, "count": count, "kinds": list(KINDS)})


async def delete_claimed(engine: AsyncEngine) -> None:
    """Remove what a claim run left processing, so the next run starts alike."""
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM operations WHERE status = 'processing'"))


async def vacuum_analyze(engine: AsyncEngine, *, everything: bool = False) -> None:
    """What autovacuum does to tables in steady use, done now: so that no autovacuum
    worker starts in the middle of a measurement."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        if everything:
            await conn.execute(text("VACUUM ANALYZE"))
        else:
            await conn.execute(text("VACUUM ANALYZE operations"))


async def expire_finished(engine: AsyncEngine) -> int:
    """Let the finished operations' retention pass.

    Stands in for the passage of a week, so it is not a change the system would
    record: the operations' triggers (events) are skipped when the role may do so.
    """
    async with engine.begin() as conn:
        try:
            async with conn.begin_nested():
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
        except Exception:  # noqa: BLE001 - not a superuser: keep the triggers
            pass
        result = await conn.execute(
            text(
                "UPDATE operations SET expires_at = now() - interval '1 second'"
                " WHERE expires_at IS NOT NULL"
            )
        )
    count: int = result.rowcount
    return count


async def sample_ids(engine: AsyncEngine, status: str, count: int) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id FROM operations TABLESAMPLE SYSTEM (5)"
                " WHERE status = :status ORDER BY random() LIMIT :count"
            ),
            {"status": status, "count": count},
        )
        return [r.id for r in rows]


async def table_size(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) AS operations,"
                    " count(*) FILTER (WHERE status = 'pending') AS pending,"
                    " pg_total_relation_size('operations') AS bytes,"
                    " (SELECT count(*) FROM operation_events) AS events"
                    " FROM operations"
                )
            )
        ).one()
    return dict(row._mapping)


async def server_version(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(text("SHOW server_version")))
