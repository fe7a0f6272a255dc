"""The benchmark's own database: recreated and migrated for every run, with one tenant.

The bench drops and recreates its database, so it never runs on a database it did
not name for itself: the one in an explicit ``--database-url`` or in
``OPSAPI_BENCH_DATABASE_URL``, or ``opsapi_bench`` on the server of
``OPSAPI_DATABASE_URL`` (or of the embedded PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth import service as auth
from backend.config import Settings
from backend.db import asyncpg_url, libpq_dsn, resolve_database_url
from backend.migrate import upgrade

DEFAULT_DATABASE = "opsapi_bench"
# The server (and database name) every benchmark uses when given no --database-url.
URL_VARIABLE = "OPSAPI_BENCH_DATABASE_URL"
# Databases the bench refuses to drop, whatever it is told.
PROTECTED = frozenset({"postgres", "template0", "template1", "test"})


class UnsafeDatabase(ValueError):
    """The bench was pointed at a database it must not drop."""


def bench_database_url(explicit: str | None) -> str:
    """The postgresql+asyncpg URL of the database the bench may drop and recreate."""
    explicit = explicit or os.environ.get(URL_VARIABLE)
    if explicit:
        url = asyncpg_url(explicit)
        name = url.database or DEFAULT_DATABASE
    else:
        url = asyncpg_url(resolve_database_url(Settings()))
        name = DEFAULT_DATABASE
    if name in PROTECTED:
        raise UnsafeDatabase(
            f"The bench drops and recreates its database; {name!r} is not one it may drop. "
            f"Name a database of its own, e.g. .../{DEFAULT_DATABASE}."
        )
    return url.set(database=name).render_as_string(hide_password=False)


async def recreate(url: str) -> None:
    """Drop the database if it exists, create it empty, and migrate it to head."""
    await create_empty(url)
    # Alembic's environment runs its own event loop: keep it off this one.
    await asyncio.to_thread(upgrade, url)


async def create_empty(url: str) -> None:
    """Drop the database if it exists and create it empty (peers install their own schema)."""
    name = make_url(url).database
    admin_dsn = libpq_dsn(
        make_url(url).set(database="postgres").render_as_string(hide_password=False)
    )
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def named(url: str, name: str) -> str:
    """The same server as ``url``, another database (one per engine measured)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def create_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    """The tenant every benchmark operation belongs to."""
    async with sessionmaker() as session:
        tenant = await auth.create_tenant(session, "bench")
        await session.commit()
        return tenant.id


async def truncate_operations(engine: AsyncEngine) -> None:
    """Empty the operations table (and anything hanging off it) between runs."""
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE operations CASCADE"))


async def analyze_operations(engine: AsyncEngine) -> None:
    """Refresh planner statistics, as autovacuum would on a table in steady use."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE operations"))


@dataclass(frozen=True)
class Progress:
    completed: int
    failed: int  # failed or cancelled: operations that will never complete


async def progress(engine: AsyncEngine) -> Progress:
    """How many operations have completed, and how many ended otherwise."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'completed') AS completed,"
                    " count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS failed"
                    " FROM operations"
                )
            )
        ).one()
    return Progress(completed=row.completed, failed=row.failed)


async def completion_span(engine: AsyncEngine) -> float:
    """Seconds between the first and the last completion, by the server's clock."""
    async with engine.connect() as conn:
        span = await conn.scalar(
            text(
                "SELECT extract(epoch FROM max(finished_at) - min(finished_at))"
                " FROM operations WHERE status = 'completed'"
            )
        )
    return float(span or 0.0)


async def started_times(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """The handler start time each completed operation recorded in its result."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, (result->>'started')::float8 AS started FROM operations"
                    " WHERE id = ANY(:ids) AND status = 'completed'"
                ),
                {"ids": ids},
            )
        ).all()
    return {r.id: r.started for r in rows}


async def server_version(engine: AsyncEngine) -> str:
    """The PostgreSQL server version, for the record."""
    async with engine.connect() as conn:
        version = await conn.scalar(text("SHOW server_version"))
    return str(version)
